package web

import (
	"fmt"
	"testing"

	"eventops/engine"
	"eventops/web/client"
)

func version(id, v uint64) *engine.Operation {
	return &engine.Operation{ID: id, Version: v, Status: engine.StatusRunning, Phases: []*engine.Phase{}}
}

func TestOpCacheKeepsTheNewestVersion(t *testing.T) {
	t.Parallel()
	f := setup(t)
	c := newOpCache(f.eng.Broker(), 10)
	t.Cleanup(c.close)

	_, gen := c.get(1)
	if e := c.offer(version(1, 2), gen); e.op.Version != 2 {
		t.Fatal("offer")
	}
	c.publish(version(1, 1)) // late delivery of an older state
	if e, _ := c.get(1); e.op.Version != 2 {
		t.Fatalf("older delivery replaced v2: v%d", e.op.Version)
	}
	c.publish(version(1, 3))
	if e := c.offer(version(1, 2), gen); e.op.Version != 3 {
		t.Fatalf("a stale store read won over a delivery: v%d", e.op.Version)
	}

	// A read that began before a reset is answered but not cached.
	_, gen = c.get(2)
	c.reset()
	if e := c.offer(version(2, 5), gen); e.op.Version != 5 {
		t.Fatal("offer after reset")
	}
	if e, _ := c.get(2); e != nil {
		t.Fatal("a read that raced a reset was cached")
	}

	// A full cache starts afresh, and readers of the old generation do not
	// refill it.
	_, gen = c.get(100)
	for i := uint64(10); i < 21; i++ {
		c.publish(version(i, 1))
	}
	c.offer(version(100, 1), gen)
	if e, _ := c.get(100); e != nil {
		t.Fatal("a read that raced an eviction was cached")
	}
}

// TestOpCacheResubscribesWhenDropped: a lost subscription clears the cache
// and the next transitions are followed again.
func TestOpCacheResubscribesWhenDropped(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ev := f.event(f.keyA)
	f.waitTerminal(ev.EventID, ev.OpID)
	c := f.srv.ops
	c.publish(version(999, 1))
	c.feedMu.Lock()
	c.sub.Close() // as the broker does to a subscriber that fell behind
	c.feedMu.Unlock()
	c.feed()
	if e, _ := c.get(999); e != nil {
		t.Fatal("the cache survived a lost subscription")
	}
	// Transitions after that are seen: a PATCH's save goes from pending to
	// completed, and polling shows it.
	r := f.do("PATCH", fmt.Sprintf("/api/v2/events/%d", ev.EventID), f.keyA, `{"event": {"name": "Again"}}`).expect(t, 200)
	if m := f.waitTerminal(ev.EventID, opHeader(t, r)); m.Status != "completed" {
		t.Fatal(m)
	}
}

// TestReadYourWrites: an answer to a write is never followed by an older
// state of the operation.
func TestReadYourWrites(t *testing.T) {
	t.Parallel()
	g := newGate(engine.TicketsWork{})
	f := setup(t, withWork(engine.PhaseTickets, g))
	t.Cleanup(g.open)
	c := f.event(f.keyA)
	waitStarted(t, g)
	f.do("GET", opPath(c.EventID, c.OpID), f.keyA, nil).expect(t, 200) // cached: running
	for i := 0; i < 20; i++ {
		p := f.do("PATCH", fmt.Sprintf("/api/v2/events/%d", c.EventID), f.keyA, `{"event": {"name": "x"}}`).expect(t, 200)
		op := opHeader(t, p)
		f.do("GET", opPath(c.EventID, op), f.keyA, nil).expect(t, 200)
		cancel := decode[client.Operation](t, f.do("POST", opPath(c.EventID, op)+"/cancel", f.keyA, nil).expect(t, 202))
		got := decode[client.Operation](t, f.do("GET", opPath(c.EventID, op), f.keyA, nil).expect(t, 200))
		if got.Status != cancel.Status || !got.UpdatedAt.Equal(cancel.UpdatedAt) {
			t.Fatalf("after cancel answered %s at %v, GET shows %s at %v", cancel.Status, cancel.UpdatedAt, got.Status, got.UpdatedAt)
		}
	}
}
