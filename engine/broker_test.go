package engine_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"eventops/engine"
)

// published is the highest version of each operation a subscriber saw, and
// that version's snapshot.
func latestPublished(ops []*engine.Operation) map[uint64]*engine.Operation {
	out := map[uint64]*engine.Operation{}
	for _, op := range ops {
		if cur := out[op.ID]; cur == nil || op.Version > cur.Version {
			out[op.ID] = op
		}
	}
	return out
}

// storedAll reads every operation of ids from the store.
func (b *bundle) storedAll(ids map[uint64]*engine.Operation) map[uint64]*engine.Operation {
	b.t.Helper()
	out := map[uint64]*engine.Operation{}
	b.view(func(tx engine.Tx) error {
		for id := range ids {
			op, err := tx.Operation(id)
			if err != nil {
				return err
			}
			out[id] = op
		}
		return nil
	})
	return out
}

// mixedLoad starts saves, updates, a recurring save, deletes and a refund
// from concurrent goroutines and returns the ids of what it started. With
// tolerant set, failures (a closed store) end a goroutine quietly.
func mixedLoad(b *bundle, events int, tolerant bool) []uint64 {
	ctx := context.Background()
	e := b.eng // the test may drop b.eng meanwhile
	var mu sync.Mutex
	var ids []uint64
	add := func(id uint64) {
		mu.Lock()
		ids = append(ids, id)
		mu.Unlock()
	}
	fail := func(what string, err error) bool {
		if err == nil {
			return false
		}
		if !tolerant {
			b.t.Errorf("%s: %v", what, err)
		}
		return true
	}
	var wg sync.WaitGroup
	for i := range events {
		wg.Go(func() {
			ev, op, err := e.CreateEvent(ctx, b.company.ID, b.dateInput(fmt.Sprint("Load ", i), 1+i%28))
			if fail("create", err) {
				return
			}
			add(op.ID)
			for j := range 3 {
				_, op, err := e.UpdateEvent(ctx, b.company.ID, ev.ID, engine.EventInput{Name: ptr(fmt.Sprint("Load ", i, " v", j))})
				if fail("update", err) {
					return
				}
				add(op.ID)
			}
			switch i % 4 {
			case 1:
				op, err := e.DeleteEvent(ctx, b.company.ID, ev.ID)
				if fail("delete", err) {
					return
				}
				add(op.ID)
			case 2:
				if _, _, err := e.CreateOrder(ctx, b.company.ID, ev.ID,
					engine.OrderInput{RegistrationTypeID: ev.RegistrationTypes[0].ID, Quantity: 1}); fail("order", err) {
					return
				}
				op, err := e.RefundEvent(ctx, b.company.ID, ev.ID)
				if fail("refund", err) {
					return
				}
				add(op.ID)
			}
		})
	}
	wg.Go(func() {
		_, op, err := e.CreateEvent(ctx, b.company.ID,
			b.recurringInput("Weekly", startAt(chicago(b.t), 2026, 10, 23), weekly(6)))
		if !fail("create recurring", err) {
			add(op.ID)
		}
	})
	wg.Wait()
	return ids
}

// A subscriber never observes a state that the store lacks: each snapshot is
// already readable when it arrives, and after the store is closed and
// reopened every operation is at least at the version last published, the
// final published state being the stored one.
func TestSubscriberNeverSeesUnpersistedState(t *testing.T) {
	t.Parallel()
	b := setup(t, engine.Config{Workers: 8})
	var ahead atomic.Int64
	var firstAhead atomic.Value
	c := collect(b.eng, func(op *engine.Operation) {
		var stored *engine.Operation
		if err := b.db.View(func(tx engine.Tx) error {
			var err error
			stored, err = tx.Operation(op.ID)
			return err
		}); err != nil {
			return
		}
		if stored == nil || stored.Version < op.Version {
			ahead.Add(1)
			firstAhead.CompareAndSwap(nil, fmt.Sprintf("operation %d published at version %d, stored %v", op.ID, op.Version, versionOf(stored)))
		}
	})
	ids := mixedLoad(b, 24, false)
	for _, id := range ids {
		b.wait(id)
	}
	stopWithin(t, b.eng, safety)
	seen := c.stop(t)
	if n := ahead.Load(); n > 0 {
		t.Errorf("%d published states were not yet in the store when they arrived; first: %s", n, firstAhead.Load())
	}

	b.restart(engine.Config{Workers: 8})
	latest := latestPublished(seen)
	if len(latest) < len(ids) {
		t.Errorf("published states of %d operations, want all %d", len(latest), len(ids))
	}
	stored := b.storedAll(latest)
	for id, pub := range latest {
		st := stored[id]
		if st == nil {
			t.Errorf("operation %d was published but is not in the reopened store", id)
			continue
		}
		if st.Version != pub.Version || st.Status != pub.Status || !st.UpdatedAt.Equal(pub.UpdatedAt) {
			t.Errorf("operation %d: last published v%d %s, reopened store v%d %s", id, pub.Version, pub.Status, st.Version, st.Status)
		}
		if !st.Status.Terminal() {
			t.Errorf("operation %d is %s after it was waited for", id, st.Status)
		}
	}
}

// The same across a crash: the store is closed under a busy engine, and every
// state a subscriber saw before is in the reopened file. A new engine then
// finishes everything that was left.
func TestSubscriberStatesSurviveCrash(t *testing.T) {
	t.Parallel()
	b := setup(t, engine.Config{Workers: 8})
	const crashAfter = 150
	var n atomic.Int64
	crash := make(chan struct{})
	c := collect(b.eng, func(op *engine.Operation) {
		if n.Add(1) == crashAfter {
			close(crash)
		}
	})
	loadDone := make(chan []uint64, 1)
	go func() { loadDone <- mixedLoad(b, 40, true) }()
	<-crash
	old := b.eng
	b.eng = nil
	b.crashStore()
	ids := <-loadDone
	stopWithin(t, old, 0)
	seen := c.stop(t)
	if len(seen) < crashAfter {
		t.Fatalf("only %d states published", len(seen))
	}

	b.reopen(engine.Config{Workers: 8})
	latest := latestPublished(seen)
	stored := b.storedAll(latest)
	for id, pub := range latest {
		st := stored[id]
		switch {
		case st == nil:
			t.Errorf("operation %d was published but is not in the reopened store", id)
		case st.Version < pub.Version:
			t.Errorf("operation %d published at v%d, reopened store has v%d", id, pub.Version, st.Version)
		case pub.Status.Terminal() && (st.Version != pub.Version || st.Status != pub.Status):
			t.Errorf("operation %d published terminal v%d %s, reopened store v%d %s", id, pub.Version, pub.Status, st.Version, st.Status)
		}
	}
	for _, id := range ids {
		if done := b.wait(id); !done.Status.Terminal() {
			t.Errorf("operation %d = %s after the restart", id, done.Status)
		}
	}
}

func versionOf(op *engine.Operation) any {
	if op == nil {
		return "nothing"
	}
	return op.Version
}

// A subscriber that does not keep up is dropped rather than allowed to slow
// the engine, and knows it.
func TestSlowSubscriberIsDropped(t *testing.T) {
	t.Parallel()
	b := setup(t, engine.Config{})
	slow := b.eng.Broker().Subscribe(1)
	defer slow.Close()
	before := b.eng.Broker().Subscribers()
	var ids []uint64
	for i := range 3 {
		_, op := b.createDate("Busy", 5+i)
		ids = append(ids, op.ID)
	}
	for _, id := range ids {
		b.wait(id) // the engine did not wait for the slow subscriber
	}
	if !slow.Dropped() {
		t.Fatal("a subscriber with a full buffer was not dropped")
	}
	n := 0
	for range slow.C { // closed once dropped, after what was buffered
		n++
	}
	if n != 1 {
		t.Errorf("dropped subscriber received %d states, want its buffer's 1", n)
	}
	if after := b.eng.Broker().Subscribers(); after != before-1 {
		t.Errorf("subscribers %d → %d, want the slow one removed", before, after)
	}
}

// Watch fires at the next persisted transition of one operation.
func TestWatchFiresOnTransition(t *testing.T) {
	t.Parallel()
	g := newGate()
	b := setup(t, engine.Config{Work: map[string]engine.Work{engine.PhaseTickets: g.wrap(nil)}})
	_, op := b.createDate("Watched", 5)
	g.await(t, 1)
	cur := b.stored(op.ID)
	ch, stop := b.eng.Broker().Watch(op.ID)
	defer stop()
	g.open()
	<-ch
	if next := b.stored(op.ID); next.Version <= cur.Version {
		t.Errorf("watch fired at v%d with the store still at v%d", cur.Version, next.Version)
	}
	// Wait answers at once for a version that is already old.
	got, err := b.eng.Wait(context.Background(), b.company.ID, op.ID, cur.Version, safety)
	if err != nil || got.Version == cur.Version {
		t.Errorf("wait on an old version = v%d, %v; want the newer state at once", versionOf(got), err)
	}
	if _, err := b.eng.Wait(context.Background(), b.company.ID+1, op.ID, 0, safety); errorKind(err) != engine.KindNotFound {
		t.Errorf("wait on another company's operation: %v, want not found", err)
	}
}
