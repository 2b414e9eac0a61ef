package main

import (
	"net/http/httptest"
	"strings"
	"testing"

	"eventops/engine"
	"eventops/engine/shopify/sandbox"
)

// company create --shopify-auth client-credentials reads the app's client
// id and secret from stdin, gets a token from the shop and checks its
// scopes; company connect reconnects with another kind; shopify-app set
// keeps the app's secret sealed. No secret is ever a flag.
func TestCLIConnectKinds(t *testing.T) {
	t.Parallel()
	sb, err := sandbox.New(sandbox.Options{Control: true, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sb.Handler())
	t.Cleanup(func() { srv.Close(); sb.Close() })
	creds, err := sb.CreateShop("acme")
	if err != nil {
		t.Fatal(err)
	}
	app := sb.App()
	url := srv.URL + sandbox.Prefix + "acme"
	dir := t.TempDir()

	code, out, errOut := runCLI(t, app.ClientID+"\n"+app.ClientSecret+"\n", "company", "create", "--data", dir, "--name", "Acme",
		"--shopify-shop", url, "--shopify-auth", "client-credentials")
	if code != 0 {
		t.Fatalf("company create: exit %d: %s", code, errOut)
	}
	id := strings.TrimSpace(out)
	grants, _ := sb.TokenGrants("acme")
	if grants["client_credentials"] != 1 {
		t.Errorf("client credentials grants at create: %v", grants)
	}

	// A wrong secret is refused, saying why; the company keeps its connection.
	code, _, errOut = runCLI(t, app.ClientID+"\nshpss_wrong\n", "company", "connect", "--data", dir, "--company", id,
		"--shopify-shop", url, "--shopify-auth", "client-credentials")
	if code == 0 || !strings.Contains(errOut, "refused") {
		t.Errorf("connect with a wrong secret: exit %d: %s", code, errOut)
	}
	// Scopes withheld: refused, naming them.
	if err := sb.SetAppRules("acme", sandbox.AppRules{WithholdScopes: []string{"write_inventory", "read_inventory"}}); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runCLI(t, app.ClientID+"\n"+app.ClientSecret+"\n", "company", "connect", "--data", dir, "--company", id,
		"--shopify-shop", url, "--shopify-auth", "client-credentials")
	if code == 0 || !strings.Contains(errOut, "write_inventory") {
		t.Errorf("connect without scopes: exit %d: %s", code, errOut)
	}
	// A token connection is checked too: refused while scopes are withheld.
	code, _, errOut = runCLI(t, creds.AccessToken+"\n"+creds.WebhookSecret+"\n", "company", "connect", "--data", dir, "--company", id,
		"--shopify-shop", url)
	if code == 0 || !strings.Contains(errOut, "write_inventory") {
		t.Errorf("connect a token without scopes: exit %d: %s", code, errOut)
	}
	if err := sb.SetAppRules("acme", sandbox.AppRules{}); err != nil {
		t.Fatal(err)
	}
	// Reconnected with a token connection.
	code, out, errOut = runCLI(t, creds.AccessToken+"\n"+creds.WebhookSecret+"\n", "company", "connect", "--data", dir, "--company", id,
		"--shopify-shop", url)
	if code != 0 || !strings.Contains(out, "(token)") {
		t.Fatalf("connect a token: exit %d: %s %s", code, out, errOut)
	}

	code, _, errOut = runCLI(t, app.ClientSecret+"\n", "shopify-app", "set", "--data", dir, "--client-id", app.ClientID)
	if code != 0 {
		t.Fatalf("shopify-app set: exit %d: %s", code, errOut)
	}
	code, _, errOut = runCLI(t, app.ClientSecret+"\n", "shopify-app", "set", "--data", dir, "--client-id", app.ClientID, "--scopes", "write_products")
	if code == 0 || !strings.Contains(errOut, "write_inventory") {
		t.Errorf("shopify-app set with too few scopes: exit %d: %s", code, errOut)
	}
	db, eng, err := openData(&storeFlags{data: dir}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a, secret, err := eng.ShopifyApp()
	if err != nil || a == nil || a.ClientID != app.ClientID || secret.Reveal() != app.ClientSecret ||
		strings.Contains(string(a.ClientSecret), app.ClientSecret) {
		t.Errorf("the stored app: %+v (%v)", a, err)
	}
	c, err := eng.Company(mustID(t, id))
	if err != nil || c.Shop.Kind() != engine.ShopAuthToken {
		t.Errorf("company after the reconnect: %+v %v", c, err)
	}
}

func mustID(t *testing.T, s string) uint64 {
	t.Helper()
	var id uint64
	for _, r := range s {
		if r < '0' || r > '9' {
			t.Fatalf("not an id: %q", s)
		}
		id = id*10 + uint64(r-'0')
	}
	return id
}
