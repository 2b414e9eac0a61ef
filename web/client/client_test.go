package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// sleeps records the waits a client asked for, without waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.d)
}

// setup serves h and returns a client of it whose sleeps are recorded, whose
// jitter is 0.5 (backoff exactly Base·2^(n-1)) and whose clock is frozen.
func setup(t *testing.T, h http.HandlerFunc, opts ...Option) (*Client, *sleeps) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, "k3y", opts...)
	if err != nil {
		t.Fatal(err)
	}
	s := &sleeps{}
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	c.sleep, c.jitter, c.now = s.sleep, func() float64 { return 0.5 }, func() time.Time { return now }
	return c, s
}

func problemJSON(w http.ResponseWriter, status int, typ, detail string, attrs ...AttributeError) {
	p := Problem{Type: typ, Title: http.StatusText(status), Status: status, Detail: detail, Message: detail}
	if len(attrs) > 0 {
		p.Errors = &ProblemErrors{Attributes: attrs}
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(p)
}

func TestNewNormalisesBaseURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"http://127.0.0.1:8080":              "http://127.0.0.1:8080/api/v2",
		"http://127.0.0.1:8080/":             "http://127.0.0.1:8080/api/v2",
		"https://ops.example.com/api/v2":     "https://ops.example.com/api/v2",
		"https://ops.example.com/api/v2/":    "https://ops.example.com/api/v2",
		"https://example.com/eventops?x=1#y": "https://example.com/eventops/api/v2",
	} {
		c, err := New(in, "k")
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if c.BaseURL() != want {
			t.Errorf("New(%q).BaseURL() = %q, want %q", in, c.BaseURL(), want)
		}
	}
	for _, bad := range []string{"", "127.0.0.1:8080", "ftp://x", "http://"} {
		if _, err := New(bad, "k"); err == nil {
			t.Errorf("New(%q) accepted", bad)
		}
	}
}

func TestAuthorizationAndCompany(t *testing.T) {
	t.Parallel()
	c, _ := setup(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v2/" || r.Header.Get("Authorization") != "Token k3y" {
			problemJSON(w, 401, TypeUnauthorized, "no")
			return
		}
		fmt.Fprint(w, `{"id": 7, "name": "Acme"}`)
	})
	co, err := c.Company(context.Background())
	if err != nil || co.ID != 7 || co.Name != "Acme" {
		t.Fatalf("Company = %+v, %v", co, err)
	}
}

func TestRateLimitedRequestWaitsRetryAfterThenSucceeds(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	var retries []RetryEvent
	c, s := setup(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= 2 {
			w.Header().Set("Retry-After", "7")
			problemJSON(w, 429, TypeRateLimitExceeded, "slow down")
			return
		}
		fmt.Fprint(w, `{"id": 1, "name": "A"}`)
	}, OnRetry(func(e RetryEvent) { retries = append(retries, e) }))
	if _, err := c.Company(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n.Load() != 3 {
		t.Fatalf("%d requests, want 3", n.Load())
	}
	// 7 s plus half of the 0.7 s spread, before each retry; the pause is
	// shared, so the request also waits it out before it is sent again.
	want := 7*time.Second + 350*time.Millisecond
	if len(s.all()) != 2 {
		t.Fatalf("slept %v, want two waits", s.all())
	}
	for _, d := range s.all() {
		if d != want {
			t.Fatalf("slept %v, want each %v", s.all(), want)
		}
	}
	if len(retries) != 2 || retries[0].Status != 429 || retries[1].Attempt != 2 {
		t.Fatalf("retry events %+v", retries)
	}
}

func TestRateLimitPauseIsSharedByTheClient(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	c, s := setup(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.Header().Set("Retry-After", "30")
			problemJSON(w, 429, TypeRateLimitExceeded, "slow down")
			return
		}
		fmt.Fprint(w, `{"id": 1}`)
	})
	ctx := context.Background()
	if _, err := c.Company(ctx); err != nil {
		t.Fatal(err)
	}
	before := len(s.all())
	// Another request of the same client (think: another goroutine) waits
	// for the same window: the frozen clock has not moved.
	if _, err := c.Company(ctx); err != nil {
		t.Fatal(err)
	}
	got := s.all()[before:]
	if len(got) != 1 || got[0] < 30*time.Second {
		t.Fatalf("second request slept %v, want the shared 30 s pause", got)
	}
}

func TestExhaustedWindowPausesBeforeThe429(t *testing.T) {
	t.Parallel()
	c, s := setup(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("RateLimit-Limit", "30")
		w.Header().Set("RateLimit-Remaining", "0")
		w.Header().Set("RateLimit-Reset", "12")
		fmt.Fprint(w, `{"id": 1}`)
	})
	ctx := context.Background()
	c.Company(ctx)
	if len(s.all()) != 0 {
		t.Fatalf("first request slept %v", s.all())
	}
	c.Company(ctx)
	if got := s.all(); len(got) != 1 || got[0] != 12*time.Second {
		t.Fatalf("slept %v, want [12s]", got)
	}
}

func TestRateLimitBudgetEndsInAnError(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	c, _ := setup(t, func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Retry-After", "1")
		problemJSON(w, 429, TypeRateLimitExceeded, "slow down")
	}, WithRetry(RetryPolicy{RateLimited: 3}))
	_, err := c.Company(context.Background())
	if !IsProblem(err, TypeRateLimitExceeded) {
		t.Fatalf("err = %v, want a rate_limit_exceeded problem", err)
	}
	if e, _ := AsError(err); e.RetryAfter != time.Second || e.StatusCode != 429 {
		t.Fatalf("error %+v", e)
	}
	if n.Load() != 4 {
		t.Fatalf("%d requests, want 4 (1 + 3 retries)", n.Load())
	}
}

func TestServerErrorsRetriedOnlyWhenSafe(t *testing.T) {
	t.Parallel()
	type seen struct {
		method, key string
	}
	var mu sync.Mutex
	var got []seen
	fails := map[string]int{"GET": 2, "POST": 2}
	c, s := setup(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, seen{r.Method, r.Header.Get(HeaderIdempotencyKey)})
		fail := fails[r.Method] > 0
		fails[r.Method]--
		mu.Unlock()
		if fail {
			problemJSON(w, 503, "internal_error", "internal error")
			return
		}
		w.WriteHeader(201)
		fmt.Fprint(w, `{"id": 3, "name": "GA", "kind": "admission"}`)
	})
	ctx := context.Background()

	if _, err := c.TicketTypes(ctx, ListOptions{}); err != nil {
		t.Fatalf("GET after two 503s: %v", err)
	}
	if d := s.all(); len(d) != 2 || d[0] != 250*time.Millisecond || d[1] != 500*time.Millisecond {
		t.Fatalf("backoff %v, want [250ms 500ms]", d)
	}

	// A POST without an Idempotency-Key may have been done: not repeated.
	mu.Lock()
	fails["POST"], got = 1, nil
	mu.Unlock()
	_, err := c.CreateTicketType(ctx, TicketTypeInput{Name: "GA"}, "")
	if e, ok := AsError(err); !ok || e.StatusCode != 503 {
		t.Fatalf("POST without key: %v, want the 503", err)
	}
	if len(got) != 1 {
		t.Fatalf("POST without key sent %d times", len(got))
	}

	// With a key it is safe, and the same key is sent each time.
	mu.Lock()
	fails["POST"], got = 2, nil
	mu.Unlock()
	cr, err := c.CreateTicketType(ctx, TicketTypeInput{Name: "GA"}, "k-1")
	if err != nil || cr.Resource.ID != 3 {
		t.Fatalf("POST with key: %+v, %v", cr, err)
	}
	if len(got) != 3 || got[0].key != "k-1" || got[2].key != "k-1" {
		t.Fatalf("POST with key sent %+v", got)
	}
}

func TestTransportErrorRetriedForIdempotentPost(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	c, _ := setup(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close() // the connection drops: did the create happen?
			return
		}
		w.Header().Set(HeaderOperationID, "90")
		w.Header().Set(HeaderReplayed, "true")
		w.WriteHeader(201)
		fmt.Fprint(w, `{"id": 12, "name": "Jazz Night", "type": "date"}`)
	})
	cr, err := c.CreateEvent(context.Background(), EventInput{Name: "Jazz Night", Type: EventDate}, "row-1")
	if err != nil {
		t.Fatal(err)
	}
	if cr.Resource.ID != 12 || cr.OperationID != 90 || !cr.Replayed || n.Load() != 2 {
		t.Fatalf("created %+v after %d requests", cr, n.Load())
	}
}

func TestInFlightConflictRetriedWithKey(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	c, _ := setup(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			problemJSON(w, 409, TypeConflict, "a request with this Idempotency-Key is still being handled")
			return
		}
		w.Header().Set(HeaderSyncJobID, "41") // only the deprecated header: still read
		w.WriteHeader(201)
		fmt.Fprint(w, `{"id": 5}`)
	})
	cr, err := c.CreateEvent(context.Background(), EventInput{}, "k")
	if err != nil || cr.OperationID != 41 || cr.Replayed {
		t.Fatalf("created %+v, %v", cr, err)
	}
}

func TestProblemDetails(t *testing.T) {
	t.Parallel()
	c, _ := setup(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v2/events":
			problemJSON(w, 422, TypeValidation, "name can't be blank",
				AttributeError{"name", "blank", "can't be blank"},
				AttributeError{"registration_types[0].price.currency", "invalid", "is not a supported ISO 4217 currency code"})
		default: // a proxy's page, not a problem
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(502)
			fmt.Fprint(w, "<html>Bad Gateway</html>")
		}
	}, WithRetry(RetryPolicy{Attempts: 1}))
	_, err := c.CreateEvent(context.Background(), EventInput{}, "")
	e, ok := AsError(err)
	if !ok || e.StatusCode != 422 || e.Type() != TypeValidation || len(e.Problem.Attributes()) != 2 {
		t.Fatalf("err = %#v", err)
	}
	want := "POST /events: 422 validation_error: name can't be blank; registration_types[0].price.currency is not a supported ISO 4217 currency code"
	if err.Error() != want {
		t.Fatalf("message\n%s\nwant\n%s", err, want)
	}
	_, err = c.Venue(context.Background(), 3)
	if e, ok := AsError(err); !ok || e.StatusCode != 502 || e.Type() != "" || e.Problem.Detail != "<html>Bad Gateway</html>" {
		t.Fatalf("non-problem answer: %#v", err)
	}
}

func TestAllFollowsCursorsThroughShortPages(t *testing.T) {
	t.Parallel()
	pages := map[string]string{
		"":   `{"data": [{"id": 1, "name": "Blue Room"}], "meta": {"page": {"next_cursor": "c1", "last": false}}}`,
		"c1": `{"data": [], "meta": {"page": {"next_cursor": "c2", "last": false}}}`,
		"c2": `{"data": [{"id": 9, "name": "Blue Room Annex"}], "meta": {"page": {"next_cursor": null, "last": true}}}`,
	}
	c, _ := setup(t, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("filter[search]") != "Blue Room" || q.Get("page[size]") != "100" {
			problemJSON(w, 400, "unpermitted_parameters", r.URL.RawQuery)
			return
		}
		fmt.Fprint(w, pages[q.Get("page[cursor]")])
	})
	vs, err := c.AllVenues(context.Background(), "Blue Room")
	if err != nil || len(vs) != 2 || vs[1].ID != 9 {
		t.Fatalf("AllVenues = %+v, %v", vs, err)
	}
}

// opServer fakes an operation moving through states: each long-poll is
// answered with the next state (200), or 304 when told to.
type opServer struct {
	t      *testing.T
	mu     sync.Mutex
	states []string // operation bodies, in order; "304" answers Not Modified
	i      int
	reqs   []*http.Request
}

func (o *opServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.reqs = append(o.reqs, r)
	if r.URL.Path != "/api/v2/events/5/operations/9" {
		problemJSON(w, 404, TypeNotFound, "no such resource")
		return
	}
	if o.i >= len(o.states) {
		o.t.Errorf("poll %d after the last state", len(o.reqs))
		problemJSON(w, 404, TypeNotFound, "gone")
		return
	}
	body := o.states[o.i]
	o.i++
	if body == "304" {
		w.Header().Set("ETag", r.Header.Get("If-None-Match"))
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(304)
		return
	}
	w.Header().Set("ETag", fmt.Sprintf(`"op9.v%d"`, o.i))
	if !strings.Contains(body, `"completed"`) || strings.Contains(body, `"status": "running"`) {
		w.Header().Set("Retry-After", "1")
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, body)
}

func opBody(status, tickets string) string {
	ph := ""
	if tickets != "" {
		ph = fmt.Sprintf(`{"id": 10, "name": "recurrence", "status": "completed", "progress": {"percent": 100, "completed": 4, "total": 4}, "phases": []},
			{"id": 11, "name": "tickets", "status": %q, "progress": null, "phases": []},
			{"id": 12, "name": "catalog", "status": "pending", "progress": null, "phases": [
				{"id": 13, "name": "product", "status": "pending", "progress": null, "phases": []}]}`, tickets)
	}
	return fmt.Sprintf(`{"id": 9, "action": "save", "event_id": 5, "status": %q, "progress": null, "error": null, "phases": [%s]}`, status, ph)
}

func TestWaitLongPollsWithETagUntilThePhaseSettles(t *testing.T) {
	t.Parallel()
	o := &opServer{t: t, states: []string{
		opBody("pending", "pending"),
		"304", // back at once, unchanged: a spurious wake-up, polled again at once
		"304", // again: a server that does not hold, given its Retry-After
		opBody("running", "running"),
		opBody("running", "completed"), // catalog still to go: enough for PhaseSettled("tickets")
	}}
	c, s := setup(t, o.ServeHTTP)
	var seen []string
	op, err := c.Wait(context.Background(), 5, 9, PhaseSettled("tickets"),
		Hold(20*time.Second), OnChange(func(op *Operation) { seen = append(seen, op.Phase("tickets").Status) }))
	if err != nil {
		t.Fatal(err)
	}
	if op.Status != StatusRunning || op.Phase("tickets").Status != StatusCompleted {
		t.Fatalf("Wait returned %s with tickets %s", op.Status, op.Phase("tickets").Status)
	}
	if !slices.Equal(seen, []string{"pending", "running", "completed"}) {
		t.Fatalf("OnChange saw %v", seen)
	}
	type poll struct{ inm, wait string }
	var got []poll
	for _, r := range o.reqs {
		got = append(got, poll{r.Header.Get("If-None-Match"), r.URL.Query().Get("wait")})
	}
	want := []poll{{"", ""}, {`"op9.v1"`, "20"}, {`"op9.v1"`, "20"}, {`"op9.v1"`, "20"}, {`"op9.v4"`, "20"}}
	if !slices.Equal(got, want) {
		t.Fatalf("polls %v, want %v", got, want)
	}
	// The 304s came back at once on the frozen clock (as if the server did
	// not hold them): the second in a row waits Retry-After, nothing else
	// sleeps.
	if d := s.all(); !slices.Equal(d, []time.Duration{time.Second}) {
		t.Fatalf("slept %v", d)
	}
}

func TestWaitTreatsOnlyCompletedAndFailedAsTerminal(t *testing.T) {
	t.Parallel()
	o := &opServer{t: t, states: []string{
		opBody("pending", ""),
		opBody("running", ""),
		opBody("canceling", ""), // a status this client does not know: not terminal
		`{"id": 9, "event_id": 5, "status": "failed", "progress": {"percent": 50, "completed": 1, "total": 2},
		  "error": {"code": "TICKETS_STRUCTURE_EMPTY", "message": "nothing to sell", "phase": "tickets", "phase_id": 11}, "phases": []}`,
	}}
	c, _ := setup(t, o.ServeHTTP)
	// No tickets phase at all: PhaseSettled waits for a terminal operation.
	op, err := c.Wait(context.Background(), 5, 9, PhaseSettled("tickets"))
	if err != nil {
		t.Fatal(err)
	}
	if op.Status != StatusFailed || op.Error.Code != "TICKETS_STRUCTURE_EMPTY" || *op.Error.Phase != "tickets" {
		t.Fatalf("Wait returned %+v", op)
	}
}

func TestWaitReturnsTheLastStateWithAnError(t *testing.T) {
	t.Parallel()
	o := &opServer{t: t, states: []string{opBody("running", "running")}}
	c, _ := setup(t, o.ServeHTTP, WithRetry(RetryPolicy{Attempts: 1}))
	ctx, cancel := context.WithCancel(context.Background())
	c.sleep = func(ctx context.Context, d time.Duration) error { cancel(); return ctx.Err() }
	o.states = append(o.states, "304", "304", "304")
	op, err := c.Wait(ctx, 5, 9, nil)
	if !errors.Is(err, context.Canceled) || op == nil || op.Status != StatusRunning {
		t.Fatalf("Wait = %+v, %v", op, err)
	}
}

func TestOperationNotFoundIsAProblem(t *testing.T) {
	t.Parallel()
	c, _ := setup(t, (&opServer{t: t}).ServeHTTP)
	_, err := c.Operation(context.Background(), 6, 9, PollOptions{})
	if !IsProblem(err, TypeNotFound) {
		t.Fatalf("err = %v", err)
	}
}

func TestRetryAfterForms(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":                              0,
		"3":                             3 * time.Second,
		"-1":                            0,
		"soon":                          0,
		"Fri, 01 May 2026 12:00:09 GMT": 9 * time.Second,
		"Fri, 01 May 2026 11:00:00 GMT": 0,
	} {
		h := http.Header{}
		h.Set("Retry-After", v)
		if got := retryAfter(h, now); got != want {
			t.Errorf("Retry-After %q = %v, want %v", v, got, want)
		}
	}
}

// A 503 overloaded was refused before anything was done: even a POST
// without an Idempotency-Key is sent again, after Retry-After.
func TestOverloadedRetriedForEveryWrite(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	c, s := setup(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= 2 {
			w.Header().Set("Retry-After", "5")
			problemJSON(w, 503, TypeOverloaded, "too many operations are waiting to run")
			return
		}
		w.WriteHeader(201)
		fmt.Fprint(w, `{"id": 3, "name": "GA", "kind": "admission"}`)
	})
	cr, err := c.CreateTicketType(context.Background(), TicketTypeInput{Name: "GA"}, "")
	if err != nil || cr.Resource.ID != 3 || n.Load() != 3 {
		t.Fatalf("POST after two overloaded answers: %+v, %v, sent %d times", cr, err, n.Load())
	}
	if d := s.all(); len(d) != 2 || d[0] != 5*time.Second || d[1] != 5*time.Second {
		t.Fatalf("waits %v, want Retry-After (5s) twice", d)
	}
}
