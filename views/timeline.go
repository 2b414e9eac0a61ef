package views

import (
	"sort"
	"strconv"

	"eventops/engine"
)

// Timeline lists an operation's creation and every start and finish of it
// and its phases, in time order (ties keep tree order: parents first).
func Timeline(op *engine.Operation) []TimelineEntry {
	out := []TimelineEntry{{At: op.CreatedAt, Name: "operation", What: "created"}}
	if op.StartedAt != nil {
		out = append(out, TimelineEntry{At: *op.StartedAt, Name: "operation", What: "started"})
	}
	var walk func(ps []*engine.Phase, depth int)
	walk = func(ps []*engine.Phase, depth int) {
		for _, p := range ps {
			name := p.Name
			if p.Subject != 0 {
				name += " #" + utoa(p.Subject)
			}
			if p.StartedAt != nil {
				out = append(out, TimelineEntry{At: *p.StartedAt, PhaseID: p.ID, Name: name, What: "started", Depth: depth})
			}
			if p.FinishedAt != nil && p.Status.Terminal() {
				out = append(out, TimelineEntry{At: *p.FinishedAt, PhaseID: p.ID, Name: name, What: string(p.Status), Depth: depth})
			}
			walk(p.Phases, depth+1)
		}
	}
	walk(op.Phases, 1)
	if op.FinishedAt != nil && op.Status.Terminal() {
		out = append(out, TimelineEntry{At: *op.FinishedAt, Name: "operation", What: string(op.Status)})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}

// depthClass indents a timeline entry by its depth in the tree (classes,
// not inline styles: the CSP forbids those).
func depthClass(d int) string {
	return "depth-" + strconv.Itoa(min(d, 6))
}

// opDuration is how long the operation ran, or since when it runs.
func opDuration(op *engine.Operation) string {
	start := op.StartedAt
	if start == nil {
		start = &op.CreatedAt
	}
	if op.FinishedAt != nil {
		return duration(op.FinishedAt.Sub(*start))
	}
	if op.StartedAt != nil {
		return "running since " + clock(*op.StartedAt)
	}
	return "—"
}
