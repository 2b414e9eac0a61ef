package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"eventops/engine"
)

func TestIdempotentCreateEventReplays(t *testing.T) {
	t.Parallel()
	f := setup(t)
	v, tt := f.venue(f.keyA), f.ticketType(f.keyA)
	body := eventBody(v, tt)
	key := hdr{"Idempotency-Key", "import-row-17"}
	first := f.do("POST", "/api/v2/events", f.keyA, body, key).expect(t, 201)
	again := f.do("POST", "/api/v2/events", f.keyA, body, key).expect(t, 201)

	if !bytes.Equal(first.Body, again.Body) {
		t.Fatalf("replay body differs:\n%s\n%s", first.Body, again.Body)
	}
	for _, h := range []string{HeaderOperationID, HeaderSyncJobID, "Location", "Content-Type"} {
		if first.Header.Get(h) == "" || first.Header.Get(h) != again.Header.Get(h) {
			t.Errorf("header %s: %q then %q", h, first.Header.Get(h), again.Header.Get(h))
		}
	}
	if again.Header.Get("Idempotent-Replayed") != "true" || first.Header.Get("Idempotent-Replayed") != "" {
		t.Error("Idempotent-Replayed not set on the replay only")
	}
	// Nothing was created twice.
	if n := f.count("/api/v2/events", f.keyA); n != 1 {
		t.Fatalf("%d events after a replay, want 1", n)
	}
	if n := f.count("/api/v2/operations", f.keyA); n != 1 {
		t.Fatalf("%d operations after a replay, want 1", n)
	}

	// The same key with another body is refused; another key is new work.
	other := eventBody(v, tt)[:len(body)-2] + `, "slug": "other"}}`
	f.do("POST", "/api/v2/events", f.keyA, other, key).expectProblem(t, 422, "idempotency_key_reused")
	f.do("POST", "/api/v2/events", f.keyA, body, hdr{"Idempotency-Key", "import-row-18"}).expect(t, 201)
	// The key is scoped to the API key: company B's use of it is its own.
	vb, ttb := f.venue(f.keyB), f.ticketType(f.keyB)
	f.do("POST", "/api/v2/events", f.keyB, eventBody(vb, ttb), key).expect(t, 201)
}

func TestIdempotencyFailuresAreNotKept(t *testing.T) {
	t.Parallel()
	f := setup(t)
	key := hdr{"Idempotency-Key", "venue-1"}
	body := `{"venue": {"name": "Hall", "time_zone": "Mars/Olympus"}}`
	f.do("POST", "/api/v2/venues", f.keyA, body, key).expect(t, 422)
	f.do("POST", "/api/v2/venues", f.keyA, body, key).expect(t, 422) // not a replay: judged again
	good := `{"venue": {"name": "Hall", "time_zone": "Europe/Paris"}}`
	first := f.do("POST", "/api/v2/venues", f.keyA, good, key).expect(t, 201)
	again := f.do("POST", "/api/v2/venues", f.keyA, good, key).expect(t, 201)
	if !bytes.Equal(first.Body, again.Body) {
		t.Fatal("venue replay differs")
	}
}

// TestIdempotentDeleteReplays: a repeated DELETE answers the first 202 even
// though the event is gone by then.
func TestIdempotentDeleteReplays(t *testing.T) {
	t.Parallel()
	f := setup(t)
	c := f.event(f.keyA)
	key := hdr{"Idempotency-Key", "delete-once"}
	path := fmt.Sprintf("/api/v2/events/%d", c.EventID)
	first := f.do("DELETE", path, f.keyA, nil, key).expect(t, 202)
	again := f.do("DELETE", path, f.keyA, nil, key).expect(t, 202)
	if !bytes.Equal(first.Body, again.Body) || first.Header.Get(HeaderOperationID) != again.Header.Get(HeaderOperationID) {
		t.Fatal("DELETE replay differs")
	}
	f.do("DELETE", path, f.keyA, nil).expect(t, 404)
}

func TestIdempotencyInFlightIsConflict(t *testing.T) {
	t.Parallel()
	f := setup(t)
	scope := fmt.Sprintf("%d POST /api/v2/venues", f.keyAID)
	if !f.srv.inflight.add(scope + "\x00busy") {
		t.Fatal("add")
	}
	body := `{"venue": {"name": "Hall", "time_zone": "UTC"}}`
	r := f.do("POST", "/api/v2/venues", f.keyA, body, hdr{"Idempotency-Key", "busy"})
	r.expectProblem(t, 409, "conflict")
	if r.Header.Get("Retry-After") != "1" {
		t.Fatalf("409 in progress: Retry-After %q, want 1", r.Header.Get("Retry-After"))
	}
	f.srv.inflight.remove(scope + "\x00busy")
	f.do("POST", "/api/v2/venues", f.keyA, body, hdr{"Idempotency-Key", "busy"}).expect(t, 201)
}

// TestIdempotencyRerendersWithoutStoredResponse: a record of the previous
// version whose response was never stored (the server stopped between the
// write and its answer) is answered by rendering what it names.
func TestIdempotencyRerendersWithoutStoredResponse(t *testing.T) {
	t.Parallel()
	f := setup(t)
	c := f.event(f.keyA)
	body := []byte(`{"event": {"name": "Renamed"}}`)
	path := fmt.Sprintf("/api/v2/events/%d", c.EventID)
	rec := &engine.IdempotencyRecord{Scope: fmt.Sprintf("%d PATCH %s", f.keyAID, path), Key: "k",
		RequestHash: requestFingerprint(body), EventID: c.EventID, OperationID: c.OpID, CreatedAt: time.Now()}
	if err := f.db.Update(context.Background(), func(tx engine.Tx) error { return tx.PutIdempotency(rec) }); err != nil {
		t.Fatal(err)
	}
	r := f.do("PATCH", path, f.keyA, body, hdr{"Idempotency-Key", "k"}).expect(t, 200)
	if got := opHeader(t, r); got != c.OpID {
		t.Fatalf("operation %d, want %d", got, c.OpID)
	}
	if m := r.json(t); m["name"] != "Jazz Night" {
		t.Fatalf("the replay did the work again: %v", m["name"])
	}
}

// TestIdempotencyReplaysPreviousVersionAnswer: a record of the previous
// version, whose answer was stored in a commit after the write's (a JSON
// object), is replayed with that answer.
func TestIdempotencyReplaysPreviousVersionAnswer(t *testing.T) {
	t.Parallel()
	f := setup(t)
	body := []byte(`{"venue": {"name": "Hall", "time_zone": "UTC"}}`)
	stored := []byte(`{"id":41,"name":"Hall","time_zone":"UTC","created_at":"2026-01-02T03:04:05Z"}`)
	legacy, err := json.Marshal(map[string]any{"status": 201, "body": stored, "header": map[string]string{
		"Content-Type": "application/json", "Location": "/api/v2/venues/41"}})
	if err != nil {
		t.Fatal(err)
	}
	rec := &engine.IdempotencyRecord{Scope: fmt.Sprintf("%d POST /api/v2/venues", f.keyAID), Key: "old",
		RequestHash: requestFingerprint(body), ResourceID: 41, LegacyAnswer: legacy, CreatedAt: time.Now()}
	if err := f.db.Update(context.Background(), func(tx engine.Tx) error { return tx.PutIdempotency(rec) }); err != nil {
		t.Fatal(err)
	}
	r := f.do("POST", "/api/v2/venues", f.keyA, string(body), hdr{"Idempotency-Key", "old"}).expect(t, 201)
	if !bytes.Equal(r.Body, stored) || r.Header.Get("Location") != "/api/v2/venues/41" || r.Header.Get(headerReplayed) != "true" {
		t.Fatalf("replay of a previous version's answer: %v\n%s", r.Header, r.Body)
	}
	if n := f.count("/api/v2/venues", f.keyA); n != 0 {
		t.Fatalf("%d venues: the replay did the work", n)
	}
}

func TestIdempotencyKeyTooLong(t *testing.T) {
	t.Parallel()
	f := setup(t)
	m := f.do("POST", "/api/v2/venues", f.keyA, `{"venue": {"name": "Hall", "time_zone": "UTC"}}`,
		hdr{"Idempotency-Key", string(repeat('k', 256))}).expectProblem(t, 422, "validation_error")
	if !contains422(m, "Idempotency-Key") {
		t.Fatal(m)
	}
}

// Bodies that are the same JSON value (whitespace, member order, escapes)
// are the same request: a repeat replays. Another value, even one that only
// writes a number differently, is idempotency_key_reused; bodies that are
// not JSON compare byte for byte.
func TestIdempotencyComparesJSONValues(t *testing.T) {
	t.Parallel()
	f := setup(t)
	key := hdr{"Idempotency-Key", "same-value"}
	first := f.do("POST", "/api/v2/venues", f.keyA, `{"venue": {"name": "Hall é", "time_zone": "UTC"}}`, key).expect(t, 201)
	for _, same := range []string{
		`{"venue":{"name":"Hall é","time_zone":"UTC"}}`,
		"{\n  \"venue\": {\n    \"time_zone\": \"UTC\",\n    \"name\": \"Hall \\u00e9\"\n  }\n}\n",
	} {
		again := f.do("POST", "/api/v2/venues", f.keyA, same, key).expect(t, 201)
		if !bytes.Equal(first.Body, again.Body) || again.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("%s: not replayed:\n%s\n%s", same, first.Body, again.Body)
		}
	}
	for _, other := range []string{
		`{"venue": {"name": "Hall e", "time_zone": "UTC"}}`,
		`{"venue": {"name": "Hall é", "time_zone": "UTC", "x": null}}`,
		`{"venue": {"name": "Hall é", "time_zone": "UTC"}} {}`,
	} {
		f.do("POST", "/api/v2/venues", f.keyA, other, key).expectProblem(t, 422, "idempotency_key_reused")
	}
	if n := f.count("/api/v2/venues", f.keyA); n != 1 {
		t.Fatalf("%d venues, want 1", n)
	}

	// Numbers keep their text: 2 and 2.0 are different requests to an API
	// that refuses 2.0 where it wants a whole number.
	c := f.event(f.keyA)
	rt := c.Event.RegistrationTypes[0].ID
	path := fmt.Sprintf("/api/v2/events/%d/orders", c.EventID)
	okey := hdr{"Idempotency-Key", "order-1"}
	f.do("POST", path, f.keyA, fmt.Sprintf(`{"order": {"registration_type_id": %d, "quantity": 2}}`, rt), okey).expect(t, 201)
	f.do("POST", path, f.keyA, fmt.Sprintf(`{"order":{"quantity":2,"registration_type_id":%d}}`, rt), okey).expect(t, 201)
	f.do("POST", path, f.keyA, fmt.Sprintf(`{"order": {"registration_type_id": %d, "quantity": 2.0}}`, rt), okey).
		expectProblem(t, 422, "idempotency_key_reused")
}

// Routes match a path whatever its case and trailing slash; so does a
// key's scope: the same write spelled another way is replayed, not run
// twice.
func TestIdempotencyScopeFollowsTheRoute(t *testing.T) {
	t.Parallel()
	f := setup(t)
	key := hdr{"Idempotency-Key", "spelled-twice"}
	body := `{"venue": {"name": "Hall", "time_zone": "UTC"}}`
	first := f.do("POST", "/api/v2/venues", f.keyA, body, key).expect(t, 201)
	for _, path := range []string{"/api/v2/venues/", "/API/v2/Venues"} {
		again := f.do("POST", path, f.keyA, body, key).expect(t, 201)
		if !bytes.Equal(first.Body, again.Body) || again.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("%s: not replayed:\n%s\n%s", path, first.Body, again.Body)
		}
	}
	if n := f.count("/api/v2/venues", f.keyA); n != 1 {
		t.Fatalf("%d venues, want 1", n)
	}
}
