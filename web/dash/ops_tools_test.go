package dash

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"eventops/engine"
)

// failingTickets is phase work that fails for good.
type failingTickets struct{}

func (failingTickets) Run(context.Context, *engine.PhaseRun) error {
	return engine.Errorf(engine.CodeTicketsStructureEmpty, "nothing to sell")
}

// failed creates n events whose saves fail, and waits for them.
func (f *dashFixture) failed(n int) []*engine.Operation {
	f.t.Helper()
	var ops []*engine.Operation
	for i := range n {
		_, op := f.createEvent(fmt.Sprintf("Failing %d", i))
		ops = append(ops, f.waitOp(op.ID, func(o *engine.Operation) bool { return o.Status.Terminal() }))
	}
	return ops
}

// The bulk page is for admins: it previews, asks, does it once, and the
// audit log says who did what to which operations.
func TestDashboardBulkRetry(t *testing.T) {
	t.Parallel()
	f := setupDash(t, dashWork(engine.PhaseTickets, failingTickets{}))
	ops := f.failed(2)

	viewer := f.viewer()
	viewer.get("/bulk?action=retry").expect(t, http.StatusForbidden).contains(t, "Only admins")
	vtok := viewer.token("/")
	viewer.post("/bulk", url.Values{"_csrf": {vtok}, "action": {"retry"}, "confirm": {"1"}}).expect(t, http.StatusForbidden)

	admin := f.admin()
	admin.get("/operations?status=failed").contains(t, `href="/bulk?action=retry"`)
	admin.get("/bulk?action=retry&code=TICKETS_STRUCTURE_EMPTY").expect(t, http.StatusOK).
		contains(t, "2 failed operations would be retried", "Retry these 2 failed operations", `name="confirm" value="1"`)
	for _, op := range ops {
		if rs, _ := f.eng.RetriesOf(op); len(rs) != 0 {
			t.Fatal("the preview retried something")
		}
	}
	form := bulkForm(t, admin.get("/bulk?action=retry&code=TICKETS_STRUCTURE_EMPTY").Body)
	form.Del("confirm")
	// Without the confirmation's field, nothing is done: back to the preview.
	r := admin.post("/bulk", form).expect(t, http.StatusSeeOther)
	if loc := r.Header.Get("Location"); !strings.HasPrefix(loc, "/bulk?") || strings.Contains(loc, "done=") {
		t.Fatalf("an unconfirmed bulk retry went to %q", loc)
	}
	form.Set("confirm", "1")
	r = admin.post("/bulk", form).expect(t, http.StatusSeeOther)
	loc := r.Header.Get("Location")
	admin.get(loc).contains(t, "Retried 2 operations; 0 skipped.")
	for _, op := range ops {
		if rs, _ := f.eng.RetriesOf(op); len(rs) != 1 {
			t.Fatalf("operation %d retried %d times, want once", op.ID, len(rs))
		}
	}
	// Posted again (a reload of the form, a double click): the originals
	// are skipped, never retried twice.
	admin.post("/bulk", form).expect(t, http.StatusSeeOther)
	for _, op := range ops {
		if rs, _ := f.eng.RetriesOf(op); len(rs) != 1 {
			t.Fatalf("after a second post operation %d was retried %d times, want once", op.ID, len(rs))
		}
	}
	entries, _, err := f.eng.AuditLog(engine.AuditQuery{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range entries {
		if e.Action == "operation.bulk_retry" && e.Email == dashAdmin && strings.Contains(e.Detail, "code=TICKETS_STRUCTURE_EMPTY; confirmed 2 shown") && strings.Contains(e.Detail, "; 2 done, 0 skipped") {
			found = true
		}
	}
	if !found {
		t.Fatalf("no audit entry of the bulk retry: %+v", entries)
	}
	admin.get("/bulk?action=retry&from=yesterday").expect(t, http.StatusBadRequest)
}

// Search jumps to an operation or an event by id and finds events by name
// or slug across companies, each with its last operation.
func TestDashboardSearch(t *testing.T) {
	t.Parallel()
	f := setupDash(t)
	ev, op := f.createEvent("Moonlight Sonata")
	f.waitOp(op.ID, func(o *engine.Operation) bool { return o.Status.Terminal() })
	other, err := f.eng.CreateCompany(context.Background(), "Other Co", nil)
	if err != nil {
		t.Fatal(err)
	}
	admin := f.viewer()
	// An id that only an operation has goes to the operation; one only an
	// event has goes to the event.
	ids := map[uint64]bool{}
	for _, e := range []uint64{ev.ID} {
		ids[e] = true
	}
	if !ids[op.ID] {
		r := admin.get(fmt.Sprintf("/search?q=%%23%d", op.ID)).expect(t, http.StatusSeeOther)
		if loc := r.Header.Get("Location"); loc != opPage(op.ID) {
			t.Fatalf("searching #%d went to %q", op.ID, loc)
		}
	}
	admin.get(fmt.Sprintf("/search?q=%d", ev.ID)).contains(t, fmt.Sprintf(`/events/%d`, ev.ID))
	admin.get("/search?q=moonlight").expect(t, http.StatusOK).
		contains(t, "Moonlight Sonata", "Acme Events", opPage(op.ID), "status-completed", "moonlight-sonata")
	admin.get("/search?q=no-such-thing").expect(t, http.StatusOK).contains(t, "No event matches.")
	_ = other
}

// In the browser: the bulk retry flow from the operations list, and the
// events list following each event's last operation live.
func TestDashboardBulkAndEventsInBrowser(t *testing.T) {
	t.Parallel()
	gate := newDashGate(failingTickets{})
	f := setupDash(t, dashListen(), dashWork(engine.PhaseTickets, gate))
	gate.open()
	ops := f.failed(3)
	browser := startChromium(t)
	ctx, log := tab(t, browser)
	signInTab(t, ctx, f.base, dashAdmin)

	run(t, ctx, "the failures", chromedp.Navigate(f.base+"/operations?status=failed"), chromedp.WaitVisible(chromedp.CSS(".bulk-links")))
	run(t, ctx, "ask for a bulk retry", chromedp.Click(chromedp.CSS(`.bulk-links a[href^="/bulk?action=retry"]`)),
		chromedp.WaitVisible(chromedp.CSS("#bulk-form")))
	if got := eval[string](t, ctx, `document.querySelector("#bulk-preview").textContent`); !strings.HasPrefix(got, "3 failed operations would be retried") {
		t.Fatalf("preview: %q", got)
	}
	axeCheck(t, ctx, "the bulk preview")
	run(t, ctx, "confirm", chromedp.Click(chromedp.CSS("#bulk-form button")), chromedp.WaitVisible(chromedp.CSS("#bulk-done")))
	if got := eval[string](t, ctx, `document.querySelector("#bulk-done").textContent`); got != "Retried 3 operations; 0 skipped." {
		t.Fatalf("outcome: %q", got)
	}
	for _, op := range ops {
		if rs, _ := f.eng.RetriesOf(op); len(rs) != 1 {
			t.Fatalf("operation %d retried %d times", op.ID, len(rs))
		}
	}

	// The events list: a new save of an event shows there without a reload.
	run(t, ctx, "the events list", chromedp.Navigate(f.base+"/events"), chromedp.WaitVisible(chromedp.CSS("table.events")))
	waitFor(t, ctx, "the socket", `document.querySelector("#conn").textContent === "live"`)
	eval[bool](t, ctx, "window.__marker = true")
	ev := ops[0].EventID
	name := "Renamed"
	_, op, err := f.eng.UpdateEvent(context.Background(), f.company.ID, ev, engine.EventInput{Name: &name})
	if err != nil {
		t.Fatal(err)
	}
	cell := fmt.Sprintf(`document.getElementById("ev-last-%d")`, ev)
	waitFor(t, ctx, "the new operation in the row", fmt.Sprintf(`%s.querySelector("a").textContent === "#%d"`, cell, op.ID))
	f.waitOp(op.ID, func(o *engine.Operation) bool { return o.Status.Terminal() })
	waitFor(t, ctx, "its end in the row", cell+`.querySelector(".status").textContent === "failed"`)
	if !eval[bool](t, ctx, "window.__marker === true") {
		t.Fatal("the events list reloaded")
	}
	clean(t, ctx, log, "bulk and events")
}

// The overview groups failures by code, company and phase, with counts and
// an hourly trend, and counts operator cancels apart from failures.
func TestDashboardFailureGroups(t *testing.T) {
	t.Parallel()
	gate := newDashGate(failingTickets{})
	f := setupDash(t, dashWork(engine.PhaseTickets, gate))
	_, held := f.createEvent("Canceled one")
	gate.waitStarted(t)
	if _, err := f.eng.CancelOperation(context.Background(), 0, held.ID); err != nil {
		t.Fatal(err)
	}
	gate.open()
	f.waitOp(held.ID, func(o *engine.Operation) bool { return o.Status.Terminal() })
	ops := f.failed(2)

	admin := f.admin()
	var body string
	for range 200 {
		body = admin.get("/").expect(t, http.StatusOK).Body
		if strings.Contains(body, `data-failed="2"`) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	group := fmt.Sprintf(`<a href="/operations?code=TICKETS_STRUCTURE_EMPTY&amp;company=%d&amp;status=failed"><code>TICKETS_STRUCTURE_EMPTY</code></a></td><td>Acme Events</td><td>tickets</td><td class="num">2</td>`, f.company.ID)
	for _, want := range []string{`data-failed="2"`, group, `aria-label="2 failures in 24 hours, 2 in the last hour"`,
		fmt.Sprintf(`href="/operations/%d">#%d</a>`, ops[1].ID, ops[1].ID),
		`<div class="count st-canceled"><dt><a href="/operations?status=failed&code=OPERATION_CANCELED">canceled</a> <span class="muted">(24 h)</span></dt><dd>1</dd>`} {
		if !strings.Contains(body, want) {
			t.Fatalf("the overview lacks %s\n%s", want, body)
		}
	}
	if strings.Contains(body, "<code>OPERATION_CANCELED</code></a></td>") {
		t.Fatal("an operator cancel is grouped with the failures")
	}
}

// The operation's JSON is collapsible, copyable and downloadable; ids
// have copy buttons that copy them; the title counts running and failed
// operations, and follows them live.
func TestDashboardCopyDownloadAndTitleInBrowser(t *testing.T) {
	t.Parallel()
	gate := newDashGate(failingTickets{})
	f := setupDash(t, dashListen(), dashWork(engine.PhaseTickets, gate))
	_, op := f.createEvent("Held")
	gate.waitStarted(t)

	admin := f.admin()
	r := admin.get(opPage(op.ID)+"/json").expect(t, http.StatusOK)
	if cd := r.Header.Get("Content-Disposition"); cd != fmt.Sprintf(`attachment; filename="operation-%d.json"`, op.ID) {
		t.Fatalf("download: Content-Disposition %q", cd)
	}
	if !strings.Contains(r.Body, fmt.Sprintf(`"id": %d`, op.ID)) {
		t.Fatalf("download: %s", r.Body)
	}
	f.viewer().get(opPage(op.ID)+"/json").expect(t, http.StatusOK)
	f.browser().get(opPage(op.ID)+"/json").expect(t, http.StatusSeeOther)

	browser := startChromium(t)
	ctx, log := tab(t, browser)
	signInTab(t, ctx, f.base, dashAdmin)
	if got := eval[string](t, ctx, "document.title"); got != "(1 running · 0 failed) Overview · eventops" {
		t.Fatalf("title with one running: %q", got)
	}
	run(t, ctx, "the operation page", chromedp.Navigate(f.base+opPage(op.ID)), chromedp.WaitVisible(chromedp.CSS("#op-tree")))
	waitFor(t, ctx, "the socket", `document.querySelector("#conn").textContent === "live"`)
	run(t, ctx, "copy the id", chromedp.Click(chromedp.CSS(`h1 button.copy`)))
	waitFor(t, ctx, "copied", `document.querySelector("h1 button.copy").getAttribute("data-copied") === "1"`)
	run(t, ctx, "close the JSON", chromedp.Click(chromedp.CSS(`details.raw > summary`)))
	if eval[bool](t, ctx, `document.querySelector("details.raw").open`) {
		t.Fatal("the JSON did not collapse")
	}
	// A push replaces the JSON: it stays collapsed, and is current.
	gate.open()
	waitFor(t, ctx, "the failure pushed", `document.querySelector("#op-json-text").textContent.indexOf('"status": "failed"') >= 0`)
	if eval[bool](t, ctx, `document.querySelector("details.raw").open`) {
		t.Fatal("a push opened the collapsed JSON")
	}
	run(t, ctx, "open the JSON", chromedp.Click(chromedp.CSS(`details.raw > summary`)))
	run(t, ctx, "copy the JSON", chromedp.Click(chromedp.CSS(`.json-tools button.copy`)))
	waitFor(t, ctx, "JSON copied", `document.querySelector(".json-tools button.copy").getAttribute("data-copied") === "1"`)
	run(t, ctx, "the overview", chromedp.Navigate(f.base+"/"), chromedp.WaitVisible(chromedp.CSS("#counts")))
	waitFor(t, ctx, "the title after the failure", `document.title === "(0 running · 1 failed) Overview · eventops"`)
	waitFor(t, ctx, "the socket", `document.querySelector("#conn").textContent === "live"`)
	eval[bool](t, ctx, "window.__marker = true")
	f.createEvent("Another failure")
	waitFor(t, ctx, "the title following live", `document.title === "(0 running · 2 failed) Overview · eventops"`)
	if !eval[bool](t, ctx, "window.__marker === true") {
		t.Fatal("the overview reloaded")
	}
	clean(t, ctx, log, "copy and title")
}
