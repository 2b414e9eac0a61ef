package storage

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"eventops/engine"
)

// The claims and finishes of queues, batched. Every operation created on a
// node claims its queue right after its creation commits, and the group
// commit answers a whole batch of creations at once, so their claims arrive
// together; so do the ends of the operations a batch completed. A batcher
// sends them as one statement (while it is in flight, the next ones
// gather), as the writer does with updates: an idle node sends a lone
// request at once.

// batcher sends the requests gathered while its last send ran, together.
type batcher[R any] struct {
	once sync.Once
	reqs chan R
}

// maxLeaseBatch bounds the queues of one statement.
const maxLeaseBatch = 512

// do queues r for send (starting the batcher on first use).
func (b *batcher[R]) do(ctx, stop context.Context, r R, send func([]R)) error {
	b.once.Do(func() {
		b.reqs = make(chan R, maxLeaseBatch)
		go b.run(stop, send)
	})
	select {
	case b.reqs <- r:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-stop.Done():
		return ErrClosed
	}
}

func (b *batcher[R]) run(stop context.Context, send func([]R)) {
	for {
		var batch []R
		select {
		case r := <-b.reqs:
			batch = append(batch, r)
		case <-stop.Done():
			return
		}
	gather:
		for len(batch) < maxLeaseBatch {
			select {
			case r := <-b.reqs:
				batch = append(batch, r)
			default:
				break gather
			}
		}
		send(batch)
	}
}

// wait returns the answer on done, or ctx's error, or ErrClosed once stop
// is done (the batcher may have ended before it took the request).
func wait[A any](ctx, stop context.Context, done <-chan A) (A, error) {
	var zero A
	select {
	case a := <-done:
		return a, nil
	case <-ctx.Done():
		return zero, ctx.Err()
	case <-stop.Done():
		return zero, ErrClosed
	}
}

type claimReq struct {
	ctx   context.Context
	owner string
	queue uint64
	now   bool          // a cancel's claim: taken during a backoff too
	done  chan claimAns // buffered
}

type claimAns struct {
	c   engine.QueueClaim
	ok  bool
	err error
}

func (db *DB) ClaimQueue(ctx context.Context, owner string, queue uint64) (engine.QueueClaim, bool, error) {
	return db.claimQueue(ctx, owner, queue, false)
}

func (db *DB) ClaimQueueNow(ctx context.Context, owner string, queue uint64) (engine.QueueClaim, bool, error) {
	return db.claimQueue(ctx, owner, queue, true)
}

func (db *DB) claimQueue(ctx context.Context, owner string, queue uint64, now bool) (engine.QueueClaim, bool, error) {
	p, err := db.leasePool()
	if err != nil {
		return engine.QueueClaim{}, false, err
	}
	r := &claimReq{ctx: ctx, owner: owner, queue: queue, now: now, done: make(chan claimAns, 1)}
	if err := p.claims.do(ctx, p.ctx, r, p.claimBatch); err != nil {
		return engine.QueueClaim{}, false, err
	}
	a, err := wait(ctx, p.ctx, r.done)
	if err != nil {
		return engine.QueueClaim{}, false, err
	}
	return a.c, a.ok, a.err
}

// claimBatch sends a batch of claims, one statement per owner (there is one
// unless several nodes share this DB, as tests do).
func (p *pgStore) claimBatch(batch []*claimReq) {
	for len(batch) > 0 {
		owner := batch[0].owner
		var mine, rest []*claimReq
		for _, r := range batch {
			if r.owner == owner {
				mine = append(mine, r)
			} else {
				rest = append(rest, r)
			}
		}
		p.claimQueues(owner, mine)
		batch = rest
	}
}

// leaseTimeout bounds a batched lease statement: a statement stuck on a
// dead connection must not hold every claim (or finish) of the node.
const leaseTimeout = 10 * time.Second

// claimQueues claims each request's queue for owner unless a live node
// holds it or its not-before time is to come (a queue let go after a
// failure waits out its backoff, whoever claims it, but a cancel's claim),
// making rows for queues that have none. It never waits for a row another
// transaction holds (a node's committing writer holds its queues' rows
// FOR SHARE): such a queue is not claimed now, and its caller relies on the
// claim polls, as for a queue held elsewhere. Two requests for one queue:
// the first may get it, the second finds it held.
func (p *pgStore) claimQueues(owner string, reqs []*claimReq) {
	var ids, now []int64
	for _, r := range reqs {
		if r.ctx.Err() == nil && !slices.Contains(ids, int64(r.queue)) {
			ids = append(ids, int64(r.queue))
		}
		if r.now {
			now = append(now, int64(r.queue))
		}
	}
	slices.Sort(ids)
	got := map[uint64]engine.QueueClaim{}
	var err error
	if len(ids) > 0 {
		ctx, cancel := context.WithTimeout(p.ctx, leaseTimeout)
		defer cancel()
		// A row the insert makes is not seen by free (one snapshot);
		// prev is a row's owner before the claim: a dead node's, when
		// the claim is a takeover.
		var rows pgx.Rows
		rows, err = p.pool.Query(ctx, `with want as (select unnest($2::bigint[]) as queue_id),
			ins as (insert into queues (queue_id, owner, epoch) select queue_id, $1, 1 from want
				on conflict (queue_id) do nothing returning queue_id, epoch),
			free as (select q.queue_id, q.owner as prev from queues q
				where q.queue_id = any($2) and (q.owner is null or not `+liveOwner+`)
					and (q.not_before <= now() or q.queue_id = any($3))
				order by q.queue_id for update of q skip locked),
			up as (update queues q set owner = $1, epoch = q.epoch + 1, not_before = '-infinity'
				from free where q.queue_id = free.queue_id
				returning q.queue_id, q.epoch, coalesce(free.prev <> $1, false) as takeover)
			select queue_id, epoch, `+headSQL("queue_id")+`, false from ins
			union all
			select queue_id, epoch, `+headSQL("queue_id")+`, takeover from up`, owner, ids, now)
		if err == nil {
			for rows.Next() {
				var id int64
				var head []byte
				c := engine.QueueClaim{Fence: engine.Fence{Owner: owner}}
				if err = rows.Scan(&id, &c.Fence.Epoch, &head, &c.Takeover); err != nil {
					break
				}
				c.Fence.Queue = uint64(id)
				if len(head) == 8 {
					c.Head = idOf(head)
				}
				got[c.Fence.Queue] = c
			}
			rows.Close()
			if err == nil {
				err = rows.Err()
			}
		}
	}
	// A claim made for a caller gone meanwhile is an orphan, which the
	// node's bookkeeping lets go.
	for _, r := range reqs {
		switch c, ok := got[r.queue]; {
		case r.ctx.Err() != nil:
			r.done <- claimAns{err: r.ctx.Err()} // the claim, if any, goes to a caller still there
		case err != nil:
			r.done <- claimAns{err: fmt.Errorf("claim queue %d: %w", r.queue, err)}
		case ok:
			delete(got, r.queue) // one claim, to the first asking
			r.done <- claimAns{c: c, ok: true}
		default:
			r.done <- claimAns{c: engine.QueueClaim{Fence: engine.Fence{Queue: r.queue, Owner: owner}}}
		}
	}
}

type finishReq struct {
	f    engine.Fence
	done chan finishAns // buffered
}

type finishAns struct {
	head uint64
	err  error
}

// FinishQueue returns the head of claim f's queue, or else deletes its row
// and looks again: an operation created meanwhile (its creation committed
// while the delete ran on an older snapshot) gets a row back, free to
// claim.
func (db *DB) FinishQueue(ctx context.Context, f engine.Fence) (uint64, error) {
	p, err := db.leasePool()
	if err != nil {
		return 0, err
	}
	r := &finishReq{f: f, done: make(chan finishAns, 1)}
	if err := p.finishes.do(ctx, p.ctx, r, p.finishQueues); err != nil {
		return 0, err
	}
	a, err := wait(ctx, p.ctx, r.done)
	if err != nil {
		return 0, err
	}
	return a.head, a.err
}

// finishQueues sends a batch of finishes, in queue order: the first
// statement reads each queue's head and deletes the rows of those left
// without work (with the cancel requests left for them: their operations
// ended before the holder read them); the second, on a newer snapshot,
// gives a row back to any that got work meanwhile.
func (p *pgStore) finishQueues(reqs []*finishReq) {
	slices.SortFunc(reqs, func(a, b *finishReq) int { return cmp.Compare(a.f.Queue, b.f.Queue) })
	ids, owners, epochs := make([]int64, len(reqs)), make([]string, len(reqs)), make([]int64, len(reqs))
	for i, r := range reqs {
		ids[i], owners[i], epochs[i] = int64(r.f.Queue), r.f.Owner, r.f.Epoch
	}
	heads := make([]uint64, len(reqs))
	b := &pgx.Batch{}
	b.Queue(`with f as (select * from unnest($1::bigint[], $2::text[], $3::bigint[]) with ordinality f(queue_id, owner, epoch, i)),
		h as (select f.*, `+headSQL("f.queue_id")+` as head from f),
		d as (delete from queues q using h where q.queue_id = h.queue_id and q.owner = h.owner and q.epoch = h.epoch
			and h.head is null returning q.queue_id),
		a as (delete from cancel_asks where queue_id in (select queue_id from d))
		select i, head from h`, ids, owners, epochs).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var i int64
			var head []byte
			if err := rows.Scan(&i, &head); err != nil {
				return err
			}
			if len(head) == 8 {
				heads[i-1] = idOf(head)
			}
		}
		return rows.Err()
	})
	ctx, cancel := context.WithTimeout(p.ctx, leaseTimeout)
	defer cancel()
	err := p.pool.SendBatch(ctx, b).Close()
	if err == nil {
		// Its own transaction: a claim inserting a row the delete took
		// waits for the delete to commit, never the other way round.
		_, err = p.pool.Exec(ctx, `insert into queues (queue_id) select id from unnest($1::bigint[]) id
			where not exists (select 1 from queues where queue_id = id) and `+headSQL("id")+` is not null
			on conflict do nothing`, ids)
	}
	for i, r := range reqs {
		if err != nil {
			r.done <- finishAns{err: fmt.Errorf("finish queue %d: %w", r.f.Queue, err)}
			continue
		}
		r.done <- finishAns{head: heads[i]}
	}
}
