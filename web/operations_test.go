package web

import (
	"context"
	"fmt"
	"testing"
	"time"

	"eventops/engine"
	"eventops/web/client"
)

// TestPollerSeesRunningSaveAndPendingNullProgress: a save is seen running
// while its tickets phase works; an operation queued behind it is pending
// with progress null, as are its phases.
func TestPollerSeesRunningSaveAndPendingNullProgress(t *testing.T) {
	t.Parallel()
	g := newGate(engine.TicketsWork{})
	f := setup(t, withWork(engine.PhaseTickets, g))
	t.Cleanup(g.open)
	c := f.event(f.keyA)
	waitStarted(t, g)

	r := f.do("GET", opPath(c.EventID, c.OpID), f.keyA, nil).expect(t, 200)
	op := decode[client.Operation](t, r)
	if op.Status != client.StatusRunning || r.Header.Get("Retry-After") != "1" {
		t.Fatalf("held save: %v, Retry-After %q", op.Status, r.Header.Get("Retry-After"))
	}
	if p := op.Progress; p == nil || p.Percent != 0 || p.Total != 1 {
		t.Fatalf("progress while the only phase runs: %+v", p)
	}
	phase := op.Phases[0]
	if phase.Name != "tickets" || phase.Status != client.StatusRunning || phase.Attempts != 1 || phase.StartedAt == nil {
		t.Fatalf("phase: %+v", phase)
	}

	// Queued behind the held save: pending, nothing started.
	p := f.do("PATCH", fmt.Sprintf("/api/v2/events/%d", c.EventID), f.keyA, `{"event": {"name": "Later"}}`).expect(t, 200)
	queued := decode[client.Operation](t, f.do("GET", opPath(c.EventID, opHeader(t, p)), f.keyA, nil).expect(t, 200))
	if queued.Status != client.StatusPending || queued.Progress != nil || queued.StartedAt != nil {
		t.Fatalf("queued save: %+v", queued)
	}
	for _, ph := range queued.Phases {
		if ph.Status != client.StatusPending || ph.Progress != nil {
			t.Fatalf("queued phase: %+v", ph)
		}
	}

	g.open()
	done := f.waitTerminal(c.EventID, c.OpID)
	if done.Status != client.StatusCompleted || done.FinishedAt == nil || done.Error != nil {
		t.Fatalf("save: %+v", done)
	}
	r = f.do("GET", opPath(c.EventID, c.OpID), f.keyA, nil).expect(t, 200)
	if r.Header.Get("Retry-After") != "" {
		t.Fatal("Retry-After on a terminal operation")
	}
}

// TestRefundIsNeverRunning: a poller of a refund sees pending (progress
// null, no phases) until it ends completed with its progress.
func TestRefundIsNeverRunning(t *testing.T) {
	t.Parallel()
	g := newGate(nil)
	g.refund = engine.LocalRefund{}
	f := setup(t, withRefund(g))
	t.Cleanup(g.open)
	c := f.event(f.keyA)
	f.waitTerminal(c.EventID, c.OpID)
	rt := c.Event.RegistrationTypes[0].ID
	for i := 0; i < 2; i++ {
		f.do("POST", fmt.Sprintf("/api/v2/events/%d/orders", c.EventID), f.keyA,
			fmt.Sprintf(`{"order": {"registration_type_id": %d, "quantity": 1}}`, rt)).expect(t, 201)
	}
	r := f.do("POST", fmt.Sprintf("/api/v2/events/%d/refund", c.EventID), f.keyA, nil).expect(t, 202)
	op := opHeader(t, r)
	waitStarted(t, g)
	seen := map[string]int{}
	get := func() client.Operation {
		return decode[client.Operation](t, f.do("GET", opPath(c.EventID, op), f.keyA, nil).expect(t, 200))
	}
	for i := 0; i < 20; i++ {
		m := get()
		seen[m.Status]++
		if m.Progress != nil || len(m.Phases) != 0 {
			t.Fatalf("held refund: %+v", m)
		}
	}
	g.open()
	deadline := time.Now().Add(10 * time.Second)
	var last client.Operation
	for time.Now().Before(deadline) {
		last = get()
		seen[last.Status]++
		if last.Terminal() {
			break
		}
	}
	if seen[client.StatusRunning] > 0 || seen[client.StatusPending] == 0 || last.Status != client.StatusCompleted {
		t.Fatalf("refund statuses seen: %v, last %+v", seen, last)
	}
	if want := (client.Progress{Percent: 100, Completed: 2, Total: 2}); last.Progress == nil || *last.Progress != want {
		t.Fatalf("refund progress: %+v, want %+v", last.Progress, want)
	}
	if last.Error != nil || len(last.Phases) != 0 {
		t.Fatalf("refund: %+v", last)
	}
}

func TestETagAndNotModified(t *testing.T) {
	t.Parallel()
	f := setup(t)
	c := f.event(f.keyA)
	f.waitTerminal(c.EventID, c.OpID)
	r := f.do("GET", opPath(c.EventID, c.OpID), f.keyA, nil).expect(t, 200)
	tag := r.Header.Get("ETag")
	if tag == "" || tag[0] != '"' {
		t.Fatalf("ETag %q is not strong", tag)
	}
	nm := f.do("GET", opPath(c.EventID, c.OpID), f.keyA, nil, hdr{"If-None-Match", tag}).expect(t, 304)
	if len(nm.Body) != 0 || nm.Header.Get("ETag") != tag {
		t.Fatalf("304: %v %q", nm.Header, nm.Body)
	}
	for _, tc := range []struct {
		ifNoneMatch string
		status      int
	}{
		{`"other", W/` + tag, 304}, // one of a list, compared weakly
		{`"op1.v0"`, 200},          // another version
	} {
		f.do("GET", opPath(c.EventID, c.OpID), f.keyA, nil, hdr{"If-None-Match", tc.ifNoneMatch}).expect(t, tc.status)
	}
}

// TestLongPoll covers ?wait= of DESIGN §3.
func TestLongPoll(t *testing.T) {
	t.Parallel()
	g := newGate(engine.TicketsWork{})
	f := setup(t, withWork(engine.PhaseTickets, g))
	t.Cleanup(g.open)
	c := f.event(f.keyA)
	waitStarted(t, g)
	path := opPath(c.EventID, c.OpID)
	tag := f.do("GET", path, f.keyA, nil).expect(t, 200).Header.Get("ETag")

	// Nothing changes: 304 when the wait is over.
	start := time.Now()
	f.do("GET", path+"?wait=1", f.keyA, nil, hdr{"If-None-Match", tag}).expect(t, 304)
	if d := time.Since(start); d < time.Second {
		t.Fatalf("answered after %v, before its wait of 1 s", d)
	}
	// Without If-None-Match, at the limit: 200 with the unchanged body.
	f.do("GET", path+"?wait=1", f.keyA, nil).expect(t, 200)
	// A stale tag answers at once.
	start = time.Now()
	f.do("GET", path+"?wait=30", f.keyA, nil, hdr{"If-None-Match", `"op1.v0"`}).expect(t, 200)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("a stale tag was held %v", d)
	}

	// A change answers a held request well before its 30 s.
	type answer struct {
		r *resp
		d time.Duration
	}
	held := make(chan answer, 2)
	for _, h := range []hdr{{"If-None-Match", tag}, {"X-None", ""}} {
		go func(h hdr) {
			start := time.Now()
			r := f.do("GET", path+"?wait=30", f.keyA, nil, h)
			held <- answer{r, time.Since(start)}
		}(h)
	}
	waitHeld(t, f, 2)
	g.open()
	for i := 0; i < 2; i++ {
		a := <-held
		a.r.expect(t, 200)
		if a.d > 10*time.Second {
			t.Fatalf("held %v after a change", a.d)
		}
		if a.r.Header.Get("ETag") == tag {
			t.Fatalf("answered with the unchanged state: %s", a.r.Body)
		}
	}

	// Terminal: at once, 304 with the current tag and 200 without.
	m := f.waitTerminal(c.EventID, c.OpID)
	final := f.do("GET", path, f.keyA, nil).Header.Get("ETag")
	start = time.Now()
	f.do("GET", path+"?wait=30", f.keyA, nil, hdr{"If-None-Match", final}).expect(t, 304)
	f.do("GET", path+"?wait=30", f.keyA, nil).expect(t, 200)
	if d := time.Since(start); d > 5*time.Second || m.Status != client.StatusCompleted {
		t.Fatalf("terminal long-poll took %v (%v)", d, m.Status)
	}
}

// TestLongPollAnsweredAtShutdown: a held request answers as soon as the
// server shuts down.
func TestLongPollAnsweredAtShutdown(t *testing.T) {
	t.Parallel()
	g := newGate(engine.TicketsWork{})
	f := setup(t, withWork(engine.PhaseTickets, g))
	t.Cleanup(g.open)
	c := f.event(f.keyA)
	waitStarted(t, g)
	n := f.net()
	path := opPath(c.EventID, c.OpID)
	tag := n.do("GET", path, f.keyA, nil).expect(t, 200).Header.Get("ETag")
	done := make(chan *resp, 1)
	start := time.Now()
	go func() { done <- n.do("GET", path+"?wait=60", f.keyA, nil, hdr{"If-None-Match", tag}) }()
	waitHeld(t, f, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	r := <-done
	r.expect(t, 304)
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("held request answered after %v", d)
	}
}

func TestOperationUnderWrongEventIsNotFound(t *testing.T) {
	t.Parallel()
	f := setup(t)
	a, b := f.event(f.keyA), f.event(f.keyA)
	wrong := opPath(b.EventID, a.OpID) // a's operation under b
	refused(t, f, []refusal{
		{"GET", "GET", wrong, f.keyA, "", 404, "not_found", nil},
		{"GET sync job", "GET", fmt.Sprintf("/api/v2/events/%d/sync_jobs/%d", b.EventID, a.OpID), f.keyA, "", 404, "not_found", nil},
		{"cancel", "POST", wrong + "/cancel", f.keyA, "", 404, "not_found", nil},
		{"retry", "POST", wrong + "/retry", f.keyA, "", 404, "not_found", nil},
		{"unknown id", "GET", opPath(a.EventID, 999999), f.keyA, "", 404, "not_found", nil},
	})
}

func TestCancelOperation(t *testing.T) {
	t.Parallel()
	g := newGate(engine.TicketsWork{})
	f := setup(t, withWork(engine.PhaseTickets, g))
	t.Cleanup(g.open)
	c := f.event(f.keyA)
	waitStarted(t, g)
	// A queued one ends at once.
	p := f.do("PATCH", fmt.Sprintf("/api/v2/events/%d", c.EventID), f.keyA, `{"event": {"name": "x"}}`).expect(t, 200)
	queued := opHeader(t, p)
	r := f.do("POST", opPath(c.EventID, queued)+"/cancel", f.keyA, nil).expect(t, 202)
	if opHeader(t, r) != queued || r.Header.Get(HeaderSyncJobID) != r.Header.Get(HeaderOperationID) {
		t.Fatalf("cancel headers: %v", r.Header)
	}
	m := decode[client.Operation](t, r)
	if m.Status != client.StatusFailed || m.Error == nil || m.Error.Code != "OPERATION_CANCELED" || m.Error.Phase != nil {
		t.Fatalf("cancelled queued operation: %+v", m)
	}
	// The running one ends failed at its next safe point.
	f.do("POST", opPath(c.EventID, c.OpID)+"/cancel", f.keyA, nil).expect(t, 202)
	g.open()
	done := f.waitTerminal(c.EventID, c.OpID)
	if done.Status != client.StatusFailed || done.Error == nil || done.Error.Code != "OPERATION_CANCELED" {
		t.Fatalf("cancelled running operation: %+v", done)
	}
	f.do("POST", opPath(c.EventID, c.OpID)+"/cancel", f.keyA, nil).expectProblem(t, 409, "conflict")
}

func TestRetryOperation(t *testing.T) {
	t.Parallel()
	f := setup(t, withWork(engine.PhaseTickets, failing{}))
	c := f.event(f.keyA)
	failed := f.waitTerminal(c.EventID, c.OpID)
	e := failed.Error
	if failed.Status != client.StatusFailed || e == nil || e.Code != "TICKETS_STRUCTURE_EMPTY" ||
		e.Phase == nil || *e.Phase != "tickets" || e.PhaseID == nil || *e.PhaseID != failed.Phases[0].ID {
		t.Fatalf("failed save: %+v", failed)
	}
	r := f.do("POST", opPath(c.EventID, c.OpID)+"/retry", f.keyA, nil).expect(t, 202)
	m := decode[client.Operation](t, r)
	if m.ID == c.OpID || m.Action != "save" || m.ID != opHeader(t, r) {
		t.Fatalf("retry: %+v", m)
	}
	// Filter by code finds both failures once the retry failed too.
	f.waitTerminal(c.EventID, m.ID)
	list := decode[client.Page[client.Operation]](t, f.do("GET", "/api/v2/operations?filter[code]=TICKETS_STRUCTURE_EMPTY", f.keyA, nil).expect(t, 200))
	if n := len(list.Data); n != 2 {
		t.Fatalf("%d operations with the code, want 2", n)
	}

	ok := setup(t)
	d := ok.event(ok.keyA)
	ok.waitTerminal(d.EventID, d.OpID)
	ok.do("POST", opPath(d.EventID, d.OpID)+"/retry", ok.keyA, nil).expectProblem(t, 409, "conflict")
}

func TestListOperations(t *testing.T) {
	t.Parallel()
	f := setup(t)
	a := f.event(f.keyA)
	b := f.event(f.keyA)
	f.waitTerminal(a.EventID, a.OpID)
	f.waitTerminal(b.EventID, b.OpID)
	del := f.do("DELETE", fmt.Sprintf("/api/v2/events/%d", a.EventID), f.keyA, nil).expect(t, 202)
	f.waitTerminal(a.EventID, opHeader(t, del))
	ids := func(query string) string {
		page := decode[client.Page[client.Operation]](t, f.do("GET", "/api/v2/operations"+query, f.keyA, nil).expect(t, 200))
		var out []uint64
		for _, o := range page.Data {
			out = append(out, o.ID)
		}
		return fmt.Sprint(out)
	}
	delOp := opHeader(t, del)
	for query, want := range map[string]string{
		"":                          fmt.Sprint([]uint64{delOp, b.OpID, a.OpID}),
		"?filter[action]=delete":    fmt.Sprint([]uint64{delOp}),
		"?filter[action]=save":      fmt.Sprint([]uint64{b.OpID, a.OpID}),
		"?filter[status]=completed": fmt.Sprint([]uint64{delOp, b.OpID, a.OpID}),
		"?filter[status]=failed":    "[]",
		fmt.Sprintf("?filter[event_id]=%d", b.EventID): fmt.Sprint([]uint64{b.OpID}),
		"?page[size]=1": fmt.Sprint([]uint64{delOp}),
	} {
		if got := ids(query); got != want {
			t.Errorf("GET /operations%s: %s, want %s", query, got, want)
		}
	}
	for query, attr := range map[string]string{
		"?filter[status]=done": "filter[status]", "?filter[action]=x": "filter[action]",
		"?filter[event_id]=x": "filter[event_id]", "?filter[code]=bad%20code": "filter[code]",
		"?page[cursor]=x": "page[cursor]",
	} {
		m := f.do("GET", "/api/v2/operations"+query, f.keyA, nil).expectProblem(t, 422, "validation_error")
		if !contains422(m, attr) {
			t.Errorf("%s: %v", query, m)
		}
	}
	list := decode[client.Page[client.Operation]](t, f.do("GET", fmt.Sprintf("/api/v2/events/%d/operations", a.EventID), f.keyA, nil).expect(t, 200))
	if got := len(list.Data); got != 2 {
		t.Fatalf("event operations: %d", got)
	}
}
