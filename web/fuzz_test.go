package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"eventops/engine"
	"eventops/web/client"
)

// Fuzz targets of request decoding: every write route of the JSON API, and
// recurrence rules as the API receives them. Each fuzz function builds one
// installation (a fresh data file per fuzz worker) and drives the real
// Fiber app with app.Test. Whatever the body, the API must answer without a
// 5xx, with a JSON body (application/json or application/problem+json),
// and every 4xx must be a problem carrying its type and status.
//
// The seed corpora live in testdata/fuzz/<FuzzName>/ and are replayed by
// `go test ./web`; run one target with, e.g.,
//
//	go test ./web -run '^$' -fuzz '^FuzzCreateEvent$' -fuzztime 60s
//
// The fixture's company A holds venues 1–12 (each in another time zone) and
// ticket types 1–4, so that DESIGN §3.0's examples are valid as written;
// event 1 is a date event with registration types 1 and 2, event 2 a
// recurring event of 3 occurrences.

// fuzzZones are the fixture venues' zones, in venue id order: DST in both
// hemispheres, half- and quarter-hour offsets, a date-line jump.
var fuzzZones = []string{
	"America/Chicago", "Europe/Berlin", "Asia/Tokyo", "Australia/Lord_Howe",
	"Pacific/Chatham", "America/Sao_Paulo", "UTC", "Asia/Kathmandu",
	"America/St_Johns", "Europe/London", "Pacific/Apia", "Antarctica/Troll",
}

// fuzzContentTypes are the Content-Type headers a fuzz input picks from.
var fuzzContentTypes = []string{
	"application/json", "application/json; charset=utf-8", "application/merge-patch+json",
	"text/plain", "", "application/x-www-form-urlencoded", "application/json; charset=",
}

// fuzzFixture is one installation for one fuzz function.
type fuzzFixture struct {
	*fixture
	dateEvent, recurringEvent uint64
}

func fuzzSetup(f *testing.F) *fuzzFixture {
	f.Helper()
	fx := &fuzzFixture{fixture: setup(f)}
	ctx := context.Background()
	for i, z := range fuzzZones {
		v, err := fx.eng.CreateVenue(ctx, fx.a.ID, engine.VenueInput{Name: "Venue " + strconv.Itoa(i+1), TimeZone: z})
		if err != nil {
			f.Fatal(err)
		}
		if v.ID != uint64(i+1) {
			f.Fatalf("venue id %d, want %d: the seeds name venues by id", v.ID, i+1)
		}
	}
	for i, n := range []string{"General admission", "VIP", "Student", "Balcony"} {
		tt, err := fx.eng.CreateTicketType(ctx, fx.a.ID, engine.TicketTypeInput{Name: n})
		if err != nil {
			f.Fatal(err)
		}
		if tt.ID != uint64(i+1) {
			f.Fatalf("ticket type id %d, want %d", tt.ID, i+1)
		}
	}
	fx.dateEvent = fx.fuzzCreate(f, `{"event": {"name": "Jazz Night", "type": "date", "venue_id": 1,
		"starts_at": "2026-12-05T19:00:00Z", "ends_at": "2026-12-05T23:00:00Z", "capacity": 200,
		"registration_types": [
			{"name": "General admission", "ticket_type_id": 1, "price": {"amount": 2500, "currency": "USD"}, "quantity": 150},
			{"name": "VIP", "ticket_type_id": 2, "price": {"amount": 9000, "currency": "USD"}, "quantity": 50}]}}`)
	fx.recurringEvent = fx.fuzzCreate(f, `{"event": {"name": "Friday Jazz", "type": "recurring", "venue_id": 2,
		"starts_at": "2026-10-23T17:00:00Z", "ends_at": "2026-10-23T21:00:00Z", "capacity": 80,
		"recurrence": {"frequency": "weekly", "interval": 1, "by_day": ["FR"], "count": 3},
		"registration_types": [{"name": "GA", "ticket_type_id": 1, "price": {"amount": 1500, "currency": "EUR"}, "quantity": 80}]}}`)
	return fx
}

// fuzzCreate creates an event for the fixture and waits for its save.
func (fx *fuzzFixture) fuzzCreate(f *testing.F, body string) uint64 {
	f.Helper()
	st, h, b := fx.send(f, http.MethodPost, "/api/v2/events", "application/json", []byte(body))
	if st != http.StatusCreated {
		f.Fatalf("create fixture event: %d %s", st, b)
	}
	var ev client.Event
	if err := json.Unmarshal(b, &ev); err != nil {
		f.Fatal(err)
	}
	op, _ := strconv.ParseUint(h.Get(HeaderOperationID), 10, 64)
	if got := fx.waitOp(f, op, 30*time.Second); got == nil || got.Status != engine.StatusCompleted {
		f.Fatalf("fixture event %d: save %+v", ev.ID, got)
	}
	return ev.ID
}

// send makes one request with company A's read-write key.
func (fx *fuzzFixture) send(t testing.TB, method, path, contentType string, body []byte, headers ...hdr) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Authorization", "Token "+fx.keyA)
	for _, h := range headers {
		req.Header.Set(h.k, h.v)
	}
	res, err := fx.srv.App().Test(req, -1)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, res.Header, b
}

// waitOp waits for an operation to be terminal; nil if it is not within d.
func (fx *fuzzFixture) waitOp(t testing.TB, id uint64, d time.Duration) *engine.Operation {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		op, err := fx.eng.Operation(fx.a.ID, id)
		if err != nil {
			t.Fatalf("operation %d: %v", id, err)
		}
		left := time.Until(deadline)
		if op.Status.Terminal() {
			return op
		}
		if left <= 0 {
			return nil
		}
		if _, err := fx.eng.Wait(context.Background(), fx.a.ID, id, op.Version, min(left, 2*time.Second)); err != nil {
			t.Fatalf("wait for operation %d: %v", id, err)
		}
	}
}

// fuzzCheckAnswer asserts the contract every answer keeps, whatever was sent.
func fuzzCheckAnswer(t *testing.T, method, path string, body []byte, status int, h http.Header, answer []byte) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s %s with body %q: %d %s\n%s\n%s", method, path, fuzzTruncate(body, 400), status,
			h.Get("Content-Type"), fmt.Sprintf(format, args...), fuzzTruncate(answer, 1000))
	}
	if status >= 500 {
		fail("a 5xx")
	}
	mt, _, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || (mt != "application/json" && mt != "application/problem+json") {
		fail("content type is neither JSON nor problem+json")
	}
	if !json.Valid(answer) {
		fail("the body is not JSON")
	}
	if status < 400 {
		if bytes.HasPrefix(bytes.TrimSpace(answer), []byte("{")) {
			return
		}
		fail("a success whose body is not an object")
	}
	if mt != "application/problem+json" {
		fail("an error answered as %s, not a problem", mt)
	}
	var p struct {
		Type   *string `json:"type"`
		Title  string  `json:"title"`
		Status int     `json:"status"`
		Detail *string `json:"detail"`
	}
	if err := json.Unmarshal(answer, &p); err != nil {
		fail("the problem is not an object: %v", err)
	}
	if p.Type == nil || *p.Type == "" {
		fail("the problem has no type")
	}
	if p.Status != status {
		fail("the problem's status %d is not the answer's", p.Status)
	}
	if p.Title == "" || p.Detail == nil {
		fail("the problem lacks its title or detail")
	}
	if status == http.StatusUnprocessableEntity && *p.Type == "validation_error" {
		var v client.Problem
		_ = json.Unmarshal(answer, &v)
		if len(v.Attributes()) == 0 {
			fail("a validation error without attributes")
		}
		for _, a := range v.Attributes() {
			if a.Attribute == "" || a.Code == "" || a.Message == "" {
				fail("an attribute error lacks its attribute, code or message: %+v", a)
			}
		}
	}
}

func fuzzTruncate(b []byte, n int) []byte {
	if len(b) > n {
		return append(b[:n:n], "..."...)
	}
	return b
}

// fuzzBodyLimit keeps inputs below the body limit: fasthttp refuses larger
// bodies before routing, which app.Test cannot show.
const fuzzBodyLimit = BodyLimit / 2

// fuzzWrite is the common fuzz body of a write route. startsOp names the
// success status whose answer must name the operation it started (0: none
// must).
func fuzzWrite(fx *fuzzFixture, method string, path func(target uint8) string, startsOp int) func(*testing.T, uint8, uint8, []byte) {
	return func(t *testing.T, ct, target uint8, body []byte) {
		if len(body) > fuzzBodyLimit {
			t.Skip()
		}
		p := path(target)
		contentType := fuzzContentTypes[int(ct)%len(fuzzContentTypes)]
		status, h, answer := fx.send(t, method, p, contentType, body)
		fuzzCheckAnswer(t, method, p, body, status, h, answer)
		if startsOp != 0 && status == startsOp && h.Get(HeaderOperationID) == "" {
			t.Fatalf("%s %s: %d without %s", method, p, status, HeaderOperationID)
		}
	}
}

func fuzzFixedPath(p string) func(uint8) string { return func(uint8) string { return p } }

// eventPath picks the date event, the recurring event, an occurrence of it
// or an event that does not exist.
func (fx *fuzzFixture) eventPath(suffix string) func(uint8) string {
	return func(target uint8) string {
		id := []uint64{fx.dateEvent, fx.recurringEvent, fx.recurringEvent + 1, 999999}[target%4]
		return "/api/v2/events/" + strconv.FormatUint(id, 10) + suffix
	}
}

func FuzzCreateVenue(f *testing.F) {
	fx := fuzzSetup(f)
	f.Fuzz(fuzzWrite(fx, http.MethodPost, fuzzFixedPath("/api/v2/venues"), 0))
}

func FuzzCreateTicketType(f *testing.F) {
	fx := fuzzSetup(f)
	f.Fuzz(fuzzWrite(fx, http.MethodPost, fuzzFixedPath("/api/v2/ticket_types"), 0))
}

func FuzzCreateEvent(f *testing.F) {
	fx := fuzzSetup(f)
	f.Fuzz(fuzzWrite(fx, http.MethodPost, fuzzFixedPath("/api/v2/events"), http.StatusCreated))
}

func FuzzUpdateEvent(f *testing.F) {
	fx := fuzzSetup(f)
	f.Fuzz(fuzzWrite(fx, http.MethodPatch, fx.eventPath(""), http.StatusOK))
}

func FuzzCreateOrder(f *testing.F) {
	fx := fuzzSetup(f)
	f.Fuzz(fuzzWrite(fx, http.MethodPost, fx.eventPath("/orders"), 0))
}

// FuzzBodylessWrites sends random bodies to the writes that need none
// (DELETE, refund, and an operation's cancel and retry): a body is allowed
// but must not change the answer's shape.
func FuzzBodylessWrites(f *testing.F) {
	fx := fuzzSetup(f)
	f.Fuzz(func(t *testing.T, ct, target uint8, body []byte) {
		if len(body) > fuzzBodyLimit {
			t.Skip()
		}
		routes := []struct{ method, path string }{
			{http.MethodPost, fx.eventPath("/refund")(target / 4)},
			{http.MethodPost, fmt.Sprintf("/api/v2/events/%d/operations/%d/cancel", fx.dateEvent, 1+target/4)},
			{http.MethodPost, fmt.Sprintf("/api/v2/events/%d/operations/%d/retry", fx.dateEvent, 1+target/4)},
			{http.MethodDelete, "/api/v2/events/999999"},
		}
		r := routes[int(target)%len(routes)]
		contentType := fuzzContentTypes[int(ct)%len(fuzzContentTypes)]
		status, h, answer := fx.send(t, r.method, r.path, contentType, body)
		fuzzCheckAnswer(t, r.method, r.path, body, status, h, answer)
	})
}

// fuzzEncodings are the Content-Encoding values FuzzCompressedBody picks
// from: the codings decodeBody knows, alone and combined, and some it
// refuses.
var fuzzEncodings = []string{"gzip", "deflate", "br", "x-gzip", "gzip, deflate", "identity, deflate",
	"identity", "compress", "zstd", "gzip, gzip, gzip"}

// FuzzCompressedBody sends a venue body under a Content-Encoding. With
// encodeFirst the fuzzer's bytes are encoded with the coding(s) named, and
// the answer's status must be the one the plain body gets (decoding is
// invisible); otherwise they are sent as they are, as if encoded, and may
// be anything (a truncated stream, a bomb, plain text). Either way the
// answer keeps the contract, and nothing is 5xx.
func FuzzCompressedBody(f *testing.F) {
	fx := fuzzSetup(f)
	venue := []byte(`{"venue": {"name": "Zipped Hall", "time_zone": "Europe/Berlin"}}`)
	for i := range fuzzEncodings {
		f.Add(uint8(i), true, venue)
		f.Add(uint8(i), false, venue)
	}
	f.Add(uint8(0), false, bytes.Repeat(bombMember(), 4))       // 4 MiB of zeros in 4 KB
	f.Add(uint8(0), false, encode(f, "gzip", venue)[:20])       // truncated
	f.Add(uint8(2), false, encode(f, "br", []byte("not json"))) // valid br, not JSON
	f.Fuzz(func(t *testing.T, enc uint8, encodeFirst bool, body []byte) {
		if len(body) > fuzzBodyLimit {
			t.Skip()
		}
		encoding := fuzzEncodings[int(enc)%len(fuzzEncodings)]
		const path = "/api/v2/venues"
		sent, known := body, !strings.Contains(encoding, "compress") && !strings.Contains(encoding, "zstd") && !strings.Contains(encoding, "br") &&
			strings.Count(encoding, "gzip") < 3
		if encodeFirst && known {
			sent = encode(t, encoding, body)
		}
		status, h, answer := fx.send(t, http.MethodPost, path, "application/json", sent,
			hdr{"Content-Encoding", encoding})
		fuzzCheckAnswer(t, http.MethodPost, path, sent, status, h, answer)
		if !known && status != http.StatusUnsupportedMediaType {
			t.Fatalf("Content-Encoding %q answered %d, want 415", encoding, status)
		}
		if encodeFirst && known {
			plain, _, plainAnswer := fx.send(t, http.MethodPost, path, "application/json", body)
			if plain != status {
				t.Fatalf("body %q: %d sent with Content-Encoding %q, %d sent plain\n%s\n%s",
					fuzzTruncate(body, 200), status, encoding, plain, answer, plainAnswer)
			}
		}
	})
}

// FuzzRecurrenceRule sends a recurring event whose rule (frequency,
// interval, count, until, by_day as a comma-separated list) and start are
// the fuzzer's, at one of the twelve venues. The values are typed, so that
// most inputs reach validation and the recurrence phase (FuzzCreateEvent
// covers malformed bodies). Besides the answer's
// contract: the save of an accepted rule (201) ends within 30 s, either
// completed or failed in its recurrence phase with RECURRENCE_RULE_INVALID
// or RECURRENCE_LIMIT_EXCEEDED (never another code or phase), and a
// completed rule with a count makes exactly that many occurrences. engine's
// FuzzRecurrenceExpand covers the expansion itself.
func FuzzRecurrenceRule(f *testing.F) {
	fx := fuzzSetup(f)
	f.Fuzz(func(t *testing.T, venue uint8, startsAt, frequency string, interval, count int, until, byDay string) {
		if count > 600 {
			t.Skip() // beyond 500 all fail alike; only slower
		}
		r := map[string]any{"frequency": frequency, "interval": interval}
		if count != 0 {
			r["count"] = count
		}
		if until != "" {
			r["until"] = until
		}
		if byDay != "" {
			r["by_day"] = strings.Split(byDay, ",")
		}
		rule, _ := json.Marshal(r)
		start, _ := json.Marshal(startsAt)
		end := start
		if st, err := time.Parse(time.RFC3339, startsAt); err == nil {
			end, _ = json.Marshal(st.Add(3 * time.Hour).Format(time.RFC3339))
		}
		body := fmt.Appendf(nil, `{"event": {"name": "Fuzz", "type": "recurring", "venue_id": %d,
			"starts_at": %s, "ends_at": %s, "capacity": 10,
			"registration_types": [{"name": "GA", "ticket_type_id": 1, "price": {"amount": 1000, "currency": "USD"}, "quantity": 5}],
			"recurrence": %s}}`, 1+int(venue)%len(fuzzZones), start, end, rule)
		status, h, answer := fx.send(t, http.MethodPost, "/api/v2/events", "application/json", body)
		fuzzCheckAnswer(t, http.MethodPost, "/api/v2/events", body, status, h, answer)
		if status != http.StatusCreated {
			return
		}
		var ev client.Event
		if err := json.Unmarshal(answer, &ev); err != nil || ev.Recurrence == nil {
			t.Fatalf("created a recurring event answered without its recurrence: %s", answer)
		}
		opID, err := strconv.ParseUint(h.Get(HeaderOperationID), 10, 64)
		if err != nil {
			t.Fatalf("201 without an operation id: %v", err)
		}
		op := fx.waitOp(t, opID, 30*time.Second)
		switch {
		case op == nil:
			t.Fatalf("rule %s from %s: the save did not end within 30 s", rule, startsAt)
		case op.Status == engine.StatusFailed && op.Error != nil && op.Error.Phase != nil &&
			*op.Error.Phase == engine.PhaseRecurrence &&
			(op.Error.Code == engine.CodeRecurrenceLimitExceeded || op.Error.Code == engine.CodeRecurrenceRuleInvalid):
			// The API validates the rule and its bounds (until before the
			// first occurrence, occurrences beyond the year 2199); more than
			// 500 occurrences are the phase's to find.
			return
		case op.Status == engine.StatusFailed:
			t.Fatalf("rule %s from %s, accepted by the API, failed its save: %+v", rule, startsAt, op.Error)
		}
		if ev.Recurrence.Count == 0 { // no count: the rule ends with until
			return
		}
		if n := fx.occurrences(t, ev.ID); n != ev.Recurrence.Count {
			t.Fatalf("rule %s: %d occurrences, want count %d", rule, n, ev.Recurrence.Count)
		}
	})
}

// occurrences counts a recurring event's occurrences through the API.
func (fx *fuzzFixture) occurrences(t *testing.T, id uint64) int {
	t.Helper()
	n, cursor := 0, ""
	for range 10 { // at most 500 occurrences: 5 pages
		path := fmt.Sprintf("/api/v2/events?filter[parent_event_id]=%d&page[size]=100", id)
		if cursor != "" {
			path += "&page[cursor]=" + url.QueryEscape(cursor)
		}
		status, _, answer := fx.send(t, http.MethodGet, path, "", nil)
		if status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, status, answer)
		}
		var page client.Page[json.RawMessage]
		if err := json.Unmarshal(answer, &page); err != nil {
			t.Fatal(err)
		}
		n += len(page.Data)
		if page.Meta.Page.Last || page.Meta.Page.NextCursor == nil || *page.Meta.Page.NextCursor == "" {
			return n
		}
		cursor = *page.Meta.Page.NextCursor
	}
	t.Fatalf("event %d: more than 10 pages of occurrences", id)
	return n
}
