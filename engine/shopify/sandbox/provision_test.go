package sandbox

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

// POST /sandbox/shopify/shops creates a shop, or reinstalls the app on one
// that exists (a new token, the same secret and currency); it is a control
// route, so it answers only with control on, and only loopback or
// authorised clients; bad input changes nothing.
func TestProvisionShopRoute(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sandbox.db")
	sb, err := New(Options{Path: path, Control: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	srv := httptest.NewServer(sb.Handler())
	t.Cleanup(srv.Close)

	provision := func(body string) (int, ProvisionedShop, string) {
		t.Helper()
		res, err := srv.Client().Post(srv.URL+"/sandbox/shopify/shops", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out struct {
			Shop  ProvisionedShop `json:"shop"`
			Error string          `json:"error"`
		}
		if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return res.StatusCode, out.Shop, out.Error
	}

	status, first, _ := provision(`{"name": "Acme Events", "currency": "EUR"}`)
	mustEqual(t, "created", status, http.StatusCreated)
	mustEqual(t, "name", first.Name, "acme-events")
	mustEqual(t, "currency", first.Currency, "EUR")
	if !first.Created || first.AccessToken == "" || first.WebhookSecret == "" {
		t.Fatalf("first provisioning: %+v", first)
	}
	// The token works against the shop's Admin API.
	b := &bundle{t: t, sb: sb, srv: srv, shop: ShopCredentials{Name: first.Name, AccessToken: first.AccessToken}}
	mustEqual(t, "token", b.gql(`{ shop { currencyCode } }`, nil).str("data.shop.currencyCode"), "EUR")

	// Again: the shop exists, the app is reinstalled.
	status, again, _ := provision(`{"name": "acme-events", "currency": "USD"}`)
	mustEqual(t, "existing", status, http.StatusOK)
	if again.Created || again.AccessToken == first.AccessToken || again.WebhookSecret != first.WebhookSecret || again.Currency != "EUR" {
		t.Fatalf("second provisioning: %+v (first %+v)", again, first)
	}
	mustEqual(t, "old token", b.gql(`{ shop { id } }`, nil).status, http.StatusUnauthorized)
	mustEqual(t, "shops", strings.Join(sb.Shops(), ","), "acme-events")

	// Bad input: 422, nothing created.
	for _, body := range []string{`{}`, `{"name": "x", "currency": "XXX"}`, `{"name": "state"}`, `{"name": 5}`} {
		if status, _, msg := provision(body); status != http.StatusUnprocessableEntity || msg == "" {
			t.Errorf("%s: %d %q, want 422 with an error", body, status, msg)
		}
	}
	mustEqual(t, "shops after refusals", strings.Join(sb.Shops(), ","), "acme-events")

	// A control route: 403 to a client that is not loopback, 404 without
	// control.
	req := httptest.NewRequest(http.MethodPost, "/sandbox/shopify/shops", strings.NewReader(`{"name": "remote"}`))
	req.RemoteAddr = "203.0.113.9:4000"
	rec := httptest.NewRecorder()
	sb.Handler().ServeHTTP(rec, req)
	mustEqual(t, "remote client", rec.Code, http.StatusForbidden)
	plain, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { plain.Close() })
	req = httptest.NewRequest(http.MethodPost, "/sandbox/shopify/shops", strings.NewReader(`{"name": "nocontrol"}`))
	req.RemoteAddr = "127.0.0.1:4000"
	rec = httptest.NewRecorder()
	plain.Handler().ServeHTTP(rec, req)
	mustEqual(t, "without control", rec.Code, http.StatusNotFound)
	mustEqual(t, "shops without control", len(plain.Shops()), 0)

	// Committed before answering: a reopened file has the shop and the
	// token last given.
	srv.Close()
	if err := sb.Close(); err != nil {
		t.Fatal(err)
	}
	sb2, err := New(Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb2.Close() })
	creds, err := sb2.Credentials("acme-events")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "token after reopen", creds.AccessToken, again.AccessToken)
}
