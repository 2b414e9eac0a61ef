package dash

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"eventops/engine"
)

// bulkForm is the confirmation form of a bulk preview page, as a browser
// would post it.
func bulkForm(t testing.TB, body string) url.Values {
	t.Helper()
	i := strings.Index(body, `id="bulk-form"`)
	if i < 0 {
		t.Fatalf("no confirmation form:\n%s", body)
	}
	form := url.Values{}
	end := strings.Index(body[i:], "</form>")
	for _, m := range regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)"`).FindAllStringSubmatch(body[i:i+end], -1) {
		form.Set(m[1], m[2])
	}
	return form
}

// firstHeld fails every operation, the first one only once released.
type firstHeld struct {
	once    sync.Once
	release chan struct{}
	started chan struct{}
}

func (w *firstHeld) Run(ctx context.Context, r *engine.PhaseRun) error {
	first := false
	w.once.Do(func() { first = true })
	if first {
		close(w.started)
		select {
		case <-w.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return engine.Errorf(engine.CodeTicketsStructureEmpty, "nothing to sell")
}

// A bulk confirmation acts on the set its preview showed: a failure made
// after the preview is left alone, and when more are eligible than were
// shown (a running one failed since) nothing is done and the preview is
// shown again. The audit says what was confirmed.
func TestDashboardBulkConfirmActsOnThePreviewedSet(t *testing.T) {
	t.Parallel()
	w := &firstHeld{release: make(chan struct{}), started: make(chan struct{})}
	f := setupDash(t, dashWork(engine.PhaseTickets, w))
	_, held := f.createEvent("Held")
	<-w.started
	shown := f.failed(2)
	admin := f.admin()

	// The preview shows the two failures; the held one is still running.
	body := admin.get("/bulk?action=retry").contains(t, "2 failed operations would be retried").Body
	form := bulkForm(t, body)
	// Meanwhile the held one fails: below the preview's bound, eligible,
	// not shown.
	close(w.release)
	f.waitOp(held.ID, func(o *engine.Operation) bool { return o.Status.Terminal() })
	r := admin.post("/bulk", form).expect(t, http.StatusSeeOther)
	loc := r.Header.Get("Location")
	if strings.Contains(loc, "done=") {
		t.Fatalf("a confirmation of 2 acted when 3 were eligible: %s", loc)
	}
	admin.get(loc).contains(t, "Nothing was done: more operations are eligible now than the 2 you confirmed", "3 failed operations would be retried")
	for _, op := range append(shown, held) {
		if rs, _ := f.eng.RetriesOf(op); len(rs) != 0 {
			t.Fatalf("operation %d was retried by a confirmation of another set", op.ID)
		}
	}

	// Confirm the three; then a failure made after that preview is not
	// acted on by its confirmation.
	form = bulkForm(t, admin.get(loc).Body)
	later := f.failed(1)[0]
	r = admin.post("/bulk", form).expect(t, http.StatusSeeOther)
	admin.get(r.Header.Get("Location")).contains(t, "Retried 3 operations; 0 skipped.")
	if rs, _ := f.eng.RetriesOf(later); len(rs) != 0 {
		t.Fatalf("a failure made after the preview was retried as %v", rs)
	}
	entries, _, err := f.eng.AuditLog(engine.AuditQuery{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Action == "operation.bulk_retry" {
			if want := "confirmed 3 shown, ids below " + form.Get("before") + "; 3 done"; !strings.Contains(e.Detail, want) {
				t.Fatalf("audit %q lacks %q", e.Detail, want)
			}
			return
		}
	}
	t.Fatal("no audit entry of the bulk retry")
}

// Two clicks on Retry (or two people) at once make one retry: the others
// are asked whether to retry again, naming the retry made.
func TestDashboardRetryTwiceAtOnceMakesOneRetry(t *testing.T) {
	t.Parallel()
	f := setupDash(t, dashWork(engine.PhaseTickets, failingTickets{}))
	op := f.failed(1)[0]
	admin := f.admin()
	tok := admin.token(opPage(op.ID))
	const clicks = 8
	var wg sync.WaitGroup
	statuses := make([]int, clicks)
	bodies := make([]string, clicks)
	for i := range clicks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := httptest.NewRequest("POST", opPage(op.ID)+"/retry", strings.NewReader(url.Values{"_csrf": {tok}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.AddCookie(&http.Cookie{Name: sessionCookie, Value: admin.cookies[sessionCookie]})
			res, err := f.app.Test(req, -1)
			if err != nil {
				t.Error(err)
				return
			}
			defer res.Body.Close()
			raw, _ := io.ReadAll(res.Body)
			statuses[i], bodies[i] = res.StatusCode, string(raw)
		}()
	}
	wg.Wait()
	rs, err := f.eng.RetriesOf(op)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 {
		t.Fatalf("%d clicks at once made %d retries %v, want 1", clicks, len(rs), rs)
	}
	asked := 0
	for i := range clicks {
		switch {
		case statuses[i] == http.StatusSeeOther:
		case statuses[i] == http.StatusOK && strings.Contains(bodies[i], "was already retried as #"+strconv.FormatUint(rs[0], 10)):
			asked++
		default:
			t.Fatalf("click %d: status %d\n%s", i, statuses[i], bodies[i])
		}
	}
	if asked != clicks-1 {
		t.Fatalf("%d of the %d later clicks were asked to confirm", asked, clicks-1)
	}
}

// failsOnce fails each event's first attempt at the phase; its retries
// pass.
type failsOnce struct {
	mu   sync.Mutex
	seen map[uint64]bool
}

func (w *failsOnce) Run(_ context.Context, r *engine.PhaseRun) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.seen[r.Op.EventID] {
		return nil
	}
	w.seen[r.Op.EventID] = true
	return engine.Errorf(engine.CodeTicketsStructureEmpty, "nothing to sell")
}

// When the preview's reading is filled by failures retried already, it
// says so (not "More than 0") and offers to look further back, which
// reaches the older failure.
func TestDashboardBulkPreviewGoesOnPastSkippedOnes(t *testing.T) {
	t.Parallel()
	f := setupDash(t, dashWork(engine.PhaseTickets, &failsOnce{seen: map[uint64]bool{}}),
		dashEngine(func(c *engine.Config) { c.BulkExamine = 2 }))
	ops := f.failed(3)
	for _, op := range ops[1:] {
		r, err := f.eng.RetryOperation(context.Background(), 0, op.ID)
		if err != nil {
			t.Fatal(err)
		}
		f.waitOp(r.ID, func(o *engine.Operation) bool { return o.Status.Terminal() })
	}
	admin := f.admin()
	body := admin.get("/bulk?action=retry").expect(t, http.StatusOK).
		contains(t, "None of the 2 newest operations read can be acted on (all were retried already); older ones were not read yet.").
		lacks(t, "More than 0", `id="bulk-form"`).Body
	m := regexp.MustCompile(`<a href="([^"]+)" id="bulk-further">`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no link to look further:\n%s", body)
	}
	further := strings.ReplaceAll(m[1], "&amp;", "&")
	body = admin.get(further).contains(t, "1 failed operations would be retried", "Retry these 1 failed operations").Body
	r := admin.post("/bulk", bulkForm(t, body)).expect(t, http.StatusSeeOther)
	admin.get(r.Header.Get("Location")).contains(t, "Retried 1 operations; 0 skipped.")
	if rs, _ := f.eng.RetriesOf(ops[0]); len(rs) != 1 {
		t.Fatalf("the oldest failure was retried %d times", len(rs))
	}
}

// A bulk call that reaches its time limit shows what it did and goes on
// from there, not an error page; the audit says it stopped.
func TestDashboardBulkTimeLimitShowsThePartialResult(t *testing.T) {
	t.Parallel()
	f := setupDash(t, dashWork(engine.PhaseTickets, failingTickets{}),
		dashOpts(func(o *Options) { o.BulkTimeout = time.Nanosecond }))
	ops := f.failed(2)
	admin := f.admin()
	r := admin.post("/bulk", bulkForm(t, admin.get("/bulk?action=retry").Body)).expect(t, http.StatusSeeOther)
	loc := r.Header.Get("Location")
	admin.get(loc).expect(t, http.StatusOK).
		contains(t, "Stopped after 1ns (the time limit of one call): Retried 0 operations; 0 skipped. More may remain",
			"2 failed operations would be retried", fmt.Sprintf(`name="before" value="%d"`, ops[1].ID+1))
	entries, _, err := f.eng.AuditLog(engine.AuditQuery{Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 || entries[0].Action != "operation.bulk_retry" || !strings.Contains(entries[0].Detail, "stopped after 1ns") || entries[0].Outcome != "ok" {
		t.Fatalf("audit: %+v", entries[0])
	}
}
