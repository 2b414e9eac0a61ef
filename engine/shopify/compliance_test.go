package shopify_test

import (
	"context"
	"errors"
	"testing"

	"eventops/engine"
	"eventops/engine/shopify"
)

// The compliance webhooks are verified with the app's client secret,
// answered also for shops eventops does not know, and audited; shop/redact
// erases the shop's credentials. app/uninstalled of an oauth connection,
// signed with its client secret, revokes it and drops its tokens.
func TestComplianceWebhooks(t *testing.T) {
	t.Parallel()
	h := setupHooks(t)
	ctx := context.Background()
	const appSecret = engine.Secret("shpss_app_secret")
	if _, err := h.eng.SetShopifyApp(ctx, "app-id", appSecret, shopify.Scopes); err != nil {
		t.Fatal(err)
	}
	co, err := h.eng.CreateCompany(ctx, "Real", &engine.ShopInput{Domain: "real-shop.myshopify.com", Auth: engine.ShopAuthOAuth,
		ClientID: "app-id", ClientSecret: appSecret, AccessToken: "shpat_a", RefreshToken: "shprt_r"})
	if err != nil {
		t.Fatal(err)
	}
	deliver := func(topic, shop, id string, secret engine.Secret, body string) ([]*engine.WebhookOutcome, error) {
		return h.rcv.Receive(ctx, shopify.Delivery{Topic: topic, ShopDomain: shop, ID: id,
			HMAC: shopify.SignWebhook(secret, []byte(body)), Body: []byte(body)})
	}

	// A shop eventops never knew: still answered, and audited.
	if _, err := deliver("customers/data_request", "gone.myshopify.com", "w1", appSecret,
		`{"shop_domain": "gone.myshopify.com", "customer": {"id": 7}, "orders_requested": [1]}`); err != nil {
		t.Fatalf("data request of an unknown shop: %v", err)
	}
	// A company's webhook secret does not sign compliance deliveries, nor a wrong one.
	for _, secret := range []engine.Secret{hookSecret, "wrong"} {
		if _, err := deliver("customers/redact", "acme.myshopify.com", "w2", secret, `{"customer": {"id": 7}}`); !errors.Is(err, shopify.ErrWebhookUnauthorized) {
			t.Errorf("compliance delivery signed with another secret: %v", err)
		}
	}
	// app/uninstalled, signed with the client secret, revokes and drops the tokens.
	if _, err := deliver("app/uninstalled", "real-shop.myshopify.com", "w3", appSecret, `{"id": 1}`); err != nil {
		t.Fatal(err)
	}
	c, _ := h.eng.Company(co.ID)
	sec, _ := h.eng.OpenShopSecrets(c.Shop)
	if !c.Shop.Revoked || sec.AccessToken != "" || sec.RefreshToken != "" || sec.ClientSecret != appSecret {
		t.Errorf("after the uninstall: revoked %v, tokens kept %v", c.Shop.Revoked, sec.AccessToken != "" || sec.RefreshToken != "")
	}
	// shop/redact erases every credential.
	if _, err := deliver("shop/redact", "real-shop.myshopify.com", "w4", appSecret, `{"shop_domain": "real-shop.myshopify.com"}`); err != nil {
		t.Fatal(err)
	}
	c, _ = h.eng.Company(co.ID)
	if sec, _ = h.eng.OpenShopSecrets(c.Shop); sec.ClientSecret != "" || sec.AccessToken != "" || !c.Shop.Revoked {
		t.Errorf("after shop/redact the credentials remain")
	}
	// Answered again for the same shop (now with nothing to verify it by
	// but the installation's app).
	if out, err := deliver("shop/redact", "real-shop.myshopify.com", "w4", appSecret, `{}`); err != nil || !out[0].Duplicate {
		t.Errorf("repeated shop/redact: %v", err)
	}
	entries, _, err := h.eng.AuditLog(engine.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, e := range entries {
		got[e.Action] = true
	}
	if !got["shopify.customers.data_request"] || !got["shopify.shop.redact"] {
		t.Errorf("audit log: %v", got)
	}
}

// shop/redact erases only the connections of the app whose secret
// verified it: another app's connection to the same shop, and a token
// connection, keep their credentials.
func TestShopRedactErasesOnlyItsAppsConnections(t *testing.T) {
	t.Parallel()
	h := setupHooks(t)
	ctx := context.Background()
	const appSecret, otherSecret = engine.Secret("shpss_app_secret"), engine.Secret("shpss_other_secret")
	if _, err := h.eng.SetShopifyApp(ctx, "app-id", appSecret, shopify.Scopes); err != nil {
		t.Fatal(err)
	}
	const domain = "shared-shop.myshopify.com"
	mine, err := h.eng.CreateCompany(ctx, "Ours", &engine.ShopInput{Domain: domain, Auth: engine.ShopAuthOAuth,
		ClientID: "app-id", ClientSecret: appSecret, AccessToken: "shpat_a", RefreshToken: "shprt_r"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := h.eng.CreateCompany(ctx, "Other app", &engine.ShopInput{Domain: domain, Auth: engine.ShopAuthOAuth,
		ClientID: "other-id", ClientSecret: otherSecret, AccessToken: "shpat_b", RefreshToken: "shprt_s"})
	if err != nil {
		t.Fatal(err)
	}
	legacy, err := h.eng.CreateCompany(ctx, "Legacy", &engine.ShopInput{Domain: domain,
		AccessToken: "shpat_legacy", WebhookSecret: "legacy_secret"})
	if err != nil {
		t.Fatal(err)
	}
	body := `{"shop_domain": "` + domain + `"}`
	if _, err := h.rcv.Receive(ctx, shopify.Delivery{Topic: "shop/redact", ShopDomain: domain, ID: "r1",
		HMAC: shopify.SignWebhook(appSecret, []byte(body)), Body: []byte(body)}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		id     uint64
		name   string
		erased bool
	}{{mine.ID, "the app's own connection", true}, {other.ID, "another app's connection", false}, {legacy.ID, "a token connection", false}} {
		c, _ := h.eng.Company(tc.id)
		sec, _ := h.eng.OpenShopSecrets(c.Shop)
		erased := c.Shop.Revoked && sec.AccessToken == ""
		if erased != tc.erased {
			t.Errorf("%s: erased %v, want %v", tc.name, erased, tc.erased)
		}
	}
}
