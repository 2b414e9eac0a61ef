package engine

import "time"

// Observer is told of what the engine does, for metrics. Calls come from
// engine goroutines after the transition is persisted and must not block.
type Observer interface {
	// OperationStarted: an operation was created (pending).
	OperationStarted(action Action)
	// OperationFinished: an operation became terminal after d since creation.
	OperationFinished(action Action, status Status, d time.Duration)
	// PhaseFinished: a leaf phase completed or failed after d running.
	PhaseFinished(phase string, status Status, d time.Duration)
	// PhaseRetried: a phase attempt failed transiently with code.
	PhaseRetried(phase string, code Code)
}

// OversoldObserver is an Observer that is also told of shop sales recorded
// beyond an occurrence's capacity (n seats), after their commit. Optional:
// the engine finds it by a type assertion.
type OversoldObserver interface {
	ShopOversold(n int)
}

func (e *Engine) observeOversold(n int) {
	if o, ok := e.obs.(OversoldObserver); ok && n > 0 {
		o.ShopOversold(n)
	}
}

type nopObserver struct{}

func (nopObserver) OperationStarted(Action)                         {}
func (nopObserver) OperationFinished(Action, Status, time.Duration) {}
func (nopObserver) PhaseFinished(string, Status, time.Duration)     {}
func (nopObserver) PhaseRetried(string, Code)                       {}

// observe reports what changed from prev to next.
func (e *Engine) observe(prev, next *Operation) {
	if prev == nil {
		e.obs.OperationStarted(next.Action)
	}
	if next.Status.Terminal() && (prev == nil || !prev.Status.Terminal()) {
		e.obs.OperationFinished(next.Action, next.Status, next.UpdatedAt.Sub(next.CreatedAt))
	}
	if prev == nil {
		return
	}
	// Phases are reported under their top-level name: children are named
	// after occurrences or products, which would make unbounded labels.
	for _, top := range next.Phases {
		walkPhases([]*Phase{top}, func(p *Phase) {
			if !p.Leaf() {
				return
			}
			old := prev.FindPhase(p.ID)
			if old == nil {
				old = &Phase{}
			}
			if p.Status.Terminal() && !old.Status.Terminal() && p.StartedAt != nil && p.FinishedAt != nil {
				e.obs.PhaseFinished(top.Name, p.Status, p.FinishedAt.Sub(*p.StartedAt))
			}
			// A retry raises attempts; it may land in the same
			// transition as the phase's end, or as its start (whose
			// first attempt is no retry) when that was not persisted on
			// its own.
			if p.LastError != nil {
				for range p.Attempts - max(old.Attempts, 1) {
					e.obs.PhaseRetried(top.Name, p.LastError.Code)
				}
			}
		})
	}
}
