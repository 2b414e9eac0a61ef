package dash

import (
	"sync"
	"time"

	"eventops/engine"
	"eventops/views"
)

// liveTally is the tally the pages read while the hub feeds it: the hub
// applies each batch of transitions and reseeds it after falling behind;
// page handlers read the counts and the chart from any goroutine. It is
// the dashboard's, not the hub's: the hub only feeds it.
type liveTally struct {
	eng *engine.Engine
	now func() time.Time

	mu sync.Mutex
	t  *tally
}

func newLiveTally(eng *engine.Engine, now func() time.Time) *liveTally {
	return &liveTally{eng: eng, now: now, t: newTally()}
}

// reseed counts afresh from the store, off the lock, and then replaces
// what was counted; on an error the partial count is kept (and the error
// returned for the log).
func (l *liveTally) reseed() error {
	t := newTally()
	err := t.seed(l.eng, l.now())
	l.mu.Lock()
	l.t = t
	l.mu.Unlock()
	return err
}

// apply counts a batch of published transitions.
func (l *liveTally) apply(batch []*engine.Operation) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, op := range batch {
		l.t.apply(op, now)
	}
}

// counts and chart are the aggregates as a page renders them.
func (l *liveTally) counts() views.Counts {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.t.counts(l.now())
}

func (l *liveTally) chart() views.ChartData {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.t.chart(l.now())
}

// tally keeps the overview's numbers in memory, current with every
// transition, so that no page view counts records: pending and running
// operations exactly (the active set), and per minute over the last day the
// operations created, completed and failed. It is seeded from the store at
// start (the active set, and the last day's operations up to seedCap) and
// then follows the broker. Completed and failed are shown "in the last
// 24 h": a total since the beginning would cost a scan of everything stored
// and drift as retention prunes.
type tally struct {
	active  map[uint64]activeOp
	pending int
	running int
	ring    [tallyMinutes]minuteCount
	partial bool
	// seen holds the versions the seed read, so that transitions already
	// counted by it (published while it ran) are not counted twice. It is
	// dropped once the seed is well past.
	seen      map[uint64]uint64
	seenUntil time.Time
	// finished remembers the operations seen ending lately, so that a
	// snapshot published out of order after the end (a cancel racing a
	// worker) does not bring one back to life.
	finished     map[uint64]struct{}
	finishedRing [finishedMemory]uint64
	finishedNext int
	// discard absorbs counts outside the window.
	discard minuteCount
	// groups are the failures by code, company and phase (tally_groups.go).
	groups map[failKey]*failGroup
}

type activeOp struct {
	status  engine.Status
	version uint64
}

type minuteCount struct {
	minute                     int64 // unix minute this bucket holds
	created, completed, failed int
	// canceled are the failed by an operator's cancel, counted apart
	// (not in failed).
	canceled int
}

const (
	tallyWindow  = 24 * time.Hour
	tallyMinutes = int(tallyWindow / time.Minute)
	seedCap      = 50000
	seedGrace    = 30 * time.Second
	// finishedMemory is how many ended operations are remembered.
	finishedMemory = 4096
)

func newTally() *tally {
	return &tally{active: map[uint64]activeOp{}, seen: map[uint64]uint64{}, finished: map[uint64]struct{}{}}
}

// seed reads the active operations and the last day's from the store, a
// page at a time (no long read transaction).
func (t *tally) seed(eng *engine.Engine, now time.Time) error {
	for _, st := range []engine.Status{engine.StatusPending, engine.StatusRunning} {
		var before uint64
		for {
			ops, next, err := eng.Operations(engine.OperationQuery{Status: st, Before: before, Limit: 100})
			if err != nil {
				return err
			}
			for _, op := range ops {
				t.setActive(op)
				t.seen[op.ID] = op.Version
			}
			if next == 0 {
				break
			}
			before = next
		}
	}
	cutoff := now.Add(-tallyWindow)
	var before uint64
	n := 0
scan:
	for {
		ops, next, err := eng.Operations(engine.OperationQuery{Before: before, Limit: 100})
		if err != nil {
			return err
		}
		for _, op := range ops {
			if op.CreatedAt.Before(cutoff) {
				break scan
			}
			if n++; n > seedCap {
				t.partial = true
				break scan
			}
			if _, ok := t.seen[op.ID]; !ok {
				t.seen[op.ID] = op.Version
			}
			t.bucket(op.CreatedAt, now).created++
			t.countFinish(op, now)
		}
		if next == 0 {
			break
		}
		before = next
	}
	t.seenUntil = now.Add(seedGrace)
	return nil
}

// apply counts one published transition.
func (t *tally) apply(op *engine.Operation, now time.Time) {
	if t.seen != nil {
		if now.After(t.seenUntil) {
			t.seen = nil
		} else if v, ok := t.seen[op.ID]; ok && op.Version <= v {
			return
		}
	}
	if _, ended := t.finished[op.ID]; ended {
		return // terminal operations never change again
	}
	prev, known := t.active[op.ID]
	if known && op.Version <= prev.version {
		return
	}
	// An operation unknown here is new since the seed: at its first
	// version, or later when another node ran it (this node published it
	// first past its creation), unless the seed counted it already.
	if _, seeded := t.seen[op.ID]; !known && (op.Version == 1 || !seeded) {
		t.bucket(op.CreatedAt, now).created++
	}
	if op.Status.Terminal() {
		if known {
			t.dropActive(op.ID, prev)
		}
		t.countFinish(op, now)
		t.remember(op.ID)
		return
	}
	if known {
		t.dropActive(op.ID, prev)
	}
	t.setActive(op)
}

func (t *tally) remember(id uint64) {
	delete(t.finished, t.finishedRing[t.finishedNext])
	t.finishedRing[t.finishedNext] = id
	t.finishedNext = (t.finishedNext + 1) % finishedMemory
	t.finished[id] = struct{}{}
}

func (t *tally) setActive(op *engine.Operation) {
	t.active[op.ID] = activeOp{status: op.Status, version: op.Version}
	switch op.Status {
	case engine.StatusPending:
		t.pending++
	case engine.StatusRunning:
		t.running++
	}
}

func (t *tally) dropActive(id uint64, prev activeOp) {
	delete(t.active, id)
	switch prev.status {
	case engine.StatusPending:
		t.pending--
	case engine.StatusRunning:
		t.running--
	}
}

func (t *tally) countFinish(op *engine.Operation, now time.Time) {
	if !op.Status.Terminal() || op.FinishedAt == nil {
		return
	}
	b := t.bucket(*op.FinishedAt, now)
	switch {
	case op.Status == engine.StatusCompleted:
		b.completed++
	case canceled(op):
		b.canceled++
	default:
		b.failed++
		t.countFailure(op, now)
	}
}

// bucket is the minute of at, reset when it last held a minute a day ago;
// times outside the window (or in the future beyond a minute of skew) count
// nowhere.
func (t *tally) bucket(at, now time.Time) *minuteCount {
	m, cur := at.Unix()/60, now.Unix()/60
	if m <= cur-int64(tallyMinutes) || m > cur+1 {
		t.discard = minuteCount{}
		return &t.discard
	}
	b := &t.ring[int(m%int64(tallyMinutes))]
	if b.minute != m {
		*b = minuteCount{minute: m}
	}
	return b
}

// counts is the counts bar.
func (t *tally) counts(now time.Time) views.Counts {
	c := views.Counts{Pending: t.pending, Running: t.running, Window: "24 h", Partial: t.partial}
	cur := now.Unix() / 60
	for i := range t.ring {
		b := &t.ring[i]
		if b.minute > cur-int64(tallyMinutes) && b.minute <= cur+1 {
			c.Completed += b.completed
			c.Failed += b.failed
			c.Canceled += b.canceled
		}
	}
	return c
}

// chart is the last hour, minute by minute.
func (t *tally) chart(now time.Time) views.ChartData {
	cur := now.Unix() / 60
	out := views.ChartData{Minutes: make([]views.Minute, 60)}
	for i := range 60 {
		m := cur - 59 + int64(i)
		v := views.Minute{Start: time.Unix(m*60, 0).UTC()}
		if b := &t.ring[int(m%int64(tallyMinutes))]; b.minute == m {
			v.Created, v.Failed = b.created, b.failed
		}
		out.Minutes[i] = v
	}
	return out
}
