package dash

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"eventops/engine"
	"eventops/static"
)

// Every page answers signed-in staff with its key elements, and sends
// everyone else to the sign-in form, which brings them back.
func TestDashboardPages(t *testing.T) {
	t.Parallel()
	f := setupDash(t, dashOpts(func(o *Options) {
		o.Storage = StorageStatsFunc(func() (StorageHealth, error) {
			return StorageHealth{Path: "/data/eventops.db", FileSize: 3 << 20, FreePages: 7, OpenReadTxs: 2}, nil
		})
		o.Sandbox = fakeSandbox(`{"demo": {"products": [{"id": "gid://shopify/Product/1", "title": "Jazz Night"}], "orders": []}}`)
	}))
	ev, op := f.createEvent("Jazz Night")
	f.waitOp(op.ID, func(o *engine.Operation) bool { return o.Status.Terminal() })
	b := f.admin()

	cases := []struct {
		path  string
		want  []string
		live  bool
		title string
	}{
		{"/", []string{`id="counts"`, `id="chart"`, `<svg`, `id="failures"`}, true, "Overview"},
		{"/operations", []string{`id="op-rows"`, fmt.Sprintf(`id="op-row-%d"`, op.ID), `href="/operations/` + fmt.Sprint(op.ID) + `"`, `name="status"`, `name="code"`}, true, "Operations"},
		{"/operations?status=completed&action=save", []string{fmt.Sprintf(`id="op-row-%d"`, op.ID)}, true, "Operations"},
		{opPage(op.ID), []string{`id="op-summary"`, `id="op-tree"`, `id="op-timeline"`, `id="op-json"`, `id="ph-`, "tickets", `&#34;phases&#34;`, `act-cancel`, `act-retry`}, true, "Operation"},
		{"/events", []string{"Jazz Night", fmt.Sprintf(`href="/events/%d"`, ev.ID)}, true, "Events"},
		{fmt.Sprintf("/events/%d", ev.ID), []string{"Jazz Night", `id="event-live"`, "Ticket structure", "General admission", "25.00 USD", "In the shop", "not in the shop yet", `id="op-rows"`}, true, "Jazz Night"},
		{"/companies", []string{"Acme Events", `action="/companies"`, `name="webhook_secret"`}, false, "Companies"},
		{"/keys", []string{`action="/keys"`, `name="scopes"`}, false, "API keys"},
		{"/aliases", []string{"No calls of the deprecated paths."}, false, "Aliases"},
		{"/audit", []string{"session.sign_in", dashAdmin}, false, "Audit log"},
		{"/storage", []string{"3.0 MiB", `id="free-pages">7<`, `id="open-txs">2<`}, false, "Storage"},
		{"/sandbox", []string{"demo", "gid://shopify/Product/1", "Jazz Night"}, false, "Sandbox"},
	}
	for _, tc := range cases {
		r := b.get(tc.path).expect(t, http.StatusOK).contains(t, tc.want...).contains(t, "<title>"+tc.title)
		if tc.live {
			r.contains(t, `ws-connect="/ws?page=`+url.QueryEscape(tc.path)+`"`, `id="conn"`)
		} else {
			r.lacks(t, "ws-connect")
		}
		checkCSPClean(t, r)
		anon := f.browser().get(tc.path).expect(t, http.StatusSeeOther)
		if loc := anon.Header.Get("Location"); loc != "/login?next="+url.QueryEscape(tc.path) {
			t.Fatalf("GET %s signed out: Location %q", tc.path, loc)
		}
	}
	b.get("/operations/999999").expect(t, http.StatusNotFound).contains(t, "Not found", `<nav id="nav-main"`)
	b.get("/events/999999").expect(t, http.StatusNotFound)
	b.get("/operations?status=bogus").expect(t, http.StatusBadRequest).contains(t, "Unknown status")
}

// checkCSPClean fails on anything the page's Content Security Policy would
// refuse: inline scripts, inline styles, style attributes, foreign sources.
func checkCSPClean(t *testing.T, r *dashResp) {
	t.Helper()
	csp := r.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self' ws", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Fatalf("%s: CSP %q lacks %q", r.what, csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Fatalf("%s: CSP allows inline code: %q", r.what, csp)
	}
	if m := regexp.MustCompile(`<script(?:\s[^>]*)?>`).FindAllString(r.Body, -1); m != nil {
		for _, tag := range m {
			if !strings.Contains(tag, ` src="/static/`) {
				t.Fatalf("%s: inline script %s", r.what, tag)
			}
		}
	}
	r.lacks(t, "<style", " style=", "javascript:", " onclick=", " onload=")
	if r.Header.Get("Cache-Control") != "no-store" || r.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("%s: headers %v", r.what, r.Header)
	}
}

type fakeSandbox string

func (s fakeSandbox) SandboxState(context.Context) ([]byte, error) { return []byte(s), nil }

// Names that staff or integrations type are shown as text, never markup.
func TestDashboardEscapesUserNames(t *testing.T) {
	t.Parallel()
	f := setupDash(t)
	evil := `<script>alert("x")</script>`
	co, err := f.eng.CreateCompany(context.Background(), evil+" Inc", nil)
	if err != nil {
		t.Fatal(err)
	}
	ev, op := f.createEvent(evil)
	f.waitOp(op.ID, func(o *engine.Operation) bool { return o.Status.Terminal() })
	if _, _, err := f.eng.CreateAPIKey(context.Background(), co.ID, evil, []engine.Scope{engine.ScopeRead}); err != nil {
		t.Fatal(err)
	}
	b := f.admin()
	escaped := `&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;`
	for _, path := range []string{"/companies", "/keys", fmt.Sprintf("/events/%d", ev.ID), "/events", opPage(op.ID),
		fmt.Sprintf("/events?company=%d", co.ID)} {
		r := b.get(path).expect(t, http.StatusOK).lacks(t, evil)
		if path != fmt.Sprintf("/events?company=%d", co.ID) {
			r.contains(t, escaped)
		}
	}
	// The sign-in form echoes the email typed.
	r := f.browser().do("GET", "/login?next="+url.QueryEscape(`"><script>x</script>`), nil).expect(t, http.StatusOK)
	r.lacks(t, `<script>x</script>`)
}

func TestDashboardStaticAssets(t *testing.T) {
	t.Parallel()
	f := setupDash(t)
	b := f.browser()
	for _, u := range []string{static.URL("css/app.css"), static.URL("vendor/htmx-2.0.11.min.js"), static.URL("js/conn.js")} {
		r := b.get(u).expect(t, http.StatusOK)
		if cc := r.Header.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
			t.Fatalf("%s: Cache-Control %q", u, cc)
		}
		if r.Body == "" || r.Header.Get("Content-Type") == "" {
			t.Fatalf("%s: empty answer", u)
		}
	}
	b.get("/static/css/app.00000000.css").expect(t, http.StatusNotFound)
}

func TestDashboardSignIn(t *testing.T) {
	t.Parallel()
	f := setupDash(t, dashPublicURL("https://ops.example.com"))
	b := f.browser()
	tok := b.token("/login")

	// Wrong password: the form again, with the email kept, no session.
	r := b.post("/login", url.Values{"_csrf": {tok}, "email": {dashAdmin}, "password": {"wrong password!!"}})
	r.expect(t, http.StatusUnauthorized).contains(t, "Wrong email or password.", `value="admin@example.com"`)
	if b.cookies[sessionCookie] != "" {
		t.Fatal("a failed sign-in set a session")
	}
	// No form token: refused before the password is looked at.
	b.post("/login", url.Values{"email": {dashAdmin}, "password": {dashPassword}}).expect(t, http.StatusForbidden)

	req := b.do("POST", "/login?x=1", url.Values{"_csrf": {tok}, "email": {dashAdmin}, "password": {dashPassword}, "next": {"/operations?status=failed"}})
	req.expect(t, http.StatusSeeOther)
	if loc := req.Header.Get("Location"); loc != "/operations?status=failed" {
		t.Fatalf("redirect to %q", loc)
	}
	set := strings.ToLower(strings.Join(req.Header.Values("Set-Cookie"), "\n"))
	for _, want := range []string{sessionCookie + "=", "httponly", "samesite=lax", "secure", "path=/"} {
		if !strings.Contains(set, want) {
			t.Fatalf("session cookie lacks %s:\n%s", want, set)
		}
	}
	b.get("/").expect(t, http.StatusOK).contains(t, dashAdmin, "admin")
	// Signed in, the form sends you on.
	b.get("/login").expect(t, http.StatusSeeOther)

	// Only local redirects.
	for _, next := range []string{"//evil.example/x", "https://evil.example/", `/\evil`} {
		c := f.browser()
		tok := c.token("/login")
		r := c.post("/login", url.Values{"_csrf": {tok}, "email": {dashViewer}, "password": {dashPassword}, "next": {next}})
		if loc := r.Header.Get("Location"); loc != "/" {
			t.Fatalf("next %q redirected to %q", next, loc)
		}
	}

	// Sign-out ends the session for good.
	old := b.cookies[sessionCookie]
	b.post("/logout", url.Values{"_csrf": {b.token("/")}}).expect(t, http.StatusSeeOther)
	b.cookies[sessionCookie] = old
	b.get("/").expect(t, http.StatusSeeOther)
}

func TestDashboardSignInRateLimit(t *testing.T) {
	t.Parallel()
	f := setupDash(t, dashFakeClock(), dashOpts(func(o *Options) {
		o.LoginBurst, o.LoginRefill = 3, time.Minute
	}))
	b := f.browser()
	tok := b.token("/login")
	attempt := func(email, password string) *dashResp {
		return b.post("/login", url.Values{"_csrf": {tok}, "email": {email}, "password": {password}})
	}
	for range 3 {
		attempt(dashAdmin, "not the password").expect(t, http.StatusUnauthorized)
	}
	r := attempt(dashAdmin, dashPassword).expect(t, http.StatusTooManyRequests).contains(t, "Too many sign-in attempts")
	if r.Header.Get("Retry-After") != "60" {
		t.Fatalf("Retry-After %q", r.Header.Get("Retry-After"))
	}
	// The same address is throttled for other emails too.
	attempt(dashViewer, dashPassword).expect(t, http.StatusTooManyRequests)
	f.clock.Add(time.Minute)
	attempt(dashAdmin, dashPassword).expect(t, http.StatusSeeOther)
}

func TestLoginLimiterPerEmailAndPerIP(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLoginLimiter(2, 10*time.Second, func() time.Time { return now }, nil)
	ctx := context.Background()
	// Two attempts against one email from different addresses use up the
	// email's bucket.
	for _, ip := range []string{"ip:10.0.0.1", "ip:10.0.0.2"} {
		if ok, _, _ := l.allow(ctx, ip, "email:a@example.com"); !ok {
			t.Fatal("refused within the burst")
		}
	}
	if ok, wait, _ := l.allow(ctx, "ip:10.0.0.3", "email:a@example.com"); ok || wait != 10*time.Second {
		t.Fatalf("third attempt on one email: ok %v wait %v", ok, wait)
	}
	// A refused attempt takes nothing: the fresh address still has both.
	if ok, _, _ := l.allow(ctx, "ip:10.0.0.3", "email:b@example.com"); !ok {
		t.Fatal("another email from a fresh address refused")
	}
	now = now.Add(10 * time.Second)
	if ok, _, _ := l.allow(ctx, "ip:10.0.0.4", "email:a@example.com"); !ok {
		t.Fatal("not refilled")
	}
}

func TestDashboardSessionExpiry(t *testing.T) {
	t.Parallel()
	f := setupDash(t, dashFakeClock(), dashOpts(func(o *Options) {
		o.SessionIdle, o.SessionMax = 30*time.Minute, 2*time.Hour
	}))
	b := f.admin()
	f.clock.Add(29 * time.Minute)
	b.get("/").expect(t, http.StatusOK)
	f.clock.Add(29 * time.Minute) // active: the idle timer restarted
	b.get("/").expect(t, http.StatusOK)
	f.clock.Add(31 * time.Minute)
	b.get("/").expect(t, http.StatusSeeOther)

	b = f.admin()
	for range 4 {
		f.clock.Add(25 * time.Minute)
		b.get("/").expect(t, http.StatusOK)
	}
	f.clock.Add(25 * time.Minute) // over the absolute limit, however active
	b.get("/").expect(t, http.StatusSeeOther)
}

// Every form needs the session's token; admin forms need an admin; a viewer
// sees no admin form at all.
func TestDashboardFormsAndRoles(t *testing.T) {
	t.Parallel()
	gate := newDashGate(engine.TicketsWork{})
	f := setupDash(t, dashWork(engine.PhaseTickets, gate))
	_, op := f.createEvent("Held")
	gate.waitStarted(t)
	cancelPath := opPage(op.ID) + "/cancel"

	viewer := f.viewer()
	page := viewer.get(opPage(op.ID)).expect(t, http.StatusOK)
	page.lacks(t, "act-cancel", "act-retry", "Cancel operation")
	viewer.get("/companies").expect(t, http.StatusOK).lacks(t, `action="/companies"`, "webhook_secret")
	viewer.get("/keys").expect(t, http.StatusOK).lacks(t, `action="/keys"`, "Revoke")
	// A forged POST by a viewer, even with a valid token, is refused.
	tok := viewer.token("/")
	viewer.post(cancelPath, url.Values{"_csrf": {tok}}).expect(t, http.StatusForbidden).contains(t, "Only admins")
	viewer.post("/companies", url.Values{"_csrf": {tok}, "name": {"Viewer Co"}}).expect(t, http.StatusForbidden)

	admin := f.admin()
	admin.get(opPage(op.ID)).expect(t, http.StatusOK).contains(t, "act-cancel", "Cancel operation")
	// Without the token, with a wrong one, or from another site: refused.
	admin.post(cancelPath, url.Values{}).expect(t, http.StatusForbidden).contains(t, "security token")
	admin.post(cancelPath, url.Values{"_csrf": {tok}}).expect(t, http.StatusForbidden)
	atok := admin.token("/")
	admin.do("POST", cancelPath, url.Values{"_csrf": {atok}}, "Origin", "https://evil.example").expect(t, http.StatusForbidden)
	if got := f.waitOp(op.ID, func(*engine.Operation) bool { return true }); got.CancelAsked {
		t.Fatal("a refused form canceled the operation")
	}
	// A signed-out browser cannot post either.
	f.browser().post(cancelPath, url.Values{"_csrf": {atok}}).expect(t, http.StatusForbidden)

	// The admin's form works, and is audited.
	r := admin.post(cancelPath, url.Values{"_csrf": {atok}}).expect(t, http.StatusSeeOther)
	if r.Header.Get("Location") != opPage(op.ID) {
		t.Fatalf("cancel redirected to %q", r.Header.Get("Location"))
	}
	gate.open()
	failed := f.waitOp(op.ID, func(o *engine.Operation) bool { return o.Status.Terminal() })
	if failed.Status != engine.StatusFailed || failed.Error.Code != engine.CodeOperationCanceled {
		t.Fatalf("after cancel: %s %+v", failed.Status, failed.Error)
	}
	// Canceling again is a conflict, shown as a page.
	admin.post(cancelPath, url.Values{"_csrf": {atok}}).expect(t, http.StatusConflict).contains(t, "already failed")

	// Retry makes a new operation and goes to it.
	r = admin.post(opPage(op.ID)+"/retry", url.Values{"_csrf": {atok}}).expect(t, http.StatusSeeOther)
	loc := r.Header.Get("Location")
	if loc == opPage(op.ID) || !strings.HasPrefix(loc, "/operations/") {
		t.Fatalf("retry went to %q", loc)
	}
	admin.get(loc).expect(t, http.StatusOK).contains(t, fmt.Sprintf("retry of <a href=\"/operations/%d\"", op.ID))

	audit := admin.get("/audit").expect(t, http.StatusOK)
	audit.contains(t, "operation.cancel", "operation.retry", fmt.Sprintf(">operation %d</a>", op.ID),
		"refused: operation", dashAdmin, "0.0.0.0")
	audit.lacks(t, dashViewer+` <span class="muted">viewer</span></td><td><code>operation.cancel`)
}

func TestDashboardCompaniesAndKeys(t *testing.T) {
	t.Parallel()
	f := setupDash(t)
	admin := f.admin()
	tok := admin.token("/companies")

	// A real shop needs its secrets; they are never shown back.
	admin.post("/companies", url.Values{"_csrf": {tok}, "name": {"Shop Co"}, "shop": {"real"},
		"domain": {"shop-co.myshopify.com"}, "token": {"shpat_secret_token"}}).
		expect(t, http.StatusUnprocessableEntity).contains(t, "webhook secret").lacks(t, "shpat_secret_token")
	admin.post("/companies", url.Values{"_csrf": {tok}, "name": {"Shop Co"}, "shop": {"sandbox"}, "domain": {"shop-co"}}).
		expect(t, http.StatusSeeOther)
	page := admin.get("/companies").expect(t, http.StatusOK).contains(t, "Shop Co", "sandbox: shop-co")
	page.lacks(t, "shpat_")
	var shopCo *engine.Company
	cs, _ := f.eng.Companies()
	for _, c := range cs {
		if c.Name == "Shop Co" {
			shopCo = c
		}
	}
	if shopCo == nil || shopCo.Shop == nil || !shopCo.Shop.Sandbox {
		t.Fatalf("company not stored with its sandbox shop: %+v", shopCo)
	}
	// Empty name: the form again with the reason.
	admin.post("/companies", url.Values{"_csrf": {tok}, "name": {"  "}, "shop": {"none"}}).
		expect(t, http.StatusUnprocessableEntity).contains(t, "name can&#39;t be blank")

	// Reconnect the company to another sandbox shop.
	admin.post(fmt.Sprintf("/companies/%d/shop", shopCo.ID), url.Values{"_csrf": {tok}, "shop": {"sandbox"}, "domain": {"other-shop"}}).
		expect(t, http.StatusSeeOther)
	admin.get("/companies").contains(t, "sandbox: other-shop")
	// A real shop without its secrets is refused, and nothing is echoed.
	admin.post(fmt.Sprintf("/companies/%d/shop", shopCo.ID), url.Values{"_csrf": {tok}, "shop": {"real"},
		"domain": {"real-shop.myshopify.com"}, "webhook_secret": {"whsec_hidden"}}).
		expect(t, http.StatusUnprocessableEntity).contains(t, "access token can&#39;t be blank").lacks(t, "whsec_hidden")

	// A key is shown once, then only its prefix.
	admin.post("/keys", url.Values{"_csrf": {tok}, "company": {fmt.Sprint(f.company.ID)}, "name": {"ci"}, "scopes": {"read", "write"}}).
		expect(t, http.StatusSeeOther)
	r := admin.get("/keys").expect(t, http.StatusOK).contains(t, "shown this once", "read, write")
	m := regexp.MustCompile(`id="new-key">(eo_[A-Za-z0-9_-]+)<`).FindStringSubmatch(r.Body)
	if m == nil {
		t.Fatalf("no key shown:\n%s", r.Body)
	}
	key, err := f.eng.Authenticate(m[1])
	if err != nil {
		t.Fatalf("the shown key does not authenticate: %v", err)
	}
	admin.get("/keys").expect(t, http.StatusOK).lacks(t, m[1]).contains(t, key.Prefix+"…")
	admin.post("/keys", url.Values{"_csrf": {tok}, "company": {fmt.Sprint(f.company.ID)}}).
		expect(t, http.StatusUnprocessableEntity).contains(t, "scopes can&#39;t be blank")

	admin.post(fmt.Sprintf("/keys/%d/revoke", key.ID), url.Values{"_csrf": {tok}, "confirm": {"1"}}).expect(t, http.StatusSeeOther)
	if _, err := f.eng.Authenticate(m[1]); err == nil {
		t.Fatal("a revoked key still authenticates")
	}
	admin.get("/keys").contains(t, "revoked")

	audit := admin.get("/audit").expect(t, http.StatusOK)
	audit.contains(t, "company.create", "company.connect_shop", "apikey.create", "apikey.revoke", "sandbox shop other-shop")
	audit.lacks(t, "shpat_secret_token", m[1])
}

func TestDashboardAliasesPage(t *testing.T) {
	t.Parallel()
	f := setupDash(t)
	k, _, err := f.eng.CreateAPIKey(context.Background(), f.company.ID, "legacy poller", []engine.Scope{engine.ScopeRead})
	if err != nil {
		t.Fatal(err)
	}
	f.eng.RecordAliasUse(k.ID, "/api/v2/events/1/sync_jobs/2")
	f.eng.RecordAliasUse(k.ID, "/api/v2/events/1/sync_jobs/3")
	f.admin().get("/aliases").expect(t, http.StatusOK).
		contains(t, "legacy poller", "Acme Events", "<td>2</td>", "/api/v2/events/1/sync_jobs/3")
}

func TestDashboardStorageAndSandboxWithoutSources(t *testing.T) {
	t.Parallel()
	f := setupDash(t)
	b := f.admin()
	b.get("/storage").expect(t, http.StatusOK).contains(t, "without storage statistics")
	b.get("/sandbox").expect(t, http.StatusOK).contains(t, "No sandbox")
}

func TestSandboxShopsTables(t *testing.T) {
	t.Parallel()
	raw := `{"b-shop": {"products": {"2": {"title": "<b>Two</b>", "variants": [1,2]}, "10": {"title": "Ten"}},
		"publications": [], "cost": {"available": 1000}},
		"a-shop": {"orders": [{"id": "gid://shopify/Order/1", "quantity": 2, "refunded": null}]}}`
	shops, err := sandboxShops([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(shops)
	want := `[{"Name":"a-shop","Sections":[{"Name":"orders","Columns":["id","quantity","refunded"],"Rows":[["gid://shopify/Order/1","2",""]],"Text":""}]},` +
		`{"Name":"b-shop","Sections":[{"Name":"cost","Columns":null,"Rows":null,"Text":"{\n  \"available\": 1000\n}"},` +
		`{"Name":"products","Columns":["key","title","variants"],"Rows":[["2","\u003cb\u003eTwo\u003c/b\u003e","[1,2]"],["10","Ten",""]],"Text":""},` +
		`{"Name":"publications","Columns":null,"Rows":null,"Text":"[]"}]}]`
	if string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if _, err := sandboxShops([]byte(`[1]`)); err == nil {
		t.Fatal("a JSON list was taken for shops")
	}
}

// The admin guard the dashboard lends to other routes (GET /backup).
func TestDashboardAdminGuard(t *testing.T) {
	t.Parallel()
	f := setupDash(t)
	f.app.Get("/dash-guarded", f.dash.AdminGuard, func(c *fiber.Ctx) error { return c.SendString("secret") })
	f.admin().get("/dash-guarded").expect(t, http.StatusOK).contains(t, "secret")
	f.viewer().get("/dash-guarded").expect(t, http.StatusForbidden).lacks(t, "secret").contains(t, "Only admins")
	r := f.browser().get("/dash-guarded").expect(t, http.StatusSeeOther)
	if loc := r.Header.Get("Location"); loc != "/login?next=%2Fdash-guarded" {
		t.Fatalf("Location %q", loc)
	}
}

// An engine refusal is answered on a dashboard page with the status the API
// gives the same refusal: an overloaded engine is 503 (try again later), not
// 403, which would tell staff they lack a permission.
func TestDashboardErrorPageStatusFollowsKind(t *testing.T) {
	t.Parallel()
	f := setupDash(t)
	for i, tc := range []struct {
		err    error
		status int
		title  string
	}{
		{engine.NotFound("no such event"), http.StatusNotFound, "Not found"},
		{engine.Conflict("already running"), http.StatusConflict, "Not possible now"},
		{engine.Invalid(engine.FieldError{Attribute: "name", Code: "blank", Message: "can't be blank"}), http.StatusUnprocessableEntity, "Invalid input"},
		{engine.Unauthorized("who are you"), http.StatusUnauthorized, "Not signed in"},
		{engine.Forbidden("not yours"), http.StatusForbidden, "Not allowed"},
		{engine.ErrOverloaded, http.StatusServiceUnavailable, "Too busy now"},
	} {
		path := fmt.Sprintf("/dash-refusal-%d", i)
		err := tc.err
		f.app.Get(path, func(c *fiber.Ctx) error { return f.dash.htmlError(c, nil, err) })
		f.browser().get(path).expect(t, tc.status).contains(t, tc.title)
	}
}

// The name fields of the admin forms hold the browser to the engine's
// limit on a name, so a name too long is refused before it is sent.
func TestDashboardNameFieldsFollowTheEngineLimit(t *testing.T) {
	t.Parallel()
	f := setupDash(t)
	want := fmt.Sprintf(`name="name" required maxlength="%d"`, engine.MaxNameLen)
	f.admin().get("/companies").expect(t, http.StatusOK).contains(t, want)
	f.admin().get("/keys").expect(t, http.StatusOK).contains(t, fmt.Sprintf(`name="name" maxlength="%d"`, engine.MaxNameLen))
}

// A shop that refuses eventops' token requests is named in a banner on
// every page, with Shopify's reason, as a revoked one is.
func TestDashboardBannerForARefusedToken(t *testing.T) {
	t.Parallel()
	f := setupDash(t)
	ctx := context.Background()
	co, err := f.eng.CreateCompany(ctx, "Blue Note", &engine.ShopInput{Sandbox: true, Domain: "blue-note", AccessToken: "shpat_x", WebhookSecret: "whsec"})
	if err != nil {
		t.Fatal(err)
	}
	b := f.admin()
	b.get("/").expect(t, http.StatusOK).lacks(t, "refuses eventops")
	if err := f.eng.NoteShopTokenRefused(ctx, co.ID, co.Shop.Domain, co.Shop.ClientID, "the shop refused the token request (HTTP 400 invalid_grant: expired)"); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/", "/operations", "/companies"} {
		b.get(path).expect(t, http.StatusOK).contains(t, `class="banner"`, "Blue Note", "refuses eventops", "invalid_grant")
	}
}
