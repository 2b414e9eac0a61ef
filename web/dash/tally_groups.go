package dash

import (
	"slices"
	"time"

	"eventops/engine"
	"eventops/views"
)

// Failures grouped by error code, company and phase over the tally's
// window (24 h), hour by hour for the trend. Operator cancels
// (OPERATION_CANCELED) are not failures of the work: they are counted
// apart, and in no group.

const groupHours = int(tallyWindow / time.Hour)

// failKey is a group of failures.
type failKey struct {
	code    engine.Code
	company uint64
	phase   string
}

// failGroup counts one group's failures per hour.
type failGroup struct {
	hours  [groupHours]hourCount
	lastOp uint64
	lastAt time.Time
}

type hourCount struct {
	hour int64 // unix hour this bucket holds
	n    int
}

// canceled reports whether op ended by an operator's cancel.
func canceled(op *engine.Operation) bool {
	return op.Status == engine.StatusFailed && op.Error != nil && op.Error.Code == engine.CodeOperationCanceled
}

// countFailure adds a failed operation to its group.
func (t *tally) countFailure(op *engine.Operation, now time.Time) {
	if op.Error == nil || op.FinishedAt == nil {
		return
	}
	h, cur := op.FinishedAt.Unix()/3600, now.Unix()/3600
	if h <= cur-int64(groupHours) || h > cur+1 {
		return
	}
	k := failKey{code: op.Error.Code, company: op.CompanyID}
	if op.Error.Phase != nil {
		k.phase = *op.Error.Phase
	}
	if t.groups == nil {
		t.groups = map[failKey]*failGroup{}
	}
	g := t.groups[k]
	if g == nil {
		g = &failGroup{}
		t.groups[k] = g
	}
	b := &g.hours[int(h%int64(groupHours))]
	if b.hour != h {
		*b = hourCount{hour: h}
	}
	b.n++
	if op.ID > g.lastOp {
		g.lastOp, g.lastAt = op.ID, *op.FinishedAt
	}
}

// failureGroups are the groups with failures in the window, most failures
// first, at most limit; empty groups are dropped as they age out.
func (t *tally) failureGroups(now time.Time, limit int) []views.FailureGroup {
	cur := now.Unix() / 3600
	var out []views.FailureGroup
	for k, g := range t.groups {
		fg := views.FailureGroup{Code: k.code, CompanyID: k.company, Phase: k.phase, LastOp: g.lastOp, LastAt: g.lastAt,
			Trend: make([]int, groupHours)}
		for i := range groupHours {
			h := cur - int64(groupHours) + 1 + int64(i)
			if b := &g.hours[int(h%int64(groupHours))]; b.hour == h {
				fg.Trend[i] = b.n
				fg.Count += b.n
			}
		}
		if fg.Count == 0 {
			delete(t.groups, k)
			continue
		}
		out = append(out, fg)
	}
	slices.SortFunc(out, func(a, b views.FailureGroup) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return int(int64(b.LastOp) - int64(a.LastOp))
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}

func (l *liveTally) failureGroups(limit int) []views.FailureGroup {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.t.failureGroups(l.now(), limit)
}
