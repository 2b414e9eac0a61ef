package shopify_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"eventops/engine"
)

// A shop that refuses eventops' token requests (here: the refresh token
// ran out) leaves a mark on the connection, with Shopify's reason, which
// the dashboard shows on every page; reconnecting clears it.
func TestRefusedTokenRequestIsRecordedUntilReconnected(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	ctx := context.Background()
	if _, err := b.eng.ConnectShop(ctx, b.company.ID, b.oauthInput()); err != nil {
		t.Fatal(err)
	}
	ev, op := b.create(b.input("Jazz", ptr(10), regType{name: "GA", cents: 2500}))
	if got := b.wait(op.ID); got.Status != engine.StatusCompleted {
		t.Fatalf("first save: %s", opJSON(got))
	}
	refused := func() *engine.Shop {
		t.Helper()
		c, err := b.eng.Company(b.company.ID)
		if err != nil {
			t.Fatal(err)
		}
		return c.Shop
	}
	if s := refused(); s.TokenRefusedAt != nil {
		t.Fatalf("a working connection marked refused: %q", s.TokenRefused)
	}

	b.control(http.MethodPost, "/expire_tokens", nil)
	if err := b.sb.ExpireRefreshTokens(b.shop.Name); err != nil {
		t.Fatal(err)
	}
	_, op = b.update(ev.ID, b.input("Jazz (late)", ptr(10), regType{name: "GA", cents: 2500}))
	got := b.wait(op.ID)
	if got.Status != engine.StatusFailed || got.Error == nil || got.Error.Code != engine.CodeShopifyAuthRejected {
		t.Fatalf("save with a refused refresh: %s", opJSON(got))
	}
	s := refused()
	if s.TokenRefusedAt == nil || !strings.Contains(s.TokenRefused, "invalid_grant") {
		t.Fatalf("the refusal is not recorded: %q %v", s.TokenRefused, s.TokenRefusedAt)
	}
	if strings.Contains(s.TokenRefused, "shpss_") || strings.Contains(s.TokenRefused, "refresh_token=") {
		t.Fatalf("the recorded reason carries a secret: %q", s.TokenRefused)
	}

	// Installing the app again gets tokens: the mark goes.
	if _, err := b.eng.ConnectShop(ctx, b.company.ID, b.oauthInput()); err != nil {
		t.Fatal(err)
	}
	if s := refused(); s.TokenRefusedAt != nil {
		t.Fatalf("still marked refused after a reconnect: %q", s.TokenRefused)
	}
	_, op = b.update(ev.ID, b.input("Jazz (late)", ptr(10), regType{name: "GA", cents: 2500}))
	if got := b.wait(op.ID); got.Status != engine.StatusCompleted {
		t.Fatalf("save after the reconnect: %s", opJSON(got))
	}
}
