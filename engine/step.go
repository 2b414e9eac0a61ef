package engine

import (
	"context"
	"errors"
	"time"
)

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
	err := r.save(next, append(staged, assignIDs(kids)...))
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
		err = r.save(next, assignIDs(kids))
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
		go r.attempt(ctx, r.phaseUnit(r.topName(p.ID), r.op, p, events), events)
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
		p.Attempts, p.LastError, p.Failures = 0, nil, nil
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
