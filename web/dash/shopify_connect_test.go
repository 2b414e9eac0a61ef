package dash

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"eventops/engine"
	"eventops/engine/shopify"
	"eventops/engine/shopify/sandbox"
	"eventops/storage"
)

// oauthFixture is a dashboard whose Connect with Shopify goes to a sandbox
// served over HTTP, acme.myshopify.com mapped to it, with the sandbox's
// app set as the installation's app.
type oauthFixture struct {
	*dashFixture
	sb  *sandbox.Sandbox
	srv *httptest.Server
	cfg shopify.Config
}

func setupOAuth(t *testing.T, options ...dashOption) *oauthFixture {
	t.Helper()
	sb, err := sandbox.New(sandbox.Options{Control: true, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sb.Handler())
	t.Cleanup(func() { srv.Close(); sb.Close() })
	if _, err := sb.CreateShop("acme"); err != nil {
		t.Fatal(err)
	}
	cfg := shopify.Config{Logger: quietLogger(), Tokens: shopify.NewTokens(),
		DomainMap: func(d string) (string, bool) {
			name, ok := strings.CutSuffix(d, ".myshopify.com")
			return srv.URL + sandbox.Prefix + name, ok && name == "acme"
		}}
	var eng *engine.Engine
	oauth := shopify.NewOAuth(cfg, func() (*engine.ShopifyApp, engine.Secret, error) { return eng.ShopifyApp() })
	sealer, err := storage.LoadSealer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	options = append(options, dashOpts(func(o *Options) { o.ShopifyOAuth, o.ShopOrigins = oauth, []string{srv.URL} }),
		dashEngine(func(c *engine.Config) { c.Sealer, c.Shops = sealer, shopify.ShopReader(cfg) }))
	f := &oauthFixture{dashFixture: setupDash(t, options...), sb: sb, srv: srv, cfg: cfg}
	eng = f.eng
	app := sb.App()
	if _, err := f.eng.SetShopifyApp(t.Context(), app.ClientID, engine.Secret(app.ClientSecret), shopify.Scopes); err != nil {
		t.Fatal(err)
	}
	return f
}

var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// begin starts Connect with Shopify as b and follows the redirect to the
// shop, which answers with the callback URL; it returns the callback's
// query.
func (f *oauthFixture) begin(b *browser, shop string, extra ...string) url.Values {
	f.t.Helper()
	tok := b.token("/companies")
	form := url.Values{"_csrf": {tok}, "shop": {shop}}
	for i := 0; i+1 < len(extra); i += 2 {
		form.Set(extra[i], extra[i+1])
	}
	r := b.post("/companies/"+strconv.FormatUint(f.company.ID, 10)+"/shopify", form).
		expect(f.t, http.StatusSeeOther)
	to := r.Header.Get("Location")
	if !strings.HasPrefix(to, f.srv.URL+sandbox.Prefix+"acme/admin/oauth/authorize?") {
		f.t.Fatalf("Connect with Shopify went to %q", to)
	}
	resp, err := noFollow.Get(to)
	if err != nil {
		f.t.Fatal(err)
	}
	resp.Body.Close()
	back, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || back.Path != "/shopify/callback" {
		f.t.Fatalf("the shop sent the browser to %q (HTTP %d)", resp.Header.Get("Location"), resp.StatusCode)
	}
	return back.Query()
}

func (f *oauthFixture) kind() engine.ShopAuth {
	c, err := f.eng.Company(f.company.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	if c.Shop == nil {
		return ""
	}
	return c.Shop.Kind()
}

// Connect with Shopify end to end against the sandbox, and every forged or
// refused callback: each shows the Companies page with the reason and
// stores nothing.
func TestConnectWithShopify(t *testing.T) {
	t.Parallel()
	f := setupOAuth(t, dashPublicURL("https://events.example.com"))
	admin := f.admin()
	callback := func(b *browser, q url.Values) *dashResp { return b.get("/shopify/callback?" + q.Encode()) }
	refused := func(what string, r *dashResp, reason string) {
		t.Helper()
		r.expect(t, http.StatusBadRequest).contains(t, "Connect with Shopify failed", reason, "Nothing was stored")
		if k := f.kind(); k != "" {
			t.Fatalf("%s: a connection was stored (%s)", what, k)
		}
	}

	// A forged signature.
	q := f.begin(admin, "acme")
	q.Set("code", q.Get("code")+"x")
	refused("bad hmac", callback(admin, q), "signature (hmac) does not verify")

	// A state of another session.
	q = f.begin(admin, "acme.myshopify.com")
	refused("wrong state", callback(f.admin(), q), "the state does not match")

	// A foreign domain, signed with the app's secret as a forger who knew it
	// would; and a shop other than the one asked for.
	q = f.begin(admin, "acme")
	q.Set("shop", "evil.example.com")
	q.Set("hmac", sandbox.SignQuery(q, f.sb.App().ClientSecret))
	refused("foreign domain", callback(admin, q), "not a NAME.myshopify.com domain")
	q = f.begin(admin, "acme")
	q.Set("shop", "other.myshopify.com")
	q.Set("hmac", sandbox.SignQuery(q, f.sb.App().ClientSecret))
	refused("other shop", callback(admin, q), "another shop")

	// The merchant declines.
	if err := f.sb.SetAppRules("acme", sandbox.AppRules{DenyInstall: true}); err != nil {
		t.Fatal(err)
	}
	refused("denied", callback(admin, f.begin(admin, "acme")), "not approved")

	// Scopes withheld.
	if err := f.sb.SetAppRules("acme", sandbox.AppRules{WithholdScopes: []string{"write_fulfillments"}}); err != nil {
		t.Fatal(err)
	}
	refused("scopes", callback(admin, f.begin(admin, "acme")), "SHOPIFY_SCOPES_MISSING")

	// Approved: connected with expiring tokens; a replayed callback is refused.
	if err := f.sb.SetAppRules("acme", sandbox.AppRules{}); err != nil {
		t.Fatal(err)
	}
	q = f.begin(admin, "acme")
	callback(admin, q).expect(t, http.StatusSeeOther)
	c, _ := f.eng.Company(f.company.ID)
	if c.Shop.Kind() != engine.ShopAuthOAuth || c.Shop.Domain != "acme.myshopify.com" || c.Shop.TokenExpiresAt == nil || len(c.Shop.Scopes) == 0 {
		t.Fatalf("connection: %+v", c.Shop)
	}
	// The shop was set up by the callback, before any save.
	if su := c.Shop.Setup; su == nil || su.FulfillmentServiceID == "" || su.LocationID == "" {
		t.Fatalf("no shop set-up after Connect with Shopify: %+v", su)
	}
	admin.get("/companies").expect(t, http.StatusOK).contains(t, "oauth", "write_products", "Connect with Shopify", "Reconnect")
	callback(admin, q).expect(t, http.StatusBadRequest).contains(t, "the state does not match")
	admin.get("/audit").expect(t, http.StatusOK).contains(t, "company.shopify_connect", "refused: the installation was not approved", "oauth, shop acme.myshopify.com")

	// A viewer cannot start one.
	viewer := f.viewer()
	tok := viewer.token("/companies")
	viewer.post("/companies/"+strconv.FormatUint(f.company.ID, 10)+"/shopify", url.Values{"_csrf": {tok}, "shop": {"acme"}}).
		expect(t, http.StatusForbidden)
}

// A custom-distribution app given with the shop is used for the whole flow
// (authorize, the callback's signature, the exchange) instead of the
// installation's app, and kept on the connection.
func TestConnectWithShopifyCustomApp(t *testing.T) {
	t.Parallel()
	f := setupOAuth(t, dashPublicURL("https://events.example.com"))
	if _, err := f.eng.SetShopifyApp(t.Context(), "someone-else", "shpss_not_this_one", shopify.Scopes); err != nil {
		t.Fatal(err)
	}
	admin := f.admin()
	app := f.sb.App()
	q := f.begin(admin, "acme", "client_id", app.ClientID, "client_secret", app.ClientSecret)
	admin.get("/shopify/callback?"+q.Encode()).expect(t, http.StatusSeeOther)
	c, _ := f.eng.Company(f.company.ID)
	if c.Shop.Kind() != engine.ShopAuthOAuth || c.Shop.ClientID != app.ClientID {
		t.Fatalf("connection: %+v", c.Shop)
	}
	if _, secret, _ := f.eng.OpenShopCredentials(c.Shop); secret.Reveal() != app.ClientSecret {
		t.Error("the custom app's secret does not sign the connection's webhooks")
	}
}

// A plain-http public URL refuses Connect with Shopify with its code.
func TestConnectWithShopifyNeedsHTTPS(t *testing.T) {
	t.Parallel()
	f := setupOAuth(t, dashPublicURL("http://events.example.com"))
	admin := f.admin()
	tok := admin.token("/companies")
	admin.post("/companies/"+strconv.FormatUint(f.company.ID, 10)+"/shopify", url.Values{"_csrf": {tok}, "shop": {"acme"}}).
		expect(t, http.StatusUnprocessableEntity).contains(t, "SHOPIFY_PUBLIC_URL_INSECURE", "https")
}

// Connect with Shopify in Chromium: the admin names the shop, the browser
// goes to the sandbox's authorize page and back to the callback, and the
// Companies page shows the oauth connection, with no console error and no
// CSP violation.
func TestConnectWithShopifyInBrowser(t *testing.T) {
	t.Parallel()
	f := setupOAuth(t, dashListen())
	browser := startChromium(t)
	admin, log := tab(t, browser)
	signInTab(t, admin, f.base, dashAdmin)
	row := "#company-" + strconv.FormatUint(f.company.ID, 10)
	run(t, admin, "connect with Shopify",
		chromedp.Navigate(f.base+"/companies"),
		chromedp.WaitVisible(chromedp.CSS(row+" summary")),
		chromedp.Click(chromedp.CSS(row+" summary")),
		chromedp.WaitVisible(chromedp.CSS(row+" form.connect-shopify input[name=\"shop\"]")),
		chromedp.SendKeys(chromedp.CSS(row+" form.connect-shopify input[name=\"shop\"]"), "acme.myshopify.com"),
		chromedp.Click(chromedp.CSS(row+" form.connect-shopify button[type=\"submit\"]")),
	)
	waitFor(t, admin, "the connection on the Companies page",
		`location.pathname === "/companies" && document.querySelector("`+row+` .connection-kind") !== null && document.querySelector("`+row+` .connection-kind").textContent === "oauth"`)
	if scopes := eval[string](t, admin, `document.querySelector("`+row+` .connection-scopes").textContent`); !strings.Contains(scopes, "write_products") {
		t.Errorf("granted scopes shown: %q", scopes)
	}
	clean(t, admin, log, "after Connect with Shopify")
	c, _ := f.eng.Company(f.company.ID)
	if c.Shop == nil || c.Shop.Kind() != engine.ShopAuthOAuth || c.Shop.RefreshToken == nil {
		t.Fatalf("stored connection: %+v", c.Shop)
	}
}
