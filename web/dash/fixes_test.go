package dash

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"eventops/engine"
)

// A new key is created by POST and shown after the redirect (GET), once: a
// reload neither makes a second key nor shows the first again.
func TestDashboardNewKeyPostRedirectGet(t *testing.T) {
	t.Parallel()
	f := setupDash(t)
	admin := f.admin()
	tok := admin.token("/keys")
	r := admin.post("/keys", url.Values{"_csrf": {tok}, "company": {fmt.Sprint(f.company.ID)}, "name": {"ci"}, "scopes": {"read"}})
	r.expect(t, http.StatusSeeOther).lacks(t, "eo_")
	if loc := r.Header.Get("Location"); loc != "/keys" {
		t.Fatalf("created key redirected to %q", loc)
	}
	page := admin.get("/keys").expect(t, http.StatusOK).contains(t, "shown this once")
	m := regexp.MustCompile(`id="new-key">(eo_[A-Za-z0-9_-]+)<`).FindStringSubmatch(page.Body)
	if m == nil {
		t.Fatalf("the key is not shown after the redirect:\n%s", page.Body)
	}
	key, err := f.eng.Authenticate(m[1])
	if err != nil {
		t.Fatalf("the shown key does not authenticate: %v", err)
	}
	// The reload: the key is gone from the page, and there is still one key.
	admin.get("/keys").expect(t, http.StatusOK).lacks(t, m[1], "shown this once")
	if ks, _ := f.eng.APIKeys(0); len(ks) != 1 {
		t.Fatalf("%d keys after a reload, want 1", len(ks))
	}
	// Another session of the same admin never sees it.
	f.admin().get("/keys").lacks(t, m[1])

	// Every action button names what it acts on.
	admin.get("/keys").contains(t, "Revoke key ci")

	// Revoking asks first, naming the key and its company, and changes nothing.
	revoke := fmt.Sprintf("/keys/%d/revoke", key.ID)
	ask := admin.post(revoke, url.Values{"_csrf": {tok}}).expect(t, http.StatusOK)
	ask.contains(t, "Revoke key", "ci", "Acme Events", key.Prefix, `name="confirm" value="1"`)
	if _, err := f.eng.Authenticate(m[1]); err != nil {
		t.Fatalf("asking to revoke revoked the key: %v", err)
	}
	admin.post(revoke, url.Values{"_csrf": {tok}, "confirm": {"1"}}).expect(t, http.StatusSeeOther)
	if _, err := f.eng.Authenticate(m[1]); err == nil {
		t.Fatal("a confirmed revoke left the key working")
	}
}

// A retried failure links to its retry, the retry to its original, and a
// second retry of the same failure needs a confirmation the server checks.
func TestDashboardRetriedFailureSaysSo(t *testing.T) {
	t.Parallel()
	gate := newDashGate(engine.TicketsWork{})
	f := setupDash(t, dashWork(engine.PhaseTickets, gate))
	_, op := f.createEvent("Held")
	gate.waitStarted(t)
	admin := f.admin()
	tok := admin.token("/")
	admin.post(opPage(op.ID)+"/cancel", url.Values{"_csrf": {tok}}).expect(t, http.StatusSeeOther)
	gate.open()
	f.waitOp(op.ID, func(o *engine.Operation) bool { return o.Status == engine.StatusFailed })

	// Not yet retried: a plain retry, no question asked.
	admin.get(opPage(op.ID)).expect(t, http.StatusOK).lacks(t, "retried as")
	r := admin.post(opPage(op.ID)+"/retry", url.Values{"_csrf": {tok}}).expect(t, http.StatusSeeOther)
	retry := r.Header.Get("Location")
	if !strings.HasPrefix(retry, "/operations/") || retry == opPage(op.ID) {
		t.Fatalf("retry went to %q", retry)
	}
	retryID := strings.TrimPrefix(retry, "/operations/")
	admin.get(retry).contains(t, fmt.Sprintf(`retry of <a href="/operations/%d"`, op.ID))
	admin.get(opPage(op.ID)).contains(t, fmt.Sprintf(`retried as <a href="%s">#%s</a>`, retry, retryID),
		fmt.Sprintf("Retry operation #%d again (already retried)", op.ID))

	// A second retry asks first, naming the retry already made, and makes nothing.
	before, _, _ := f.eng.Operations(engine.OperationQuery{EventID: op.EventID, Limit: 100})
	ask := admin.post(opPage(op.ID)+"/retry", url.Values{"_csrf": {tok}}).expect(t, http.StatusOK)
	ask.contains(t, "already retried as", "#"+retryID, `name="confirm" value="1"`)
	after, _, _ := f.eng.Operations(engine.OperationQuery{EventID: op.EventID, Limit: 100})
	if len(after) != len(before) {
		t.Fatalf("an unconfirmed second retry made an operation: %d → %d", len(before), len(after))
	}
	r = admin.post(opPage(op.ID)+"/retry", url.Values{"_csrf": {tok}, "confirm": {"1"}}).expect(t, http.StatusSeeOther)
	if loc := r.Header.Get("Location"); loc == retry || loc == opPage(op.ID) {
		t.Fatalf("confirmed second retry went to %q", loc)
	}
}

// Colleagues behind one office address: successful sign-ins take nothing
// from the limiter, and once the window after a run of failures has passed
// a correct password gets in, for each of them.
func TestDashboardSignInLimiterSharedAddress(t *testing.T) {
	t.Parallel()
	f := setupDash(t, dashFakeClock(), dashOpts(func(o *Options) {
		o.LoginBurst, o.LoginRefill = 3, time.Minute
	}))
	for i := range 6 {
		email := dashAdmin
		if i%2 == 1 {
			email = dashViewer
		}
		f.browser().signIn(email) // fails the test on any refusal
	}
	b := f.browser()
	tok := b.token("/login")
	for range 3 {
		b.post("/login", url.Values{"_csrf": {tok}, "email": {"someone@example.com"}, "password": {"guess"}}).expect(t, http.StatusUnauthorized)
	}
	b.post("/login", url.Values{"_csrf": {tok}, "email": {dashAdmin}, "password": {dashPassword}}).expect(t, http.StatusTooManyRequests)
	f.clock.Add(time.Minute)
	f.browser().signIn(dashAdmin)
	f.browser().signIn(dashViewer)
}

// A cross-site POST is refused with a page that says so, signed in or not
// (a SameSite=Lax session cookie is not sent with a cross-site POST).
func TestDashboardCrossSitePostSaysSo(t *testing.T) {
	t.Parallel()
	f := setupDash(t)
	admin := f.admin()
	tok := admin.token("/")
	const msg = "came from another site"
	f.browser().do("POST", "/companies", url.Values{"name": {"Forged"}}, "Origin", "https://evil.example").
		expect(t, http.StatusForbidden).contains(t, msg).lacks(t, "session has ended")
	admin.do("POST", "/companies", url.Values{"_csrf": {tok}, "name": {"Forged"}}, "Origin", "https://evil.example").
		expect(t, http.StatusForbidden).contains(t, msg)
	login := f.browser()
	ltok := login.token("/login")
	login.do("POST", "/login", url.Values{"_csrf": {ltok}, "email": {dashAdmin}, "password": {dashPassword}}, "Origin", "https://evil.example").
		expect(t, http.StatusForbidden).contains(t, msg)
	if cs, _ := f.eng.Companies(); len(cs) != 1 {
		t.Fatalf("a cross-site POST made a company: %d companies", len(cs))
	}
}

// Two keys made before the /keys page loads (two tabs) are both shown,
// once: the second does not push the first out unseen.
func TestDashboardTwoNewKeysBothShownOnce(t *testing.T) {
	t.Parallel()
	f := setupDash(t)
	admin := f.admin()
	tok := admin.token("/keys")
	for _, name := range []string{"first", "second"} {
		admin.post("/keys", url.Values{"_csrf": {tok}, "company": {fmt.Sprint(f.company.ID)}, "name": {name}, "scopes": {"read"}}).
			expect(t, http.StatusSeeOther)
	}
	page := admin.get("/keys").expect(t, http.StatusOK).contains(t, "<strong>first</strong>", "<strong>second</strong>")
	shown := regexp.MustCompile(`class="new-key" id="new-key[-0-9]*">(eo_[A-Za-z0-9_-]+)<`).FindAllStringSubmatch(page.Body, -1)
	if len(shown) != 2 {
		t.Fatalf("%d keys shown, want 2:\n%s", len(shown), page.Body)
	}
	for _, m := range shown {
		if _, err := f.eng.Authenticate(m[1]); err != nil {
			t.Fatalf("a shown key does not authenticate: %v", err)
		}
	}
	admin.get("/keys").lacks(t, shown[0][1], shown[1][1], "shown this once")
}
