package engine

import (
	"context"
	"slices"
	"time"
)

// lockQueue serialises the creation of operations on one queue (see
// Dispatcher.LockQueues).
func (e *Engine) lockQueue(id uint64) func() { return e.disp.LockQueues(id) }

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

// launch is called once an operation's creation is durable: it is
// published and queued.
func (e *Engine) launch(ctx context.Context, op *Operation) {
	e.notePending([]*Operation{op})
	e.observe(nil, op)
	e.announce(op)
	e.disp.Enqueue(op)
	// With ctx, the log handler adds the request id of the call that
	// started it: the line that ties a request to its operation.
	e.log.DebugContext(ctx, "operation queued", "op", op.ID, "action", op.Action, "event", op.EventID)
}

// Operation reads one operation of a company (companyID 0: any company).
//
// On a shared store the reads of concurrent callers are coalesced (see
// readGroup): the operation is shared with them and must not be modified.
func (e *Engine) Operation(companyID, id uint64) (*Operation, error) {
	var op *Operation
	var err error
	if e.opReads != nil {
		op, err = e.opReads.get(id)
	} else {
		err = e.viewOne(func(tx Tx) error {
			var err error
			op, err = tx.Operation(id)
			return err
		})
	}
	if err != nil {
		return nil, err
	}
	if op == nil || (companyID != 0 && op.CompanyID != companyID) {
		return nil, NotFound("operation %d not found", id)
	}
	return op, nil
}

// oneReader is a Store that runs a function reading one thing (a record, or
// a unique index entry and its record) more cheaply than View: on
// PostgreSQL, one statement without a transaction around it. fn may run
// twice, and must only read.
type oneReader interface {
	ViewOne(fn func(tx Tx) error) error
}

// manyReader is a Store that reads many API keys or operations in one
// statement (storage.DB), for the read groups of a shared store. The values
// come in the order of the keys asked, nil where there is none.
type manyReader interface {
	APIKeysByHash(hashes [][]byte) ([]*APIKey, error)
	OperationsByID(ids []uint64) ([]*Operation, error)
}

// viewOne is View for a function that reads one thing (see oneReader).
func (e *Engine) viewOne(fn func(tx Tx) error) error {
	if o, ok := e.store.(oneReader); ok {
		return o.ViewOne(fn)
	}
	return e.store.View(fn)
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
// returns, with ctx's idempotency key recorded in the same commit; the
// returned state may still be pending or running. A terminal operation is
// a conflict.
//
// The dispatcher routes the request: to the run holding the operation,
// which records it and answers, or to a direct write while no run can
// claim it. One queued behind others ends at once; at the head of its
// queue (or not yet enqueued), the run that claims it reads the request.
func (e *Engine) CancelOperation(ctx context.Context, companyID, id uint64) (*Operation, error) {
	op, err := e.Operation(companyID, id)
	if err != nil {
		return nil, err
	}
	if op.Status.Terminal() {
		return nil, Conflict("operation %d is already %s", id, op.Status)
	}
	return e.disp.Cancel(ctx, op.QueueID, id, func(ctx context.Context, behind bool) (*Operation, error) {
		// No run can hold the operation while this runs (the dispatcher
		// fences it), and nothing else writes a created operation: what
		// is read here is what the commit replaces.
		cur, err := e.Operation(companyID, id)
		if err != nil {
			return nil, err
		}
		if cur.Status.Terminal() {
			return nil, Conflict("operation %d is already %s", id, cur.Status)
		}
		now := e.now()
		next := cur.Clone()
		next.CancelAsked = true
		if behind {
			next.Status = StatusFailed
			next.Error = &OpError{Code: CodeOperationCanceled, Message: "the operation was canceled"}
			next.FinishedAt = &now
		}
		if err := e.commitOp(context.WithoutCancel(ctx), cur, next, now, cancelRecord(ctx, next, now)); err != nil {
			return nil, err
		}
		return next, nil
	})
}

// cancelAsked cancels operation id on this node for a cancel request made
// on another node while this one held the operation's queue. No idempotency
// key rides along: the asking node answers its client once it reads the
// request recorded.
func (e *Engine) cancelAsked(ctx context.Context, id uint64) error {
	var op *Operation
	if err := e.store.View(func(tx Tx) error {
		var err error
		op, err = tx.Operation(id)
		return err
	}); err != nil {
		return err
	}
	if op == nil || op.Status.Terminal() || op.CancelAsked {
		return nil
	}
	_, err := e.CancelOperation(ctx, op.CompanyID, id)
	return err
}

// cancelAnswered records ctx's idempotency key (if any) with the answer to
// a cancel request that the run on another node recorded: a retry of the
// request gets the same answer from any node.
func (e *Engine) cancelAnswered(ctx context.Context, op *Operation) error {
	rec := cancelRecord(ctx, op, e.now())
	if len(rec) == 0 {
		return nil
	}
	return e.store.Update(ctx, rec[0])
}

// cancelRecord is the write that records a cancel request's idempotency
// key (none without one) in the commit that records the request, with the
// answer rendered from the operation as that commit leaves it.
func cancelRecord(ctx context.Context, next *Operation, now time.Time) []func(Tx) error {
	if _, ok := ctx.Value(idemCtxKey{}).(idemCtx); !ok {
		return nil
	}
	return []func(Tx) error{func(tx Tx) error {
		claim, err := claimIdempotency(ctx, tx, now)
		if err != nil {
			return err
		}
		return claim.put(tx, next.EventID, next.ID, 0, resultOf(WriteResult{Operation: next}))
	}}
}

// RetryOperation starts a new operation of the same action as a failed one
// (terminal operations are never reopened). A failed refund refunds what is
// still unrefunded. Anything but a failed operation is a conflict.
func (e *Engine) RetryOperation(ctx context.Context, companyID, id uint64) (*Operation, error) {
	return e.retryOperation(ctx, companyID, id, nil)
}

// RetryOperationOnce is RetryOperation refusing (a conflict naming the
// retry) a failure that was retried already, checked under the event
// queue's lock that every retry takes, so that two retries racing (two
// clicks, two bulk calls) never retry one failure twice. The dashboard's
// Retry button uses it unless the person confirmed a second retry.
func (e *Engine) RetryOperationOnce(ctx context.Context, companyID, id uint64) (*Operation, error) {
	return e.retryOperation(ctx, companyID, id, func(old *Operation) error {
		retries, err := e.RetriesOf(old)
		if err != nil {
			return err
		}
		if len(retries) > 0 {
			return Conflict("operation %d was already retried as %d", id, retries[0])
		}
		return nil
	})
}

// retryOperation is RetryOperation; once, when set, runs under the event
// queue's lock that every retry takes and refuses the retry with its
// error (RetryOperationOnce's check; a bulk retry's cheaper one).
func (e *Engine) retryOperation(ctx context.Context, companyID, id uint64, once func(old *Operation) error) (*Operation, error) {
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
	if once != nil {
		if err := once(old); err != nil {
			return nil, err
		}
	}
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
		return idem.put(tx, ev.ID, op.ID, 0, resultOf(WriteResult{Operation: op}))
	})
	if err != nil {
		return nil, err
	}
	e.launch(ctx, op)
	return op, nil
}

// RetriesOf returns the ids of the operations made by retrying op, oldest
// first: the "retried as" links of a failure. A retry is an operation of
// the same event created later (RetryOf set by RetryOperation), so the
// search reads only that event's operations newer than op, through the
// event index; no index of its own is kept.
func (e *Engine) RetriesOf(op *Operation) ([]uint64, error) {
	var ids []uint64
	q := OperationQuery{EventID: op.EventID, Limit: 100}
	for {
		ops, next, err := e.Operations(q)
		if err != nil {
			return nil, err
		}
		for _, o := range ops {
			if o.ID <= op.ID { // newest first: the rest are older than op
				slices.Reverse(ids)
				return ids, nil
			}
			if o.RetryOf == op.ID {
				ids = append(ids, o.ID)
			}
		}
		if next == 0 || next <= op.ID+1 { // nothing newer than op is left
			slices.Reverse(ids)
			return ids, nil
		}
		q.Before = next
	}
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
			if err == nil {
				_, err = e.pruneDeliveries(ctx, before)
			}
			return total, err
		}
		if err := ctx.Err(); err != nil {
			return total, err
		}
	}
}
