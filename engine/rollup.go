package engine

import (
	"math"
	"time"
)

// Rollup recomputes every aggregate in the tree, and the operation itself,
// from the leaf phases (DESIGN §4):
//   - all pending → pending; all completed → completed;
//   - failed once a phase failed and no phase is running or can still run
//     (every pending phase depends, directly or not, on a failed one);
//   - otherwise running.
//
// Progress is null while pending. Then completed and total count completed
// and planned leaf phases (total grows as phases split into children), and
// percent is weighted so that it never decreases while the operation runs
// (see sharesDone). The operation's started_at is its earliest phase's:
// a phase's start may be committed with a later transition (local work
// starts and completes in one commit), and the operation never starts after
// its first phase. The error of a failed aggregate is its root cause: the failed leaf whose
// failure was recorded first. A terminal operation is left untouched, and so
// is a refund, which is a leaf that the runner sets directly.
func (o *Operation) Rollup(now time.Time) {
	if o.Status.Terminal() || o.Leaf() {
		return
	}
	for _, p := range o.Phases {
		rollupPhase(p)
	}
	st, prog, cause := aggregate(o.Phases)
	if st != StatusPending && o.StartedAt == nil {
		o.StartedAt = earliestStart(o.Phases)
		if o.StartedAt == nil {
			t := now
			o.StartedAt = &t
		}
	}
	o.Status, o.Progress = st, prog
	if st == StatusFailed {
		o.Error = cause
	}
	if st.Terminal() {
		t := now
		o.FinishedAt = &t
	}
}

// rollupPhase brings an aggregate phase up to date with its children; leaves
// are the runner's to set.
func rollupPhase(p *Phase) {
	if p.Leaf() || p.Status.Terminal() {
		return
	}
	for _, c := range p.Phases {
		rollupPhase(c)
	}
	st, prog, cause := aggregate(p.Phases)
	p.Status, p.Progress = st, prog
	if st == StatusFailed {
		p.Error = cause
	}
	p.StartedAt, p.FinishedAt = nil, nil
	for _, c := range p.Phases {
		if c.StartedAt != nil && (p.StartedAt == nil || c.StartedAt.Before(*p.StartedAt)) {
			p.StartedAt = cloneTime(c.StartedAt)
		}
		if st.Terminal() && c.FinishedAt != nil && (p.FinishedAt == nil || c.FinishedAt.After(*p.FinishedAt)) {
			p.FinishedAt = cloneTime(c.FinishedAt)
		}
	}
}

// aggregate computes the status, progress and root cause of a set of sibling
// phases whose own state is current.
func aggregate(ps []*Phase) (Status, *Progress, *OpError) {
	var pending, running, completed, failed int
	for _, p := range ps {
		switch p.Status {
		case StatusPending:
			pending++
		case StatusRunning:
			running++
		case StatusCompleted:
			completed++
		case StatusFailed:
			failed++
		}
	}
	var st Status
	switch {
	case pending == len(ps):
		return StatusPending, nil, nil
	case completed == len(ps):
		st = StatusCompleted
	case failed > 0 && running == 0 && !anyRunnable(ps):
		st = StatusFailed
	default:
		st = StatusRunning
	}
	done, total := countLeaves(ps)
	prog := &Progress{Completed: done, Total: total, Percent: 100}
	if st != StatusCompleted {
		prog.Percent = sharesDone(ps)
	}
	var cause *OpError
	if st == StatusFailed {
		if f := firstFailure(ps); f != nil {
			cause = cloneOpError(f.Error)
		}
	}
	return st, prog, cause
}

// sharesDone is the weighted percent of a set of sibling phases: each holds
// an equal share of their parent; a phase that splits into children divides
// its own share equally among them; a completed phase counts its whole
// share, anything else what its children completed (a leaf not completed:
// nothing). The percent is the floor of 100 × the shares done.
//
// It never decreases while the operation runs: a split replaces a leaf that
// counted nothing by children that count nothing yet, completing only adds
// shares, and a retry (a transient failure, the phase staying running)
// changes no status. Counting leaves instead would drop the percent each
// time a phase splits (2 of 7 leaves done is 28 %; once catalog splits into
// eight children, 2 of 14 is 14 %).
func sharesDone(ps []*Phase) int {
	// The small epsilon undoes float rounding below an exact integer
	// (29 of 100 shares is 28.999999999999996 in float64); it is far below
	// the smallest real step (a share of a share of a share: 1/(7×500×250)
	// of 100 is above 1e-4).
	return int(math.Floor(100*fractionDone(ps) + 1e-9))
}

// fractionDone is the mean over ps of each phase's fraction done, in [0,1].
func fractionDone(ps []*Phase) float64 {
	if len(ps) == 0 {
		return 0
	}
	sum := 0.0
	for _, p := range ps {
		switch {
		case p.Status == StatusCompleted:
			sum++
		case !p.Leaf():
			sum += fractionDone(p.Phases)
		}
	}
	return sum / float64(len(ps))
}

// earliestStart is the earliest started_at of the phases at any depth, or
// nil when none started.
func earliestStart(ps []*Phase) *time.Time {
	var first *time.Time
	walkPhases(ps, func(p *Phase) {
		if p.StartedAt != nil && (first == nil || p.StartedAt.Before(*first)) {
			first = p.StartedAt
		}
	})
	return cloneTime(first)
}

// anyRunnable reports whether some pending phase can still start: none of
// its dependencies has failed or is itself pending and blocked.
func anyRunnable(ps []*Phase) bool {
	byName := make(map[string]*Phase, len(ps))
	for _, p := range ps {
		byName[p.Name] = p
	}
	blocked := make(map[string]bool, len(ps))
	var isBlocked func(p *Phase, depth int) bool
	isBlocked = func(p *Phase, depth int) bool {
		if v, ok := blocked[p.Name]; ok {
			return v
		}
		if depth > len(ps) { // a cycle would be a planner bug; treat as blocked
			return true
		}
		b := false
		for _, d := range p.DependsOn {
			dp := byName[d]
			if dp == nil {
				continue
			}
			if dp.Status == StatusFailed || (dp.Status == StatusPending && isBlocked(dp, depth+1)) {
				b = true
				break
			}
		}
		blocked[p.Name] = b
		return b
	}
	for _, p := range ps {
		if p.Status == StatusPending && !isBlocked(p, 0) {
			return true
		}
	}
	return false
}

func countLeaves(ps []*Phase) (done, total int) {
	for _, p := range ps {
		if p.Leaf() {
			total++
			if p.Status == StatusCompleted {
				done++
			}
			continue
		}
		d, t := countLeaves(p.Phases)
		done += d
		total += t
	}
	return done, total
}

// firstFailure is the failed leaf with the smallest failure sequence.
func firstFailure(ps []*Phase) *Phase {
	var best *Phase
	walkPhases(ps, func(p *Phase) {
		if p.Leaf() && p.Status == StatusFailed && p.Error != nil {
			if best == nil || p.FailSeq < best.FailSeq {
				best = p
			}
		}
	})
	return best
}

// nextFailSeq returns the sequence number for the next leaf failure.
func (o *Operation) nextFailSeq() uint64 {
	var max uint64
	o.WalkPhases(func(p *Phase) {
		if p.FailSeq > max {
			max = p.FailSeq
		}
	})
	return max + 1
}
