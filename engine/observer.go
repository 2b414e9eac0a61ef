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
	next.WalkPhases(func(p *Phase) {
		if !p.Leaf() {
			return
		}
		old := prev.FindPhase(p.ID)
		if old == nil {
			old = &Phase{}
		}
		if p.Status.Terminal() && !old.Status.Terminal() && p.StartedAt != nil && p.FinishedAt != nil {
			e.obs.PhaseFinished(p.Name, p.Status, p.FinishedAt.Sub(*p.StartedAt))
		}
		if p.LastError != nil && p.Attempts > old.Attempts && old.Status == StatusRunning && p.Status == StatusRunning {
			e.obs.PhaseRetried(p.Name, p.LastError.Code)
		}
	})
}
