package engine_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"eventops/engine"
)

// overlapGuard is phase work that fails the test when two operations of one
// queue (an event and its occurrences) run at once, when one starts before
// the previous one of its queue is terminal, or when they start out of
// creation order.
type overlapGuard struct {
	t       testing.TB
	mu      sync.Mutex
	running map[uint64]*atomic.Int32 // queue → phases of it in flight
	last    map[uint64]uint64        // queue → last operation that started
	ran     atomic.Int64
}

func newOverlapGuard(t testing.TB) *overlapGuard {
	return &overlapGuard{t: t, running: map[uint64]*atomic.Int32{}, last: map[uint64]uint64{}}
}

func (g *overlapGuard) Run(ctx context.Context, r *engine.PhaseRun) error {
	q := r.Op.QueueID
	g.mu.Lock()
	n := g.running[q]
	if n == nil {
		n = &atomic.Int32{}
		g.running[q] = n
	}
	prev := g.last[q]
	if r.Op.ID < prev {
		g.t.Errorf("queue %d: operation %d started after operation %d (out of creation order)", q, r.Op.ID, prev)
	}
	g.last[q] = r.Op.ID
	g.mu.Unlock()

	if in := n.Add(1); in > 1 {
		g.t.Errorf("queue %d: operation %d started while %d other phase(s) of the queue ran", q, r.Op.ID, in-1)
	}
	defer n.Add(-1)
	if prev != 0 && prev != r.Op.ID {
		var st engine.Status
		if err := r.View(func(tx engine.Tx) error {
			op, err := tx.Operation(prev)
			if op != nil {
				st = op.Status
			}
			return err
		}); err != nil {
			return err
		}
		if !st.Terminal() {
			g.t.Errorf("queue %d: operation %d started while operation %d was %s", q, r.Op.ID, prev, st)
		}
	}
	g.ran.Add(1)
	return engine.TicketsWork{}.Run(ctx, r)
}

// Operations on one event, and on a recurring event and its occurrences,
// never overlap and run in creation order, however many workers there are.
func TestOperationsOfOneEventNeverOverlap(t *testing.T) {
	t.Parallel()
	g := newOverlapGuard(t)
	b := setup(t, engine.Config{Workers: 16, Work: map[string]engine.Work{engine.PhaseTickets: g}})

	// A recurring event whose occurrences exist, so that operations on
	// the occurrences share the parent's queue.
	loc := chicago(t)
	rev, rop := b.createEvent(b.recurringInput("Weekly", startAt(loc, 2026, 11, 6), weekly(3)))
	b.wait(rop.ID)
	occurrences := b.children(rev.ID)
	if len(occurrences) != 3 {
		t.Fatalf("%d occurrences, want 3", len(occurrences))
	}

	const events, updates = 6, 8
	var mu sync.Mutex
	var ids []uint64
	var wg sync.WaitGroup
	for i := range events {
		wg.Go(func() {
			ev, op := b.createDate(fmt.Sprint("Event ", i), 1+i)
			mine := []uint64{op.ID}
			for j := range updates {
				mine = append(mine, b.rename(ev.ID, fmt.Sprint("Event ", i, " v", j)).ID)
			}
			mu.Lock()
			ids = append(ids, mine...)
			mu.Unlock()
		})
	}
	// The recurring event and each occurrence are updated concurrently:
	// they all share one queue.
	for _, id := range []uint64{rev.ID, occurrences[0].ID, occurrences[1].ID, occurrences[2].ID} {
		wg.Go(func() {
			var mine []uint64
			for j := range updates / 2 {
				mine = append(mine, b.rename(id, fmt.Sprint("Renamed ", id, " v", j)).ID)
			}
			mu.Lock()
			ids = append(ids, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	for _, id := range ids {
		if done := b.wait(id); done.Status != engine.StatusCompleted {
			t.Errorf("operation %d = %s %+v, want completed", id, done.Status, done.Error)
		}
	}
	if g.ran.Load() == 0 {
		t.Fatal("the guard never ran")
	}
}

// Operations on different events run at the same time.
func TestOperationsOfDifferentEventsOverlap(t *testing.T) {
	t.Parallel()
	g := newGate()
	b := setup(t, engine.Config{Workers: 4, Work: map[string]engine.Work{engine.PhaseTickets: g.wrap(engine.TicketsWork{})}})
	_, op1 := b.createDate("One", 5)
	_, op2 := b.createDate("Two", 6)
	// Both are inside their work before either is let go.
	in := g.await(t, 2)
	if in[0].Op.EventID == in[1].Op.EventID {
		t.Fatalf("both attempts are of event %d", in[0].Op.EventID)
	}
	g.open()
	for _, id := range []uint64{op1.ID, op2.ID} {
		if done := b.wait(id); done.Status != engine.StatusCompleted {
			t.Errorf("operation %d = %s, want completed", id, done.Status)
		}
	}
}

// Workers bounds how many operations run at once.
func TestWorkersBoundConcurrency(t *testing.T) {
	t.Parallel()
	g := newGate()
	b := setup(t, engine.Config{Workers: 2, Work: map[string]engine.Work{engine.PhaseTickets: g.wrap(engine.TicketsWork{})}})
	var ops []uint64
	for i := range 3 {
		_, op := b.createDate("Bounded", 5+i)
		ops = append(ops, op.ID)
	}
	in := g.await(t, 2)
	// The one not at the gate was never handed to a worker while both
	// were held: it is still pending and its phase has not started.
	for _, id := range ops {
		if id == in[0].Op.ID || id == in[1].Op.ID {
			continue
		}
		if op := b.stored(id); op.Status != engine.StatusPending || op.Phases[0].StartedAt != nil {
			t.Errorf("operation %d = %s with both workers held, want pending", id, op.Status)
		}
	}
	g.open()
	for _, id := range ops {
		b.wait(id)
	}
}

// startAt is 19:00 local on the given date.
func startAt(loc *time.Location, y int, m time.Month, d int) time.Time {
	return time.Date(y, m, d, 19, 0, 0, 0, loc)
}
