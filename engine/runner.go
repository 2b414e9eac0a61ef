package engine

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
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

// liveOp is an operation a worker is running; cancel requests reach its loop
// through it, so that every write of the operation comes from one goroutine.
type liveOp struct {
	cancel chan chan *Operation
}

func (e *Engine) worker() {
	defer e.wg.Done()
	for {
		queue, id, ok := e.sched.next()
		if !ok {
			return
		}
		for wait := time.Second; !e.runOp(id); wait = min(2*wait, time.Minute) {
			// Stopping, or the store failed: the operation stays where
			// it is. A stop resumes it at the next start; a failing
			// store gets it again after a pause, keeping its queue's
			// order.
			select {
			case <-e.soft:
				return
			case <-time.After(wait):
			}
			e.log.Warn("retrying operation after a storage failure", "op", id, "wait", wait)
		}
		e.sched.done(queue)
	}
}

// runOp runs one operation until it is terminal (true) or the engine stops
// (false).
func (e *Engine) runOp(id uint64) bool {
	// An operation launched by this process may be taken as launched (a
	// cancel written meanwhile drops it from launched, under claimMu);
	// others (past launchedCap, recovered at start) are read from the
	// store.
	lo := &liveOp{cancel: make(chan chan *Operation)}
	e.claimMu.Lock()
	e.inflight[id] = lo
	op := e.launched[id]
	delete(e.launched, id)
	e.claimMu.Unlock()
	defer func() {
		e.claimMu.Lock()
		delete(e.inflight, id)
		e.claimMu.Unlock()
	}()
	if op == nil {
		if err := e.store.View(func(tx Tx) error {
			var err error
			op, err = tx.Operation(id)
			return err
		}); err != nil {
			e.log.Error("load operation", "op", id, "err", err)
			return false
		}
	}
	if op == nil || op.Status.Terminal() {
		return true
	}
	r := &opRun{e: e, op: op, stored: op, live: lo, active: map[uint64]bool{}}
	return r.run()
}

// opRun is the single owner of one operation's state while it runs.
type opRun struct {
	e      *Engine
	op     *Operation // current state: stored, or ahead of it while dirty
	stored *Operation // last persisted state
	dirty  bool       // op holds transitions not persisted yet (see step)
	live   *liveOp
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
	ctx, cancel := context.WithCancel(e.ctx)
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
					_ = r.persist(r.op.Clone(), nil) // spares a re-run; the next start resumes either way
				}
				return false
			default:
				// Roll-up makes an operation with nothing running and
				// nothing runnable terminal; reaching here is a bug.
				e.log.Error("operation stalled", "op", r.op.ID, "status", r.op.Status)
				return r.fail(Errorf(CodeOperationInterrupted, "operation stalled"))
			}
		}
		select {
		case <-flush.C:
			armed = false
			if !r.dirty {
				continue
			}
			if err := r.persist(r.op.Clone(), nil); err != nil {
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
		case reply := <-r.live.cancel:
			// The request is durable before it is acknowledged; the
			// operation ends at the next safe point.
			next := r.op.Clone()
			next.CancelAsked = true
			if err := r.persist(next, nil); err != nil {
				reply <- nil
				continue
			}
			reply <- r.op
			canceling = true
			cancel()
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

// step makes one transition: it folds a batch of phase events (possibly
// none) and, when start is set, marks running every leaf that became
// runnable, all in one commit; then it starts an attempt for each leaf it
// marked. Sharing the commit means a phase's completion (with its staged
// writes) and the start of the phases that waited for it cost one write:
// nothing of a starting phase reads the store before the commit, because
// its attempt (and an Expander's split into children) begins after it.
//
// Leaves found running without an attempt in flight were interrupted by a
// stop or crash: they run again (their work is idempotent). If a staged
// write refuses a completion (say, with RECURRENCE_OCCURRENCE_SOLD for an
// occurrence sold in the meantime, or any error of the work's own), the
// completing phases fail with that error instead; only a failure of the
// commit itself leaves the operation to be run again.
func (r *opRun) step(ctx context.Context, events chan<- phaseEvent, batch []phaseEvent, start bool) error {
	next, staged, expanded := r.fold(batch)
	next.Rollup(r.e.now()) // aggregates first: a finished one unblocks its dependents
	var kids, starting []*Phase
	changed := len(batch) > 0
	if start {
		starting = r.startRunnable(next)
		changed = changed || len(starting) > 0
		// Children join after startRunnable, which would take them
		// (without ids yet) for runnable leaves of their own.
		kids = r.attachChildren(next, expanded)
		starting = append(starting, kids...)
	}
	if !changed {
		return nil
	}
	if r.deferrable(batch, staged, kids, starting, next) {
		next.Rollup(r.e.now()) // with the phases just started
		r.op, r.dirty = next, true
		r.ended(batch)
		r.launch(ctx, events, starting)
		return nil
	}
	err := r.persist(next, append(staged, assignIDs(kids)...))
	var refused *stagedError
	if err != nil && errors.As(err, &refused) {
		for i, ev := range batch {
			if ev.kind == evDone {
				batch[i] = phaseEvent{phaseID: ev.phaseID, kind: evFailed, err: err}
			}
		}
		next, _, expanded = r.fold(batch)
		next.Rollup(r.e.now())
		kids, starting = nil, nil
		if start {
			starting = r.startRunnable(next)
			kids = r.attachChildren(next, expanded)
			starting = append(starting, kids...)
		}
		err = r.persist(next, assignIDs(kids))
	}
	r.ended(batch)
	if err != nil {
		return err
	}
	// next is now r.op: starting points into it, and the children have
	// their ids.
	r.launch(ctx, events, starting)
	return nil
}

// ended forgets the attempts that reported an end: they are over, whether
// or not their end was persisted (if not, the phase runs again after a
// restart).
func (r *opRun) ended(batch []phaseEvent) {
	for _, ev := range batch {
		if ev.kind == evDone || ev.kind == evFailed || ev.kind == evAborted || ev.kind == evExpanded {
			delete(r.active, ev.phaseID)
		}
	}
}

// launch starts an attempt of each phase in starting (which point into
// r.op).
func (r *opRun) launch(ctx context.Context, events chan<- phaseEvent, starting []*Phase) {
	for _, p := range starting {
		r.active[p.ID] = true
		go r.attempt(ctx, r.topName(p.ID), r.op, p, events)
	}
}

// deferWindow bounds how long a transition may wait to be persisted with a
// later one (see deferrable).
const deferWindow = 25 * time.Millisecond

// deferrable reports whether a transition may wait to be persisted with
// the operation's next one, at most deferWindow later. Persisting is what
// makes a transition visible (API, dashboard), and each costs a store
// update; no correctness rests on these, since phase work is idempotent
// and a crash resumes from what was persisted (running again what was not):
//
//   - the start of local work, right after the operation was created
//     (nothing outside this process happens before its completion);
//   - completions without staged writes that end nothing (the operation
//     is not terminal), with the phases they let start: nothing a starting
//     phase reads was written by them (inventory, metafields and delivery
//     completing, publish starting).
//
// Everything else is persisted at once, deferred transitions with it:
// staged writes (the next phases read them), new children (their ids),
// failures and retries, progress, an operation becoming terminal.
func (r *opRun) deferrable(batch []phaseEvent, staged []func(Tx) error, kids, starting []*Phase, next *Operation) bool {
	if len(staged) > 0 || len(kids) > 0 || next.Status.Terminal() {
		return false
	}
	if len(batch) == 0 {
		return r.allLocal(starting)
	}
	for _, ev := range batch {
		if ev.kind != evDone {
			return false
		}
	}
	return true
}

// allLocal reports whether every phase in starting runs local work.
func (r *opRun) allLocal(starting []*Phase) bool {
	for _, p := range starting {
		if _, ok := r.e.work[r.topName(p.ID)].(Local); !ok {
			return false
		}
	}
	return len(starting) > 0
}

// startRunnable marks running, in next, every leaf whose dependencies have
// completed and that has no attempt in flight, and returns them.
func (r *opRun) startRunnable(next *Operation) (starting []*Phase) {
	var start []uint64
	for _, p := range next.Phases {
		if depsCompleted(next, p) {
			collectRunnable(p, r.active, &start)
		}
	}
	now := r.e.now()
	for _, id := range start {
		p := next.FindPhase(id)
		p.Status = StatusRunning
		if p.StartedAt == nil {
			t := now
			p.StartedAt = &t
		}
		p.Attempts++
		starting = append(starting, p)
	}
	return starting
}

// attachChildren turns each phase that an Expander split (see expandable)
// into the aggregate of its children, which start at once, and returns the
// children (without ids).
func (r *opRun) attachChildren(next *Operation, expanded []phaseEvent) []*Phase {
	now := r.e.now()
	var kids []*Phase
	for _, ev := range expanded {
		p := next.FindPhase(ev.phaseID)
		if p == nil || p.Status != StatusRunning || !p.Leaf() {
			continue
		}
		for _, c := range ev.children {
			t := now
			c.Status, c.StartedAt, c.Attempts = StatusRunning, &t, 1
			if c.Phases == nil {
				c.Phases = []*Phase{}
			}
		}
		// The attempts were the split's, not work of the aggregate's own.
		p.Attempts, p.LastError = 0, nil
		p.Phases = ev.children
		kids = append(kids, ev.children...)
	}
	return kids
}

// assignIDs gives new child phases their ids inside the commit that stores
// them (it may run more than once: each run assigns afresh).
func assignIDs(kids []*Phase) []func(Tx) error {
	if len(kids) == 0 {
		return nil
	}
	return []func(Tx) error{func(tx Tx) error {
		for _, c := range kids {
			var err error
			if c.ID, err = tx.NextID(SeqOperation); err != nil {
				return err
			}
		}
		return nil
	}}
}

// expandable reports whether an attempt of p first asks its work to split
// it: a top-level leaf (not a child) whose work is an Expander. A phase that
// split is an aggregate from then on; one that answered no children stays
// a leaf, and asks again when it runs again (after a crash, say).
func (r *opRun) expandable(name string, p *Phase) (Expander, bool) {
	if !p.Leaf() || p.Subject != 0 || name != p.Name {
		return nil, false
	}
	ex, ok := r.e.work[name].(Expander)
	return ex, ok
}

func depsCompleted(op *Operation, p *Phase) bool {
	for _, d := range p.DependsOn {
		for _, s := range op.Phases {
			if s.Name == d && s.Status != StatusCompleted {
				return false
			}
		}
	}
	return true
}

func collectRunnable(p *Phase, active map[uint64]bool, out *[]uint64) {
	if p.Status.Terminal() {
		return
	}
	if p.Leaf() {
		if !active[p.ID] {
			*out = append(*out, p.ID)
		}
		return
	}
	for _, c := range p.Phases {
		collectRunnable(c, active, out)
	}
}

// topName is the name of the top-level phase holding id: children run the
// work of their top-level phase, on their own Subject.
func (r *opRun) topName(id uint64) string {
	for _, p := range r.op.Phases {
		if p.ID == id || findPhase(p.Phases, id) != nil {
			return p.Name
		}
	}
	return ""
}

// attempt runs a phase's work with retries for transient failures and
// reports every outcome on events.
// op is the snapshot the attempt starts from: r.op belongs to the
// operation's loop goroutine.
func (r *opRun) attempt(ctx context.Context, name string, op *Operation, p *Phase, events chan<- phaseEvent) {
	e := r.e
	work := e.work[name]
	if work == nil {
		events <- phaseEvent{phaseID: p.ID, kind: evFailed,
			err: Errorf(CodeOperationWorkMissing, "this build has no work for phase %q", name)}
		return
	}
	ex, split := r.expandable(name, p)
	attempt := p.Attempts
	for {
		run := &PhaseRun{
			Op: op, Phase: p, Attempt: attempt, engine: e, events: events,
			Log: e.log.With("op", op.ID, "phase", p.ID, "phase_name", p.Name),
		}
		var children []*Phase
		err := safeRun(ctx, run.Log, func(ctx context.Context) error {
			if split {
				var err error
				if children, err = ex.Expand(ctx, run); err != nil || len(children) > 0 {
					return err
				}
			}
			return work.Run(ctx, run)
		})
		if err == nil && len(children) > 0 {
			events <- phaseEvent{phaseID: p.ID, kind: evExpanded, children: children}
			return
		}
		if err == nil {
			events <- phaseEvent{phaseID: p.ID, kind: evDone, progress: run.prog, staged: run.staged}
			return
		}
		if ctx.Err() != nil {
			events <- phaseEvent{phaseID: p.ID, kind: evAborted}
			return
		}
		if !isTransient(err) || attempt >= e.retry.Attempts {
			events <- phaseEvent{phaseID: p.ID, kind: evFailed, err: err}
			return
		}
		run.Log.Warn("phase attempt failed, retrying", "attempt", attempt, "err", err)
		events <- phaseEvent{phaseID: p.ID, kind: evRetrying, err: err}
		if !sleepCtx(ctx, e.backoff(attempt)) {
			events <- phaseEvent{phaseID: p.ID, kind: evAborted}
			return
		}
		attempt++
	}
}

// safeRun turns a panic in work into a recorded failure with its stack.
func safeRun(ctx context.Context, log interface{ Error(string, ...any) }, fn func(context.Context) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			log.Error("phase work panicked", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			err = Errorf(CodeOperationWorkPanicked, "phase work panicked: %v", v)
		}
	}()
	return fn(ctx)
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

func (e *Engine) backoff(attempt int) time.Duration {
	d := e.retry.Base << (attempt - 1)
	if d > e.retry.Max || d <= 0 {
		d = e.retry.Max
	}
	return time.Duration(float64(d) * (0.5 + e.jitter()))
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

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
	return &OpError{Code: code, Message: msg, Phase: &name, PhaseID: &id}
}

// persist rolls the tree up, commits next (with staged writes) and, once
// durable, makes it current and publishes it.
func (r *opRun) persist(next *Operation, staged []func(Tx) error) error {
	now := r.e.now()
	next.Rollup(now)
	next.Version++
	next.UpdatedAt = now
	err := r.e.store.Update(context.Background(), func(tx Tx) error {
		for _, fn := range staged {
			if err := fn(tx); err != nil {
				return err
			}
		}
		return tx.PutOperation(next)
	})
	if err != nil {
		return err
	}
	r.e.observe(r.stored, next)
	r.op, r.stored, r.dirty = next, next, false
	r.e.broker.publish(next)
	return nil
}

// fail ends the operation failed with err, whatever its phases say.
func (r *opRun) fail(err *Error) bool {
	next := r.op.Clone()
	now := r.e.now()
	next.Status = StatusFailed
	next.Error = &OpError{Code: err.Code, Message: err.Message}
	next.FinishedAt = &now
	next.Version++
	next.UpdatedAt = now
	if perr := r.e.store.Update(context.Background(), func(tx Tx) error { return tx.PutOperation(next) }); perr != nil {
		r.e.log.Error("persist operation failure", "op", r.op.ID, "err", perr)
		return false
	}
	r.e.observe(r.stored, next)
	r.op, r.stored, r.dirty = next, next, false
	r.e.broker.publish(next)
	return true
}

// finishCanceled ends the operation failed with OPERATION_CANCELED: phases
// that were running (and aggregates in progress) fail with it too, pending
// ones stay pending.
func (r *opRun) finishCanceled() bool { return r.finishCanceledWith(nil) }

// finishCanceledWith is finishCanceled with writes committed beside it.
func (r *opRun) finishCanceledWith(staged []func(Tx) error) bool {
	if r.op.Status.Terminal() {
		return true
	}
	now := r.e.now()
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
	next.Version++
	next.UpdatedAt = now
	if err := r.e.store.Update(context.Background(), func(tx Tx) error {
		for _, fn := range staged {
			if err := fn(tx); err != nil {
				return err
			}
		}
		return tx.PutOperation(next)
	}); err != nil {
		r.e.log.Error("persist cancel", "op", r.op.ID, "err", err)
		return false
	}
	r.e.observe(r.stored, next)
	r.op, r.stored, r.dirty = next, next, false
	r.e.broker.publish(next)
	r.e.log.Info("operation canceled", "op", next.ID)
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
