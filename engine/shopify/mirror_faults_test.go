package shopify_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"eventops/engine"
)

// Mirroring through the shop's failures: throttling, server errors and lost
// answers, a revoked token, products removed behind our back, a crash in
// the middle of the catalog phase.

// Throttling bursts (THROTTLED answers and 429s) slow the operation but do
// not fail it; the phase whose calls were refused shows its retries, and
// metrics count every refused call.
func TestThrottlingSlowsButDoesNotFail(t *testing.T) {
	t.Parallel()
	m := &callCounter{}
	b := setup(t, options{restoreRate: 1000, metrics: m})
	b.faults(fault{Operation: "productSet", Fault: "throttled", Times: 3}, fault{Operation: "metafieldsSet", Fault: "http_429", Times: 3})
	ev, op := b.create(b.input("Busy", nil, regType{"A", 1000, ptr(5)}))
	done := b.completed(op.ID)
	for _, name := range []string{"catalog", "metafields"} {
		p := phase(done, name)
		if p.Attempts < 2 || p.LastError == nil || p.LastError.Code != engine.CodeShopifyThrottledExhausted {
			t.Errorf("%s: attempts %d, last_error %+v; want a retry after SHOPIFY_THROTTLED_EXHAUSTED", name, p.Attempts, p.LastError)
		}
	}
	if n := len(b.products()); n != 1 {
		t.Errorf("products = %d", n)
	}
	_ = ev
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.throttled != 6 || m.calls["ProductSet throttled"] != 3 || m.calls["MetafieldsSet http_429"] != 3 ||
		m.calls["ProductSet ok"] != 1 || m.calls["MetafieldsSet ok"] != 1 || m.cost <= 0 {
		t.Errorf("metrics: %d throttled, calls %v, cost %v; want 6, 3 THROTTLED and 3 429s, then one ok each, some cost", m.throttled, m.calls, m.cost)
	}
}

// 5xx answers and answers lost after the shop applied the call are retried,
// and still exactly one product exists per event.
func TestServerErrorsAndLostAnswers(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	b.faults(
		fault{Operation: "productSet", Fault: "apply_then_drop", Times: 2},
		fault{Operation: "productSet", Fault: "http_503", Times: 1},
		fault{Operation: "inventorySetQuantities", Fault: "apply_then_drop", Times: 1},
		fault{Operation: "publishablePublish", Fault: "http_500", Times: 3},
	)
	var ops []uint64
	for i := range 3 {
		_, op := b.create(b.input(fmt.Sprintf("Show %d", i), nil, regType{"A", 1000, ptr(5)}))
		ops = append(ops, op.ID)
	}
	for _, id := range ops {
		b.completed(id)
	}
	ps := b.products()
	if len(ps) != 3 {
		t.Fatalf("products = %d, want exactly one per event", len(ps))
	}
	loc := b.setupOf().LocationID
	for _, p := range ps {
		if got := p.Variants.Nodes[0].available()[loc]; got != 5 || !p.Published {
			t.Errorf("%s: available %d, published %v", p.Handle, got, p.Published)
		}
	}
	cs := b.calls()
	if n := countCalls(cs, "fulfillmentServiceCreate"); n != 1 {
		t.Errorf("fulfillment services created %d times", n)
	}
	fired := map[string]int{}
	for _, c := range cs {
		if c.Fault != "" {
			fired[c.Operation+" "+c.Fault]++
		}
	}
	want := map[string]int{"productSet apply_then_drop": 2, "productSet http_503": 1,
		"inventorySetQuantities apply_then_drop": 1, "publishablePublish http_500": 3}
	for k, n := range want {
		if fired[k] != n {
			t.Errorf("fault %s fired %d times, want %d (all: %v)", k, fired[k], n, fired)
		}
	}
}

// A revoked token fails the Shopify phases with SHOPIFY_AUTH_REJECTED; a
// connection marked revoked fails them without calling the shop.
func TestRevokedTokenIsRejected(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	ev, op := b.create(b.input("Revoked", nil, regType{"A", 1000, ptr(5)}))
	b.completed(op.ID)
	b.control(http.MethodPost, "/revoke", nil)
	_, op = b.update(ev.ID, engine.EventInput{Name: ptr("Revoked 2")})
	done := b.wait(op.ID)
	if done.Status != engine.StatusFailed || done.Error == nil || done.Error.Code != engine.CodeShopifyAuthRejected ||
		*done.Error.Phase != "catalog" {
		t.Fatalf("after revoke: %s", opJSON(done))
	}
	if p := phase(done, "tickets"); p.Status != engine.StatusCompleted {
		t.Errorf("tickets = %s: it needs no shop", p.Status)
	}

	// The app/uninstalled webhook marks the connection revoked: no call.
	err := b.db.Update(context.Background(), func(tx engine.Tx) error {
		c, err := tx.Company(b.company.ID)
		if err != nil {
			return err
		}
		c.Shop.Revoked = true
		return tx.PutCompany(c)
	})
	if err != nil {
		t.Fatal(err)
	}
	calls := len(b.calls())
	_, op = b.update(ev.ID, engine.EventInput{Name: ptr("Revoked 3")})
	done = b.wait(op.ID)
	if done.Status != engine.StatusFailed || done.Error.Code != engine.CodeShopifyAuthRejected {
		t.Fatalf("revoked connection: %s", opJSON(done))
	}
	if n := len(b.calls()); n != calls {
		t.Errorf("%d calls made with a revoked connection", n-calls)
	}
}

// A product deleted in the shop behind our back is recreated once by the
// next save, and its new ids are recorded.
func TestVanishedProductIsRecreated(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	ev, op := b.create(b.input("Phoenix", nil, regType{"A", 1000, ptr(5)}))
	b.completed(op.ID)
	old := b.productByHandle(b.handleOf(ev.ID))
	b.control(http.MethodDelete, "/products/"+numericID(old.ID), nil)
	_, op = b.update(ev.ID, engine.EventInput{Name: ptr("Phoenix II")})
	b.completed(op.ID)
	ps := b.products()
	if len(ps) != 1 || ps[0].ID == old.ID || ps[0].Title != "Phoenix II" || !ps[0].Published {
		t.Fatalf("after recreation: %+v", ps)
	}
	if got := ps[0].Variants.Nodes[0].available()[b.setupOf().LocationID]; got != 5 {
		t.Errorf("recreated product available = %d", got)
	}
	if s := b.structure(ev.ID); s.Products[0].ShopifyProductID != ps[0].ID {
		t.Errorf("recorded id %s, shop has %s", s.Products[0].ShopifyProductID, ps[0].ID)
	}
}

// When the recreation fails too, catalog fails with CATALOG_PRODUCT_VANISHED.
func TestVanishedProductThatCannotBeRecreated(t *testing.T) {
	t.Parallel()
	rw := &answerRewriter{}
	b := setup(t, options{wrap: func(next http.RoundTripper) http.RoundTripper { rw.next = next; return rw }})
	ev, op := b.create(b.input("Ghost", nil, regType{"A", 1000, ptr(5)}))
	b.completed(op.ID)
	old := b.productByHandle(b.handleOf(ev.ID))
	b.control(http.MethodDelete, "/products/"+numericID(old.ID), nil)
	sets := 0
	rw.mu.Lock()
	rw.rewrite = func(body string, _ int) (string, bool) {
		if !strings.Contains(body, "mutation ProductSet") {
			return "", false
		}
		sets++
		if sets < 2 {
			return "", false // the first upsert finds its variant gone
		}
		return `{"data":{"productSet":{"product":null,"userErrors":[{"field":["input"],"message":"Shop is frozen for new products","code":"CAPABILITY_VIOLATION"}]}}}`, true
	}
	rw.mu.Unlock()
	_, op = b.update(ev.ID, engine.EventInput{Name: ptr("Ghost II")})
	done := b.wait(op.ID)
	if done.Status != engine.StatusFailed || done.Error.Code != engine.CodeCatalogProductVanished {
		t.Fatalf("operation = %s", opJSON(done))
	}
}

// A crash in the middle of catalog (the engine stopped hard while productSet
// is in flight, the store closed and reopened, a new engine) resumes and
// leaves exactly one product.
func TestCrashInCatalogResumes(t *testing.T) {
	t.Parallel()
	g := &gate{held: make(chan struct{}), release: make(chan struct{}),
		match: func(body string) bool { return strings.Contains(body, "mutation ProductSet") }}
	g.armed.Store(true)
	b := setup(t, options{wrap: func(next http.RoundTripper) http.RoundTripper { g.next = next; return g }})
	ev, op := b.create(b.input("Crash", ptr(10), regType{"A", 1000, nil}, regType{"B", 2000, nil}))
	select {
	case <-g.held:
	case <-time.After(30 * time.Second):
		t.Fatal("catalog never called productSet")
	}
	// The shop has made the product; the engine never learns it. Hard
	// stop: running phases are cancelled where they are.
	b.eng.Stop(0)
	cur, err := b.eng.Operation(b.company.ID, op.ID)
	if err != nil || cur.Status != engine.StatusRunning || phase(cur, "catalog").Status != engine.StatusRunning {
		t.Fatalf("after the crash: %v %s", err, opJSON(cur))
	}
	if ps := b.products(); len(ps) != 1 {
		t.Fatalf("the shop should hold the product made before the crash: %+v", ps)
	}
	b.close()
	g.armed.Store(false) // the shop answers again
	close(g.release)
	b.open()
	done := b.completed(op.ID)
	if p := phase(done, "catalog"); p.Attempts < 2 {
		t.Errorf("catalog attempts = %d, want the resumed attempt counted", p.Attempts)
	}
	ps := b.products()
	if len(ps) != 1 || len(ps[0].Variants.Nodes) != 2 {
		t.Fatalf("after resuming: %+v", ps)
	}
	if s := b.structure(ev.ID); s.Products[0].ShopifyProductID != ps[0].ID {
		t.Errorf("recorded %s, shop has %s", s.Products[0].ShopifyProductID, ps[0].ID)
	}
}
