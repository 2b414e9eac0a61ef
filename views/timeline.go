package views

import (
	"strconv"
	"time"

	"eventops/engine"
)

// The timeline shows one bar per shown phase on an axis shared by all of
// them: the operation's life, from its creation. A bar carries its start
// and end as milliseconds from the creation (data attributes); the axis's
// length is one CSS variable on the timeline (--span), set by conn.js from
// the axis element. A transition that lengthens the axis changes that one
// variable, not every bar; a bar changes only when its phase does. The
// retried attempts of a phase are segments of its bar, ending where each
// failed.

// msFrom is t in milliseconds after origin, "" for no time.
func msFrom(origin time.Time, t *time.Time) string {
	if t == nil {
		return ""
	}
	return strconv.FormatInt(max(0, t.Sub(origin).Milliseconds()), 10)
}

// Segment is one attempt of a phase on its bar.
type Segment struct {
	Attempt    int
	Start, End string // ms from the operation's creation; End "" while running
	Failed     bool
	Title      string
}

// segments splits a phase's bar at each retried attempt's failure; a phase
// without retries has none (its bar is one attempt).
func segments(origin time.Time, p *engine.Phase) []Segment {
	if len(p.Failures) == 0 || p.StartedAt == nil {
		return nil
	}
	out := make([]Segment, 0, len(p.Failures)+1)
	start := p.StartedAt
	for _, f := range p.Failures {
		at := f.At
		out = append(out, Segment{Attempt: f.Attempt, Start: msFrom(origin, start), End: msFrom(origin, &at), Failed: true,
			Title: "attempt " + strconv.Itoa(f.Attempt) + " failed: " + string(f.Code)})
		start = &at
	}
	last := Segment{Attempt: p.Attempts, Start: msFrom(origin, start), End: msFrom(origin, p.FinishedAt),
		Failed: p.Status == engine.StatusFailed, Title: "attempt " + strconv.Itoa(p.Attempts)}
	return append(out, last)
}

// depthClass indents by depth in the tree (classes, not inline styles: the
// CSP forbids those).
func depthClass(d int) string {
	return "depth-" + strconv.Itoa(min(d, 6))
}

// opDuration is how long the operation ran, or "—" before it started (a
// running one ticks in the browser: see OperationLive).
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

// iso is a time as the datetime attribute wants it.
func iso(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func isoPtr(t *time.Time) string {
	if t == nil {
		return ""
	}
	return iso(*t)
}
