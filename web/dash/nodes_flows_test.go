package dash

import (
	"encoding/base64"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"eventops/engine"
	"eventops/engine/shopify"
)

var newKeyShown = regexp.MustCompile(`<code class="new-key"[^>]*>([^<]+)</code>`)

// A key made on one node is shown once by the /keys page the redirect
// loads, whichever node serves it, and by no page after that on either;
// the cookie that carries it holds it sealed, not in clear.
func TestNewKeyShownOnceAcrossNodes(t *testing.T) {
	t.Parallel()
	a := setupDash(t, dashPostgres())
	b := setupDash(t, dashNodeOf(a))
	onA := a.admin()
	onB := onA.on(b)
	tok := onA.token("/keys") // two tabs with the form open
	create := func(name string) {
		t.Helper()
		r := onA.post("/keys", url.Values{"_csrf": {tok}, "company": {strconv.FormatUint(a.company.ID, 10)},
			"name": {name}, "scopes": {"read"}}).expect(t, http.StatusSeeOther)
		if loc := r.Header.Get("Location"); loc != "/keys" {
			t.Fatalf("after creating a key: Location %q", loc)
		}
	}
	create("ci")
	create("second tab") // made before the page loaded: both wait
	sealed := onA.cookies[keyFlashCookie]

	page := onB.get("/keys").expect(t, http.StatusOK).contains(t, "Copy it now", "ci", "second tab")
	shown := newKeyShown.FindAllStringSubmatch(page.Body, -1)
	if len(shown) != 2 {
		t.Fatalf("node B showed %d new keys, want 2", len(shown))
	}
	if sealed == "" {
		t.Fatal("no cookie carried the new keys to the next page")
	}
	for _, m := range shown {
		plain := m[1]
		if _, err := b.eng.Authenticate(plain); err != nil {
			t.Fatalf("the key shown does not authenticate: %v", err)
		}
		raw, _ := base64.RawURLEncoding.DecodeString(sealed)
		if strings.Contains(sealed, plain) || strings.Contains(string(raw), plain) {
			t.Fatal("the cookie holds the key in clear")
		}
	}
	if _, ok := onA.cookies[keyFlashCookie]; ok {
		t.Error("the page that showed the keys did not clear their cookie")
	}
	onB.get("/keys").expect(t, http.StatusOK).lacks(t, "Copy it now", shown[0][1])
	onA.get("/keys").expect(t, http.StatusOK).lacks(t, "Copy it now", shown[0][1])

	// A browser that kept the cookie (a copy of it sent again) with
	// another session sees nothing: the flash is bound to its session.
	other := b.admin()
	other.cookies[keyFlashCookie] = sealed
	other.get("/keys").expect(t, http.StatusOK).lacks(t, "Copy it now", shown[0][1])
}

// Connect with Shopify started on node A completes when the shop's
// callback reaches node B, a custom app's client secret included (stored
// sealed meanwhile), and the callback is single-use across the nodes.
func TestConnectWithShopifyAcrossNodes(t *testing.T) {
	t.Parallel()
	a := setupOAuth(t, dashPostgres(), dashPublicURL("https://events.example.com"))
	var bEng *engine.Engine
	oauthB := shopify.NewOAuth(a.cfg, func() (*engine.ShopifyApp, engine.Secret, error) { return bEng.ShopifyApp() })
	b := setupDash(t, dashNodeOf(a.dashFixture), dashPublicURL("https://events.example.com"),
		dashOpts(func(o *Options) { o.ShopifyOAuth, o.ShopOrigins = oauthB, []string{a.srv.URL} }),
		dashEngine(func(c *engine.Config) { c.Shops = shopify.ShopReader(a.cfg) }))
	bEng = b.eng
	if _, err := a.eng.SetShopifyApp(t.Context(), "someone-else", "shpss_not_this_one", shopify.Scopes); err != nil {
		t.Fatal(err)
	}
	onA := a.admin()
	onB := onA.on(b)
	app := a.sb.App()

	q := a.begin(onA, "acme", "client_id", app.ClientID, "client_secret", app.ClientSecret)
	rec, _, err := b.eng.Session([]byte(dashTokenHash(onA.cookies[sessionCookie])))
	if err != nil || rec == nil || len(rec.Connects) != 1 {
		t.Fatalf("the flow is not stored with the session: %+v, %v", rec, err)
	}
	if strings.Contains(string(rec.Connects[0].ClientSecret), app.ClientSecret) || strings.Contains(string(rec.Connects[0].StateHash), q.Get("state")) {
		t.Fatal("the flow is stored with its secret or state in clear")
	}

	onB.get("/shopify/callback?"+q.Encode()).expect(t, http.StatusSeeOther)
	c, err := b.eng.Company(a.company.ID)
	if err != nil || c.Shop == nil || c.Shop.Kind() != engine.ShopAuthOAuth || c.Shop.ClientID != app.ClientID {
		t.Fatalf("connection after the callback on node B: %+v, %v", c, err)
	}
	if rec, _, _ := a.eng.Session([]byte(dashTokenHash(onA.cookies[sessionCookie]))); rec == nil || len(rec.Connects) != 0 {
		t.Fatalf("the used flow is still stored: %+v", rec)
	}
	// Replayed on either node: refused.
	onA.get("/shopify/callback?"+q.Encode()).expect(t, http.StatusBadRequest).contains(t, "the state does not match")
	onB.get("/shopify/callback?"+q.Encode()).expect(t, http.StatusBadRequest).contains(t, "the state does not match")

	// The installation's app, started on B and completed on A.
	if _, err := b.eng.SetShopifyApp(t.Context(), app.ClientID, engine.Secret(app.ClientSecret), shopify.Scopes); err != nil {
		t.Fatal(err)
	}
	q = a.begin(onB, "acme")
	onA.get("/shopify/callback?"+q.Encode()).expect(t, http.StatusSeeOther)
	onB.get("/companies").expect(t, http.StatusOK).contains(t, "oauth", "Reconnect")

	// One callback sent to both nodes at once (a double submit through
	// the load balancer): one completes it, the other is refused.
	q = a.begin(onA, "acme")
	var wg sync.WaitGroup
	statuses := make([]int, 2)
	for i, node := range []*dashFixture{a.dashFixture, b} {
		br := &browser{f: node, cookies: maps.Clone(onA.cookies), origin: onA.origin} // a map each
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = br.get("/shopify/callback?" + q.Encode()).Status
		}()
	}
	wg.Wait()
	slices.Sort(statuses)
	if statuses[0] != http.StatusSeeOther || statuses[1] != http.StatusBadRequest {
		t.Fatalf("one callback on both nodes at once answered %v, want one 303 and one 400", statuses)
	}
}
