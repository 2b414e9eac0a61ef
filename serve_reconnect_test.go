package main

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"eventops/engine"
	"eventops/engine/shopify"
	"eventops/engine/shopify/sandbox"
	"eventops/storage"
)

// A company connected to the built-in sandbox as the dashboard and the API
// connect it (a shop name, no token) gets a working connection, and
// reconnecting it after the app was uninstalled works: saves complete, the
// sandbox shop is installed again, and the webhook secret is the shop's
// (it used to say "connected" while every save failed with "company has no
// access token for its shop", the shop stayed revoked, and the webhook
// secret was wiped).
func TestSandboxCompanyReconnects(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sb, err := sandbox.New(sandbox.Options{Control: true, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sb.Handler())
	t.Cleanup(func() { srv.Close(); sb.Close() })
	db, err := storage.Open(filepath.Join(dir, dbFile), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	sealer, err := storage.LoadSealer(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := shopify.Config{SandboxURL: srv.URL, Logger: quiet(), Tokens: shopify.NewTokens()}
	works, refund := shopify.Works(cfg)
	eng := engine.New(engine.Config{Store: db, Sealer: sealer, Logger: quiet(), Work: works, Refund: refund,
		Shops: shopify.ShopReader(cfg), Sandbox: sandboxShops{sb},
		Retry: engine.RetryPolicy{Attempts: 2, Base: time.Millisecond, Max: 5 * time.Millisecond}})
	if err := eng.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Stop(5 * time.Second) })
	ctx := context.Background()

	co, err := eng.CreateCompany(ctx, "Acme", &engine.ShopInput{Sandbox: true, Domain: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	venue, err := eng.CreateVenue(ctx, co.ID, engine.VenueInput{Name: "Hall", TimeZone: "UTC"})
	if err != nil {
		t.Fatal(err)
	}
	tt, err := eng.CreateTicketType(ctx, co.ID, engine.TicketTypeInput{Name: "Admission"})
	if err != nil {
		t.Fatal(err)
	}
	save := func(what string, id uint64) uint64 {
		t.Helper()
		name, typ := "Jazz", engine.EventDate
		start := time.Date(2027, 3, 1, 19, 0, 0, 0, time.UTC)
		amount := int64(2500)
		in := engine.EventInput{Name: &name, Type: &typ, VenueID: &venue.ID, StartsAt: &start, EndsAt: ptrTo(start.Add(time.Hour)),
			RegistrationTypes: &[]engine.RegistrationTypeInput{{Name: "GA", TicketTypeID: tt.ID,
				Price: engine.MoneyInput{Amount: &amount, Currency: "USD"}}}}
		var ev *engine.Event
		var op *engine.Operation
		if id == 0 {
			ev, op, err = eng.CreateEvent(ctx, co.ID, in)
		} else {
			ev, op, err = eng.UpdateEvent(ctx, co.ID, id, in)
		}
		if err != nil {
			t.Fatal(err)
		}
		if got := waitTerminal(t, eng, co.ID, op.ID); got.Status != engine.StatusCompleted {
			t.Fatalf("%s: operation %s: %+v", what, got.Status, got.Error)
		}
		return ev.ID
	}
	ev := save("a save of a company connected to the sandbox by name", 0)

	if err := sb.Revoke("acme"); err != nil { // the app is uninstalled
		t.Fatal(err)
	}
	if _, err := eng.ConnectShop(ctx, co.ID, engine.ShopInput{Sandbox: true, Domain: "acme"}); err != nil {
		t.Fatal(err)
	}
	save("a save after reconnecting", ev)
	if st, err := sb.State("acme"); err != nil || st.Revoked {
		t.Errorf("the sandbox shop is still uninstalled after the reconnect (%v)", err)
	}
	c, err := eng.Company(co.ID)
	if err != nil {
		t.Fatal(err)
	}
	creds, _ := sb.Credentials("acme")
	if _, secret, err := eng.OpenShopCredentials(c.Shop); err != nil || secret.Reveal() != creds.WebhookSecret {
		t.Errorf("the reconnected company's webhook secret is not the shop's (%v)", err)
	}
}

func ptrTo[T any](v T) *T { return &v }
