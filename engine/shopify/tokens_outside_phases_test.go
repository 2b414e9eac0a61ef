package shopify_test

import (
	"context"
	"net/http"
	"testing"

	"eventops/engine"
)

// Reconciliation and box-office sales call the shop the way phases do: an
// oauth connection whose token expired gets a new one from the token
// source, rather than failing until some phase refreshes it.
func TestReconcileAndBoxOfficeAfterTokensExpire(t *testing.T) {
	t.Parallel()
	b := setup(t, options{reconcile: true})
	if _, err := b.eng.ConnectShop(context.Background(), b.company.ID, b.oauthInput()); err != nil {
		t.Fatal(err)
	}
	ev, op := b.create(b.input("Expiring", ptr(10), regType{"A", 1000, ptr(10)}, regType{"B", 2000, ptr(10)}))
	b.completed(op.ID)

	b.control(http.MethodPost, "/expire_tokens", nil)
	before := b.grants("refresh_token")
	if _, err := b.rec.Shop(context.Background(), b.company.ID); err != nil {
		t.Errorf("reconciliation after the tokens expired: %v", err)
	}
	if got := b.grants("refresh_token") - before; got != 1 {
		t.Errorf("%d refreshes for the reconciliation, want 1", got)
	}

	b.control(http.MethodPost, "/expire_tokens", nil)
	_, op, err := b.eng.CreateOrder(context.Background(), b.company.ID, ev.ID,
		engine.OrderInput{RegistrationTypeID: ev.RegistrationTypes[0].ID, Quantity: 4})
	if err != nil {
		t.Fatalf("box-office sale after the tokens expired: %v", err)
	}
	b.completed(op.ID)
	if got := b.shopLevels(ev.ID, "A", "B"); got != "[3 3]" {
		t.Errorf("after the box-office sale of 4 the shop offers %s, want [3 3]", got)
	}
}

// With --shopify-domain-map, reconciliation and box-office sales reach the
// mapped shop (the sandbox on loopback), as phases do, never the real
// domain.
func TestReconcileAndBoxOfficeThroughTheDomainMap(t *testing.T) {
	t.Parallel()
	b := setup(t, options{reconcile: true, mapDomain: true})
	in := b.oauthInput()
	in.Domain = b.shop.Name + ".myshopify.com"
	if _, err := b.eng.ConnectShop(context.Background(), b.company.ID, in); err != nil {
		t.Fatal(err)
	}
	ev, op := b.create(b.input("Mapped", ptr(10), regType{"A", 1000, ptr(10)}, regType{"B", 2000, ptr(10)}))
	b.completed(op.ID)
	if _, err := b.rec.Shop(context.Background(), b.company.ID); err != nil {
		t.Errorf("reconciliation of a mapped shop: %v", err)
	}
	_, op, err := b.eng.CreateOrder(context.Background(), b.company.ID, ev.ID,
		engine.OrderInput{RegistrationTypeID: ev.RegistrationTypes[0].ID, Quantity: 4})
	if err != nil {
		t.Fatalf("box-office sale of a mapped shop: %v", err)
	}
	b.completed(op.ID)
	if got := b.shopLevels(ev.ID, "A", "B"); got != "[3 3]" {
		t.Errorf("after the box-office sale of 4 the shop offers %s, want [3 3]", got)
	}
}
