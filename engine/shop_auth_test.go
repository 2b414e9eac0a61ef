package engine_test

import (
	"context"
	"strings"
	"testing"

	"eventops/engine"
)

func TestCheckPublicURL(t *testing.T) {
	t.Parallel()
	for u, ok := range map[string]bool{
		"https://events.example.com": true, "http://127.0.0.1:8080": true, "http://localhost:8080/x": true,
		"http://[::1]:8080": true, "http://events.example.com": false, "http://10.0.0.2:8080": false, "ftp://x": false,
	} {
		err := engine.CheckPublicURL(u)
		if (err == nil) != ok {
			t.Errorf("%s: %v", u, err)
		}
		if err != nil && err.(*engine.Error).Code != engine.CodeShopifyPublicURLInsecure {
			t.Errorf("%s: code %v", u, err)
		}
	}
}

// A server without a sandbox (engine.NoSandbox: PostgreSQL without
// --sandbox-url) refuses a sandbox connection with SHOPIFY_SANDBOX_MISSING,
// for a new company and for an existing one, and stores nothing; real
// shops and companies without one are unaffected.
func TestSandboxConnectionWithoutSandbox(t *testing.T) {
	t.Parallel()
	b := setup(t, engine.Config{Sandbox: engine.NoSandbox{}})
	ctx := context.Background()
	before, err := b.eng.Companies()
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.eng.CreateCompany(ctx, "Acme", &engine.ShopInput{Sandbox: true, Domain: "acme"})
	if engine.ErrorCode(err) != engine.CodeShopifySandboxMissing || engine.ErrorKind(err) != engine.KindInvalid {
		t.Fatalf("create with a sandbox shop: %v, want %s (422)", err, engine.CodeShopifySandboxMissing)
	}
	if !strings.Contains(err.Error(), "run `eventops sandbox` and pass --sandbox-url") {
		t.Errorf("the refusal does not say what to do: %v", err)
	}
	_, err = b.eng.ConnectShop(ctx, b.company.ID, engine.ShopInput{Sandbox: true, Domain: "acme"})
	if engine.ErrorCode(err) != engine.CodeShopifySandboxMissing {
		t.Fatalf("connect to a sandbox shop: %v, want %s", err, engine.CodeShopifySandboxMissing)
	}
	after, err := b.eng.Companies()
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Fatalf("%d companies after the refusals, %d before", len(after), len(before))
	}
	if c, err := b.eng.Company(b.company.ID); err != nil || c.Shop != nil {
		t.Fatalf("the company after a refused connection: %+v, %v", c, err)
	}
	if _, err := b.eng.CreateCompany(ctx, "Local", nil); err != nil {
		t.Fatalf("a company without a shop: %v", err)
	}
}
