package storage

import (
	"context"
	"fmt"
	"slices"
	"sync"

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
	done  chan claimAns // buffered
}

type claimAns struct {
	c   engine.QueueClaim
	ok  bool
	err error
}

func (db *DB) ClaimQueue(ctx context.Context, owner string, queue uint64) (engine.QueueClaim, bool, error) {
	p, err := db.leasePool()
	if err != nil {
		return engine.QueueClaim{}, false, err
	}
	r := &claimReq{ctx: ctx, owner: owner, queue: queue, done: make(chan claimAns, 1)}
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

// claimQueues claims each request's queue for owner unless a live node
// holds it or its not-before time is to come (a queue let go after a
// failure waits out its backoff, whoever claims it), making rows for
// queues that have none. Two requests for one queue: the first may get it,
// the second finds it held.
func (p *pgStore) claimQueues(owner string, reqs []*claimReq) {
	var ids []int64
	for _, r := range reqs {
		if r.ctx.Err() == nil && !slices.Contains(ids, int64(r.queue)) {
			ids = append(ids, int64(r.queue))
		}
	}
	got := map[uint64]engine.QueueClaim{}
	var err error
	if len(ids) > 0 {
		// prev is each row's owner before this statement (its
		// snapshot): a dead node's, when the claim is a takeover.
		var rows pgx.Rows
		rows, err = p.pool.Query(p.ctx, `with want as (select unnest($2::bigint[]) as queue_id),
			prev as (select q.queue_id, q.owner from queues q join want using (queue_id)),
			up as (insert into queues as q (queue_id, owner, epoch) select queue_id, $1, 1 from want
				on conflict (queue_id) do update set owner = $1, epoch = q.epoch + 1, not_before = '-infinity'
					where (q.owner is null or not `+liveOwner+`) and q.not_before <= now()
				returning q.queue_id, q.epoch)
			select up.queue_id, up.epoch, `+headSQL("up.queue_id")+`,
				coalesce((select prev.owner from prev where prev.queue_id = up.queue_id) <> $1, false)
			from up`, owner, ids)
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

// finishQueues sends a batch of finishes in one round trip: the first
// statement reads each queue's head and deletes the rows of those left
// without work (with the cancel requests left for them: their operations
// ended before the holder read them); the second, on a newer snapshot,
// gives a row back to any that got work meanwhile.
func (p *pgStore) finishQueues(reqs []*finishReq) {
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
	b.Queue(`insert into queues (queue_id) select id from unnest($1::bigint[]) id
		where not exists (select 1 from queues where queue_id = id) and `+headSQL("id")+` is not null
		on conflict do nothing`, ids)
	err := p.pool.SendBatch(p.ctx, b).Close()
	for i, r := range reqs {
		if err != nil {
			r.done <- finishAns{err: fmt.Errorf("finish queue %d: %w", r.f.Queue, err)}
			continue
		}
		r.done <- finishAns{head: heads[i]}
	}
}
