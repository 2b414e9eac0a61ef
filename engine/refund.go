package engine

import (
	"context"
	"errors"
	"time"
)

// runRefund runs a refund operation. A refund is a leaf: it stays pending,
// with null progress, until it ends completed or failed, with its progress
// (orders refunded of all) set at that moment (DESIGN §4). Its work runs in
// the same attempt loop as a leaf phase, and a cancel reaches it as it
// reaches a phase.
func (r *opRun) runRefund() bool {
	e := r.e
	ctx, cancel := context.WithCancel(r.claim.under(e.ctx))
	defer cancel()
	started := e.now()
	events := make(chan phaseEvent, 64)
	op := r.op // r.op belongs to this goroutine; the attempt gets a snapshot
	go r.attempt(ctx, unit{
		first: 1,
		newRun: func(n int) *PhaseRun {
			return &PhaseRun{Op: op, Attempt: n, engine: e,
				Log: e.log.With("op", op.ID, "action", ActionRefund)}
		},
		do: func(ctx context.Context, run *PhaseRun) ([]*Phase, error) {
			return nil, e.refund.Refund(ctx, run)
		},
	}, events)
	var end phaseEvent
	canceling := false
	for waiting := true; waiting; {
		select {
		case ev := <-events:
			// Retries and progress are not persisted: a refund shows
			// only its end.
			if ev.kind != evRetrying && ev.kind != evProgress {
				end, waiting = ev, false
			}
		case req := <-r.claim.Cancels():
			if r.acceptCancel(req) {
				canceling = true
				cancel()
			}
		case <-r.claim.Lost():
			cancel()
			for ev := range events { // its end; another node's run redoes it
				if ev.kind != evRetrying && ev.kind != evProgress {
					break
				}
			}
			return false
		}
	}
	if canceling && end.kind != evDone {
		// A refund that succeeded wins the race. One canceled may have
		// refunded orders already, in the shop too (restocking them
		// there): the shop's quantities follow all the same.
		unlock := e.lockQueue(r.op.QueueID)
		defer unlock()
		var follow *Operation
		if !r.finishCanceled(r.inventoryFollowUp(&follow)) {
			return false
		}
		if follow != nil {
			e.launch(context.Background(), follow)
		}
		return true
	}
	// Stopping: the refund resumes at the next start. An attempt aborts
	// when the engine's deadline cancels it, or when the stop begins while
	// it waits to retry (the soft stop ends the wait before any cancel).
	if end.kind == evAborted || (ctx.Err() != nil && end.kind != evDone) {
		return false
	}
	now := e.now()
	next := r.refundEnded(end, started, now)
	// Refunded tickets are for sale again: for a shop company the shop's
	// quantities must follow, so the refund's end starts an inventory-only
	// save in the same commit (queued behind the refund, in id order).
	unlock := e.lockQueue(r.op.QueueID)
	defer unlock()
	var follow *Operation
	var staged []func(Tx) error
	for _, fn := range end.staged {
		staged = append(staged, workWrite(fn))
	}
	staged = append(staged, r.inventoryFollowUp(&follow))
	err := r.commit(next, now, staged)
	var refused *stagedError
	if errors.As(err, &refused) {
		// The refund's own write refused: it fails with that error
		// rather than running again into the same refusal.
		next = r.op.Clone()
		next.StartedAt, next.FinishedAt = &started, &now
		next.Status = StatusFailed
		next.Error = &OpError{Code: CodeOperationWorkFailed, Message: refused.err.Error()}
		if pe := (*Error)(nil); errors.As(refused.err, &pe) && pe.Code != "" {
			next.Error = &OpError{Code: pe.Code, Message: pe.Message}
		}
		err = r.commit(next, now, nil)
	}
	if err != nil {
		e.log.Error("persist refund", "op", r.op.ID, "err", err)
		return false
	}
	if follow != nil {
		e.launch(context.Background(), follow)
	}
	return true
}

// refundEnded is the refund's final state after its attempt loop ended
// with end (done or failed).
func (r *opRun) refundEnded(end phaseEvent, started, now time.Time) *Operation {
	next := r.op.Clone()
	next.StartedAt = &started
	next.FinishedAt = &now
	next.Progress = end.progress
	if end.kind == evDone {
		next.Status = StatusCompleted
		if next.Progress == nil || next.Progress.Completed == next.Progress.Total {
			total := 0
			if next.Progress != nil {
				total = next.Progress.Total
			}
			next.Progress = doneProgress(total)
		}
		return next
	}
	next.Status = StatusFailed
	code, msg := CodeRefundRejected, end.err.Error()
	if pe := (*Error)(nil); errors.As(end.err, &pe) && pe.Code != "" {
		code, msg = pe.Code, pe.Message
	}
	next.Error = &OpError{Code: code, Message: msg, Stack: errStack(end.err)}
	return next
}

// inventoryFollowUp is the write that creates, for a shop company, the
// inventory-only save that follows a refund (into *follow, to launch once
// committed).
func (r *opRun) inventoryFollowUp(follow **Operation) func(Tx) error {
	return func(tx Tx) error {
		*follow = nil
		ev, err := tx.Event(r.op.EventID)
		if err != nil || ev == nil || ev.Deleted {
			return err
		}
		c, err := tx.Company(ev.CompanyID)
		if err != nil || !c.Shopify() {
			return err
		}
		*follow, err = newOperation(tx, ActionSave, ev, c, r.e.now(), true)
		return err
	}
}

// LocalRefund refunds every paid box-office order of the event (and, for a
// recurring event, of its occurrences) by marking it refunded; the quantity
// returns to what is left to sell. Orders placed in a shop are refunded by
// the Shopify refund work, which replaces this one for shop companies.
type LocalRefund struct{}

// Refund implements RefundWork.
func (LocalRefund) Refund(ctx context.Context, r *PhaseRun) error {
	var total, refundable int
	err := r.View(func(tx Tx) error {
		orders, err := eventOrders(tx, r.Op.EventID)
		for _, o := range orders {
			total++
			if o.Status == OrderPaid {
				refundable++
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	// Recounted inside the commit: an order placed meanwhile is refunded too.
	r.Stage(func(tx Tx) error {
		_, err := refundOrdersLocally(tx, r.Op.EventID, r.Now(), false)
		return err
	})
	r.Progress(total, total)
	return nil
}

// refundOrdersLocally marks paid orders of the event and its occurrences
// refunded — only the box-office ones (not placed in a shop) when
// boxOfficeOnly — and recomputes their ticket structures.
func refundOrdersLocally(tx Tx, eventID uint64, now time.Time, boxOfficeOnly bool) (int, error) {
	orders, err := eventOrders(tx, eventID)
	if err != nil {
		return 0, err
	}
	n := 0
	touched := map[uint64]bool{}
	for _, o := range orders {
		if o.Status != OrderPaid || (boxOfficeOnly && o.ShopifyOrderID != "") {
			continue
		}
		t := now
		o.Status, o.RefundedAt = OrderRefunded, &t
		if err := putOrder(tx, o); err != nil {
			return n, err
		}
		touched[o.EventID] = true
		n++
	}
	for id := range touched {
		if err := refreshAvailability(tx, id, now); err != nil {
			return n, err
		}
	}
	return n, nil
}

// eventOrders lists the orders of an event and of its occurrences.
func eventOrders(tx Tx, eventID uint64) ([]*Order, error) {
	orders, err := tx.Orders(eventID)
	if err != nil {
		return nil, err
	}
	children, err := tx.ChildEvents(eventID)
	if err != nil {
		return nil, err
	}
	for _, c := range children {
		os, err := tx.Orders(c.ID)
		if err != nil {
			return nil, err
		}
		orders = append(orders, os...)
	}
	return orders, nil
}
