package engine

import (
	"context"
	"errors"
	"time"
)

// Every transition of an operation takes one way to the store: a state is
// built (fold, failed, canceled, refundEnded, or a direct cancel's) and
// commitOp makes it durable and visible.

// fold applies a batch of phase events to a copy of the operation. It
// returns the staged writes of the completions and the splits, which step
// attaches once it has started what was runnable.
func (r *opRun) fold(batch []phaseEvent) (next *Operation, staged []func(Tx) error, expanded []phaseEvent) {
	now := r.e.now()
	next = r.op.Clone()
	for _, ev := range batch {
		p := next.FindPhase(ev.phaseID)
		switch ev.kind {
		case evExpanded:
			expanded = append(expanded, ev)
		case evProgress:
			p.Progress = cloneProgress(ev.progress)
		case evRetrying:
			p.LastError = phaseError(p, ev.err)
			p.addFailure(AttemptFailure{Attempt: p.Attempts, At: now, Code: p.LastError.Code, Message: p.LastError.Message})
			p.Attempts++
		case evDone:
			p.Status = StatusCompleted
			total := 0
			if ev.progress != nil {
				total = ev.progress.Total
			}
			p.Progress = doneProgress(total)
			t := now
			p.FinishedAt = &t
			for _, fn := range ev.staged {
				staged = append(staged, workWrite(fn))
			}
		case evFailed:
			r.failPhase(next, p, ev.err, now)
		}
	}
	return next, staged, expanded
}

func (r *opRun) failPhase(op *Operation, p *Phase, err error, now time.Time) {
	p.Status = StatusFailed
	p.Error = phaseError(p, err)
	p.FailSeq = op.nextFailSeq()
	t := now
	p.FinishedAt = &t
}

// phaseError is the error object for a failure of p.
func phaseError(p *Phase, err error) *OpError {
	code, msg := CodeOperationStorageFailed, "internal error"
	var pe *Error
	if errors.As(err, &pe) && pe.Code != "" {
		code, msg = pe.Code, pe.Message
	} else if err != nil {
		code, msg = CodeOperationWorkFailed, err.Error()
	}
	name, id := p.Name, p.ID
	return &OpError{Code: code, Message: msg, Phase: &name, PhaseID: &id, Stack: errStack(err)}
}

// errStack is the stack a failure keeps: a panic's, or none.
func errStack(err error) string {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Stack
	}
	return ""
}

// commitOp is every transition's one way to the store: it rolls next up
// at now, bumps its version, commits it with the staged writes and, once
// durable, reports the change from prev to the observer and publishes it.
// Nothing is reported when the commit fails. The run holding an operation
// commits through it (opRun.commit), and so does a cancel written while no
// run holds it.
func (e *Engine) commitOp(ctx context.Context, prev, next *Operation, now time.Time, staged []func(Tx) error) error {
	next.Rollup(now)
	next.Version++
	next.UpdatedAt = now
	ahead := func(tx Tx) {
		if p, ok := tx.(prefetcher); ok {
			p.PrefetchOperation(next)
		}
	}
	err := e.store.Update(WithReadAhead(ctx, ahead), func(tx Tx) error {
		ahead(tx) // a no-op when the store read ahead already
		for _, fn := range staged {
			if err := fn(tx); err != nil {
				return err
			}
		}
		if err := queueOperation(tx, prev, next, now); err != nil {
			return err
		}
		return tx.PutOperation(next)
	})
	if err != nil {
		return err
	}
	e.observe(prev, next)
	e.announce(next)
	return nil
}

type readAheadKey struct{}

// WithReadAhead returns ctx carrying ahead, which names what an Update under
// ctx will read through a prefetcher's methods (it must neither read nor
// write). A store whose every read is a round trip (PostgreSQL) calls the
// ahead of every Update in a batch before running any, so that the whole
// batch's reads take one round trip; bbolt ignores it.
func WithReadAhead(ctx context.Context, ahead func(Tx)) context.Context {
	return context.WithValue(ctx, readAheadKey{}, ahead)
}

// ReadAheadOf returns the read-ahead ctx carries, or nil.
func ReadAheadOf(ctx context.Context) func(Tx) {
	f, _ := ctx.Value(readAheadKey{}).(func(Tx))
	return f
}

// prefetcher is a Tx that can read ahead (PostgreSQL, where each read is a
// round trip): what a commit of o will read rides with its first read.
// Reading ahead changes nothing of what a commit does.
type prefetcher interface {
	PrefetchOperation(o *Operation)
	// PrefetchEvent reads ahead what building an event's ticket
	// structure reads (the event, its structure, its orders).
	PrefetchEvent(id uint64)
}

// commit makes next the running operation's state (commitOp), current
// once durable.
func (r *opRun) commit(next *Operation, now time.Time, staged []func(Tx) error) error {
	if err := r.e.commitOp(r.claim.under(context.Background()), r.stored, next, now, staged); err != nil {
		return err
	}
	r.op, r.stored, r.dirty = next, next, false
	return nil
}

// save commits r.op's current state (with transitions deferred so far).
func (r *opRun) save(next *Operation, staged []func(Tx) error) error {
	return r.commit(next, r.e.now(), staged)
}

// failed is the operation ended failed with err, whatever its phases say.
func (r *opRun) failed(err *Error, now time.Time) *Operation {
	next := r.op.Clone()
	next.Status = StatusFailed
	next.Error = &OpError{Code: err.Code, Message: err.Message}
	next.FinishedAt = &now
	return next
}

// canceled is the operation ended failed with OPERATION_CANCELED: phases
// that were running (and aggregates in progress) fail with it too, pending
// ones stay pending.
func (r *opRun) canceled(now time.Time) *Operation {
	next := r.op.Clone()
	cancelPhases(next.Phases, now)
	next.Status = StatusFailed
	next.Error = &OpError{Code: CodeOperationCanceled, Message: "the operation was canceled"}
	next.CancelAsked = true
	t := now
	next.FinishedAt = &t
	if next.Leaf() && next.StartedAt == nil {
		next.StartedAt = &t
	}
	return next
}

// finishCanceled commits the canceled state, with staged writes beside it;
// false if the commit failed (the operation runs again).
func (r *opRun) finishCanceled(staged ...func(Tx) error) bool {
	if r.op.Status.Terminal() {
		return true
	}
	if err := r.save(r.canceled(r.e.now()), staged); err != nil {
		r.e.log.Error("persist cancel", "op", r.op.ID, "err", err)
		return false
	}
	r.e.log.Info("operation canceled", "op", r.op.ID)
	return true
}

// acceptCancel records a cancel request (with its idempotency key), then
// acknowledges it on reply (with the error if it could not be recorded); the
// operation ends at its next safe point. It reports whether the request
// was recorded.
func (r *opRun) acceptCancel(req CancelRequest) bool {
	next := r.op.Clone()
	next.CancelAsked = true
	now := r.e.now()
	if err := r.commit(next, now, cancelRecord(req.Ctx, next, now)); err != nil {
		req.Reply <- CancelReply{Err: err}
		return false
	}
	req.Reply <- CancelReply{Op: r.op}
	return true
}

func cancelPhases(ps []*Phase, now time.Time) {
	for _, p := range ps {
		cancelPhases(p.Phases, now)
		if p.Status != StatusRunning {
			continue
		}
		t := now
		name, id := p.Name, p.ID
		p.Status = StatusFailed
		p.FinishedAt = &t
		p.Error = &OpError{Code: CodeOperationCanceled, Message: "the operation was canceled", Phase: &name, PhaseID: &id}
	}
}

// stagedError marks an error returned by a phase's staged write, as opposed
// to one of the commit: the work refused, so running it again would refuse
// again.
type stagedError struct{ err error }

func (e *stagedError) Error() string { return e.err.Error() }
func (e *stagedError) Unwrap() error { return e.err }

// workWrite tags the errors of a staged write.
func workWrite(fn func(Tx) error) func(Tx) error {
	return func(tx Tx) error {
		if err := fn(tx); err != nil {
			return &stagedError{err}
		}
		return nil
	}
}
