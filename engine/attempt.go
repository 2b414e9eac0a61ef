package engine

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"time"
)

// unit is what one attempt loop runs: a leaf phase, or a refund operation
// (a leaf without phases, phaseID 0).
type unit struct {
	phaseID uint64
	first   int // the number of the first attempt
	// newRun prepares attempt n.
	newRun func(n int) *PhaseRun
	// do runs it; children, if any, replace the phase (an Expander's split).
	do func(ctx context.Context, run *PhaseRun) (children []*Phase, err error)
}

// attempt runs u with retries for transient failures (the engine's
// RetryPolicy) and reports every outcome on events: progress and retries
// as they happen, then one end (done, expanded, failed or aborted).
func (r *opRun) attempt(ctx context.Context, u unit, events chan<- phaseEvent) {
	e := r.e
	for n := u.first; ; n++ {
		run := u.newRun(n)
		var children []*Phase
		done := e.inFlight.begin(run.Op.ID, u.phaseID)
		err := safeRun(ctx, run.Log, func(ctx context.Context) error {
			var err error
			children, err = u.do(ctx, run)
			return err
		})
		done()
		switch {
		case err == nil && len(children) > 0:
			events <- phaseEvent{phaseID: u.phaseID, kind: evExpanded, children: children}
		case err == nil:
			events <- phaseEvent{phaseID: u.phaseID, kind: evDone, progress: run.prog, staged: run.staged}
		case ctx.Err() != nil:
			events <- phaseEvent{phaseID: u.phaseID, kind: evAborted}
		case errors.Is(err, ErrLeaseExpired):
			// Refused before any outside call: the lease may have
			// lapsed. Not a failed attempt: wait until it is renewed
			// (a lost claim ends ctx) and run the same attempt again.
			if e.waitLease(ctx) {
				n--
				continue
			}
			events <- phaseEvent{phaseID: u.phaseID, kind: evAborted}
		case !isTransient(err) || n >= e.retry.Attempts:
			events <- phaseEvent{phaseID: u.phaseID, kind: evFailed, err: err, progress: run.prog}
		default:
			run.Log.Warn("attempt failed, retrying", "attempt", n, "err", err)
			events <- phaseEvent{phaseID: u.phaseID, kind: evRetrying, err: err}
			// A phase waiting out its backoff has no call in flight: a
			// soft stop ends the wait at once rather than holding the
			// shutdown (the next start resumes the phase).
			if e.backoff(ctx, e.retry.Backoff(n, e.jitter())) {
				continue
			}
			events <- phaseEvent{phaseID: u.phaseID, kind: evAborted}
		}
		return
	}
}

// phaseUnit is the attempt loop's unit for leaf phase p of op, running the
// work of its top-level phase name. op is the snapshot the attempt starts
// from: r.op belongs to the operation's loop goroutine.
func (r *opRun) phaseUnit(name string, op *Operation, p *Phase, events chan<- phaseEvent) unit {
	e := r.e
	work := e.work[name]
	ex, split := r.expandable(name, p)
	return unit{
		phaseID: p.ID,
		first:   p.Attempts,
		newRun: func(n int) *PhaseRun {
			return &PhaseRun{Op: op, Phase: p, Attempt: n, engine: e, events: events,
				Log: e.log.With("op", op.ID, "phase", p.ID, "phase_name", p.Name)}
		},
		do: func(ctx context.Context, run *PhaseRun) ([]*Phase, error) {
			if work == nil {
				return nil, Errorf(CodeOperationWorkMissing, "this build has no work for phase %q", name)
			}
			if split {
				children, err := ex.Expand(ctx, run)
				if err != nil || len(children) > 0 {
					return children, err
				}
			}
			return nil, work.Run(ctx, run)
		},
	}
}

// safeRun turns a panic in work into a recorded failure that keeps the
// stack (see PanicError), and logs it.
func safeRun(ctx context.Context, log interface{ Error(string, ...any) }, fn func(context.Context) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			stack := string(debug.Stack())
			log.Error("phase work panicked", "panic", fmt.Sprint(v), "stack", stack)
			pe := Errorf(CodeOperationWorkPanicked, "phase work panicked: %v", v)
			pe.Stack = panicStack(stack)
			err = pe
		}
	}()
	return fn(ctx)
}

// panicStack trims a stack taken in a deferred recover to what the failure
// keeps: from the panic on (the frames above it are the recovery's own),
// at most MaxStackLen bytes, cut at a line end.
func panicStack(stack string) string {
	if i := strings.Index(stack, "\npanic("); i >= 0 {
		if first, _, ok := strings.Cut(stack, "\n"); ok {
			stack = first + stack[i:] // keep the "goroutine N [running]:" line
		}
	}
	if len(stack) > MaxStackLen {
		stack = stack[:MaxStackLen]
		if i := strings.LastIndexByte(stack, '\n'); i > 0 {
			stack = stack[:i+1]
		}
	}
	return stack
}

// isTransient: coded errors say so themselves; uncoded ones (I/O, storage)
// are retried.
func isTransient(err error) bool {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Transient
	}
	return true
}

// waitLease waits until the lease ctx runs under is fresh again; false when
// ctx ended or the engine is stopping first.
func (e *Engine) waitLease(ctx context.Context) bool {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for CheckLease(ctx) != nil {
		select {
		case <-ctx.Done():
			return false
		case <-e.soft:
			return false
		case <-tick.C:
		}
	}
	return true
}
