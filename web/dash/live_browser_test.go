package dash

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/gofiber/fiber/v2"

	"eventops/engine"
	"eventops/storage"
	"eventops/storage/storetest"
)

// Browser tests of the live operation page around its connection: a
// restart keeps staff signed in and the page current; a page that lost its
// server says so and offers nothing stale; a signed-out page says so and
// links back; swaps keep focus; times are the browser's and keep counting.

// liveServer is the dashboard over a data folder that outlives it: stopped
// and started again on the same address, it is a server restart.
type liveServer struct {
	db     *storage.DB
	eng    *engine.Engine
	app    *fiber.App
	dash   *Dashboard
	served chan struct{}
}

func startLive(t *testing.T, dir, addr string, work map[string]engine.Work) (*liveServer, string) {
	t.Helper()
	db, err := storetest.Open(t, filepath.Join(dir, "eventops.db"), storage.Options{})
	if err != nil {
		t.Fatalf("open storage: %v", err)
	}
	s := &liveServer{db: db, served: make(chan struct{})}
	s.eng = engine.New(engine.Config{Store: db, Work: work, Logger: quietLogger(),
		Retry: engine.RetryPolicy{Base: time.Millisecond, Max: 5 * time.Millisecond, Attempts: 2}})
	if err := s.eng.Start(context.Background()); err != nil {
		t.Fatalf("start engine: %v", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	s.app, s.dash = dashApp(Config{Engine: s.eng, Logger: quietLogger(), PublicURL: base})
	go func() {
		defer close(s.served)
		_ = s.app.Listener(ln)
	}()
	return s, base
}

// stop shuts the server down as SIGTERM does: sockets closed with 1012,
// the listener closed, the engine stopped, the file closed.
func (s *liveServer) stop(t *testing.T) {
	t.Helper()
	s.dash.CloseSockets()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.app.ShutdownWithContext(ctx)
	<-s.served
	s.eng.Stop(5 * time.Second)
	if err := s.db.Check(); err != nil {
		t.Errorf("check: %v", err)
	}
	if err := s.db.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
}

// The server restarts under an open operation page: the page says it is
// disconnected (dimmed, actions disabled, when it was last updated, a way
// to reconnect now), comes back by itself on the restarted server without
// a new sign-in, and keeps following the operation. Then the session is
// signed out elsewhere: the page says so, with a link back to itself.
func TestDashboardRestartInBrowser(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	work1 := newSteppedWork(3, engine.TicketsWork{})
	s, base := startLive(t, dir, "127.0.0.1:0", map[string]engine.Work{engine.PhaseTickets: work1})
	addr := strings.TrimPrefix(base, "http://")
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			s.stop(t)
		}
	})
	ctx := context.Background()
	company, err := s.eng.CreateCompany(ctx, "Acme Events", nil)
	if err != nil {
		t.Fatal(err)
	}
	venue, err := s.eng.CreateVenue(ctx, company.ID, engine.VenueInput{Name: "Blue Room", TimeZone: "America/Chicago"})
	if err != nil {
		t.Fatal(err)
	}
	tt, err := s.eng.CreateTicketType(ctx, company.ID, engine.TicketTypeInput{Name: "General admission"})
	if err != nil {
		t.Fatal(err)
	}
	err = s.db.Update(ctx, func(tx engine.Tx) error {
		id, err := tx.NextID(engine.SeqUser)
		if err != nil {
			return err
		}
		return tx.PutUser(&engine.User{ID: id, Email: dashAdmin, Role: engine.RoleAdmin, PasswordHash: cheapHash(), CreatedAt: time.Now()})
	})
	if err != nil {
		t.Fatal(err)
	}
	name, start := "Restart Night", time.Date(2026, 12, 5, 19, 0, 0, 0, time.UTC)
	end, capacity, qty := start.Add(4*time.Hour), 200, 150
	_, op, err := s.eng.CreateEvent(ctx, company.ID, engine.EventInput{
		Name: &name, Type: ptrTo(engine.EventDate), VenueID: &venue.ID, StartsAt: &start, EndsAt: &end,
		Capacity: engine.Nullable[int]{Set: true, Value: &capacity},
		RegistrationTypes: &[]engine.RegistrationTypeInput{{Name: "General admission", TicketTypeID: tt.ID,
			Price: engine.MoneyInput{Amount: ptrTo(int64(2500)), Currency: "USD"}, Quantity: &qty}},
	})
	if err != nil {
		t.Fatal(err)
	}
	work1.waitStep(t)

	browser := startChromium(t)
	page, log := tab(t, browser)
	signInTab(t, page, base, dashAdmin)
	run(t, page, "open the operation page", chromedp.Navigate(base+opPage(op.ID)), chromedp.WaitVisible(chromedp.CSS("#op-tree")))
	waitFor(t, page, "the page live", `document.querySelector("#conn").textContent === "live"`)
	node := `document.querySelector("#op-tree .ph-node")`
	waitFor(t, page, "the phase at 33%", node+`.querySelector("progress").value === 33`)
	eval[bool](t, page, "window.__marker = true")

	// The reconnect schedule, read from its configuration: the first retry
	// within a second, growing, capped.
	if !eval[bool](t, page, `(function () {
		var c = window.eventopsConn;
		if (!c || c.config.first >= 1000 || c.config.max < c.config.first) return false;
		for (var i = 0; i < 50; i++) {
			if (c.delay(0) >= 1000 || c.delay(0) >= c.config.first + 1 || c.delay(30) > c.config.max) return false;
		}
		return c.delay(3) >= c.config.first * 4 && true;
	})()`) {
		t.Fatalf("reconnect schedule: %v", eval[string](t, page, `JSON.stringify(window.eventopsConn && window.eventopsConn.config)`))
	}

	// The server goes away: the page says it is disconnected, dims, and
	// disables its actions.
	s.stop(t)
	stopped = true
	waitFor(t, page, "the page disconnected", `document.body.classList.contains("disconnected") && document.querySelector("#conn").getAttribute("data-state") === "reconnecting"`)
	if !eval[bool](t, page, `document.querySelector(".act-cancel button").disabled`) {
		t.Fatal("the Cancel button stays active while the page is disconnected")
	}
	if !eval[bool](t, page, `getComputedStyle(document.querySelector("#op-summary")).opacity < 1`) {
		t.Fatal("the live regions are not dimmed while disconnected")
	}
	stale := eval[string](t, page, `document.querySelector("#conn-stale").innerText`)
	if !regexpMatch(`last updated \d\d:\d\d:\d\d`, stale) || !strings.Contains(stale, "Reconnect now") {
		t.Fatalf("the disconnected page says %q", stale)
	}

	// The server comes back on the same data folder: the page comes back
	// by itself (Reconnect now, rather than wait out the backoff), signed
	// in still, and follows the resumed operation.
	work2 := newSteppedWork(3, engine.TicketsWork{})
	s, _ = startLive(t, dir, addr, map[string]engine.Work{engine.PhaseTickets: work2})
	stopped = false
	work2.waitStep(t)
	run(t, page, "reconnect now", chromedp.Click(chromedp.CSS("#conn-stale button")))
	waitFor(t, page, "the page live again", `document.querySelector("#conn").textContent === "live" && !document.body.classList.contains("disconnected")`)
	if eval[bool](t, page, `document.querySelector(".act-cancel button").disabled`) {
		t.Fatal("the Cancel button stays disabled after reconnecting")
	}
	log.take() // the refused connections while the server was down
	work2.step(t)
	work2.waitStep(t)
	waitFor(t, page, "the phase at 66% after the restart", node+`.querySelector("progress").value === 66`)
	work2.step(t)
	waitFor(t, page, "the operation completed", `document.querySelector("#op-summary").getAttribute("data-status") === "completed"`)
	waitFor(t, page, "the change announced", `document.querySelector("#conn-announce").textContent.indexOf("is now completed") >= 0`)
	if !eval[bool](t, page, "window.__marker === true") {
		t.Fatal("the page reloaded")
	}
	clean(t, page, log, "after the restart")

	// Signed out in another tab: this page says so and links back here.
	evalPromise[int](t, page, `fetch("/logout", {method: "POST", credentials: "same-origin",
		body: new URLSearchParams({_csrf: document.querySelector('input[name="_csrf"]').value})}).then(r => r.status)`)
	waitFor(t, page, "signed out", `document.querySelector("#conn").getAttribute("data-state") === "signed-out"`)
	text := eval[string](t, page, `document.querySelector("#conn").innerText`)
	href := eval[string](t, page, `document.querySelector("#conn a").getAttribute("href")`)
	if text != "Signed out — sign in again" || href != "/login?next="+strings.ReplaceAll(opPage(op.ID), "/", "%2F") {
		t.Fatalf("signed out page says %q linking %q", text, href)
	}
	log.take() // the refused upgrades and the 401 are logged as failed loads
	run(t, page, "follow the link", chromedp.Click(chromedp.CSS("#conn a")), chromedp.WaitVisible(chromedp.CSS(`input[name="email"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="email"]`), dashAdmin),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), dashPassword),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)), chromedp.WaitVisible(chromedp.CSS("#op-tree")))
	if p := eval[string](t, page, "location.pathname"); p != opPage(op.ID) {
		t.Fatalf("signing in again led to %s", p)
	}
}

// Live swaps keep keyboard focus; times are the browser's, zone named, and
// running durations and relative times keep counting in the page.
func TestDashboardFocusAndTimesInBrowser(t *testing.T) {
	t.Parallel()
	work := newSteppedWork(3, engine.TicketsWork{})
	f := setupDash(t, dashListen(), dashWork(engine.PhaseTickets, work))
	_, op := f.createEvent("Focus Night")
	work.waitStep(t)

	browser := startChromium(t)
	page, log := tab(t, browser)
	run(t, page, "a zone of its own", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "America/New_York"})
		return err
	}))
	signInTab(t, page, f.base, dashAdmin)
	run(t, page, "open the operation page", chromedp.Navigate(f.base+opPage(op.ID)), chromedp.WaitVisible(chromedp.CSS("#op-tree")))
	waitFor(t, page, "the page live", `document.querySelector("#conn").textContent === "live"`)

	// Times: the browser's zone, named.
	created := eval[string](t, page, `document.querySelector("#op-summary time[data-local]").textContent`)
	if !strings.HasSuffix(created, " EST") {
		t.Fatalf("the creation time shows as %q, not in the browser's zone", created)
	}
	// A running duration ticks; read twice.
	first := eval[string](t, page, `document.querySelector("#op-summary .ticking").textContent`)
	if !strings.HasPrefix(first, "running ") {
		t.Fatalf("running duration %q", first)
	}
	waitFor(t, page, "the duration ticking", fmt.Sprintf(`document.querySelector("#op-summary .ticking").textContent !== %q`, first))
	rel := eval[string](t, page, `document.querySelector("#op-summary time[data-rel]").textContent`)
	waitFor(t, page, "the relative time counting", fmt.Sprintf(`document.querySelector("#op-summary time[data-rel]").textContent !== %q`, rel))

	// Focus on a swapped element (the phase's timeline link) survives the
	// swap of its row.
	var ph uint64
	cur, _ := f.eng.Operation(0, op.ID)
	for _, p := range cur.Phases {
		if p.Name == engine.PhaseTickets {
			ph = p.ID
		}
	}
	link := fmt.Sprintf(`document.querySelector("#tlb-%d a")`, ph)
	eval[bool](t, page, link+".focus(), true")
	eval[bool](t, page, fmt.Sprintf(`window.__old = %s, true`, link))
	work.step(t)
	work.waitStep(t)
	waitFor(t, page, "the row swapped", fmt.Sprintf(`%s !== window.__old`, link))
	if !eval[bool](t, page, fmt.Sprintf(`document.activeElement === %s`, link)) {
		t.Fatalf("focus went to %s", eval[string](t, page, `document.activeElement.outerHTML.slice(0, 120)`))
	}
	clean(t, page, log, "focus and times")

	// On the operations list, a focused row link stays focused as its row
	// changes.
	run(t, page, "open the list", chromedp.Navigate(f.base+"/operations"), chromedp.WaitVisible(chromedp.CSS("#op-rows")))
	waitFor(t, page, "the list live", `document.querySelector("#conn").textContent === "live"`)
	row := fmt.Sprintf(`document.querySelector("#op-row-%d a")`, op.ID)
	eval[bool](t, page, row+".focus(), window.__old = "+row+", true")
	work.step(t)
	f.waitOp(op.ID, func(o *engine.Operation) bool { return o.Status.Terminal() })
	waitFor(t, page, "the row swapped", row+" !== window.__old")
	if !eval[bool](t, page, "document.activeElement === "+row) {
		t.Fatalf("focus went to %s", eval[string](t, page, `document.activeElement.outerHTML.slice(0, 120)`))
	}
	clean(t, page, log, "the list")
}

func regexpMatch(pattern, s string) bool { return regexp.MustCompile(pattern).MatchString(s) }

// failingCatalog splits into one child per occurrence, as the real catalog
// does; the last occurrence's product fails once with a 503, then for good.
type failingCatalog struct{ last uint64 }

func (c *failingCatalog) Expand(ctx context.Context, r *engine.PhaseRun) ([]*engine.Phase, error) {
	var kids []*engine.Phase
	err := r.View(func(tx engine.Tx) error {
		occ, err := tx.ChildEvents(r.Op.EventID)
		for _, o := range occ {
			kids = append(kids, &engine.Phase{Name: engine.PhaseCatalog, Subject: o.ID})
			c.last = o.ID
		}
		return err
	})
	return kids, err
}

func (c *failingCatalog) Run(ctx context.Context, r *engine.PhaseRun) error {
	if r.Phase.Subject != c.last {
		r.Progress(1, 1)
		return nil
	}
	if r.Attempt == 1 {
		return engine.Transientf(engine.CodeShopifyUnavailable, "the shop answered 503 Service Unavailable")
	}
	return engine.Errorf(engine.CodeCatalogUpsertRejected, "productSet: title is too long")
}

// A failed operation's page opens on the failure: the failing phase marked
// and in view, every attempt's error on it, the tree filtered to failures
// on request; the timeline draws bars on one axis, the retried attempt as
// a segment, and names the critical path.
func TestDashboardPhaseTreeInBrowser(t *testing.T) {
	t.Parallel()
	done := standIn(func(ctx context.Context, r *engine.PhaseRun) error { r.Progress(1, 1); return nil })
	f := setupDash(t, dashListen(), dashWork(engine.PhaseCatalog, &failingCatalog{}),
		dashWork(engine.PhaseInventory, done), dashWork(engine.PhaseMetafields, done),
		dashWork(engine.PhaseDelivery, done), dashWork(engine.PhasePublish, done))
	ctx := context.Background()
	shop, err := f.eng.CreateCompany(ctx, "Blue Note Presents", &engine.ShopInput{Sandbox: true, Domain: "blue-note"})
	if err != nil {
		t.Fatal(err)
	}
	venue, err := f.eng.CreateVenue(ctx, shop.ID, engine.VenueInput{Name: "Blue Room", TimeZone: "America/Chicago"})
	if err != nil {
		t.Fatal(err)
	}
	tt, err := f.eng.CreateTicketType(ctx, shop.ID, engine.TicketTypeInput{Name: "General admission"})
	if err != nil {
		t.Fatal(err)
	}
	name, start := "Friday Jazz Night", time.Date(2026, 12, 4, 19, 0, 0, 0, time.UTC)
	end, capacity, qty := start.Add(4*time.Hour), 200, 150
	_, op, err := f.eng.CreateEvent(ctx, shop.ID, engine.EventInput{
		Name: &name, Type: ptrTo(engine.EventRecurring), VenueID: &venue.ID, StartsAt: &start, EndsAt: &end,
		Capacity:   engine.Nullable[int]{Set: true, Value: &capacity},
		Recurrence: engine.Nullable[engine.Recurrence]{Set: true, Value: &engine.Recurrence{Frequency: engine.FrequencyWeekly, Count: 4}},
		RegistrationTypes: &[]engine.RegistrationTypeInput{{Name: "General admission", TicketTypeID: tt.ID,
			Price: engine.MoneyInput{Amount: ptrTo(int64(2500)), Currency: "USD"}, Quantity: &qty}},
	})
	if err != nil {
		t.Fatal(err)
	}
	failed := f.waitOp(op.ID, func(o *engine.Operation) bool { return o.Status.Terminal() })
	if failed.Status != engine.StatusFailed || failed.Error == nil || failed.Error.PhaseID == nil {
		t.Fatalf("the save ended %s (%+v)", failed.Status, failed.Error)
	}
	cause := *failed.Error.PhaseID

	browser := startChromium(t)
	page, log := tab(t, browser)
	run(t, page, "a short window", chromedp.EmulateViewport(1280, 500))
	signInTab(t, page, f.base, dashAdmin)
	run(t, page, "open the operation page", chromedp.Navigate(f.base+opPage(op.ID)), chromedp.WaitVisible(chromedp.CSS("#op-tree")))
	node := fmt.Sprintf(`document.querySelector("#phn-%d")`, cause)
	if !eval[bool](t, page, node+`.classList.contains("root-cause")`) {
		t.Fatal("the failing phase is not marked as the root cause")
	}
	waitFor(t, page, "the failing phase in view", `(function () { var r = `+node+`.getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight; })()`)
	attempts := eval[string](t, page, node+`.innerText`)
	for _, want := range []string{"attempt 1", "SHOPIFY_UNAVAILABLE", "503 Service Unavailable", "CATALOG_UPSERT_REJECTED", "title is too long"} {
		if !strings.Contains(attempts, want) {
			t.Fatalf("the failing phase does not say %q:\n%s", want, attempts)
		}
	}
	if !eval[bool](t, page, `document.querySelector("#phn-`+fmt.Sprint(cause)+`").closest("details").open`) {
		t.Fatal("the failing phase's parent is collapsed")
	}

	// Filtered to failures: the completed phases go, the failing one stays.
	run(t, page, "show failures only", chromedp.Click(chromedp.CSS(`button[data-tree-filter="failed"]`)))
	if !eval[bool](t, page, `Array.from(document.querySelectorAll("#op-tree .ph-node.st-completed")).every(function (n) { return n.offsetParent === null; })`) {
		t.Fatal("filtered to failures, completed phases still show")
	}
	if eval[bool](t, page, node+`.offsetParent === null`) {
		t.Fatal("filtered to failures, the failing phase is hidden")
	}

	// The timeline: a bar per phase on one axis, the retried attempt a
	// segment of its bar, the critical path named and marked.
	row := fmt.Sprintf(`document.querySelector("#tlb-%d")`, cause)
	if n := eval[int](t, page, row+`.querySelectorAll(".seg-failed").length`); n != 2 {
		t.Fatalf("the failing phase's bar has %d failed segments, want 2 (the retried attempt and the last)", n)
	}
	if !eval[bool](t, page, `Array.from(document.querySelectorAll(".tl-row.st-completed .tl-bar")).every(function (b) { return b.getBoundingClientRect().width > 0; })`) {
		t.Fatal("a completed phase has no bar")
	}
	if !eval[bool](t, page, `parseFloat(getComputedStyle(document.querySelector("#op-timeline .tl-rows")).getPropertyValue("--span")) > 0`) {
		t.Fatal("the timeline has no axis length")
	}
	crit := eval[string](t, page, `document.querySelector("#tl-critical").textContent`)
	if !strings.Contains(crit, "Critical path:") || eval[int](t, page, `document.querySelectorAll(".tl-row.critical").length`) == 0 {
		t.Fatalf("no critical path: %q", crit)
	}
	if !eval[bool](t, page, row+`.classList.contains("critical")`) {
		t.Fatal("the failing phase, which ended the operation, is not on the critical path")
	}
	clean(t, page, log, "the failed operation")
}

// A long save followed live ends with the page a fresh load would show:
// the pushed deltas (children entering and leaving the shown few, count
// lines, bars) add up, and none misses its target (htmx would log it).
func TestDashboardLongSaveLiveInBrowser(t *testing.T) {
	t.Parallel()
	live := longSaveLive(t, "")
	if !strings.Contains(live, "30 children: 30 completed") {
		t.Fatalf("the long lists are not counted: %s", live)
	}
}

// The same with every phase shown (?phases=all), which is pushed what
// changed too: the children arrive with their parent's split and each
// changes in place.
func TestDashboardLongSaveAllPhasesLiveInBrowser(t *testing.T) {
	t.Parallel()
	live := longSaveLive(t, "?phases=all")
	if n := strings.Count(live, "phn-"); n < 60 {
		t.Fatalf("every phase shown, yet %d in the tree: %s", n, live)
	}
}

// longSaveLive follows a 30-occurrence save on its page (with query) and
// returns what the page shows at the end, checked against a fresh load.
func longSaveLive(t *testing.T, query string) string {
	gate := make(chan struct{})
	done := standIn(func(ctx context.Context, r *engine.PhaseRun) error { r.Progress(1, 1); return nil })
	f := setupDash(t, dashListen(), dashWorkers(2),
		dashWork(engine.PhaseCatalog, &occurrenceWork{name: engine.PhaseCatalog, go_: gate}),
		dashWork(engine.PhaseInventory, &occurrenceWork{name: engine.PhaseInventory, go_: gate}),
		dashWork(engine.PhaseMetafields, done), dashWork(engine.PhaseDelivery, done), dashWork(engine.PhasePublish, done))
	ctx := context.Background()
	shop, err := f.eng.CreateCompany(ctx, "Blue Note Presents", &engine.ShopInput{Sandbox: true, Domain: "blue-note"})
	if err != nil {
		t.Fatal(err)
	}
	venue, err := f.eng.CreateVenue(ctx, shop.ID, engine.VenueInput{Name: "Blue Room", TimeZone: "America/Chicago"})
	if err != nil {
		t.Fatal(err)
	}
	tt, err := f.eng.CreateTicketType(ctx, shop.ID, engine.TicketTypeInput{Name: "General admission"})
	if err != nil {
		t.Fatal(err)
	}
	name, start := "Thirty Nights", time.Date(2026, 12, 4, 19, 0, 0, 0, time.UTC)
	end, capacity, qty := start.Add(4*time.Hour), 200, 150
	_, op, err := f.eng.CreateEvent(ctx, shop.ID, engine.EventInput{
		Name: &name, Type: ptrTo(engine.EventRecurring), VenueID: &venue.ID, StartsAt: &start, EndsAt: &end,
		Capacity:   engine.Nullable[int]{Set: true, Value: &capacity},
		Recurrence: engine.Nullable[engine.Recurrence]{Set: true, Value: &engine.Recurrence{Frequency: engine.FrequencyDaily, Count: 30}},
		RegistrationTypes: &[]engine.RegistrationTypeInput{{Name: "General admission", TicketTypeID: tt.ID,
			Price: engine.MoneyInput{Amount: ptrTo(int64(2500)), Currency: "USD"}, Quantity: &qty}},
	})
	if err != nil {
		t.Fatal(err)
	}

	browser := startChromium(t)
	page, log := tab(t, browser)
	signInTab(t, page, f.base, dashAdmin)
	run(t, page, "open the operation page", chromedp.Navigate(f.base+opPage(op.ID)+query), chromedp.WaitVisible(chromedp.CSS("#op-tree")))
	waitFor(t, page, "the page live", `document.querySelector("#conn").textContent === "live"`)
	eval[bool](t, page, "window.__marker = true")
	close(gate)
	final := f.waitOp(op.ID, func(o *engine.Operation) bool { return o.Status.Terminal() })
	waitFor(t, page, "the save completed", fmt.Sprintf(`document.querySelector("#op-summary").getAttribute("data-version") === "%d"`, final.Version))
	clean(t, page, log, "the save followed live")
	const shown = `JSON.stringify(["#op-tree", "#op-timeline"].map(function (s) {
		return Array.from(document.querySelectorAll(s + " [id]")).map(function (e) {
			return e.id + " " + (e.getAttribute("data-status") || "") + " " + (e.classList.contains("ph-more") || e.classList.contains("tl-more") ? e.textContent.trim() : "");
		}).sort();
	}))`
	live := eval[string](t, page, shown)
	if !eval[bool](t, page, "window.__marker === true") {
		t.Fatal("the page reloaded")
	}
	run(t, page, "reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#op-tree")))
	if fresh := eval[string](t, page, shown); fresh != live {
		t.Fatalf("followed live the page shows\n%s\nloaded afresh\n%s", live, fresh)
	}
	return live
}
