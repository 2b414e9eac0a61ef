package shopify_test

import (
	"testing"

	"eventops/engine"
)

// A recurring save whose Shopify phases split into one child per
// occurrence, with a phase that fails transiently and retries: every
// committed transition, as the broker publishes it, has a percent no lower
// than the one before (DESIGN §4), for the operation and for every phase.
// Its started_at is never later than its first phase's.
func TestSplitSaveProgressNeverGoesBackwards(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	// Transient failures on two phases: catalog's children and publish
	// retry with attempts rising, and progress must hold meanwhile.
	b.faults(fault{Operation: "productSet", Fault: "http_503", Times: 8},
		fault{Operation: "publishablePublish", Fault: "http_500", Times: 8})
	sub := b.eng.Broker().Subscribe(1 << 16)
	defer sub.Close()
	_, op := b.create(b.weekly("Weekly Jam", 6))
	done := b.completed(op.ID)

	var seen []*engine.Operation
	for len(seen) == 0 || seen[len(seen)-1].Version < done.Version {
		o, ok := <-sub.C
		mustf(t, ok, "subscription closed (dropped: %v)", sub.Dropped())
		if o.ID == op.ID {
			seen = append(seen, o)
		}
	}
	if cat := phase(done, "catalog"); len(cat.Phases) != 6 {
		t.Fatalf("catalog has %d children, want one per occurrence (6)", len(cat.Phases))
	}
	retried := 0
	done.WalkPhases(func(p *engine.Phase) {
		if p.Attempts > 1 {
			retried++
		}
	})
	if retried == 0 {
		t.Fatalf("no phase retried: the faults did not fire")
	}
	if len(seen) < 5 {
		t.Fatalf("saw %d transitions, want every one of a split save", len(seen))
	}
	last := map[uint64]int{} // node id → last percent seen
	check := func(o *engine.Operation, id uint64, what string, p *engine.Progress) {
		if p == nil {
			return
		}
		if prev, ok := last[id]; ok && p.Percent < prev {
			t.Errorf("version %d: %s percent went from %d to %d (%+v)", o.Version, what, prev, p.Percent, *p)
		}
		last[id] = p.Percent
	}
	for _, o := range seen {
		check(o, o.ID, "operation", o.Progress)
		o.WalkPhases(func(p *engine.Phase) { check(o, p.ID, "phase "+p.Name, p.Progress) })
		checkStartedFirst(t, o)
	}
	if done.Progress == nil || done.Progress.Percent != 100 {
		t.Errorf("final progress = %+v, want 100 %%", done.Progress)
	}
}

// A Shopify save's started_at is never later than its first phase's.
func TestShopifySaveStartsWithItsFirstPhase(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	for range 5 {
		_, op := b.create(b.input("Show", ptr(10), regType{"A", 1000, nil}))
		checkStartedFirst(t, b.completed(op.ID))
	}
}

// checkStartedFirst fails when an operation started after one of its
// phases.
func checkStartedFirst(t *testing.T, o *engine.Operation) {
	t.Helper()
	o.WalkPhases(func(p *engine.Phase) {
		if p.StartedAt == nil {
			return
		}
		if o.StartedAt == nil || o.StartedAt.After(*p.StartedAt) {
			t.Errorf("version %d: operation started_at %v, phase %s started_at %v: the operation must not start after its phases",
				o.Version, o.StartedAt, p.Name, p.StartedAt)
		}
	})
}
