package web

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"eventops/engine"
	"eventops/storage"
	"eventops/storage/pgtest"
)

// twoNodes is one installation on one PostgreSQL database served by two
// nodes in this process: each its own storage.DB on the same URL, engine
// and server, as two `serve` processes would have (SharedStore, the shared
// rate budget). The companies and keys are made through node A; both
// fixtures name them. It skips without PostgreSQL (see pgtest).
func twoNodes(t *testing.T, opts ...option) (a, b *fixture) {
	t.Helper()
	var o options
	for _, fn := range opts {
		fn(&o)
	}
	url := pgtest.Database(t)
	sealer, err := storage.LoadSealer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	node := func() *fixture {
		db, err := storage.OpenPostgres(context.Background(), url, storage.Options{})
		if err != nil {
			t.Fatalf("open storage: %v", err)
		}
		ecfg := engine.Config{Store: db, SharedStore: true, Work: o.work, Refund: o.refund, Logger: quietLogger(),
			Retry: engine.RetryPolicy{Base: time.Millisecond, Max: 5 * time.Millisecond, Attempts: 2}, Sealer: sealer}
		for _, fn := range o.engine {
			fn(&ecfg)
		}
		eng := engine.New(ecfg)
		if err := eng.Start(context.Background()); err != nil {
			t.Fatalf("start engine: %v", err)
		}
		cfg := o.cfg
		cfg.Engine, cfg.RateBudget = eng, db
		if cfg.Logger == nil {
			cfg.Logger = quietLogger()
		}
		srv := New(cfg)
		t.Cleanup(func() {
			srv.cancel()
			srv.ops.close()
			eng.Stop(5 * time.Second)
			if err := db.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		})
		return &fixture{t: t, db: db, eng: eng, srv: srv, ln: &listener{}}
	}
	a, b = node(), node()
	ctx := context.Background()
	if a.a, err = a.eng.CreateCompany(ctx, "Company A", nil); err != nil {
		t.Fatal(err)
	}
	if a.b, err = a.eng.CreateCompany(ctx, "Company B", nil); err != nil {
		t.Fatal(err)
	}
	key := func(c *engine.Company, scopes ...engine.Scope) (string, uint64) {
		k, plain, err := a.eng.CreateAPIKey(ctx, c.ID, "test", scopes)
		if err != nil {
			t.Fatal(err)
		}
		return plain.Reveal(), k.ID
	}
	a.keyA, a.keyAID = key(a.a, engine.ScopeRead, engine.ScopeWrite)
	a.keyRO, _ = key(a.a, engine.ScopeRead)
	a.keyWO, _ = key(a.a, engine.ScopeWrite)
	a.keyB, a.keyBID = key(a.b, engine.ScopeRead, engine.ScopeWrite)
	b.a, b.b, b.keyA, b.keyAID, b.keyRO, b.keyWO, b.keyB, b.keyBID = a.a, a.b, a.keyA, a.keyAID, a.keyRO, a.keyWO, a.keyB, a.keyBID
	return a, b
}

// get sends GET path with key through the node's app, from any goroutine
// (it reports nothing to the test), and returns the status.
func (f *fixture) get(path, key string) (int, error) {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Header.Set("Authorization", "Token "+key)
	res, err := f.srv.App().Test(req, -1)
	if err != nil {
		return 0, err
	}
	res.Body.Close()
	return res.StatusCode, nil
}

// The rate limit is one budget for a key across the nodes: requests sent
// at once to two nodes are allowed, in sum, at most the limit, and hardly
// fewer (a node's unspent block is all that can be stranded); every other
// answer is 429. Another key keeps its own budget.
func TestRateLimitHoldsAcrossNodes(t *testing.T) {
	t.Parallel()
	const limit = 100
	clk := &clock{t: time.Date(2026, 11, 1, 10, 0, 5, 0, time.UTC)}
	a, b := twoNodes(t, withConfig(func(c *Config) { c.RateLimit = limit; c.Clock = clk.now }))
	var allowed, refused atomic.Int64
	var wg sync.WaitGroup
	const perNode, workers = 150, 6 // 300 requests, three times the limit
	for i := range workers {
		node := a
		if i%2 == 1 {
			node = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perNode / (workers / 2) {
				status, err := node.get("/api/v2/", a.keyA)
				switch {
				case err != nil:
					t.Error(err)
					return
				case status == http.StatusOK:
					allowed.Add(1)
				case status == http.StatusTooManyRequests:
					refused.Add(1)
				default:
					t.Errorf("status %d", status)
				}
			}
		}()
	}
	wg.Wait()
	got := allowed.Load()
	t.Logf("allowed %d, refused %d (limit %d, block %d)", got, refused.Load(), limit, rateBlock(limit))
	if got > limit {
		t.Errorf("two nodes allowed %d requests of one key in a minute, above the limit %d", got, limit)
	}
	if got < limit-2*int64(rateBlock(limit)) {
		t.Errorf("two nodes allowed only %d requests of a limit of %d", got, limit)
	}
	if got+refused.Load() != 2*perNode {
		t.Errorf("%d answers of %d requests", got+refused.Load(), 2*perNode)
	}
	// Both nodes refuse the key now; another key is allowed on both.
	for _, node := range []*fixture{a, b} {
		node.do("GET", "/api/v2/", a.keyA, nil).expectProblem(t, 429, "rate_limit_exceeded")
		node.do("GET", "/api/v2/", a.keyB, nil).expect(t, 200)
	}
	// The next minute is a new budget, on both nodes.
	clk.add(time.Minute)
	for _, node := range []*fixture{a, b} {
		node.do("GET", "/api/v2/", a.keyA, nil).expect(t, 200)
	}
}

// send is do for any goroutine: it reports nothing to the test.
func (f *fixture) send(method, path, key, body string, headers ...hdr) (*resp, error) {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Token "+key)
	for _, h := range headers {
		req.Header.Set(h.k, h.v)
	}
	res, err := f.srv.App().Test(req, -1)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return &resp{Status: res.StatusCode, Header: res.Header, Body: b, req: req}, err
}

// One Idempotency-Key sent to two nodes at once does the work once: each
// node claims the key in the write's commit, the commit that loses the
// race runs again (a serialization failure) and finds the winner's record,
// so every 2xx answer is the first one's, replayed. A node that is still
// handling the key itself answers 409, as on one node.
func TestIdempotencyHoldsAcrossNodes(t *testing.T) {
	t.Parallel()
	a, b := twoNodes(t)
	v, tt := a.venue(a.keyA), a.ticketType(a.keyA)
	// An event (a write with an operation) tried 8 times, then venues
	// tried once on each node: the closest race.
	writes := []struct {
		path, body string
		tries      int
	}{{"/api/v2/events", eventBody(v, tt), 8}}
	const venues = 10
	for range venues {
		writes = append(writes, struct {
			path, body string
			tries      int
		}{"/api/v2/venues", `{"venue": {"name": "Hall", "time_zone": "Europe/Paris"}}`, 2})
	}
	for round, write := range writes {
		key := hdr{"Idempotency-Key", fmt.Sprint("row-", round)}
		tries := write.tries
		answers := make([]*resp, tries)
		var wg sync.WaitGroup
		for i := range tries {
			node := a
			if i%2 == 1 {
				node = b
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := node.send("POST", write.path, a.keyA, write.body, key)
				if err != nil {
					t.Error(err)
					return
				}
				answers[i] = r
			}()
		}
		wg.Wait()
		var first *resp
		fresh, conflicts := 0, 0
		for i, r := range answers {
			switch {
			case r == nil:
			case r.Status == http.StatusConflict:
				conflicts++
			case r.Status != http.StatusCreated:
				t.Errorf("%s try %d: status %d\n%s", write.path, i, r.Status, r.Body)
			default:
				if r.Header.Get("Idempotent-Replayed") == "" {
					fresh++
				}
				if first == nil {
					first = r
				} else if !bytes.Equal(first.Body, r.Body) || first.Header.Get(HeaderOperationID) != r.Header.Get(HeaderOperationID) {
					t.Errorf("%s: two different answers to one key:\n%s\n%s", write.path, first.Body, r.Body)
				}
			}
		}
		t.Logf("%s: %d tries: 1 did the work, %d replayed, %d answered 409", write.path, tries, tries-fresh-conflicts, conflicts)
		if fresh != 1 {
			t.Errorf("%s: %d answers did the work, want 1", write.path, fresh)
		}
	}
	for _, node := range []*fixture{a, b} {
		if n := node.count("/api/v2/events", a.keyA); n != 1 {
			t.Errorf("%d events, want 1", n)
		}
		if n := node.count("/api/v2/operations", a.keyA); n != 1 {
			t.Errorf("%d operations, want 1", n)
		}
		if n := node.count("/api/v2/venues", a.keyA); n != 1+venues {
			t.Errorf("%d venues, want %d (the fixture's and one per key)", n, 1+venues)
		}
	}
}
