package engine_test

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"eventops/engine"
	"eventops/storage/storetest"
)

// recorder notes, in order, the operation of every phase attempt (and
// refund) that starts.
type recorder struct {
	mu    sync.Mutex
	order []*engine.PhaseRun
}

func (rec *recorder) note(r *engine.PhaseRun) {
	rec.mu.Lock()
	rec.order = append(rec.order, r)
	rec.mu.Unlock()
}

func (rec *recorder) wrap(inner engine.Work) engine.Work {
	return workFunc(func(ctx context.Context, r *engine.PhaseRun) error {
		rec.note(r)
		return inner.Run(ctx, r)
	})
}

func (rec *recorder) refund() engine.RefundWork {
	return refundFunc(func(ctx context.Context, r *engine.PhaseRun) error {
		rec.note(r)
		return engine.LocalRefund{}.Refund(ctx, r)
	})
}

// opOrder is the order in which operations first started.
func (rec *recorder) opOrder() []*engine.Operation {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var out []*engine.Operation
	seen := map[uint64]bool{}
	for _, r := range rec.order {
		if !seen[r.Op.ID] {
			seen[r.Op.ID] = true
			out = append(out, r.Op)
		}
	}
	return out
}

// Operations left mid-flight by a crash resume on the next start and reach a
// terminal state, each phase's work taking effect exactly once; the ones
// that were pending resume in creation order.
func TestRecoveryResumesMidFlightOperations(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		crash func(b *bundle)
	}{
		{"stop cuts running phases off at its deadline", func(b *bundle) {
			stopWithin(b.t, b.eng, time.Millisecond)
			b.eng = nil
			b.closeStore()
		}},
		{"store closed under a running engine", func(b *bundle) {
			old := b.eng
			b.eng = nil
			b.crashStore()
			// The old engine's phases now end with nowhere to write: like
			// a process that died, it leaves the file as it was.
			stopWithin(b.t, old, 0)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := newGate()
			b := setup(t, engine.Config{
				Work: map[string]engine.Work{
					engine.PhaseRecurrence: counted(g.wrap(engine.RecurrenceWork{})),
					engine.PhaseTickets:    counted(g.wrap(engine.TicketsWork{})),
				},
				Refund: refundFunc(func(ctx context.Context, r *engine.PhaseRun) error {
					if err := g.hold(ctx, r); err != nil {
						return err
					}
					return engine.LocalRefund{}.Refund(ctx, r)
				}),
			})
			ctx := context.Background()
			loc := chicago(t)

			rev, r1 := b.createEvent(b.recurringInput("Weekly", time.Date(2026, 10, 23, 19, 0, 0, 0, loc), weekly(3)))
			a, a1 := b.createDate("A", 5)
			c, c1 := b.createDate("C", 6)
			g.await(t, 3) // r1 recurrence, a1 tickets, c1 tickets: all running
			a2 := b.rename(a.ID, "A renamed")
			for _, q := range []int{2, 3} {
				if _, _, err := b.eng.CreateOrder(ctx, b.company.ID, c.ID,
					engine.OrderInput{RegistrationTypeID: c.RegistrationTypes[0].ID, Quantity: q}); err != nil {
					t.Fatalf("order: %v", err)
				}
			}
			c2, err := b.eng.RefundEvent(ctx, b.company.ID, c.ID)
			if err != nil {
				t.Fatalf("refund: %v", err)
			}
			for _, id := range []uint64{r1.ID, a1.ID, c1.ID} {
				if op := b.stored(id); op.Status != engine.StatusRunning || op.Phases[0].Status != engine.StatusRunning {
					t.Fatalf("before the crash operation %d is %s, first phase %s; want both running", id, op.Status, op.Phases[0].Status)
				}
			}
			for _, id := range []uint64{a2.ID, c2.ID} {
				if op := b.stored(id); op.Status != engine.StatusPending {
					t.Fatalf("before the crash operation %d is %s, want pending", id, op.Status)
				}
			}

			tt.crash(b)
			all := []uint64{r1.ID, a1.ID, a2.ID, c1.ID, c2.ID}

			b.open(engine.Config{}, false) // a look at the file as the crash left it
			for _, id := range all {
				if op := b.stored(id); op.Status.Terminal() {
					t.Fatalf("after the crash operation %d is already %s", id, op.Status)
				}
			}
			b.shutdown()

			rec := &recorder{}
			b.reopen(engine.Config{
				Workers: 1, // one at a time: the start order is observable
				Work: map[string]engine.Work{
					engine.PhaseRecurrence: counted(rec.wrap(engine.RecurrenceWork{})),
					engine.PhaseTickets:    counted(rec.wrap(engine.TicketsWork{})),
				},
				Refund: rec.refund(),
			})

			for _, id := range all {
				done := b.wait(id)
				if done.Status != engine.StatusCompleted {
					t.Errorf("operation %d (%s) = %s %+v, want completed", id, done.Action, done.Status, done.Error)
				}
				done.WalkPhases(func(p *engine.Phase) {
					if !p.Leaf() {
						return
					}
					if n := b.effects(p.ID); n != 1 {
						t.Errorf("operation %d phase %s (%d): work took effect %d times, want once", id, p.Name, p.ID, n)
					}
				})
			}
			for _, id := range []uint64{r1.ID, a1.ID, c1.ID} {
				if p := b.stored(id).Phases[0]; p.Attempts != 2 {
					t.Errorf("interrupted phase %s of operation %d: attempts %d, want 2 (cut off, then resumed)", p.Name, id, p.Attempts)
				}
			}

			children := b.children(rev.ID)
			if len(children) != 3 {
				t.Errorf("recurring event has %d occurrences, want 3", len(children))
			}
			for _, ch := range children {
				if b.structure(ch.ID) == nil {
					t.Errorf("occurrence %d has no ticket structure", ch.ID)
				}
			}
			if ev, err := b.eng.Event(b.company.ID, a.ID); err != nil || ev.Name != "A renamed" || b.structure(a.ID) == nil {
				t.Errorf("event A = %+v, %v; want renamed with a ticket structure", ev, err)
			}
			if p := b.stored(c2.ID).Progress; p == nil || *p != (engine.Progress{Percent: 100, Completed: 2, Total: 2}) {
				t.Errorf("refund progress = %v, want 2 of 2", p)
			}
			orders, err := b.eng.Orders(b.company.ID, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range orders {
				if o.Status != engine.OrderRefunded {
					t.Errorf("order %d = %s, want refunded", o.ID, o.Status)
				}
			}

			// Creation order: within a queue strictly, and the queues'
			// first operations in the order they were created.
			started := b.recorded(rec)
			for _, q := range [][]uint64{{a1.ID, a2.ID}, {c1.ID, c2.ID}} {
				if got := filter(started, q); !slices.Equal(got, q) {
					t.Errorf("operations of one event resumed in order %v, want %v", got, q)
				}
			}
			if got := filter(started, []uint64{r1.ID, a1.ID, c1.ID}); !slices.Equal(got, []uint64{r1.ID, a1.ID, c1.ID}) {
				t.Errorf("operations resumed in order %v, want creation order", got)
			}
		})
	}
}

func (b *bundle) recorded(rec *recorder) []uint64 {
	var ids []uint64
	for _, op := range rec.opOrder() {
		ids = append(ids, op.ID)
	}
	return ids
}

// filter keeps the ids of keep, in the order of ids.
func filter(ids, keep []uint64) []uint64 {
	var out []uint64
	for _, id := range ids {
		if slices.Contains(keep, id) {
			out = append(out, id)
		}
	}
	return out
}

// Operations that never started before the store was closed start, on the
// next start, in the order they were created.
func TestRecoveryStartsPendingInCreationOrder(t *testing.T) {
	t.Parallel()
	b := setupIdle(t)
	var want []uint64
	var events []*engine.Event
	for i := range 5 {
		ev, op := b.createDate("Event", 5+i)
		events = append(events, ev)
		want = append(want, op.ID)
	}
	want = append(want, b.rename(events[0].ID, "First, renamed").ID, b.rename(events[2].ID, "Third, renamed").ID)
	b.shutdown()

	rec := &recorder{}
	b.open(engine.Config{Workers: 1, Work: map[string]engine.Work{engine.PhaseTickets: counted(rec.wrap(engine.TicketsWork{}))}}, true)
	for _, id := range want {
		if done := b.wait(id); done.Status != engine.StatusCompleted {
			t.Errorf("operation %d = %s, want completed", id, done.Status)
		}
		if n := b.effects(b.stored(id).Phases[0].ID); n != 1 {
			t.Errorf("operation %d: tickets took effect %d times, want once", id, n)
		}
	}
	got := b.recorded(rec)
	if storetest.Postgres() {
		// Claims by lease: each queue in creation order, queues by id, a
		// queue kept by its node while it has work (the renames follow
		// their events).
		want = []uint64{want[0], want[5], want[1], want[2], want[6], want[3], want[4]}
	}
	if !slices.Equal(got, want) {
		t.Errorf("operations started in order %v, want %v", got, want)
	}
}

// A cancel accepted just before a crash is not lost: the operation ends
// canceled on the next start instead of running again.
func TestRecoveryKeepsCancelRequest(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	b := setup(t, engine.Config{Work: map[string]engine.Work{engine.PhaseTickets: workFunc(func(ctx context.Context, r *engine.PhaseRun) error {
		entered <- struct{}{}
		<-release // deaf to its context: the cancel cannot end it
		return nil
	})}})
	_, op := b.createDate("Doomed", 5)
	<-entered
	got, err := b.eng.CancelOperation(context.Background(), b.company.ID, op.ID)
	if err != nil || !got.CancelAsked || got.Status.Terminal() {
		t.Fatalf("cancel = %+v, %v; want a durable request on a running operation", got, err)
	}
	old := b.eng
	b.eng = nil
	b.crashStore()
	close(release)
	stopWithin(t, old, 0)

	rec := &recorder{}
	b.reopen(engine.Config{Work: map[string]engine.Work{engine.PhaseTickets: rec.wrap(engine.TicketsWork{})}})
	checkCanceled(t, b.wait(op.ID))
	if n := len(b.recorded(rec)); n != 0 {
		t.Errorf("the canceled operation ran again after the restart (%d attempts)", n)
	}
}

// A crash in the middle of an expanded phase: the children keep their ids
// (no second expansion), finished children are not run again, and the one
// cut off runs once more.
func TestRecoveryOfExpandedPhase(t *testing.T) {
	t.Parallel()
	g := newGate()
	var hold atomic.Uint64
	catalog := func(g *gate) engine.Work {
		return expandingWork{run: func(ctx context.Context, r *engine.PhaseRun) error {
			if g != nil && r.Phase.Subject == hold.Load() {
				if err := g.hold(ctx, r); err != nil {
					return err
				}
			}
			return counted(nil).Run(ctx, r)
		}}
	}
	ok := workFunc(func(ctx context.Context, r *engine.PhaseRun) error { return nil })
	rest := func(w engine.Work) map[string]engine.Work {
		return map[string]engine.Work{engine.PhaseCatalog: w,
			engine.PhaseInventory: ok, engine.PhaseMetafields: ok, engine.PhaseDelivery: ok, engine.PhasePublish: ok}
	}
	b := setup(t, engine.Config{Work: rest(catalog(g))})
	b.seed(&engine.ShopInput{Sandbox: true, Domain: "blue-note"})
	hold.Store(^uint64(0))
	ev, first := b.createEvent(b.recurringInput("Weekly", startAt(chicago(t), 2026, 10, 23), weekly(3)))
	b.wait(first.ID)
	occ := b.children(ev.ID)
	hold.Store(occ[1].ID)
	op := b.rename(ev.ID, "Weekly, renamed")
	g.await(t, 1)
	before := phaseNamed(t, b.stored(op.ID), engine.PhaseCatalog)

	old := b.eng
	b.eng = nil
	b.crashStore()
	stopWithin(t, old, 0)

	b.reopen(engine.Config{Work: rest(catalog(nil))})
	done := b.wait(op.ID)
	if done.Status != engine.StatusCompleted {
		t.Fatalf("after the restart: %s %+v, want completed", done.Status, done.Error)
	}
	after := phaseNamed(t, done, engine.PhaseCatalog)
	if len(after.Phases) != len(before.Phases) {
		t.Fatalf("catalog has %d children after the restart, %d before", len(after.Phases), len(before.Phases))
	}
	for i, c := range after.Phases {
		if c.ID != before.Phases[i].ID || c.Subject != before.Phases[i].Subject {
			t.Errorf("child %d changed from %d/%d to %d/%d", i, before.Phases[i].ID, before.Phases[i].Subject, c.ID, c.Subject)
		}
		if n := b.effects(c.ID); n != 1 {
			t.Errorf("child %s (%d) took effect %d times, want once", c.Name, c.ID, n)
		}
	}
	if a := after.Phases[1].Attempts; a != 2 {
		t.Errorf("the cut-off child has %d attempts, want 2", a)
	}
}

// localGate holds local work at a gate and keeps it local.
type localGate struct{ engine.Work }

func (localGate) LocalOnly() {}

// A crash while local work runs (tickets, whose start is written with its
// end, or once it has run for a while) loses nothing: after a restart it
// runs once more and its work takes effect once.
func TestRecoveryOfLocalWork(t *testing.T) {
	t.Parallel()
	g := newGate()
	b := setup(t, engine.Config{Work: map[string]engine.Work{
		engine.PhaseTickets: localGate{counted(g.wrap(engine.TicketsWork{}))},
	}})
	ev, op := b.createDate("Local", 5)
	g.await(t, 1)
	if got := b.stored(op.ID); got.Phases[0].Status.Terminal() {
		t.Fatalf("while tickets runs the store holds it %s", got.Phases[0].Status)
	}
	old := b.eng
	b.eng = nil
	b.crashStore()
	stopWithin(t, old, 0)

	b.reopen(engine.Config{Work: map[string]engine.Work{engine.PhaseTickets: counted(engine.TicketsWork{})}})
	done := b.wait(op.ID)
	tickets := done.Phases[0]
	if done.Status != engine.StatusCompleted || tickets.Status != engine.StatusCompleted || b.effects(tickets.ID) != 1 {
		t.Errorf("after the restart: %s, tickets %s with %d effects; want completed, with effect once",
			done.Status, tickets.Status, b.effects(tickets.ID))
	}
	if b.structure(ev.ID) == nil {
		t.Error("the event has no ticket structure")
	}
}
