package web

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"eventops/web/client"
)

// TestAuthentication: the key is read from an Authorization of scheme
// Token (any case) or Bearer; anything else is 401 unauthorized with
// WWW-Authenticate, and a revoked key stops working at once.
func TestAuthentication(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for _, tc := range []struct {
		name, path, authorization string
		status                    int
	}{
		{"no key", "/api/v2/events", "", 401},
		{"no key, company", "/api/v2/", "", 401},
		{"unknown key", "/api/v2/events", "Token eo_not-a-key", 401},
		{"basic scheme", "/api/v2/events", "Basic " + f.keyA, 401},
		{"bearer", "/api/v2/events", "Bearer " + f.keyA, 200},
		{"lower-case token", "/api/v2/", "token " + f.keyA, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.in(t).do("GET", tc.path, "", nil, hdr{"Authorization", tc.authorization})
			if tc.status == 401 {
				r.expectProblem(t, 401, "unauthorized")
				if r.Header.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
				return
			}
			r.expect(t, tc.status)
			if tc.path != "/api/v2/" {
				return
			}
			if c := decode[client.Company](t, r); c.ID != f.a.ID || c.Name != "Company A" {
				t.Fatalf("company: %+v", c)
			}
		})
	}

	// A revoked key stops working at once.
	keys, err := f.eng.APIKeys(f.b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.RevokeAPIKey(context.Background(), keys[0].ID); err != nil {
		t.Fatal(err)
	}
	f.do("GET", "/api/v2/", f.keyB, nil).expectProblem(t, 401, "unauthorized")
}

// writes lists every write route of the API on event ev and operation op.
func writes(ev, op uint64) [][2]string {
	e := fmt.Sprint(ev)
	o := fmt.Sprintf("/api/v2/events/%d/operations/%d", ev, op)
	return [][2]string{
		{"POST", "/api/v2/venues"}, {"POST", "/api/v2/ticket_types"}, {"POST", "/api/v2/events"},
		{"PATCH", "/api/v2/events/" + e}, {"DELETE", "/api/v2/events/" + e}, {"POST", "/api/v2/events/" + e + "/refund"},
		{"POST", "/api/v2/events/" + e + "/orders"}, {"POST", o + "/cancel"}, {"POST", o + "/retry"},
	}
}

// reads lists every read route of the API on event ev and operation op.
func reads(ev, op, venue, ticketType uint64) []string {
	e := fmt.Sprintf("/api/v2/events/%d", ev)
	return []string{
		"/api/v2/", "/api/v2/venues", fmt.Sprintf("/api/v2/venues/%d", venue), "/api/v2/ticket_types",
		fmt.Sprintf("/api/v2/ticket_types/%d", ticketType), "/api/v2/events", e, e + "/orders", e + "/operations",
		fmt.Sprintf("%s/operations/%d", e, op), "/api/v2/operations", e + "/sync_jobs", fmt.Sprintf("%s/sync_jobs/%d", e, op),
	}
}

func TestScopes(t *testing.T) {
	t.Parallel()
	f := setup(t)
	c := f.event(f.keyA)
	body := `{"venue": {"name": "X", "time_zone": "UTC"}}`
	for _, w := range writes(c.EventID, c.OpID) {
		m := f.do(w[0], w[1], f.keyRO, body).expectProblem(t, 403, "forbidden")
		if m.Detail != "this API key lacks the write scope" {
			t.Errorf("%s %s: %v", w[0], w[1], m.Detail)
		}
	}
	for _, path := range reads(c.EventID, c.OpID, c.Event.VenueID, 1) {
		f.do("GET", path, f.keyWO, nil).expectProblem(t, 403, "forbidden")
		f.do("GET", path, f.keyRO, nil).expect(t, 200)
	}
	// Nothing was written by the refused calls.
	if n := f.count("/api/v2/venues", f.keyA); n != 1 {
		t.Fatalf("%d venues after refused writes, want 1", n)
	}
}

// TestCompanyIsolation: company A's key gets 404 for every id of company B,
// on every route, the alias routes included, and changes nothing.
func TestCompanyIsolation(t *testing.T) {
	t.Parallel()
	f := setup(t)
	b := f.event(f.keyB)
	f.waitTerminal(b.EventID, b.OpID, f.keyB)
	venue, tt := b.Event.VenueID, uint64(1)
	for _, path := range reads(b.EventID, b.OpID, venue, tt)[2:] {
		switch path {
		case "/api/v2/ticket_types", "/api/v2/events", "/api/v2/operations":
			if n := f.count(path, f.keyA); n != 0 {
				t.Errorf("GET %s with A's key lists %d of B's items", path, n)
			}
		default:
			f.do("GET", path, f.keyA, nil).expectProblem(t, 404, "not_found")
		}
	}
	f.do("GET", fmt.Sprintf("/api/v2/operations?filter[event_id]=%d", b.EventID), f.keyA, nil).expect(t, 200)
	for _, w := range writes(b.EventID, b.OpID)[3:] {
		var body any
		switch {
		case w[0] == "PATCH":
			body = `{"event": {"name": "Taken over"}}`
		case strings.HasSuffix(w[1], "/orders"):
			body = `{"order": {"registration_type_id": 1, "quantity": 1}}`
		}
		f.do(w[0], w[1], f.keyA, body).expectProblem(t, 404, "not_found")
	}
	// B's event is untouched.
	if n := f.count(fmt.Sprintf("/api/v2/events/%d/operations", b.EventID), f.keyB); n != 1 {
		t.Fatalf("B's event has %d operations, want 1", n)
	}
	// A's key cannot use B's venue or ticket type in its own event either.
	r := f.do("POST", "/api/v2/events", f.keyA, eventBody(venue, tt)).expectProblem(t, 422, "validation_error")
	if !contains422(r, "venue_id") || !contains422(r, "registration_types[0].ticket_type_id") {
		t.Fatalf("B's ids accepted: %v", r)
	}
}

// contains422 reports whether a validation problem names attr.
func contains422(p client.Problem, attr string) bool {
	for _, a := range p.Attributes() {
		if a.Attribute == attr {
			return true
		}
	}
	return false
}
