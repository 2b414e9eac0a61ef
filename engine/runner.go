package engine

import (
	"context"
	"time"
)

type evKind int

const (
	evProgress evKind = iota
	evRetrying        // a transient failure; another attempt follows
	evDone            // completed; staged writes commit with it
	evFailed          // failed for good
	evAborted         // stopped by shutdown or cancel; state left as is
	evExpanded        // split into children, which start in its place
)

type phaseEvent struct {
	phaseID  uint64
	kind     evKind
	progress *Progress
	err      error
	staged   []func(Tx) error
	children []*Phase // evExpanded: without ids
}

func (e *Engine) worker() {
	defer e.wg.Done()
	for {
		c, ok := e.disp.Claim()
		if !ok {
			return
		}
		if e.runOp(c) {
			e.disp.Finish(c)
			continue
		}
		// Stopping, or the store failed: the operation stays the head of
		// its queue. A stop resumes it at the next start; a failing store
		// gets it again after a pause that doubles up to a minute.
		wait := min(time.Second<<min(c.Tries, 6), time.Minute)
		if !e.stopping() {
			e.log.Warn("retrying operation after a storage failure", "op", c.ID, "wait", wait)
		}
		e.disp.Defer(c, wait)
	}
}

// runOp runs one claimed operation until it is terminal (true) or the
// engine stops or the store fails (false).
func (e *Engine) runOp(c *Claim) bool {
	op := c.Op
	if op == nil {
		if err := e.store.View(func(tx Tx) error {
			var err error
			op, err = tx.Operation(c.ID)
			return err
		}); err != nil {
			e.log.Error("load operation", "op", c.ID, "err", err)
			return false
		}
	}
	if op == nil || op.Status.Terminal() {
		return true
	}
	e.beginRebalance(op)
	r := &opRun{e: e, op: op, stored: op, claim: c, active: map[uint64]bool{}}
	return r.run()
}

// opRun is the single owner of one operation's state while it runs: every
// write of the operation comes from its loop goroutine (cancel requests
// reach it through its claim).
type opRun struct {
	e      *Engine
	op     *Operation // current state: stored, or ahead of it while dirty
	stored *Operation // last persisted state
	dirty  bool       // op holds transitions not persisted yet (see step)
	claim  *Claim
	active map[uint64]bool // leaf phases with an attempt in flight
}

func (r *opRun) run() bool {
	e := r.e
	if r.op.CancelAsked {
		return r.finishCanceled()
	}
	if r.op.Leaf() {
		return r.runRefund()
	}
	ctx, cancel := context.WithCancel(r.claim.under(e.ctx))
	defer cancel()
	events := make(chan phaseEvent, 64)
	canceling := false
	if err := r.step(ctx, events, nil, !e.stopping()); err != nil {
		e.log.Error("persist phase start", "op", r.op.ID, "err", err)
		cancel()
		r.drain(events)
		return false
	}
	// flush persists what step deferred once it has waited for
	// deferWindow: a phase that runs longer is seen running by then.
	flush := time.NewTimer(time.Hour)
	flush.Stop()
	defer flush.Stop()
	armed := false
	for {
		if r.dirty && !armed {
			flush.Reset(deferWindow)
			armed = true
		}
		if len(r.active) == 0 {
			switch {
			case r.op.Status.Terminal(): // a completion may win a race with a cancel
				return true
			case canceling:
				return r.finishCanceled()
			case e.stopping():
				if r.dirty {
					_ = r.save(r.op.Clone(), nil) // spares a re-run; the next start resumes either way
				}
				return false
			default:
				// Roll-up makes an operation with nothing running and
				// nothing runnable terminal; reaching here is a bug.
				e.log.Error("operation stalled", "op", r.op.ID, "status", r.op.Status)
				now := e.now()
				if err := r.commit(r.failed(Errorf(CodeOperationInterrupted, "operation stalled"), now), now, nil); err != nil {
					e.log.Error("persist operation failure", "op", r.op.ID, "err", err)
					return false
				}
				return true
			}
		}
		select {
		case <-flush.C:
			armed = false
			if !r.dirty {
				continue
			}
			if err := r.save(r.op.Clone(), nil); err != nil {
				e.log.Error("persist phase transition", "op", r.op.ID, "err", err)
				cancel()
				r.drain(events)
				return false
			}
		case ev := <-events:
			batch := []phaseEvent{ev}
		more:
			for {
				select {
				case ev := <-events:
					batch = append(batch, ev)
				default:
					break more
				}
			}
			if err := r.step(ctx, events, batch, !canceling && !e.stopping()); err != nil {
				e.log.Error("persist phase transition", "op", r.op.ID, "err", err)
				cancel()
				r.drain(events)
				return false
			}
		case req := <-r.claim.Cancels():
			if r.acceptCancel(req) {
				canceling = true
				cancel()
			}
		case <-r.claim.Lost():
			// Another node may hold the queue now: stop without
			// writing; it resumes from what was committed.
			e.log.Warn("lease lost: stopping the operation's run here", "op", r.op.ID)
			cancel()
			r.drain(events)
			return false
		}
	}
}

// drain waits for every in-flight attempt to return after a cancel.
func (r *opRun) drain(events chan phaseEvent) {
	for len(r.active) > 0 {
		ev := <-events
		if ev.kind != evProgress && ev.kind != evRetrying {
			delete(r.active, ev.phaseID)
		}
	}
}
