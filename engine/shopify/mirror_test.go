package shopify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"eventops/engine"
	"eventops/engine/shopify/sandbox"
)

// byTitle indexes a product's variants by title.
func byTitle(p *shopProduct) map[string]shopVariant {
	out := map[string]shopVariant{}
	for _, v := range p.Variants.Nodes {
		out[v.Title] = v
	}
	return out
}

func metafields(p *shopProduct) map[string]string {
	out := map[string]string{}
	for _, m := range p.Metafields.Nodes {
		out[m.Key] = m.Value
	}
	return out
}

// Happy path: one product with a variant per registration type at the right
// price, inventory at the fulfillment service's location equal to what is
// left to sell, metafields, published; the six phases completed in
// dependency order; ids recorded on our products; set-up remembered.
func TestSaveMirrorsDateEvent(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	ev, op := b.create(b.input("Jazz Night", ptr(50),
		regType{"General admission", 2500, ptr(80)}, regType{"VIP", 9000, ptr(30)}))
	done := b.completed(op.ID)

	names := []string{}
	for _, p := range done.Phases {
		names = append(names, p.Name)
		if p.Status != engine.StatusCompleted || p.Attempts != 1 || p.LastError != nil {
			t.Errorf("phase %s = %s after %d attempts (last error %v)", p.Name, p.Status, p.Attempts, p.LastError)
		}
	}
	if got := strings.Join(names, ","); got != "tickets,catalog,inventory,metafields,delivery,publish" {
		t.Fatalf("phases = %s", got)
	}
	after := func(p *engine.Phase, deps ...string) {
		for _, d := range deps {
			dp := phase(done, d)
			if p.StartedAt.Before(*dp.FinishedAt) {
				t.Errorf("%s started at %v before %s finished at %v", p.Name, p.StartedAt, d, dp.FinishedAt)
			}
		}
	}
	after(phase(done, "catalog"), "tickets")
	for _, n := range []string{"inventory", "metafields", "delivery"} {
		after(phase(done, n), "catalog")
	}
	after(phase(done, "publish"), "inventory", "metafields", "delivery")

	su := b.setupOf()
	if su == nil || su.FulfillmentServiceID == "" || su.LocationID == "" || su.PublicationID != b.publicationID() {
		t.Fatalf("set-up remembered = %+v", su)
	}
	ps := b.products()
	if len(ps) != 1 {
		t.Fatalf("shop has %d products, want 1", len(ps))
	}
	p := &ps[0]
	if p.Handle != fmt.Sprintf("eventops-%d", ev.ID) || p.Title != "Jazz Night" || p.Status != "ACTIVE" || !p.Published {
		t.Errorf("product = %s %q %s published=%v", p.Handle, p.Title, p.Status, p.Published)
	}
	vs := byTitle(p)
	want := map[string]struct {
		price string
		left  int
	}{"General admission": {"25.00", 50}, "VIP": {"90.00", 30}}
	if len(vs) != len(want) {
		t.Fatalf("variants = %+v", p.Variants.Nodes)
	}
	for title, w := range want {
		v, ok := vs[title]
		if !ok {
			t.Fatalf("no variant %q in %+v", title, vs)
		}
		if v.Price != w.price || v.InventoryPolicy != "DENY" || !v.InventoryItem.Tracked || v.InventoryItem.RequiresShipping {
			t.Errorf("variant %q = price %s policy %s tracked %v shipping %v", title, v.Price, v.InventoryPolicy,
				v.InventoryItem.Tracked, v.InventoryItem.RequiresShipping)
		}
		av := v.available()
		if len(av) != 1 || av[su.LocationID] != w.left {
			t.Errorf("variant %q available = %v, want %d at %s only", title, av, w.left, su.LocationID)
		}
	}
	mf := metafields(p)
	if mf["starts_at"] != "2026-12-05T19:00:00Z" || mf["ends_at"] != "2026-12-05T23:00:00Z" ||
		mf["venue"] != "Blue Room" || mf["time_zone"] != "America/Chicago" ||
		mf["event_id"] != fmt.Sprint(ev.ID) || mf["occurrence_id"] != fmt.Sprint(ev.ID) {
		t.Errorf("metafields = %v", mf)
	}

	s := b.structure(ev.ID)
	sp := s.Products[0]
	if sp.ShopifyProductID != p.ID {
		t.Errorf("recorded product id %q, shop has %q", sp.ShopifyProductID, p.ID)
	}
	for _, v := range sp.Variants {
		if sv := vs[v.Title]; v.ShopifyVariantID != sv.ID || v.InventoryItemID != sv.InventoryItem.ID {
			t.Errorf("recorded variant %q ids %q/%q, shop has %q/%q", v.Title, v.ShopifyVariantID, v.InventoryItemID, sv.ID, sv.InventoryItem.ID)
		}
	}
}

// split_products: one product per registration type, one child phase each,
// named after its registration type.
func TestSaveSplitProducts(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	in := b.input("Gala", nil, regType{"Standing", 1500, ptr(100)}, regType{"Seated", 4000, ptr(20)})
	in.SplitProducts = ptr(true)
	ev, op := b.create(in)
	done := b.completed(op.ID)
	for _, name := range []string{"catalog", "inventory", "metafields", "delivery", "publish"} {
		p := phase(done, name)
		kids := []string{}
		for _, c := range p.Phases {
			kids = append(kids, c.Name)
			if c.Status != engine.StatusCompleted || c.Subject != ev.ID {
				t.Errorf("%s child %q = %s (subject %d)", name, c.Name, c.Status, c.Subject)
			}
		}
		if got := strings.Join(kids, ","); got != "Standing,Seated" {
			t.Errorf("%s children = %s, want Standing,Seated", name, got)
		}
	}
	ps := b.products()
	if len(ps) != 2 {
		t.Fatalf("shop has %d products, want 2", len(ps))
	}
	for _, p := range ps {
		if len(p.Variants.Nodes) != 1 || !p.Published {
			t.Errorf("product %s: %d variants, published %v", p.Handle, len(p.Variants.Nodes), p.Published)
		}
	}
	seated := b.productByHandle(fmt.Sprintf("eventops-%d-%d", ev.ID, ev.RegistrationTypes[1].ID))
	if seated == nil || seated.Variants.Nodes[0].Price != "40.00" || seated.Variants.Nodes[0].available()[b.setupOf().LocationID] != 20 {
		t.Errorf("seated product = %+v", seated)
	}
}

// A recurring event: one product per occurrence, one child phase each,
// named by the occurrence's local date.
func TestSaveRecurringOnePerOccurrence(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	ev, op := b.create(b.weekly("Weekly Jam", 3))
	done := b.completed(op.ID)
	occs := b.children(ev.ID)
	if len(occs) != 3 {
		t.Fatalf("occurrences = %d", len(occs))
	}
	cat := phase(done, "catalog")
	want := []string{"occurrence 2026-12-05", "occurrence 2026-12-12", "occurrence 2026-12-19"}
	if len(cat.Phases) != 3 {
		t.Fatalf("catalog children = %d", len(cat.Phases))
	}
	for i, c := range cat.Phases {
		if c.Name != want[i] || c.Subject != occs[i].ID || c.Status != engine.StatusCompleted {
			t.Errorf("catalog child %d = %q subject %d %s, want %q subject %d", i, c.Name, c.Subject, c.Status, want[i], occs[i].ID)
		}
	}
	ps := b.products()
	if len(ps) != 3 {
		t.Fatalf("shop has %d products, want 3", len(ps))
	}
	loc := b.setupOf().LocationID
	for _, o := range occs {
		p := b.productByHandle(fmt.Sprintf("eventops-%d", o.ID))
		if p == nil {
			t.Fatalf("no product for occurrence %d", o.ID)
		}
		mf := metafields(p)
		if mf["event_id"] != fmt.Sprint(ev.ID) || mf["occurrence_id"] != fmt.Sprint(o.ID) ||
			mf["starts_at"] != o.StartsAt.UTC().Format(time.RFC3339) {
			t.Errorf("occurrence %d metafields = %v", o.ID, mf)
		}
		if got := p.Variants.Nodes[0].available()[loc]; got != 40 || !p.Published {
			t.Errorf("occurrence %d: available %d (want the capacity 40), published %v", o.ID, got, p.Published)
		}
	}
}

// Update: a removed registration type removes its variant, a capacity
// change sets the new quantity with compare-and-set, and saving again
// without a change changes nothing in the shop.
func TestUpdateFollowsTheEvent(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	ev, op := b.create(b.input("Club Night", ptr(100),
		regType{"Early", 1000, ptr(50)}, regType{"Door", 1500, nil}, regType{"VIP", 5000, ptr(10)}))
	b.completed(op.ID)
	loc := b.setupOf().LocationID
	before := b.productByHandle(fmt.Sprintf("eventops-%d", ev.ID))
	if len(before.Variants.Nodes) != 3 || byTitle(before)["Door"].available()[loc] != 100 {
		t.Fatalf("before: %+v", before.Variants.Nodes)
	}

	// Drop VIP, lower the capacity to 60.
	rts := []engine.RegistrationTypeInput{}
	for _, rt := range ev.RegistrationTypes[:2] {
		rts = append(rts, engine.RegistrationTypeInput{ID: ptr(rt.ID), Name: rt.Name, TicketTypeID: rt.TicketTypeID,
			Price: engine.MoneyInput{Amount: ptr(rt.Price.Amount), Currency: rt.Price.Currency}, Quantity: rt.Quantity})
	}
	_, op = b.update(ev.ID, engine.EventInput{Capacity: engine.Nullable[int]{Set: true, Value: ptr(60)}, RegistrationTypes: &rts})
	b.completed(op.ID)
	after := b.productByHandle(fmt.Sprintf("eventops-%d", ev.ID))
	if after.ID != before.ID {
		t.Errorf("product id changed %s → %s", before.ID, after.ID)
	}
	vs := byTitle(after)
	if len(vs) != 2 || vs["Early"].ID != byTitle(before)["Early"].ID {
		t.Fatalf("after: variants %+v (VIP should be gone, the others keep their ids)", after.Variants.Nodes)
	}
	if vs["Early"].available()[loc] != 50 || vs["Door"].available()[loc] != 60 {
		t.Errorf("after: Early %v Door %v, want 50 and 60", vs["Early"].available(), vs["Door"].available())
	}
	// The capacity change was written with compare-and-set from what was read.
	var cas bool
	for _, c := range b.calls() {
		if c.Has("inventorySetQuantities") && strings.Contains(string(c.Variables), `"changeFromQuantity":100`) &&
			strings.Contains(string(c.Variables), `"quantity":60`) {
			cas = true
		}
	}
	if !cas {
		t.Errorf("no inventorySetQuantities from 100 to 60 with changeFromQuantity in the call log")
	}

	// Saving again without a change leaves the shop as it is.
	state := b.state()
	_, op = b.update(ev.ID, engine.EventInput{})
	b.completed(op.ID)
	if got := b.state(); got != state {
		t.Errorf("an unchanged save changed the shop:\nbefore %s\nafter %s", state, got)
	}
}

// Delete takes everything of the event out of the shop; a product already
// deleted there is fine.
func TestDeleteLeavesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	in := b.input("Farewell", nil, regType{"A", 1000, ptr(5)}, regType{"B", 2000, ptr(5)})
	in.SplitProducts = ptr(true)
	ev, op := b.create(in)
	b.completed(op.ID)
	keep, kop := b.create(b.input("Stays", nil, regType{"A", 1000, ptr(5)}))
	b.completed(kop.ID)
	ps := b.products()
	if len(ps) != 3 {
		t.Fatalf("products = %d", len(ps))
	}
	// One of the two products is deleted in the shop's admin first.
	first := b.productByHandle(fmt.Sprintf("eventops-%d-%d", ev.ID, ev.RegistrationTypes[0].ID))
	b.control(http.MethodDelete, "/products/"+numericID(first.ID), nil)

	dop, err := b.eng.DeleteEvent(context.Background(), b.company.ID, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	done := b.completed(dop.ID)
	names := []string{}
	for _, p := range done.Phases {
		names = append(names, p.Name)
	}
	if got := strings.Join(names, ","); got != "publish,catalog,tickets" {
		t.Errorf("delete phases = %s", got)
	}
	left := b.products()
	if len(left) != 1 || left[0].Handle != fmt.Sprintf("eventops-%d", keep.ID) {
		t.Fatalf("left in the shop: %+v", left)
	}
}

func numericID(gid string) string {
	return gid[strings.LastIndex(gid, "/")+1:]
}

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

// A sale racing the inventory write is reconciled: the write is refused as
// stale, re-read, and what the sale took is not written over.
func TestSaleRacingInventoryIsReconciled(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	ev, op := b.create(b.input("Race", ptr(20), regType{"A", 1000, nil}))
	b.completed(op.ID)
	b.faults(fault{Operation: "inventorySetQuantities", Fault: "sell_between", Times: 1, Units: 2})
	_, op = b.update(ev.ID, engine.EventInput{Capacity: engine.Nullable[int]{Set: true, Value: ptr(30)}})
	done := b.completed(op.ID)
	if inv := phase(done, "inventory"); inv.Status != engine.StatusCompleted {
		t.Fatalf("inventory = %+v", inv)
	}
	p := b.productByHandle(fmt.Sprintf("eventops-%d", ev.ID))
	// 30 left to sell in our store, 2 sold in the shop whose order has not
	// reached us: 28, never 30.
	if got := p.Variants.Nodes[0].available()[b.setupOf().LocationID]; got != 28 {
		t.Errorf("available = %d, want 28", got)
	}
}

// A race that never stops fails the operation with INVENTORY_RECONCILE_RAISED
// on inventory; metafields and delivery still complete, publish never starts.
func TestEndlessRaceRaisesReconcile(t *testing.T) {
	t.Parallel()
	b := setup(t, options{staleRounds: 2})
	ev, op := b.create(b.input("Endless", ptr(100), regType{"A", 1000, nil}))
	b.completed(op.ID)
	b.faults(fault{Operation: "inventorySetQuantities", Fault: "sell_between", Times: 1000, Units: 1})
	_, op = b.update(ev.ID, engine.EventInput{Capacity: engine.Nullable[int]{Set: true, Value: ptr(200)}})
	done := b.wait(op.ID)
	if done.Status != engine.StatusFailed || done.Error == nil || done.Error.Code != engine.CodeInventoryReconcileRaised ||
		done.Error.Phase == nil || *done.Error.Phase != "inventory" {
		t.Fatalf("operation = %s", opJSON(done))
	}
	inv := phase(done, "inventory")
	if inv.Attempts != fastRetry.Attempts || inv.LastError == nil || inv.LastError.Code != engine.CodeInventoryStale {
		t.Errorf("inventory: attempts %d, last_error %+v", inv.Attempts, inv.LastError)
	}
	for _, name := range []string{"metafields", "delivery"} {
		if p := phase(done, name); p.Status != engine.StatusCompleted {
			t.Errorf("%s = %s", name, p.Status)
		}
	}
	if p := phase(done, "publish"); p.Status != engine.StatusPending || p.StartedAt != nil {
		t.Errorf("publish = %s", p.Status)
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
	old := b.productByHandle(fmt.Sprintf("eventops-%d", ev.ID))
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
	old := b.productByHandle(fmt.Sprintf("eventops-%d", ev.ID))
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

var _ = json.Marshal

// A box-office sale of one registration type lowers what is left to sell of
// the others (a shared capacity): the engine's inventory-only save makes the
// shop follow.
func TestSaleUpdatesSharedCapacity(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	ev, op := b.create(b.input("Shared", ptr(10), regType{"A", 1000, nil}, regType{"B", 2000, ptr(8)}))
	b.completed(op.ID)
	_, iop, err := b.eng.CreateOrder(context.Background(), b.company.ID, ev.ID,
		engine.OrderInput{RegistrationTypeID: ev.RegistrationTypes[0].ID, Quantity: 3})
	if err != nil || iop == nil {
		t.Fatalf("order: %v, %v", err, iop)
	}
	done := b.completed(iop.ID)
	if len(done.Phases) != 1 || done.Phases[0].Name != "inventory" {
		t.Fatalf("after a sale: %s", opJSON(done))
	}
	vs := byTitle(b.productByHandle(fmt.Sprintf("eventops-%d", ev.ID)))
	loc := b.setupOf().LocationID
	if a, bb := vs["A"].available()[loc], vs["B"].available()[loc]; a != 7 || bb != 7 {
		t.Errorf("available A %d, B %d; want 7 and 7", a, bb)
	}
}

// Shop set-up happens once per shop, also when many saves start together,
// and is idempotent across a crash that lost what was remembered: the next
// set-up finds the fulfillment service and the subscriptions instead of
// making them again.
func TestShopSetupOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, options{webhooks: "http://127.0.0.1:1/eventops"})
	var ops []uint64
	for i := range 5 {
		_, op := b.create(b.input(fmt.Sprintf("Parallel %d", i), nil, regType{"A", 1000, ptr(5)}))
		ops = append(ops, op.ID)
	}
	for _, id := range ops {
		b.completed(id)
	}
	su := b.setupOf()
	if su == nil || !su.Webhooks || su.LocationID == "" || su.PublicationID == "" {
		t.Fatalf("set-up = %+v", su)
	}
	cs := b.calls()
	if n := countCalls(cs, "fulfillmentServiceCreate"); n != 1 {
		t.Errorf("fulfillment service created %d times", n)
	}
	topics := map[string]string{}
	for _, c := range cs {
		if c.Has("webhookSubscriptionCreate") {
			var v struct {
				Topic string `json:"topic"`
				Sub   struct {
					URI string `json:"uri"`
				} `json:"sub"`
			}
			_ = json.Unmarshal(c.Variables, &v)
			topics[v.Topic] = v.Sub.URI
		}
	}
	want := map[string]string{
		"ORDERS_CREATE":    "http://127.0.0.1:1/eventops/webhooks/shopify/orders/create",
		"REFUNDS_CREATE":   "http://127.0.0.1:1/eventops/webhooks/shopify/refunds/create",
		"ORDERS_CANCELLED": "http://127.0.0.1:1/eventops/webhooks/shopify/orders/cancelled",
		"APP_UNINSTALLED":  "http://127.0.0.1:1/eventops/webhooks/shopify/app/uninstalled",
	}
	if fmt.Sprint(topics) != fmt.Sprint(want) || countCalls(cs, "webhookSubscriptionCreate") != 4 {
		t.Errorf("subscriptions = %v", topics)
	}

	// Forget the set-up, as a crash right after making it would.
	err := b.db.Update(context.Background(), func(tx engine.Tx) error {
		c, err := tx.Company(b.company.ID)
		if err != nil {
			return err
		}
		c.Shop.Setup = nil
		return tx.PutCompany(c)
	})
	if err != nil {
		t.Fatal(err)
	}
	_, op := b.create(b.input("After", nil, regType{"A", 1000, ptr(5)}))
	b.completed(op.ID)
	cs = b.calls()
	if countCalls(cs, "fulfillmentServiceCreate") != 1 || countCalls(cs, "webhookSubscriptionCreate") != 4 {
		t.Errorf("set-up made again: %d services, %d subscriptions", countCalls(cs, "fulfillmentServiceCreate"), countCalls(cs, "webhookSubscriptionCreate"))
	}
	if again := b.setupOf(); again == nil || again.LocationID != su.LocationID || again.FulfillmentServiceID != su.FulfillmentServiceID {
		t.Errorf("set-up found again = %+v, want %+v", again, su)
	}
}

// A new event's inventory takes one call: the variants its catalog just
// created hold 0 at our location, so the quantities are written with
// compare-and-set from 0 without being read first. When the shop holds
// something else by then (a merchant's edit raced), that write is refused
// as stale and the phase reads and writes as usual.
func TestNewVariantsAreWrittenWithoutARead(t *testing.T) {
	t.Parallel()
	byOperation := func(cs []sandbox.Call, name string) int {
		n := 0
		for _, c := range cs {
			if strings.Contains(c.Query, " "+name+"(") {
				n++
			}
		}
		return n
	}
	t.Run("as created", func(t *testing.T) {
		t.Parallel()
		b := setup(t, options{})
		ev, op := b.create(b.input("Fresh", ptr(50), regType{"A", 1000, nil}, regType{"B", 2000, ptr(10)}))
		b.completed(op.ID)
		cs := b.calls()
		if n, m := byOperation(cs, "InventoryLevels"), byOperation(cs, "InventorySet"); n != 0 || m != 1 {
			t.Errorf("inventory made %d reads and %d writes, want 0 and 1", n, m)
		}
		vs := byTitle(b.productByHandle(fmt.Sprintf("eventops-%d", ev.ID)))
		loc := b.setupOf().LocationID
		if vs["A"].available()[loc] != 50 || vs["B"].available()[loc] != 10 {
			t.Errorf("available: A %v, B %v; want 50 and 10", vs["A"].available(), vs["B"].available())
		}
	})
	t.Run("edited meanwhile", func(t *testing.T) {
		t.Parallel()
		edit := &beforeFirst{match: "mutation InventorySet("}
		b := setup(t, options{wrap: func(next http.RoundTripper) http.RoundTripper { edit.next = next; return edit }})
		edit.hook = func(body string) {
			// The merchant stocks 7 of the new variant by hand.
			item := regexp.MustCompile(`gid://shopify/InventoryItem/\d+`).FindString(body)
			var out struct {
				InventorySetQuantities struct {
					UserErrors []map[string]any `json:"userErrors"`
				} `json:"inventorySetQuantities"`
			}
			b.gql(`mutation Edit($input: InventorySetQuantitiesInput!) { inventorySetQuantities(input: $input) @idempotent(key: "merchant-edit") { userErrors { message } } }`,
				map[string]any{"input": map[string]any{"name": "available", "reason": "correction", "quantities": []map[string]any{
					{"inventoryItemId": item, "locationId": b.setupOf().LocationID, "quantity": 7, "changeFromQuantity": nil}}}}, &out)
			mustf(t, len(out.InventorySetQuantities.UserErrors) == 0, "merchant edit refused: %v", out.InventorySetQuantities.UserErrors)
		}
		ev, op := b.create(b.input("Edited", nil, regType{"A", 1000, ptr(40)}))
		b.completed(op.ID)
		cs := b.calls()
		if n, m := byOperation(cs, "InventoryLevels"), byOperation(cs, "InventorySet"); n != 1 || m != 2 {
			t.Errorf("inventory made %d reads and %d writes, want 1 and 2 (the guess refused, then read and written)", n, m)
		}
		p := b.productByHandle(fmt.Sprintf("eventops-%d", ev.ID))
		if got := p.Variants.Nodes[0].available()[b.setupOf().LocationID]; got != 40 {
			t.Errorf("available = %d, want 40", got)
		}
	})
}

// beforeFirst runs hook once, before the first call whose body contains
// match reaches the shop.
type beforeFirst struct {
	next  http.RoundTripper
	match string
	hook  func(body string)
	once  sync.Once
}

func (h *beforeFirst) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		raw, _ := io.ReadAll(req.Body)
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(raw))
		if strings.Contains(string(raw), h.match) {
			h.once.Do(func() { h.hook(string(raw)) })
		}
	}
	return h.next.RoundTrip(req)
}

// Tickets ship as digital goods. The variants a new event's catalog just
// created were answered as not requiring shipping, so delivery makes no
// call for them; on a later save it reads the shop, and a variant a
// merchant switched to "requires shipping" is switched back: by the
// catalog's productSet when the switch came before it, by delivery itself
// when it came between the two.
func TestDeliveryKeepsTicketsDigital(t *testing.T) {
	t.Parallel()
	between := &beforeFirst{match: "query Delivery("}
	b := setup(t, options{wrap: func(next http.RoundTripper) http.RoundTripper { between.next = next; return between }})
	callsOf := func(document string) int {
		n := 0
		for _, c := range b.calls() {
			if strings.HasPrefix(c.Query, document) {
				n++
			}
		}
		return n
	}
	ev, op := b.create(b.input("Digital", nil, regType{"A", 1000, ptr(5)}, regType{"B", 2000, ptr(5)}))
	b.completed(op.ID)
	if n := callsOf("query Delivery("); n != 0 {
		t.Errorf("a new event's delivery read the shop %d times, want 0", n)
	}
	handle := fmt.Sprintf("eventops-%d", ev.ID)
	vs := byTitle(b.productByHandle(handle))
	if vs["A"].InventoryItem.RequiresShipping || vs["B"].InventoryItem.RequiresShipping {
		t.Fatalf("new variants require shipping: %+v", vs)
	}

	ship := func(item string) {
		var out struct {
			InventoryItemUpdate struct {
				UserErrors []map[string]any `json:"userErrors"`
			} `json:"inventoryItemUpdate"`
		}
		b.gql(`mutation Ship($id: ID!) { inventoryItemUpdate(id: $id, input: {requiresShipping: true}) { userErrors { message } } }`,
			map[string]any{"id": item}, &out)
		mustf(t, len(out.InventoryItemUpdate.UserErrors) == 0, "merchant edit refused: %v", out.InventoryItemUpdate.UserErrors)
	}
	ship(vs["A"].InventoryItem.ID)
	between.hook = func(string) { ship(vs["B"].InventoryItem.ID) }

	_, op = b.update(ev.ID, engine.EventInput{Name: ptr("Digital, renamed")})
	b.completed(op.ID)
	if n := callsOf("query Delivery("); n != 1 {
		t.Errorf("the update's delivery read the shop %d times, want 1", n)
	}
	if n := callsOf("mutation InventoryItemUpdate("); n != 1 {
		t.Errorf("delivery switched %d items back, want 1 (B)", n)
	}
	vs = byTitle(b.productByHandle(handle))
	if vs["A"].InventoryItem.RequiresShipping || vs["B"].InventoryItem.RequiresShipping {
		t.Errorf("after the update: A requires shipping %v, B %v; want neither",
			vs["A"].InventoryItem.RequiresShipping, vs["B"].InventoryItem.RequiresShipping)
	}
}

// weekly is the input of a weekly event of n occurrences with one
// registration type.
func (b *bundle) weekly(name string, n int) engine.EventInput {
	in := b.input(name, ptr(40), regType{"Entry", 1000, nil})
	in.Type = ptr(engine.EventRecurring)
	in.Recurrence = engine.Nullable[engine.Recurrence]{Set: true, Value: &engine.Recurrence{Frequency: engine.FrequencyWeekly, Interval: 1, Count: n}}
	return in
}

// handles lists the shop's product handles, sorted.
func (b *bundle) handles() []string {
	var out []string
	for _, p := range b.products() {
		out = append(out, p.Handle)
	}
	sort.Strings(out)
	return out
}

// Switching split_products replaces the event's products: the ones no
// structure holds any more are deleted from the shop (never left on sale
// beside their replacements), both ways.
func TestSplitSwitchWithdrawsTheOldProducts(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	ev, op := b.create(b.input("Switch", nil, regType{"A", 1000, ptr(5)}, regType{"B", 2000, ptr(5)}))
	b.completed(op.ID)
	a, bb := ev.RegistrationTypes[0].ID, ev.RegistrationTypes[1].ID
	combined := []string{fmt.Sprintf("eventops-%d", ev.ID)}
	split := []string{fmt.Sprintf("eventops-%d-%d", ev.ID, a), fmt.Sprintf("eventops-%d-%d", ev.ID, bb)}
	sort.Strings(split)
	if got := b.handles(); !slices.Equal(got, combined) {
		t.Fatalf("before: %v, want %v", got, combined)
	}

	_, op = b.update(ev.ID, engine.EventInput{SplitProducts: ptr(true)})
	b.completed(op.ID)
	if got := b.handles(); !slices.Equal(got, split) {
		t.Errorf("split on: %v, want %v", got, split)
	}
	_, op = b.update(ev.ID, engine.EventInput{SplitProducts: ptr(false)})
	b.completed(op.ID)
	if got := b.handles(); !slices.Equal(got, combined) {
		t.Errorf("split off: %v, want %v", got, combined)
	}
	var left []engine.ShopProductRef
	if err := b.db.View(func(tx engine.Tx) error {
		e, err := tx.Event(ev.ID)
		left = e.Withdrawn
		return err
	}); err != nil || len(left) != 0 {
		t.Errorf("withdrawn products still listed: %v, %v", left, err)
	}
}

// An occurrence dropped from a recurring event's rule takes its product out
// of the shop: the save's catalog phase has a "withdrawn products" child
// that deletes it.
func TestDroppedOccurrenceWithdrawsItsProduct(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	ev, op := b.create(b.weekly("Weekly Jam", 3))
	b.completed(op.ID)
	occs := b.children(ev.ID)
	if len(occs) != 3 || len(b.products()) != 3 {
		t.Fatalf("%d occurrences, %d products; want 3 and 3", len(occs), len(b.products()))
	}
	_, op = b.update(ev.ID, engine.EventInput{Recurrence: b.weekly("", 2).Recurrence})
	done := b.completed(op.ID)
	want := []string{fmt.Sprintf("eventops-%d", occs[0].ID), fmt.Sprintf("eventops-%d", occs[1].ID)}
	if got := b.handles(); !slices.Equal(got, want) {
		t.Errorf("products after dropping the last occurrence: %v, want %v", got, want)
	}
	var names []string
	for _, c := range phase(done, "catalog").Phases {
		names = append(names, c.Name+" "+string(c.Status))
	}
	if !slices.Contains(names, "withdrawn products completed") {
		t.Errorf("catalog children = %v, want a completed \"withdrawn products\"", names)
	}
}

// An occurrence edited on its own withdraws what its own structure no
// longer holds, and a product a structure takes back (split_products
// switched back: the upsert by handle adopts it) is never deleted by a
// later save of the series.
func TestOccurrenceSplitSwitchWithdrawsItsOldProduct(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	ev, op := b.create(b.weekly("Weekly Jam", 2))
	b.completed(op.ID)
	occs := b.children(ev.ID)
	o1, o2, rt := occs[0].ID, occs[1].ID, ev.RegistrationTypes[0].ID
	expect := func(when string, handles ...string) {
		t.Helper()
		sort.Strings(handles)
		if got := b.handles(); !slices.Equal(got, handles) {
			t.Errorf("%s: shop holds %v, want %v", when, got, handles)
		}
	}
	_, op = b.update(o2, engine.EventInput{SplitProducts: ptr(true)})
	b.completed(op.ID)
	expect("occurrence split", fmt.Sprintf("eventops-%d", o1), fmt.Sprintf("eventops-%d-%d", o2, rt))
	_, op = b.update(o2, engine.EventInput{SplitProducts: ptr(false)})
	b.completed(op.ID)
	expect("occurrence joined again", fmt.Sprintf("eventops-%d", o1), fmt.Sprintf("eventops-%d", o2))
	_, op = b.update(ev.ID, engine.EventInput{Name: ptr("Weekly Jam, renamed")})
	b.completed(op.ID)
	expect("series renamed", fmt.Sprintf("eventops-%d", o1), fmt.Sprintf("eventops-%d", o2))
	for _, o := range []uint64{o1, o2} {
		if s := b.structure(o); s.Products[0].ShopifyProductID == "" {
			t.Errorf("occurrence %d lost its product id", o)
		}
	}
}
