package engine

import (
	"context"
	"sync"
	"time"
)

// queueLocks serialise the creation of operations per queue, so that the
// order of ids in a queue is the order in which they are enqueued.
type queueLocks struct {
	mu    sync.Mutex
	locks map[uint64]*queueLock
}

type queueLock struct {
	sync.Mutex
	refs int
}

func (q *queueLocks) lock(id uint64) func() {
	q.mu.Lock()
	if q.locks == nil {
		q.locks = map[uint64]*queueLock{}
	}
	l := q.locks[id]
	if l == nil {
		l = &queueLock{}
		q.locks[id] = l
	}
	l.refs++
	q.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		q.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(q.locks, id)
		}
		q.mu.Unlock()
	}
}

// lockQueue serialises the creation of operations on one queue. It also
// waits for a new event's first operation to be launched: the event is
// readable once its commit is durable, a moment before CreateEvent enqueues
// its save, and an update racing into that moment must queue behind it.
func (e *Engine) lockQueue(id uint64) func() {
	unlock := e.queues.lock(id)
	if ch, ok := e.launching.Load(id); ok {
		<-ch.(chan struct{})
	}
	return unlock
}

// newOperation plans a pending operation on ev and writes it in tx. Ids of
// the operation and its phases come from one sequence.
func newOperation(tx Tx, action Action, ev *Event, c *Company, now time.Time, inventoryOnly bool) (*Operation, error) {
	id, err := tx.NextID(SeqOperation)
	if err != nil {
		return nil, err
	}
	op := &Operation{
		ID: id, Action: action, EventID: ev.ID, CompanyID: ev.CompanyID, QueueID: ev.QueueID(),
		Status: StatusPending, CreatedAt: now, UpdatedAt: now, Version: 1,
		Phases: Plan(action, c.Shopify(), ev, inventoryOnly), InventoryOnly: inventoryOnly,
	}
	if op.Phases == nil {
		op.Phases = []*Phase{}
	}
	var idErr error
	op.WalkPhases(func(p *Phase) {
		if idErr == nil {
			p.ID, idErr = tx.NextID(SeqOperation)
		}
	})
	if idErr != nil {
		return nil, idErr
	}
	return op, tx.PutOperation(op)
}

// launchedCap bounds the operations kept whole for the workers (see
// Engine.launched): enough to spare the read for every operation a busy
// engine takes soon after creating it, a few MiB at most.
const launchedCap = 1024

// launch is called once an operation's creation is durable: it is
// published and queued.
func (e *Engine) launch(ctx context.Context, op *Operation) {
	e.observe(nil, op)
	e.broker.publish(op)
	e.claimMu.Lock()
	if e.readBack[op.ID] {
		delete(e.readBack, op.ID) // canceled before launch: the store has it
	} else if len(e.launched) < launchedCap {
		e.launched[op.ID] = op
	}
	e.sched.enqueue(op.QueueID, op.ID)
	e.claimMu.Unlock()
	// With ctx, the log handler adds the request id of the call that
	// started it: the line that ties a request to its operation.
	e.log.DebugContext(ctx, "operation queued", "op", op.ID, "action", op.Action, "event", op.EventID)
}

// Operation reads one operation of a company (companyID 0: any company).
func (e *Engine) Operation(companyID, id uint64) (*Operation, error) {
	var op *Operation
	err := e.store.View(func(tx Tx) error {
		var err error
		op, err = tx.Operation(id)
		return err
	})
	if err != nil {
		return nil, err
	}
	if op == nil || (companyID != 0 && op.CompanyID != companyID) {
		return nil, NotFound("operation %d not found", id)
	}
	return op, nil
}

// Operations lists operations newest first; see OperationQuery.
func (e *Engine) Operations(q OperationQuery) ([]*Operation, uint64, error) {
	var ops []*Operation
	var next uint64
	err := e.store.View(func(tx Tx) error {
		var err error
		ops, next, err = tx.Operations(q)
		return err
	})
	return ops, next, err
}

// CancelOperation asks a pending or running operation to end failed with
// OPERATION_CANCELED at its next safe point. The request is durable when it
// returns; the returned state may still be pending or running. A terminal
// operation is a conflict.
func (e *Engine) CancelOperation(ctx context.Context, companyID, id uint64) (*Operation, error) {
	op, err := e.Operation(companyID, id)
	if err != nil {
		return nil, err
	}
	for {
		if op.Status.Terminal() {
			return nil, Conflict("operation %d is already %s", id, op.Status)
		}
		e.claimMu.Lock()
		lo := e.inflight[id]
		if lo != nil {
			e.claimMu.Unlock()
			reply := make(chan *Operation, 1)
			select {
			case lo.cancel <- reply:
				if got := <-reply; got != nil {
					return got, nil
				}
				return nil, Errorf(CodeOperationStorageFailed, "cancel of operation %d was not persisted", id)
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(50 * time.Millisecond):
				// The worker finished meanwhile; look again.
			}
		} else {
			// No worker owns it, and none can claim it while claimMu is
			// held. Queued behind others, it ends now; at the head of its
			// queue (or not yet launched), the worker that claims it
			// reads the request from the store. The scheduler changes
			// only once the write is durable: a failed write leaves
			// everything as it was.
			behind := e.sched.queuedBehind(op.QueueID, id)
			var saved *Operation
			var wasTerminal bool
			err := e.store.Update(context.WithoutCancel(ctx), func(tx Tx) error {
				cur, err := tx.Operation(id)
				if err != nil || cur == nil {
					return err
				}
				saved, wasTerminal = cur, cur.Status.Terminal()
				if wasTerminal {
					return nil
				}
				now := e.now()
				cur.CancelAsked = true
				if behind {
					cur.Status = StatusFailed
					cur.Error = &OpError{Code: CodeOperationCanceled, Message: "the operation was canceled"}
					cur.FinishedAt = &now
				}
				cur.Version++
				cur.UpdatedAt = now
				return tx.PutOperation(cur)
			})
			if err == nil && saved != nil && !wasTerminal {
				// The worker must read the request, not a copy from
				// before it; an operation not launched yet is marked so
				// that launch does not hand one out.
				if _, ok := e.launched[id]; ok {
					delete(e.launched, id)
				} else if !e.sched.queued(op.QueueID, id) {
					e.readBack[id] = true
				}
				if behind {
					// Ended now; if it became the head meanwhile, its
					// worker finds it terminal and moves on.
					e.sched.remove(op.QueueID, id)
				}
			}
			e.claimMu.Unlock()
			if err != nil {
				return nil, err
			}
			if saved == nil {
				return nil, NotFound("operation %d not found", id)
			}
			if wasTerminal {
				return nil, Conflict("operation %d is already %s", id, saved.Status)
			}
			e.observe(op, saved)
			e.broker.publish(saved)
			return saved, nil
		}
		if op, err = e.Operation(companyID, id); err != nil {
			return nil, err
		}
	}
}

// RetryOperation starts a new operation of the same action as a failed one
// (terminal operations are never reopened). A failed refund refunds what is
// still unrefunded. Anything but a failed operation is a conflict.
func (e *Engine) RetryOperation(ctx context.Context, companyID, id uint64) (*Operation, error) {
	admitted, err := e.admit()
	if err != nil {
		return nil, err
	}
	defer admitted()
	old, err := e.Operation(companyID, id)
	if err != nil {
		return nil, err
	}
	if old.Status != StatusFailed {
		return nil, Conflict("only a failed operation can be retried; operation %d is %s", id, old.Status)
	}
	unlock := e.lockQueue(old.QueueID)
	defer unlock()
	var op *Operation
	err = e.store.Update(ctx, func(tx Tx) error {
		idem, err := claimIdempotency(ctx, tx, e.now())
		if err != nil {
			return err
		}
		ev, err := tx.Event(old.EventID)
		if err != nil {
			return err
		}
		if ev == nil {
			return NotFound("event %d not found", old.EventID)
		}
		if ev.Deleted && old.Action != ActionDelete {
			return Conflict("event %d is deleted; only its delete can be retried", ev.ID)
		}
		c, err := tx.Company(ev.CompanyID)
		if err != nil {
			return err
		}
		op, err = newOperation(tx, old.Action, ev, c, e.now(), old.InventoryOnly)
		if err != nil {
			return err
		}
		op.RetryOf = old.ID
		if err := tx.PutOperation(op); err != nil {
			return err
		}
		return putIdempotency(tx, idem, ev.ID, op.ID, 0)
	})
	if err != nil {
		return nil, err
	}
	e.launch(ctx, op)
	return op, nil
}

// Wait blocks until operation id changes from version, ctx ends or timeout
// passes, and returns its state then. It answers at once when the operation
// is terminal or already differs from version.
func (e *Engine) Wait(ctx context.Context, companyID, id, version uint64, timeout time.Duration) (*Operation, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		ch, stop := e.broker.Watch(id)
		op, err := e.Operation(companyID, id)
		if err != nil || op.Status.Terminal() || op.Version != version {
			stop()
			return op, err
		}
		// A transition is readable once committed and published just
		// after: a wake-up may announce the very version the caller
		// has, so look again until it differs.
		select {
		case <-ch:
			stop()
		case <-t.C:
			stop()
			return e.Operation(companyID, id)
		case <-ctx.Done():
			stop()
			return e.Operation(companyID, id)
		case <-e.soft: // shutting down: answer with the current state
			stop()
			return e.Operation(companyID, id)
		}
	}
}

// Prune deletes terminal operations that finished before the cutoff, in
// small transactions so that writers are never held up for long, and reports
// how many it deleted.
func (e *Engine) Prune(ctx context.Context, before time.Time) (int, error) {
	const batch = 500
	total := 0
	for {
		var n int
		err := e.store.Update(ctx, func(tx Tx) error {
			var err error
			n, err = tx.PruneOperations(before, batch)
			return err
		})
		total += n
		if err != nil || n < batch {
			return total, err
		}
		if err := ctx.Err(); err != nil {
			return total, err
		}
	}
}
