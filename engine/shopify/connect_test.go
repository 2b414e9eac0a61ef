package shopify_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"eventops/engine"
	"eventops/engine/shopify"
	"eventops/engine/shopify/sandbox"
)

// appCredentials reads the shop's credentials for every kind from the
// sandbox's control route, as a script would.
func (b *bundle) appCredentials() sandbox.AppCredentials {
	b.t.Helper()
	var c sandbox.AppCredentials
	if err := json.Unmarshal(b.control(http.MethodGet, "/credentials", nil), &c); err != nil {
		b.t.Fatal(err)
	}
	return c
}

// ccInput is a client-credentials connection to the bundle's shop by its
// URL, as a real shop is connected.
func (b *bundle) ccInput() engine.ShopInput {
	c := b.appCredentials()
	return engine.ShopInput{Domain: c.AdminURL, Auth: engine.ShopAuthClientCredentials,
		ClientID: c.ClientID, ClientSecret: engine.Secret(c.ClientSecret)}
}

// oauthInput installs the app on the bundle's shop through OAuth over HTTP
// (authorize, then the code exchanged for expiring offline tokens) and
// returns the oauth connection.
func (b *bundle) oauthInput() engine.ShopInput {
	b.t.Helper()
	c := b.appCredentials()
	q := url.Values{"client_id": {c.ClientID}, "scope": {strings.Join(shopify.Scopes, ",")},
		"redirect_uri": {"http://127.0.0.1:1/shopify/callback"}, "state": {"s1"}}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(c.AdminURL + "/admin/oauth/authorize?" + q.Encode())
	if err != nil {
		b.t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound {
		b.t.Fatalf("authorize: HTTP %d %v", resp.StatusCode, err)
	}
	back := loc.Query()
	if back.Get("hmac") != sandbox.SignQuery(back, c.ClientSecret) || back.Get("state") != "s1" || back.Get("code") == "" {
		b.t.Fatalf("authorize answered %s", loc.RawQuery)
	}
	resp, err = http.PostForm(shopify.TokenURL(c.AdminURL), url.Values{"client_id": {c.ClientID}, "client_secret": {c.ClientSecret},
		"code": {back.Get("code")}, "expiring": {"1"}})
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	var g struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		ExpiresIn    int64  `json:"expires_in"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&g); err != nil || g.RefreshToken == "" || g.ExpiresIn == 0 {
		b.t.Fatalf("code exchange: HTTP %d %v %+v", resp.StatusCode, err, g.ExpiresIn)
	}
	return engine.ShopInput{Domain: c.AdminURL, Auth: engine.ShopAuthOAuth, ClientID: c.ClientID,
		ClientSecret: engine.Secret(c.ClientSecret), AccessToken: engine.Secret(g.AccessToken),
		RefreshToken: engine.Secret(g.RefreshToken)}
}

func (b *bundle) grants(kind string) int {
	b.t.Helper()
	g, err := b.sb.TokenGrants(b.shop.Name)
	if err != nil {
		b.t.Fatal(err)
	}
	return g[kind]
}

// Each kind connects to the shop over HTTP, keeps its credentials sealed,
// signs webhooks with the kind's secret, and saves.
func TestConnectKinds(t *testing.T) {
	t.Parallel()
	for _, kind := range []engine.ShopAuth{engine.ShopAuthToken, engine.ShopAuthClientCredentials, engine.ShopAuthOAuth} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			b := setup(t, options{})
			creds := b.appCredentials()
			var in engine.ShopInput
			wantSecret := creds.ClientSecret
			switch kind {
			case engine.ShopAuthToken:
				in = engine.ShopInput{Domain: creds.AdminURL, AccessToken: engine.Secret(creds.AccessToken),
					WebhookSecret: engine.Secret(creds.APISecret)}
				wantSecret = creds.APISecret
			case engine.ShopAuthClientCredentials:
				in = b.ccInput()
			case engine.ShopAuthOAuth:
				in = b.oauthInput()
			}
			c, err := b.eng.ConnectShop(context.Background(), b.company.ID, in)
			if err != nil {
				t.Fatal(err)
			}
			if c.Shop.Kind() != kind || !slices.Contains(c.Shop.Scopes, "write_products") {
				t.Errorf("connection: kind %s, scopes %v", c.Shop.Kind(), c.Shop.Scopes)
			}
			raw, _ := json.Marshal(c)
			for _, secret := range []string{creds.ClientSecret, creds.AccessToken, in.AccessToken.Reveal(), in.RefreshToken.Reveal()} {
				if secret != "" && strings.Contains(string(raw), secret) {
					t.Errorf("a secret is stored in clear: %s", raw)
				}
			}
			_, hook, err := b.eng.OpenShopCredentials(c.Shop)
			if err != nil || hook.Reveal() != wantSecret {
				t.Errorf("webhook secret of a %s connection: not the expected one (%v)", kind, err)
			}
			_, op := b.create(b.input("Jazz", ptr(10), regType{name: "GA", cents: 2500}))
			if got := b.wait(op.ID); got.Status != engine.StatusCompleted {
				t.Fatalf("save over a %s connection: %s", kind, opJSON(got))
			}
		})
	}
}

// Every token of the shop is expired by the control route between saves:
// each save still completes, with one new grant per expiry (no
// SHOPIFY_AUTH_REJECTED, never two grants for one expiry), counted, not
// timed.
func TestSavesAcrossExpiredTokens(t *testing.T) {
	t.Parallel()
	const saves = 200
	for _, kind := range []engine.ShopAuth{engine.ShopAuthClientCredentials, engine.ShopAuthOAuth} {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			b := setup(t, options{})
			in := b.ccInput()
			grant := "client_credentials"
			if kind == engine.ShopAuthOAuth {
				in, grant = b.oauthInput(), "refresh_token"
			}
			if _, err := b.eng.ConnectShop(context.Background(), b.company.ID, in); err != nil {
				t.Fatal(err)
			}
			before := b.grants(grant)
			ev, op := b.create(b.input("Jazz", ptr(10), regType{name: "GA", cents: 2500}))
			if got := b.wait(op.ID); got.Status != engine.StatusCompleted {
				t.Fatalf("first save: %s", opJSON(got))
			}
			for i := 0; i < saves; i++ {
				b.control(http.MethodPost, "/expire_tokens", nil)
				in := b.input("Jazz", ptr(10+i), regType{name: "GA", cents: 2500})
				_, op := b.update(ev.ID, in)
				if got := b.wait(op.ID); got.Status != engine.StatusCompleted {
					t.Fatalf("save %d after the tokens expired: %s", i+1, opJSON(got))
				}
			}
			if got := b.grants(grant) - before; got != saves {
				t.Errorf("%d %s grants for %d expiries, want one each", got, grant, saves)
			}
		})
	}
}

// A shop that withholds scopes refuses the connection, naming each missing
// one; a granted write scope counts as its read scope; nothing is stored.
func TestConnectScopesMissing(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	b.control(http.MethodPost, "/app", sandbox.AppRules{WithholdScopes: []string{"write_orders", "read_locations", "write_locations"}})
	_, err := b.eng.ConnectShop(context.Background(), b.company.ID, b.ccInput())
	var ee *engine.Error
	if !errors.As(err, &ee) || ee.Code != engine.CodeShopifyScopesMissing || ee.Kind != engine.KindInvalid ||
		!strings.Contains(ee.Message, "write_orders") || !strings.Contains(ee.Message, "read_locations") {
		t.Fatalf("connect without scopes: %v", err)
	}
	c, _ := b.eng.Company(b.company.ID)
	if !c.Shop.Sandbox || c.Shop.Kind() != engine.ShopAuthToken {
		t.Errorf("a refused connection changed the company: %+v", c.Shop)
	}
	if got := shopify.MissingScopes([]string{"write_orders", "read_all_orders"}, []string{"read_orders", "write_orders", "read_all_orders", "read_locations"}); !slices.Equal(got, []string{"read_locations"}) {
		t.Errorf("MissingScopes: %v", got)
	}
}

// A wrong client secret refuses the connection with a clear error and
// stores nothing.
func TestConnectWrongSecret(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	in := b.ccInput()
	in.ClientSecret = "shpss_wrong"
	_, err := b.eng.ConnectShop(context.Background(), b.company.ID, in)
	if engine.ErrorKind(err) != engine.KindInvalid || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("connect with a wrong secret: %v", err)
	}
	if c, _ := b.eng.Company(b.company.ID); !c.Shop.Sandbox {
		t.Errorf("a refused connection changed the company")
	}
}

// A real shop's webhooks are not subscribed to a plain-http public URL:
// the save fails with SHOPIFY_PUBLIC_URL_INSECURE before set-up subscribes
// anything; a loopback one is allowed.
func TestSetupNeedsHTTPSPublicURL(t *testing.T) {
	t.Parallel()
	for base, ok := range map[string]bool{"http://events.example.com": false, "http://127.0.0.1:9/": true} {
		b := setup(t, options{webhooks: base})
		if _, err := b.eng.ConnectShop(context.Background(), b.company.ID, b.ccInput()); err != nil {
			t.Fatal(err)
		}
		_, op := b.create(b.input("Jazz", ptr(10), regType{name: "GA", cents: 2500}))
		got := b.wait(op.ID)
		if ok != (got.Status == engine.StatusCompleted) || (!ok && (got.Error == nil || got.Error.Code != engine.CodeShopifyPublicURLInsecure)) {
			t.Errorf("public URL %s: %s", base, opJSON(got))
		}
	}
}

// An oauth connection end to end with the shop's webhooks: a sale is
// signed with the app's client secret and recorded; the app is uninstalled
// (app/uninstalled revokes the connection and drops its tokens, and saves
// fail with SHOPIFY_AUTH_REJECTED); installing it again and reconnecting
// makes saves complete again.
func TestOAuthUninstallAndReconnect(t *testing.T) {
	t.Parallel()
	h := setupHooked(t, options{})
	ctx := context.Background()
	if _, err := h.eng.ConnectShop(ctx, h.company.ID, h.oauthInput()); err != nil {
		t.Fatal(err)
	}
	ev, op := h.create(h.input("Jazz", ptr(10), regType{name: "GA", cents: 2500}))
	if got := h.wait(op.ID); got.Status != engine.StatusCompleted {
		t.Fatalf("save: %s", opJSON(got))
	}
	st := h.structure(ev.ID)
	if _, err := h.sb.PlaceOrder(h.shop.Name, st.Products[0].Variants[0].ShopifyVariantID, 2); err != nil {
		t.Fatal(err)
	}
	h.delivered("orders/create", 1) // answered 2xx: verified with the client secret

	if err := h.sb.Revoke(h.shop.Name); err != nil {
		t.Fatal(err)
	}
	h.delivered("app/uninstalled", 1)
	c, _ := h.eng.Company(h.company.ID)
	if sec, _ := h.eng.OpenShopSecrets(c.Shop); !c.Shop.Revoked || sec.AccessToken != "" || sec.RefreshToken != "" {
		t.Fatalf("after the uninstall: revoked %v, tokens kept %v", c.Shop.Revoked, sec.AccessToken != "")
	}
	_, op = h.update(ev.ID, engine.EventInput{Name: ptr("Late Jazz")})
	if got := h.wait(op.ID); got.Error == nil || got.Error.Code != engine.CodeShopifyAuthRejected {
		t.Fatalf("save after the uninstall: %s", opJSON(got))
	}

	if _, err := h.eng.ConnectShop(ctx, h.company.ID, h.oauthInput()); err != nil {
		t.Fatal(err)
	}
	_, op = h.update(ev.ID, engine.EventInput{Name: ptr("Later Jazz")})
	if got := h.wait(op.ID); got.Status != engine.StatusCompleted {
		t.Fatalf("save after reconnecting: %s", opJSON(got))
	}
}

// Saves of several events at once, right after every token expired: each
// completes, and the shop answers one token request, not one per phase
// (single-flight per shop).
func TestConcurrentSavesShareOneRefresh(t *testing.T) {
	t.Parallel()
	b := setup(t, options{workers: 8})
	in := b.oauthInput()
	if _, err := b.eng.ConnectShop(context.Background(), b.company.ID, in); err != nil {
		t.Fatal(err)
	}
	b.control(http.MethodPost, "/expire_tokens", nil)
	before := b.grants("refresh_token")
	var ops []*engine.Operation
	for i := 0; i < 8; i++ {
		_, op := b.create(b.input("Jazz "+strconv.Itoa(i), ptr(10), regType{name: "GA", cents: 2500}))
		ops = append(ops, op)
	}
	for _, op := range ops {
		if got := b.wait(op.ID); got.Status != engine.StatusCompleted {
			t.Fatalf("save: %s", opJSON(got))
		}
	}
	if got := b.grants("refresh_token") - before; got != 1 {
		t.Errorf("%d refreshes for one expiry and 8 concurrent saves, want 1", got)
	}
}
