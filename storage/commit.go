package storage

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"

	"go.etcd.io/bbolt"

	"eventops/engine"
)

// request is one queued Update.
type request struct {
	ctx     context.Context
	fn      func(engine.Tx) error
	done    chan error // buffered: the writer never blocks on an answer
	settled bool       // answered; touched by the writer goroutine only
}

func (r *request) answer(err error) {
	r.done <- err
	r.settled = true
}

func (r *request) isSettled() bool { return r.settled }

// errRollback makes bbolt roll a batch back after one function failed.
var errRollback = errors.New("storage: roll back batch")

// Update runs fn in a read-write transaction and returns once that
// transaction is durably committed (or fn's error, unchanged).
//
// Group commit: a single writer goroutine takes every request queued at that
// moment (at most Options.MaxBatch), runs their functions one after another
// in one bbolt transaction and commits once. There is no waiting for company:
// an idle writer commits a lone request at once, and requests arriving during
// a commit ride the next one.
//
// When a function fails, its caller gets its error unchanged and the others
// are unaffected. A function that failed before writing anything (the usual
// validation failure) is simply passed over. One that had written makes the
// whole transaction roll back, and the batch runs again without it: functions
// must therefore be pure functions of the transaction's state, with no effect
// outside tx, and may run more than once. (Should such failures pile up in
// one batch, the functions known to succeed are committed on their own, so
// that a batch never costs more than about three times its functions' work.)
// When the commit itself fails, every caller whose function ran in that
// transaction gets the commit's error.
//
// A panic in fn is recovered and returned to that caller as an error with the
// stack. fn must not call Update (it would wait for itself) and must not keep
// tx after returning. When ctx is done before fn's batch starts, Update
// returns ctx.Err() and fn never runs; once the batch has started, Update
// waits for the commit regardless of ctx, since the write may already be
// durable. After Close, Update returns ErrClosed.
func (db *DB) Update(ctx context.Context, fn func(engine.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := &request{ctx: ctx, fn: fn, done: make(chan error, 1)}
	db.mu.RLock()
	if db.closed {
		db.mu.RUnlock()
		return ErrClosed
	}
	select {
	case db.reqs <- r:
		db.mu.RUnlock()
	case <-ctx.Done():
		db.mu.RUnlock()
		return ctx.Err()
	}
	return <-r.done
}

// writer is the one goroutine that writes. It ends when Close closes reqs and
// every queued request has been answered.
func (db *DB) writer() {
	defer close(db.writerDone)
	batch := make([]*request, 0, db.opts.MaxBatch)
	for r := range db.reqs {
		batch = append(batch[:0], r)
	drain:
		for len(batch) < db.opts.MaxBatch {
			select {
			case r, ok := <-db.reqs:
				if !ok {
					break drain
				}
				batch = append(batch, r)
			default:
				break drain
			}
		}
		db.commit(batch)
		clear(batch)
	}
}

// commit runs a batch to completion, answering every request exactly once.
func (db *DB) commit(batch []*request) {
	pending := make([]*request, 0, len(batch))
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.answer(err)
			continue
		}
		pending = append(pending, r)
	}
	rerun := 0 // function runs repeated because a later function failed
	split := 0 // when > 0, the next transaction takes only this many
	for len(pending) > 0 {
		take := len(pending)
		if split > 0 {
			take, split = split, 0
		}
		failed, fnErr, err := db.runTx(pending[:take])
		if failed < 0 {
			// Counted before answering, so that a caller reading Stats
			// after its Update returns sees its own commit.
			var n uint64
			for _, r := range pending[:take] {
				if !r.settled {
					n++
				}
			}
			if err == nil {
				db.commits.Add(1)
				db.updates.Add(n)
			}
			for _, r := range pending[:take] {
				if !r.settled {
					r.answer(err)
				}
			}
			pending = pending[take:]
			continue
		}
		good := 0 // functions before the failed one that will run again
		for _, r := range pending[:failed] {
			if !r.settled {
				good++
			}
		}
		pending[failed].answer(fnErr)
		pending = slices.DeleteFunc(pending, (*request).isSettled)
		rerun += good
		if rerun > len(batch) {
			// Too many failures for cheap re-runs: commit the functions
			// before the failed one by themselves, so that none of them
			// runs more than once more.
			split = good
		}
	}
}

// runTx runs reqs in one read-write transaction. A function that fails
// without having written is answered at once and passed over. When one fails
// after writing, runTx rolls back and reports which (failed >= 0) and its
// error; otherwise it commits and reports failed = -1 and the commit's error.
func (db *DB) runTx(reqs []*request) (failed int, fnErr, err error) {
	if db.pg != nil {
		return db.pg.runTx(reqs, db.cache)
	}
	failed = -1
	err = db.bolt.Update(func(btx *bbolt.Tx) error {
		for i, r := range reqs {
			wrote, e := runSafe(boltTx{btx}, db.cache, r.fn)
			switch {
			case e == nil:
			case !wrote:
				r.answer(e)
			default:
				failed, fnErr = i, e
				return errRollback
			}
		}
		return nil
	})
	if failed >= 0 {
		return failed, fnErr, nil
	}
	if err != nil {
		err = fmt.Errorf("commit %s: %w", db.path, err)
	}
	return -1, nil, err
}

// runSafe runs an update function and reports whether it wrote, turning a
// panic into its caller's error: the writer goroutine must survive any
// function.
func runSafe(kv kvTx, cache *caches, fn func(engine.Tx) error) (wrote bool, err error) {
	t := &tx{kv: kv, cache: cache}
	defer func() {
		t.kv = nil
		wrote = t.wrote
		if p := recover(); p != nil {
			if f, ok := p.(pgFault); ok {
				err = f // the database failed, not the function
				return
			}
			err = fmt.Errorf("storage: update function panicked: %v\n%s", p, debug.Stack())
		}
	}()
	return false, fn(t)
}
