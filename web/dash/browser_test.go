package dash

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/fasthttp/websocket"

	"eventops/engine"
)

// Browser tests: the dashboard in headless Chromium (Debian's chromium
// package), driven with chromedp. They check what a person would: the page
// changes without a reload, reconnects by itself, shows a viewer no admin
// buttons, and logs no console error and no CSP violation.

// chromiumPath finds Debian's chromium, or skips the test.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	t.Skip("browser tests need Chromium: install Debian's chromium package (apt-get install chromium)")
	return ""
}

// startChromium starts one headless browser for a test; tabs come from
// tab().
func startChromium(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	if err := chromedp.Do(browser); err != nil { // starts the browser
		cancelBrowser()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
	})
	return browser
}

// tabLog gathers what a tab reports: console errors, uncaught exceptions,
// error log entries (failed loads, CSP refusals) and CSP violation events.
type tabLog struct {
	mu     sync.Mutex
	errors []string
}

func (l *tabLog) add(s string) {
	l.mu.Lock()
	l.errors = append(l.errors, s)
	l.mu.Unlock()
}

func (l *tabLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.errors
	l.errors = nil
	return out
}

// watchCSP records every securitypolicyviolation event of the page. It is
// injected through the DevTools protocol, which the page's CSP does not
// govern.
const watchCSP = `window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.violatedDirective + " " + e.blockedURI + " " + e.sourceFile + ":" + e.lineNumber);
});
window.__wsCloses = [];
document.addEventListener("htmx:wsClose", function (e) { window.__wsCloses.push(e.detail.event.code); });`

// tab opens a tab in its own browser context (its own cookies).
func tab(t *testing.T, browser context.Context) (context.Context, *tabLog) {
	t.Helper()
	log := &tabLog{}
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext(), chromedp.WithListener(func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				log.add("console." + string(ev.Type) + ": " + strings.Join(parts, " "))
			}
		case *runtime.EventExceptionThrown:
			log.add(fmt.Sprintf("exception: %s %+v", ev.ExceptionDetails.Text, ev.ExceptionDetails.Exception))
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.EntryLevelError || ev.Entry.Source == cdplog.EntrySourceSecurity {
				log.add("log " + string(ev.Entry.Source) + ": " + ev.Entry.Text + " " + ev.Entry.URL)
			}
		}
	}))
	t.Cleanup(cancel)
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: watchCSP})
		return err
	}))
	if err != nil {
		t.Fatalf("open tab: %v", err)
	}
	return ctx, log
}

// run runs steps with a deadline, failing the test with what was tried.
func run(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(c, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression (through DevTools, which the CSP
// does not govern; chromedp's Poll would use new Function in the page,
// which it does).
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor polls a JavaScript condition until it holds.
func waitFor(t *testing.T, ctx context.Context, what, cond string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		ok, err := chromedp.Run(c, chromedp.Evaluate[bool]("!!("+cond+")"))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			html, _ := chromedp.Run(ctx, chromedp.Evaluate[string]("document.body ? document.body.innerText : ''"))
			t.Fatalf("waiting for %s (%s): %v\npage text:\n%s", what, cond, err, html)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// clean fails when the tab logged an error or the page saw a CSP violation.
func clean(t *testing.T, ctx context.Context, log *tabLog, where string) {
	t.Helper()
	violations := eval[[]string](t, ctx, "window.__csp || []")
	errs := log.take()
	if len(violations) > 0 || len(errs) > 0 {
		t.Fatalf("%s: CSP violations %q, console errors %q", where, violations, errs)
	}
}

func signInTab(t *testing.T, ctx context.Context, base, email string) {
	t.Helper()
	run(t, ctx, "sign in as "+email,
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`input[name="email"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="email"]`), email),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), dashPassword),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#counts`)),
	)
}

// steppedWork holds a phase at each step of its progress until released.
type steppedWork struct {
	steps   int
	started chan int
	next    chan struct{}
	then    engine.Work
}

func newSteppedWork(steps int, then engine.Work) *steppedWork {
	return &steppedWork{steps: steps, started: make(chan int, 16), next: make(chan struct{}), then: then}
}

func (w *steppedWork) Run(ctx context.Context, r *engine.PhaseRun) error {
	for i := 1; i < w.steps; i++ {
		r.Progress(i, w.steps)
		w.started <- i
		select {
		case <-w.next:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return w.then.Run(ctx, r)
}

func (w *steppedWork) step(t *testing.T) {
	t.Helper()
	select {
	case w.next <- struct{}{}:
	case <-time.After(20 * time.Second):
		t.Fatal("held work is not waiting")
	}
}

func (w *steppedWork) waitStep(t *testing.T) int {
	t.Helper()
	select {
	case i := <-w.started:
		return i
	case <-time.After(20 * time.Second):
		t.Fatal("held work did not reach its next step")
		return 0
	}
}

func TestDashboardInBrowser(t *testing.T) {
	browser := startChromium(t)
	work := newSteppedWork(3, engine.TicketsWork{})
	f := setupDash(t, dashListen(), dashWork(engine.PhaseTickets, work))

	admin, adminLog := tab(t, browser)
	signInTab(t, admin, f.base, dashAdmin)
	waitFor(t, admin, "the overview's socket", `document.querySelector("#conn").textContent === "live"`)
	clean(t, admin, adminLog, "overview")

	// The operations list gains a new row live.
	list, listLog := tab(t, browser)
	signInTab(t, list, f.base, dashAdmin)
	run(t, list, "open the operations list", chromedp.Navigate(f.base+"/operations"), chromedp.WaitVisible(chromedp.CSS("#op-rows")))
	waitFor(t, list, "the list's socket", `document.querySelector("#conn").textContent === "live"`)
	eval[bool](t, list, "window.__marker = true")

	ev, op := f.createEvent("Browser Night")
	eventID, opID := ev.ID, op.ID
	if work.waitStep(t) != 1 {
		t.Fatal("the held phase is not at its first step")
	}
	row := fmt.Sprintf("#op-row-%d", opID)
	waitFor(t, list, "the new row", fmt.Sprintf(`document.querySelector(%q)`, row))
	waitFor(t, list, "the new row running", fmt.Sprintf(`document.querySelector(%q).classList.contains("st-running")`, row))
	if !eval[bool](t, list, fmt.Sprintf(`document.querySelector("#op-rows").firstElementChild.id === %q`, row[1:])) {
		t.Fatal("the new row is not at the top")
	}

	// The operation page follows the phases without a reload.
	run(t, admin, "open the operation page", chromedp.Navigate(f.base+opPage(opID)), chromedp.WaitVisible(chromedp.CSS("#op-tree")))
	waitFor(t, admin, "the page's socket", `document.querySelector("#conn").textContent === "live"`)
	eval[bool](t, admin, "window.__marker = true")
	phase := `document.querySelector("#op-tree .ph-node")`
	waitFor(t, admin, "the phase running at 33%", phase+`.classList.contains("st-running") && `+phase+`.querySelector("progress").value === 33`)
	if !eval[bool](t, admin, `getComputedStyle(document.querySelector("#op-actions .act-cancel")).display !== "none" &&
		getComputedStyle(document.querySelector("#op-actions .act-retry")).display === "none"`) {
		t.Fatal("a running operation should offer cancel, not retry")
	}
	work.step(t)
	work.waitStep(t)
	waitFor(t, admin, "the phase at 66%", phase+`.querySelector("progress").value === 66`)

	// The server drops the socket: the page reconnects by itself and shows
	// what happened meanwhile.
	f.dash.hub.dropAll(websocket.CloseServiceRestart, "test restart")
	work.step(t)
	f.waitOp(opID, func(o *engine.Operation) bool { return o.Status.Terminal() })
	waitFor(t, admin, "the close seen", `window.__wsCloses.indexOf(1012) >= 0`)
	waitFor(t, admin, "the operation completed", `document.querySelector("#op-summary").classList.contains("st-completed")`)
	waitFor(t, admin, "the socket live again", `document.querySelector("#conn").textContent === "live"`)
	if !eval[bool](t, admin, phase+`.classList.contains("st-completed") && document.querySelector("#op-summary progress").value === 100`) {
		t.Fatal("the phase tree does not show the completed phase")
	}
	if !eval[bool](t, admin, `getComputedStyle(document.querySelector("#op-actions .act-cancel")).display === "none"`) {
		t.Fatal("a completed operation still offers cancel")
	}
	if !eval[bool](t, admin, "window.__marker === true") || !eval[bool](t, list, "window.__marker === true") {
		t.Fatal("a page reloaded")
	}
	waitFor(t, list, "the row completed", fmt.Sprintf(`document.querySelector(%q).classList.contains("st-completed")`, row))
	clean(t, admin, adminLog, "operation page")
	clean(t, list, listLog, "operations list")

	// Every page renders clean.
	for _, path := range []string{"/events", "/companies", "/keys", "/aliases", "/audit", "/storage", "/sandbox", fmt.Sprintf("/events/%d", eventID)} {
		run(t, admin, "open "+path, chromedp.Navigate(f.base+path), chromedp.WaitVisible(chromedp.CSS("main")))
		clean(t, admin, adminLog, path)
	}

	// A viewer sees no admin button, and a forged POST is refused.
	viewer, viewerLog := tab(t, browser)
	signInTab(t, viewer, f.base, dashViewer)
	run(t, viewer, "open the operation page as viewer", chromedp.Navigate(f.base+opPage(opID)), chromedp.WaitVisible(chromedp.CSS("#op-tree")))
	if eval[int](t, viewer, `document.querySelectorAll(".act-cancel, .act-retry, #op-actions").length`) != 0 {
		t.Fatal("a viewer sees admin buttons")
	}
	clean(t, viewer, viewerLog, "viewer's operation page")
	forged := evalPromise[int](t, viewer, fmt.Sprintf(`fetch("/operations/%d/retry", {method: "POST", credentials: "same-origin",
		body: new URLSearchParams({_csrf: document.querySelector('input[name="_csrf"]').value})}).then(r => r.status)`, opID))
	if forged != http.StatusForbidden {
		t.Fatalf("a viewer's forged POST answered %d", forged)
	}

	// A form without its CSRF token is refused.
	run(t, admin, "reload the operation page", chromedp.Navigate(f.base+opPage(opID)), chromedp.WaitVisible(chromedp.CSS("#op-actions")))
	eval[bool](t, admin, `document.querySelector(".act-retry input[name=_csrf]").remove(), true`)
	eval[bool](t, admin, `document.querySelector(".act-retry").submit(), true`)
	waitFor(t, admin, "the refusal", `document.title.indexOf("Not allowed") === 0 && document.body.innerText.indexOf("security token") >= 0`)
	ops, _, _ := f.eng.Operations(engine.OperationQuery{Limit: 10})
	for _, op := range ops {
		if op.RetryOf == opID {
			t.Fatal("a form without its token retried the operation")
		}
	}
	adminLog.take() // the 403 document itself is logged as a failed load

	if os.Getenv("EVENTOPS_SCREENSHOT") != "" {
		shot := chromedp.FullScreenshot(100)
		c, cancel := context.WithTimeout(admin, 20*time.Second)
		defer cancel()
		_ = chromedp.Do(c, chromedp.Navigate(f.base+opPage(opID)), chromedp.WaitVisible(chromedp.CSS("#op-tree")))
		if png, err := chromedp.Run(c, shot); err == nil {
			_ = os.WriteFile(os.Getenv("EVENTOPS_SCREENSHOT"), png, 0o644)
		}
	}
}

// evalPromise evaluates an expression whose value is a promise.
func evalPromise[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// A key made in the browser is shown once: reloading the page after the
// redirect neither creates a second key nor shows the first again. Revoking
// asks first, naming the key and its company.
func TestDashboardKeysInBrowser(t *testing.T) {
	t.Parallel()
	f := setupDash(t, dashListen())
	browser := startChromium(t)
	admin, adminLog := tab(t, browser)
	signInTab(t, admin, f.base, dashAdmin)

	run(t, admin, "create a key",
		chromedp.Navigate(f.base+"/keys"),
		chromedp.WaitVisible(chromedp.CSS(`#new-key-form`)),
		chromedp.SendKeys(chromedp.CSS(`#new-key-form input[name="name"]`), "ci"),
		chromedp.Click(chromedp.CSS(`#new-key-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#new-key`)))
	plain := eval[string](t, admin, `document.querySelector("#new-key").textContent`)
	if _, err := f.eng.Authenticate(plain); err != nil {
		t.Fatalf("the key shown does not authenticate: %v", err)
	}
	if u := eval[string](t, admin, `location.pathname + location.search`); u != "/keys" {
		t.Fatalf("after creating a key the address is %q", u)
	}
	clean(t, admin, adminLog, "the new key")

	run(t, admin, "reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`#new-key-form`)))
	if eval[bool](t, admin, `document.querySelector("#new-key") !== null || document.body.innerText.indexOf(`+fmt.Sprintf("%q", plain)+`) >= 0`) {
		t.Fatal("the reload showed the key again")
	}
	if ks, _ := f.eng.APIKeys(0); len(ks) != 1 {
		t.Fatalf("%d keys after a reload, want 1", len(ks))
	}

	run(t, admin, "ask to revoke", chromedp.Click(chromedp.CSS(`tr[id^="key-"] button.danger`)), chromedp.WaitVisible(chromedp.CSS(`#confirm-form`)))
	waitFor(t, admin, "the question", `document.body.innerText.indexOf("Revoke API key ci") >= 0 && document.body.innerText.indexOf("Acme Events") >= 0`)
	if _, err := f.eng.Authenticate(plain); err != nil {
		t.Fatalf("asking revoked the key: %v", err)
	}
	run(t, admin, "confirm", chromedp.Click(chromedp.CSS(`#confirm-form button`)), chromedp.WaitVisible(chromedp.CSS(`#new-key-form`)))
	if _, err := f.eng.Authenticate(plain); err == nil {
		t.Fatal("the confirmed revoke left the key working")
	}
	clean(t, admin, adminLog, "after revoking")
}

// A failure retried in the browser links to its retry and back, and
// retrying it again stops at a question.
func TestDashboardRetryLinksInBrowser(t *testing.T) {
	t.Parallel()
	gate := newDashGate(engine.TicketsWork{})
	f := setupDash(t, dashListen(), dashWork(engine.PhaseTickets, gate))
	_, op := f.createEvent("Held")
	gate.waitStarted(t)
	if _, err := f.eng.CancelOperation(context.Background(), 0, op.ID); err != nil {
		t.Fatal(err)
	}
	// The cancel ends the held phase; opened before it has, the gate
	// could let the phase complete first (a completion wins that race).
	f.waitOp(op.ID, func(o *engine.Operation) bool { return o.Status == engine.StatusFailed })
	gate.open() // for the retries

	browser := startChromium(t)
	admin, adminLog := tab(t, browser)
	signInTab(t, admin, f.base, dashAdmin)
	run(t, admin, "retry", chromedp.Navigate(f.base+opPage(op.ID)), chromedp.WaitVisible(chromedp.CSS(".act-retry button")),
		chromedp.Click(chromedp.CSS(".act-retry button")))
	waitFor(t, admin, "the retry's page", fmt.Sprintf(`location.pathname !== %q && document.body.innerText.indexOf("retry of #%d") >= 0`, opPage(op.ID), op.ID))
	retry := eval[string](t, admin, `location.pathname`)
	clean(t, admin, adminLog, "the retry")

	run(t, admin, "back to the original", chromedp.Navigate(f.base+opPage(op.ID)), chromedp.WaitVisible(chromedp.CSS("#op-tree")))
	if eval[string](t, admin, fmt.Sprintf(`(document.querySelector('.meta a[href=%q]') || {}).textContent || ""`, retry)) != "#"+strings.TrimPrefix(retry, "/operations/") {
		t.Fatalf("the original does not link to its retry %s", retry)
	}
	run(t, admin, "retry again", chromedp.Click(chromedp.CSS(".act-retry button")), chromedp.WaitVisible(chromedp.CSS("#confirm-form")))
	waitFor(t, admin, "the question", `document.body.innerText.indexOf("already retried as") >= 0`)
	ops, _, _ := f.eng.Operations(engine.OperationQuery{EventID: op.EventID, Limit: 10})
	if len(ops) != 2 {
		t.Fatalf("%d operations after an unconfirmed second retry, want 2", len(ops))
	}
	clean(t, admin, adminLog, "the question")
}

// A form on another site posting to the dashboard is refused with a page
// that says where the request came from, not that the session ended (the
// SameSite=Lax session cookie is not sent with it).
func TestDashboardCrossSiteFormInBrowser(t *testing.T) {
	t.Parallel()
	f := setupDash(t, dashListen())
	// The other site: the same machine under another name is another site.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><form method="post" action="%s/companies"><input name="name" value="Forged"><button id="go">Go</button></form>`, f.base)
	}))
	t.Cleanup(evil.Close)
	evilURL := strings.Replace(evil.URL, "127.0.0.1", "localhost", 1)

	browser := startChromium(t)
	admin, adminLog := tab(t, browser)
	signInTab(t, admin, f.base, dashAdmin)
	run(t, admin, "post from another site", chromedp.Navigate(evilURL), chromedp.WaitVisible(chromedp.CSS("#go")), chromedp.Click(chromedp.CSS("#go")))
	waitFor(t, admin, "the refusal", `document.body.innerText.indexOf("came from another site") >= 0`)
	if eval[bool](t, admin, `document.body.innerText.indexOf("session has ended") >= 0`) {
		t.Fatal("the refusal blames the session")
	}
	if cs, _ := f.eng.Companies(); len(cs) != 1 {
		t.Fatalf("the cross-site form made a company: %d companies", len(cs))
	}
	adminLog.take() // the 403 document is logged as a failed load
}
