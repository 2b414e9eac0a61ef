package engine_test

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"eventops/engine"
	"eventops/storage"
)

// Connect with Shopify flows are stored with their session: found by the
// state once, never after it expired, the oldest dropped past the cap, the
// custom app's secret sealed; gone with the session.
func TestConnectFlows(t *testing.T) {
	t.Parallel()
	sealer, err := storage.LoadSealer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 5, 5, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	b := setup(t, engine.Config{Sealer: sealer, Clock: clock})
	ctx := context.Background()
	hash := bytes.Repeat([]byte{7}, 32)
	if err := b.eng.PutConnectFlow(ctx, hash, "s0", engine.ConnectStart{CompanyID: 1, Shop: "acme.myshopify.com", Expires: now.Add(time.Minute)}); err != engine.ErrNoSession {
		t.Fatalf("a flow of no session: %v, want ErrNoSession", err)
	}
	u, err := b.eng.CreateUser(ctx, "a@example.com", engine.RoleAdmin, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.eng.PutSession(ctx, &engine.StaffSession{Hash: hash, UserID: u.ID, Created: now, Seen: now, Expires: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	put := func(state string, app *engine.AppCredentials, ttl time.Duration) {
		t.Helper()
		if err := b.eng.PutConnectFlow(ctx, hash, state, engine.ConnectStart{CompanyID: b.company.ID, Shop: "acme.myshopify.com", App: app, Expires: clock().Add(ttl)}); err != nil {
			t.Fatal(err)
		}
	}
	take := func(state string) *engine.ConnectStart {
		t.Helper()
		p, err := b.eng.TakeConnectFlow(ctx, hash, state)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	put("custom", &engine.AppCredentials{ClientID: "cid", ClientSecret: "shpss_custom_secret"}, time.Minute)
	put("short", nil, time.Second)
	rec, _, _ := b.eng.Session(hash)
	if len(rec.Connects) != 2 || bytes.Contains(rec.Connects[0].ClientSecret, []byte("shpss_custom_secret")) || bytes.Contains(rec.Connects[0].StateHash, []byte("custom")) {
		t.Fatalf("stored flows: %+v", rec.Connects)
	}
	advance(2 * time.Second)
	if p := take("short"); p != nil {
		t.Fatalf("an expired flow was taken: %+v", p)
	}
	if p := take("unknown"); p != nil {
		t.Fatalf("an unknown state was taken: %+v", p)
	}
	p := take("custom")
	if p == nil || p.CompanyID != b.company.ID || p.App == nil || p.App.ClientID != "cid" || p.App.ClientSecret.Reveal() != "shpss_custom_secret" {
		t.Fatalf("taken: %+v", p)
	}
	if p := take("custom"); p != nil {
		t.Fatal("a flow was taken twice")
	}
	if rec, _, _ := b.eng.Session(hash); len(rec.Connects) != 0 {
		t.Fatalf("flows left after their take and expiry: %+v", rec.Connects)
	}

	// Past the cap the oldest goes.
	for i := range engine.MaxConnectFlows + 1 {
		put(string(rune('a'+i)), nil, time.Minute)
	}
	if p := take("a"); p != nil {
		t.Fatal("the oldest flow was kept past the cap")
	}
	if p := take("b"); p == nil {
		t.Fatal("a flow within the cap was dropped")
	}
	// Signing out ends them.
	if err := b.eng.EndSession(ctx, hash); err != nil {
		t.Fatal(err)
	}
	if p := take("c"); p != nil {
		t.Fatal("a flow outlived its session")
	}
}

// A value sealed for one purpose does not open as another's.
func TestSealFor(t *testing.T) {
	t.Parallel()
	sealer, err := storage.LoadSealer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b := setup(t, engine.Config{Sealer: sealer})
	sealed, err := b.eng.SealFor("new keys", "eo_secret")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := b.eng.OpenFor("new keys", sealed); err != nil || v != "eo_secret" {
		t.Fatalf("open: %q, %v", v, err)
	}
	if _, err := b.eng.OpenFor("something else", sealed); err == nil {
		t.Fatal("opened for another purpose")
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := b.eng.OpenFor("new keys", sealed); err == nil {
		t.Fatal("an altered value opened")
	}
}
