package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"eventops/engine"
)

// Claims by lease on PostgreSQL (engine.LeaseStore; migrations/00002).
// Unfinished operations are found through the idx_op_queue_active index
// bucket of the kv table, whose keys are the queue's id then the
// operation's, both 8 bytes big-endian: int8send(queue_id) is the queue's
// prefix, so a queue's head is one ordered index probe.

var _ engine.LeaseStore = (*DB)(nil)

// errNotPostgres refuses lease calls on bbolt, where one process owns the
// file and the engine keeps its queues in memory.
var errNotPostgres = errors.New("storage: leases need PostgreSQL")

func (db *DB) leasePool() (*pgStore, error) {
	if db.pg == nil {
		return nil, errNotPostgres
	}
	return db.pg, nil
}

// activeBucket is the index bucket of unfinished operations by queue.
var activeBucket = string(indexBuckets[idxOpQueueActive])

// headSQL selects a queue's oldest unfinished operation id (8 bytes) for
// the queue id in column expression q.
func headSQL(q string) string {
	return `(select substring(a.k from 9 for 8) from kv a where a.bucket = '` + activeBucket +
		`' and a.k >= int8send(` + q + `) and a.k < int8send(` + q + ` + 1) order by a.k limit 1)`
}

// liveOwner is true when the row q's owner is a node whose heartbeat has not
// expired.
const liveOwner = `exists (select 1 from nodes n where n.owner = q.owner and n.expires_at > now())`

func (db *DB) Heartbeat(ctx context.Context, owner string, lease time.Duration, join bool) (bool, error) {
	p, err := db.leasePool()
	if err != nil {
		return false, err
	}
	secs := lease.Seconds()
	var sql string
	if join {
		sql = `insert into nodes (owner, expires_at) values ($1, now() + make_interval(secs => $2))
			on conflict (owner) do update set expires_at = excluded.expires_at`
	} else {
		sql = `update nodes set expires_at = now() + make_interval(secs => $2)
			where owner = $1 and expires_at > now()`
	}
	tag, err := p.pool.Exec(ctx, sql, owner, secs)
	if err != nil {
		return false, fmt.Errorf("heartbeat: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

func (db *DB) Leave(ctx context.Context, owner string) error {
	p, err := db.leasePool()
	if err != nil {
		return err
	}
	_, err = p.pool.Exec(ctx, `with freed as (update queues set owner = null where owner = $1)
		delete from nodes where owner = $1 or expires_at < now() - interval '1 day'`, owner)
	return err
}

func (db *DB) ClaimQueues(ctx context.Context, owner string, n int) ([]engine.QueueClaim, error) {
	p, err := db.leasePool()
	if err != nil {
		return nil, err
	}
	rows, err := p.pool.Query(ctx, `with free as (
			select q.queue_id, q.owner as prev from queues q
			where q.not_before <= now() and (q.owner is null or not `+liveOwner+`)
			order by q.queue_id limit $2
			for update of q skip locked)
		update queues q set owner = $1, epoch = q.epoch + 1, not_before = '-infinity'
		from free where q.queue_id = free.queue_id
		returning q.queue_id, q.epoch, free.prev is not null and free.prev <> $1, `+headSQL("q.queue_id"),
		owner, n)
	if err != nil {
		return nil, fmt.Errorf("claim queues: %w", err)
	}
	defer rows.Close()
	var out []engine.QueueClaim
	for rows.Next() {
		var c engine.QueueClaim
		var head []byte
		if err := rows.Scan(&c.Fence.Queue, &c.Fence.Epoch, &c.Takeover, &head); err != nil {
			return nil, fmt.Errorf("claim queues: %w", err)
		}
		c.Fence.Owner = owner
		if len(head) == 8 {
			c.Head = idOf(head)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claim queues: %w", err)
	}
	return out, nil
}

// ReleaseQueue ends claim f: a queue left without work goes as FinishQueue
// lets it go; one with work is freed, claimable by any node after wait.
func (db *DB) ReleaseQueue(ctx context.Context, f engine.Fence, wait time.Duration) error {
	p, err := db.leasePool()
	if err != nil {
		return err
	}
	head, err := db.FinishQueue(ctx, f)
	if err != nil || head == 0 {
		return err
	}
	_, err = p.pool.Exec(ctx, `update queues set owner = null, not_before = now() + make_interval(secs => $4)
		where queue_id = $1 and owner = $2 and epoch = $3`, int64(f.Queue), f.Owner, f.Epoch, wait.Seconds())
	if err != nil {
		return fmt.Errorf("release queue %d: %w", f.Queue, err)
	}
	return nil
}

func (db *DB) OwnedQueues(ctx context.Context, owner string) ([]engine.Fence, error) {
	p, err := db.leasePool()
	if err != nil {
		return nil, err
	}
	rows, err := p.pool.Query(ctx, `select queue_id, epoch from queues where owner = $1`, owner)
	if err != nil {
		return nil, fmt.Errorf("owned queues: %w", err)
	}
	defer rows.Close()
	var out []engine.Fence
	for rows.Next() {
		f := engine.Fence{Owner: owner}
		var q int64
		if err := rows.Scan(&q, &f.Epoch); err != nil {
			return nil, err
		}
		f.Queue = uint64(q)
		out = append(out, f)
	}
	return out, rows.Err()
}

func (db *DB) SweepQueues(ctx context.Context) error {
	p, err := db.leasePool()
	if err != nil {
		return err
	}
	_, err = p.pool.Exec(ctx, `insert into queues (queue_id)
		select distinct ('x' || encode(substring(k from 1 for 8), 'hex'))::bit(64)::bigint
		from kv where bucket = '`+activeBucket+`'
		on conflict do nothing`)
	if err != nil {
		return fmt.Errorf("sweep queues: %w", err)
	}
	return nil
}

func (db *DB) CountActive(ctx context.Context) (int, error) {
	p, err := db.leasePool()
	if err != nil {
		return 0, err
	}
	var n int
	if err := p.pool.QueryRow(ctx, `select count(*) from kv where bucket = '`+activeBucket+`'`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count active operations: %w", err)
	}
	return n, nil
}

func (db *DB) LiveNodes(ctx context.Context) (int, error) {
	p, err := db.leasePool()
	if err != nil {
		return 0, err
	}
	var n int
	if err := p.pool.QueryRow(ctx, `select count(*) from nodes where expires_at > now()`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count nodes: %w", err)
	}
	return n, nil
}

func (db *DB) AskCancel(ctx context.Context, queue, id uint64) error {
	p, err := db.leasePool()
	if err != nil {
		return err
	}
	_, err = p.pool.Exec(ctx, `insert into cancel_asks (op_id, queue_id) values ($1, $2) on conflict do nothing`,
		int64(id), int64(queue))
	return err
}

func (db *DB) CancelAsks(ctx context.Context, owner string) ([]uint64, error) {
	p, err := db.leasePool()
	if err != nil {
		return nil, err
	}
	rows, err := p.pool.Query(ctx, `delete from cancel_asks a using queues q
		where q.queue_id = a.queue_id and q.owner = $1 returning a.op_id`, owner)
	if err != nil {
		return nil, fmt.Errorf("cancel requests: %w", err)
	}
	defer rows.Close()
	var ids []uint64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, uint64(id))
	}
	return ids, rows.Err()
}

// queueFences asks, with the batch's first round trip, whether each fence
// the batch's functions run under is still its queue's claim, and holds
// those queues' rows (FOR SHARE, until the transaction ends). A claim made
// after this transaction's snapshot makes the lock fail with a
// serialization error, and the batch runs again on a newer snapshot, where
// the fence fails: a commit never lands after its successor's claim. The
// answer fills the returned set once the statement has run.
func (p *pgKV) queueFences(fs []engine.Fence) map[engine.Fence]bool {
	held := make(map[engine.Fence]bool, len(fs))
	if len(fs) == 0 {
		return held
	}
	ids, owners, epochs := make([]int64, len(fs)), make([]string, len(fs)), make([]int64, len(fs))
	for i, f := range fs {
		ids[i], owners[i], epochs[i] = int64(f.Queue), f.Owner, f.Epoch
	}
	p.queue(queued{sql: `select q.queue_id, q.owner, q.epoch from unnest($1::bigint[], $2::text[], $3::bigint[]) f(id, owner, epoch)
		join lateral (select queue_id, owner, epoch from queues where queue_id = f.id and owner = f.owner and epoch = f.epoch
			limit 1 for share) q on true`,
		args: []any{ids, owners, epochs}, each: func(rows pgx.Rows) error {
			for rows.Next() {
				var f engine.Fence
				var id int64
				if err := rows.Scan(&id, &f.Owner, &f.Epoch); err != nil {
					return err
				}
				f.Queue = uint64(id)
				held[f] = true
			}
			return nil
		}})
	return held
}

// fenced runs fn under fence f, whose check queueFences queued: fn fails
// with engine.ErrFenced (its writes dropped) unless f is still the queue's
// claim. The check rides with the first read of the batch.
func (p *pgKV) fenced(f *engine.Fence, held map[engine.Fence]bool, fn func(engine.Tx) error) func(engine.Tx) error {
	return func(t engine.Tx) error {
		if err := fn(t); err != nil {
			return err
		}
		if err := p.flushQueued(); err != nil {
			panic(pgFault{err}) // the batch's failure (run again if a serialization failure)
		}
		if !held[*f] {
			return fmt.Errorf("queue %d, epoch %d: %w", f.Queue, f.Epoch, engine.ErrFenced)
		}
		return nil
	}
}

// indexActiveQueues gives the unfinished operations of an installation
// written before idx_op_queue_active existed (a data file copied by
// `store copy`) their entries, so that nodes find their queues. It costs one
// count when nothing is missing.
func indexActiveQueues(ctx context.Context, db *DB) error {
	p := db.pg
	var status, queued int
	pending, running := key(nil).str(string(engine.StatusPending)), key(nil).str(string(engine.StatusRunning))
	after := func(prefix key) []byte { // the first key past every key with prefix (its last byte is 0)
		return append(clone(prefix[:len(prefix)-1]), 1)
	}
	err := p.pool.QueryRow(ctx, `select
		(select count(*) from kv where bucket = $1 and (k >= $2 and k < $3 or k >= $4 and k < $5)),
		(select count(*) from kv where bucket = $6)`,
		string(indexBuckets[idxOpStatus]), []byte(pending), after(pending), []byte(running), after(running),
		activeBucket).Scan(&status, &queued)
	if err != nil || status == queued {
		return err
	}
	return db.Update(ctx, func(t engine.Tx) error {
		ops, err := t.ActiveOperations()
		if err != nil {
			return err
		}
		for _, op := range ops {
			if err := t.PutOperation(op); err != nil {
				return err
			}
		}
		return nil
	})
}

// PoolStats reports the PostgreSQL connection pool: connections in use,
// idle, and its bound (zeros on bbolt).
func (db *DB) PoolStats() (inUse, idle, max int) {
	if db.pg == nil {
		return 0, 0, 0
	}
	st := db.pg.pool.Stat()
	return int(st.AcquiredConns()), int(st.IdleConns()), int(st.MaxConns())
}

// ActiveByAction counts the installation's unfinished operations by action
// (PostgreSQL: every node's, for the operations_active gauge). It probes
// the action index once per unfinished operation.
func (db *DB) ActiveByAction(ctx context.Context) (map[engine.Action]int, error) {
	p, err := db.leasePool()
	if err != nil {
		return nil, err
	}
	out := map[engine.Action]int{}
	for _, a := range []engine.Action{engine.ActionSave, engine.ActionDelete, engine.ActionRefund} {
		var n int
		err := p.pool.QueryRow(ctx, `select count(*) from kv q where q.bucket = $1
			and exists (select 1 from kv a where a.bucket = $2 and a.k = $3::bytea || substring(q.k from 9 for 8))`,
			activeBucket, string(indexBuckets[idxOpAction]), []byte(key(nil).str(string(a)))).Scan(&n)
		if err != nil {
			return nil, fmt.Errorf("count active operations: %w", err)
		}
		out[a] = n
	}
	return out, nil
}
