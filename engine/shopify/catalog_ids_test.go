package shopify_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"eventops/engine"
)

// Catalog robustness: products are upserted by the id eventops recorded,
// whatever a merchant did to their handles.

// A merchant who edits a product's handle in the shop does not break the
// next save: it updates the same product (no duplicate), by its recorded id.
func TestEditedHandleKeepsTheProduct(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	ev, op := b.create(b.input("Renamed URL", nil, regType{"A", 1000, ptr(5)}))
	b.completed(op.ID)
	before := b.products()
	mustf(t, len(before) == 1, "after the first save: %+v", before)
	b.control(http.MethodPost, "/products/"+numericID(before[0].ID)+"/handle", map[string]string{"handle": "my-own-url"})

	_, op = b.update(ev.ID, engine.EventInput{Name: ptr("Renamed URL, again")})
	done := b.wait(op.ID)
	if done.Status != engine.StatusCompleted {
		t.Fatalf("save after the handle edit: %s", opJSON(done))
	}
	after := b.products()
	if len(after) != 1 || after[0].ID != before[0].ID || after[0].Title != "Renamed URL, again" {
		t.Fatalf("after the save: %+v, want the one product %s", after, before[0].ID)
	}
	// eventops owns the handle (it finds products it never recorded by
	// it): the save sets it again. This is also how a product saved
	// before installation ids gets its new handle.
	if after[0].Handle != b.handleOf(ev.ID) {
		t.Errorf("handle after the save = %q, want %q", after[0].Handle, b.handleOf(ev.ID))
	}
	if s := b.structure(ev.ID); s.Products[0].ShopifyProductID != before[0].ID {
		t.Errorf("recorded id %s, want %s", s.Products[0].ShopifyProductID, before[0].ID)
	}
}

// sibling is a second installation (its own data folder and engine) on the
// same sandbox shop as b, with its own company, venue and ticket type.
func (b *bundle) sibling() *bundle {
	b.t.Helper()
	s := &bundle{t: b.t, dir: b.t.TempDir(), opts: b.opts, quiet: b.quiet, sb: b.sb, srv: b.srv, shop: b.shop, admin: b.admin}
	s.open()
	b.t.Cleanup(s.close)
	ctx := context.Background()
	var err error
	s.company, err = s.eng.CreateCompany(ctx, "Acme too", &engine.ShopInput{Sandbox: true, Domain: b.shop.Name,
		AccessToken: engine.Secret(b.shop.AccessToken), WebhookSecret: engine.Secret(b.shop.WebhookSecret)})
	if err != nil {
		b.t.Fatalf("company: %v", err)
	}
	if s.venue, err = s.eng.CreateVenue(ctx, s.company.ID, engine.VenueInput{Name: "Blue Room", TimeZone: "America/Chicago"}); err != nil {
		b.t.Fatalf("venue: %v", err)
	}
	if s.tickets, err = s.eng.CreateTicketType(ctx, s.company.ID, engine.TicketTypeInput{Name: "Admission"}); err != nil {
		b.t.Fatalf("ticket type: %v", err)
	}
	return s
}

// Two installations on one shop (or a fresh data folder beside an old one)
// number their events alike; each keeps its own products: the second one's
// first save creates a product rather than adopting the first one's.
func TestTwoInstallationsOnOneShop(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	other := b.sibling()
	mustf(t, b.inst != other.inst, "both installations drew id %q", b.inst)

	ev1, op := b.create(b.input("Jazz Night", nil, regType{"A", 1000, ptr(5)}))
	b.completed(op.ID)
	ev2, op := other.create(other.input("Jazz Night", nil, regType{"A", 2000, ptr(7)}))
	other.completed(op.ID)
	mustf(t, ev1.ID == ev2.ID, "the installations numbered the events %d and %d: the test needs them alike", ev1.ID, ev2.ID)

	ps := b.products()
	if len(ps) != 2 || ps[0].ID == ps[1].ID {
		t.Fatalf("the shop holds %d products, want one per installation: %+v", len(ps), ps)
	}
	mine, theirs := b.structure(ev1.ID).Products[0], other.structure(ev2.ID).Products[0]
	if mine.ShopifyProductID == theirs.ShopifyProductID || mine.Handle == theirs.Handle {
		t.Fatalf("both installations hold product %s (handles %q, %q)", mine.ShopifyProductID, mine.Handle, theirs.Handle)
	}
	prices := map[string]string{}
	for _, p := range ps {
		prices[p.ID] = p.Variants.Nodes[0].Price
		for _, v := range p.Variants.Nodes {
			mustf(t, strings.Contains(v.SKU, "-"+b.inst+"-") != strings.Contains(v.SKU, "-"+other.inst+"-"),
				"SKU %q names neither or both installations (%s, %s)", v.SKU, b.inst, other.inst)
		}
	}
	if prices[mine.ShopifyProductID] != "10.00" || prices[theirs.ShopifyProductID] != "20.00" {
		t.Errorf("prices by product = %v: one installation overwrote the other's", prices)
	}
}

// The longest names an event and its registration type may have, in a
// recurring event with a product per type, still make products Shopify
// accepts: titles within 255 characters that keep each occurrence's date.
func TestLongNamesMakeValidTitles(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	name := strings.Repeat("Jazz ", engine.MaxNameLen/5)
	typ := strings.Repeat("Front row ", engine.MaxNameLen/10)
	in := b.weekly(name, 2)
	rts := *in.RegistrationTypes
	rts[0].Name = typ
	in.SplitProducts = ptr(true)
	ev, op := b.create(in)
	done := b.wait(op.ID)
	if done.Status != engine.StatusCompleted {
		t.Fatalf("save with the longest names: %s", opJSON(done))
	}
	dates := map[string]bool{"Sat 5 Dec 2026 13:00": false, "Sat 12 Dec 2026 13:00": false}
	ps := b.products()
	mustf(t, len(ps) == 2, "the shop holds %d products, want one per occurrence", len(ps))
	for _, p := range ps {
		if n := utf8.RuneCountInString(p.Title); n > 255 || !strings.HasPrefix(p.Title, "Jazz Jazz") {
			t.Errorf("title of %d characters: %q", n, p.Title)
		}
		for d := range dates {
			if strings.Contains(p.Title, " — "+d+" — ") {
				dates[d] = true
			}
		}
	}
	for d, seen := range dates {
		if !seen {
			t.Errorf("no title keeps the date %q (event %d)", d, ev.ID)
		}
	}
}

// A product deleted in the shop behind our back is the same condition in
// every phase that finds it gone: inventory, metafields and delivery all
// fail with CATALOG_PRODUCT_VANISHED, and the next save recreates it.
func TestVanishedProductSameCodeInEveryPhase(t *testing.T) {
	t.Parallel()
	rw := &answerRewriter{}
	b := setup(t, options{wrap: func(next http.RoundTripper) http.RoundTripper { rw.next = next; return rw }})
	ev, op := b.create(b.input("Vanishing", nil, regType{"A", 1000, ptr(5)}))
	b.completed(op.ID)
	old := b.products()[0].ID

	// Deleted right after catalog updated it, as the first of inventory,
	// metafields and delivery calls the shop.
	var once sync.Once
	rw.mu.Lock()
	rw.rewrite = func(body string, _ int) (string, bool) {
		if strings.Contains(body, "query InventoryLevels") || strings.Contains(body, "query Delivery") || strings.Contains(body, "mutation MetafieldsSet") {
			once.Do(func() {
				if err := b.sb.DeleteProduct(b.shop.Name, old); err != nil {
					t.Errorf("delete behind our back: %v", err)
				}
			})
		}
		return "", false
	}
	rw.mu.Unlock()
	_, op = b.update(ev.ID, engine.EventInput{Name: ptr("Vanishing II")})
	done := b.wait(op.ID)
	if done.Status != engine.StatusFailed || done.Error == nil || done.Error.Code != engine.CodeCatalogProductVanished {
		t.Fatalf("operation = %s", opJSON(done))
	}
	for _, name := range []string{engine.PhaseInventory, engine.PhaseMetafields, engine.PhaseDelivery} {
		p := phase(done, name)
		if p == nil || p.Status != engine.StatusFailed || p.Error == nil || p.Error.Code != engine.CodeCatalogProductVanished {
			t.Errorf("%s phase: %s", name, opJSON(done))
		}
	}

	rw.mu.Lock()
	rw.rewrite = nil
	rw.mu.Unlock()
	_, op = b.update(ev.ID, engine.EventInput{Name: ptr("Vanishing III")})
	b.completed(op.ID)
	ps := b.products()
	if len(ps) != 1 || ps[0].ID == old || ps[0].Title != "Vanishing III" {
		t.Fatalf("after the next save: %+v", ps)
	}
}

// A shop order is recorded by the installation whose SKU its line carries,
// or that carries no installation (a variant saved before installation
// ids); a line with another installation's SKU sells that installation's
// event of the same number, not ours.
func TestWebhookSKUOfAnotherInstallation(t *testing.T) {
	t.Parallel()
	h := setupHooks(t)
	ev := h.event("Mine", 7)
	rt := ev.RegistrationTypes[0].ID
	inst, err := h.eng.InstallationID()
	if err != nil {
		t.Fatal(err)
	}
	other := "zzzzzzzz"
	if inst == other {
		other = "yyyyyyyy"
	}
	for i, tc := range []struct {
		sku  string
		ours bool
	}{
		{fmt.Sprintf("eventops-%s-%d-%d", other, ev.ID, rt), false},
		{fmt.Sprintf("eventops-%s-%d-%d", inst, ev.ID, rt), true},
		{fmt.Sprintf("eventops-%d-%d", ev.ID, rt), true}, // the form before installation ids
	} {
		before := len(h.orders(ev.ID))
		out := h.mustDeliver("orders/create", fmt.Sprintf("w%d", i), orderBody(int64(10+i), line{id: 1, variant: 99, sku: tc.sku, qty: 1, price: "25.00"}))
		h.waitAll(out.Operations)
		if got := len(h.orders(ev.ID)) - before; got != map[bool]int{true: 1, false: 0}[tc.ours] {
			t.Errorf("SKU %q recorded %d orders (ours: %v)", tc.sku, got, tc.ours)
		}
	}
}
