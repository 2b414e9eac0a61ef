package web

import (
	"fmt"
	"testing"

	"eventops/engine"
	"eventops/web/client"
	"eventops/web/httperr"
)

// TestOverloadedWritesWaitForTheBacklog: with the engine's workers held
// and --max-pending operations unfinished, every write that would start an
// operation answers 503 overloaded with Retry-After and stores nothing,
// while reads, long-polls, idempotent replays and sales keep working; once
// the backlog drains, writes are accepted again.
func TestOverloadedWritesWaitForTheBacklog(t *testing.T) {
	t.Parallel()
	const bound = 5
	g := newGate(engine.TicketsWork{})
	f := setup(t, withWork(engine.PhaseTickets, g), withMaxPending(bound))
	t.Cleanup(g.open)
	v, tt := f.venue(f.keyA), f.ticketType(f.keyA)
	body := eventBody(v, tt)

	// Four saves held by the gate (or queued behind it), and a PATCH
	// queued behind the first, canceled: failed, for a retry later.
	first := f.do("POST", "/api/v2/events", f.keyA, body, hdr{HeaderIdempotencyKey, "first"}).expect(t, 201)
	evID, opID := decode[client.Event](t, first).ID, opHeader(t, first)
	for range 3 {
		f.do("POST", "/api/v2/events", f.keyA, body).expect(t, 201)
	}
	queued := f.do("PATCH", fmt.Sprintf("/api/v2/events/%d", evID), f.keyA, `{"event": {"name": "Renamed"}}`).expect(t, 200)
	canceled := opHeader(t, queued)
	f.do("POST", opPath(evID, canceled)+"/cancel", f.keyA, nil).expect(t, 202)
	if got := f.waitTerminal(evID, canceled); got.Status != "failed" {
		t.Fatalf("canceled operation: %v", got.Status)
	}
	f.do("POST", "/api/v2/events", f.keyA, body).expect(t, 201)
	if n := f.eng.Pending(); n != bound {
		t.Fatalf("engine holds %d unfinished operations, want the bound %d", n, bound)
	}

	events := func() int { return f.count("/api/v2/events?page[size]=100", f.keyA) }
	before := events()
	ev := fmt.Sprintf("/api/v2/events/%d", evID)
	for _, w := range []struct{ method, path, body string }{
		{"POST", "/api/v2/events", body},
		{"PATCH", ev, `{"event": {"name": "Not now"}}`},
		{"DELETE", ev, ""},
		{"POST", ev + "/refund", ""},
		{"POST", opPath(evID, canceled) + "/retry", ""},
	} {
		var b any
		if w.body != "" {
			b = w.body
		}
		r := f.do(w.method, w.path, f.keyA, b)
		r.expectProblem(t, 503, "overloaded")
		if ra := r.Header.Get("Retry-After"); ra != fmt.Sprint(httperr.OverloadedRetryAfter) {
			t.Errorf("%s %s: Retry-After %q, want %d", w.method, w.path, ra, httperr.OverloadedRetryAfter)
		}
		if r.Header.Get(HeaderOperationID) != "" {
			t.Errorf("%s %s: refused, yet names an operation", w.method, w.path)
		}
	}
	// Nothing was stored.
	if n := events(); n != before {
		t.Errorf("events after the refused writes: %d, want %d", n, before)
	}
	got := decode[client.Event](t, f.do("GET", ev, f.keyA, nil).expect(t, 200))
	if got.Name != "Renamed" {
		t.Errorf("event name %q after a refused PATCH, want the accepted one", got.Name)
	}
	if n := f.count(ev+"/operations", f.keyA); n != 2 {
		t.Errorf("event has %d operations after refused writes, want 2", n)
	}
	if n := f.eng.Pending(); n != bound {
		t.Errorf("engine holds %d unfinished operations after the refusals, want %d", n, bound)
	}

	// Reads, long-polls and replays of accepted writes keep working, and
	// the server stays ready: it is busy, not broken.
	f.do("GET", "/api/v2", f.keyA, nil).expect(t, 200)
	f.do("GET", "/readyz", "", nil).expect(t, 200)
	op := f.do("GET", opPath(evID, opID), f.keyA, nil).expect(t, 200)
	f.do("GET", opPath(evID, opID)+"?wait=1", f.keyA, nil, hdr{"If-None-Match", op.Header.Get("ETag")}).expect(t, 304)
	f.do("GET", "/api/v2/operations?filter[status]=running", f.keyA, nil).expect(t, 200)
	replay := f.do("POST", "/api/v2/events", f.keyA, body, hdr{HeaderIdempotencyKey, "first"}).expect(t, 201)
	if opHeader(t, replay) != opID {
		t.Errorf("replay names operation %d, want %d", opHeader(t, replay), opID)
	}
	// A box-office sale starts no operation here and is never refused.
	rt := got.RegistrationTypes[0].ID
	f.do("POST", ev+"/orders", f.keyA, fmt.Sprintf(`{"order": {"registration_type_id": %d, "quantity": 1}}`, rt)).expect(t, 201)

	// The backlog drains; writes are accepted again.
	g.open()
	waitUntil(t, "the backlog drained", func() bool { return f.eng.Pending() == 0 })
	r := f.do("POST", "/api/v2/events", f.keyA, body).expect(t, 201)
	f.do("PATCH", ev, f.keyA, `{"event": {"name": "Now"}}`).expect(t, 200)
	f.do("POST", opPath(evID, canceled)+"/retry", f.keyA, nil).expect(t, 202)
	if done := f.waitTerminal(decode[client.Event](t, r).ID, opHeader(t, r)); done.Status != "completed" {
		t.Errorf("save after recovery: %v", done.Status)
	}
}
