package engine_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"eventops/engine"
	"eventops/storage"
	"eventops/storage/pgtest"
)

// nodeClock is a settable clock per node.
type nodeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *nodeClock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *nodeClock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// twoEngines are two nodes' engines (not started: the bookkeeping needs no
// workers) on one PostgreSQL database, each with its own store and clock,
// and a company made through the first. It skips without PostgreSQL.
func twoEngines(t *testing.T) (a, b *engine.Engine, ca, cb *nodeClock, company *engine.Company) {
	t.Helper()
	url := pgtest.Database(t)
	node := func() (*engine.Engine, *nodeClock) {
		db, err := storage.OpenPostgres(context.Background(), url, storage.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		clk := &nodeClock{t: time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)}
		return engine.New(engine.Config{Store: db, SharedStore: true, Logger: quiet, Clock: clk.now}), clk
	}
	a, ca = node()
	b, cb = node()
	company, err := a.CreateCompany(context.Background(), "Acme", nil)
	if err != nil {
		t.Fatal(err)
	}
	return a, b, ca, cb, company
}

// A key used on two nodes keeps its latest use, whichever node flushes
// last: a node whose batch holds an older use does not move it back.
func TestKeyLastUseIsMergedAcrossNodes(t *testing.T) {
	t.Parallel()
	a, b, ca, cb, co := twoEngines(t)
	ctx := context.Background()
	k, plain, err := a.CreateAPIKey(ctx, co.ID, "k", []engine.Scope{engine.ScopeRead})
	if err != nil {
		t.Fatal(err)
	}
	later := time.Date(2026, 11, 1, 10, 0, 30, 0, time.UTC)
	ca.set(later)
	cb.set(later.Add(-20 * time.Second))
	for _, e := range []*engine.Engine{a, b} {
		if _, err := e.Authenticate(plain.Reveal()); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range []*engine.Engine{a, b} { // b's older use is flushed last
		if err := e.FlushKeyUse(ctx); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := b.APIKeys(co.ID)
	if err != nil || len(keys) != 1 || keys[0].ID != k.ID {
		t.Fatalf("keys %v (%v)", keys, err)
	}
	if got := keys[0].LastUsed; got == nil || !got.Equal(later) {
		t.Errorf("last used %v, want the later use %v", got, later)
	}
}

// Alias-use counters flushed by two nodes at once are added, not
// overwritten, and the last seen use is the latest of either node.
func TestAliasUseIsMergedAcrossNodes(t *testing.T) {
	t.Parallel()
	a, b, ca, cb, _ := twoEngines(t)
	ctx := context.Background()
	later := time.Date(2026, 11, 1, 10, 0, 30, 0, time.UTC)
	ca.set(later)
	cb.set(later.Add(-20 * time.Second))
	const rounds = 20
	var wg sync.WaitGroup
	for _, n := range []struct {
		e    *engine.Engine
		path string
	}{{a, "/api/v2/a"}, {b, "/api/v2/b"}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				n.e.RecordAliasUse(7, n.path)
				n.e.RecordAliasUse(7, n.path)
				if err := n.e.FlushAliasUse(ctx); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	uses, err := a.AliasUses()
	if err != nil || len(uses) != 1 {
		t.Fatalf("alias uses %v (%v)", uses, err)
	}
	u := uses[0]
	if u.Count != 2*2*rounds {
		t.Errorf("count %d, want %d (every node's uses)", u.Count, 2*2*rounds)
	}
	if !u.LastSeen.Equal(later) || u.LastPath != "/api/v2/a" {
		t.Errorf("last seen %v at %s, want %v at /api/v2/a (the latest use)", u.LastSeen, u.LastPath, later)
	}
}

// failingStore fails the next Update of a real store once, as a lost
// database connection would.
type failingStore struct {
	engine.Store
	fail atomic.Bool
}

func (s *failingStore) Update(ctx context.Context, fn func(engine.Tx) error) error {
	if s.fail.CompareAndSwap(true, false) {
		return errors.New("connection lost")
	}
	return s.Store.Update(ctx, fn)
}

// A flush of last-use times that fails keeps them for the next one (the
// alias counters already did).
func TestKeyLastUseSurvivesAFailedFlush(t *testing.T) {
	t.Parallel()
	b := setup(t, engine.Config{})
	ctx := context.Background()
	fs := &failingStore{Store: b.db}
	eng := engine.New(engine.Config{Store: fs, Logger: quiet})
	_, plain, err := eng.CreateAPIKey(ctx, b.company.ID, "k", []engine.Scope{engine.ScopeRead})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Authenticate(plain.Reveal()); err != nil {
		t.Fatal(err)
	}
	fs.fail.Store(true)
	if err := eng.FlushKeyUse(ctx); err == nil {
		t.Fatal("flush on a failing store: no error")
	}
	if err := eng.FlushKeyUse(ctx); err != nil {
		t.Fatal(err)
	}
	keys, err := eng.APIKeys(b.company.ID)
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys %v (%v)", keys, err)
	}
	if keys[0].LastUsed == nil {
		t.Error("the use is lost: last used is empty after the failed flush and the next one")
	}
}

// A key or admin token revoked on one node is refused by the other at its
// next request, though that node had it cached: on a shared store every
// request reads the key.
func TestRevocationHoldsAcrossNodes(t *testing.T) {
	t.Parallel()
	a, b, _, _, co := twoEngines(t)
	ctx := context.Background()
	k, plain, err := a.CreateAPIKey(ctx, co.ID, "k", []engine.Scope{engine.ScopeRead})
	if err != nil {
		t.Fatal(err)
	}
	tok, tokPlain, err := a.CreateAdminToken(ctx, "backups")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Authenticate(plain.Reveal()); err != nil {
		t.Fatal(err)
	}
	if _, err := b.AuthenticateAdminToken(tokPlain.Reveal()); err != nil {
		t.Fatal(err)
	}
	if _, err := a.RevokeAPIKey(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := a.RevokeAdminToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Authenticate(plain.Reveal()); engine.ErrorKind(err) != engine.KindUnauthorized {
		t.Errorf("revoked key on the other node: %v, want unauthorized", err)
	}
	if _, err := b.AuthenticateAdminToken(tokPlain.Reveal()); engine.ErrorKind(err) != engine.KindUnauthorized {
		t.Errorf("revoked admin token on the other node: %v, want unauthorized", err)
	}
}
