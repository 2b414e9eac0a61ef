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

// Mirroring events into the shop: what a save, an update and a delete
// leave there, one product per event, per registration type or per
// occurrence.

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
	if p.Handle != b.handleOf(ev.ID) || p.Title != "Jazz Night" || p.Status != "ACTIVE" || !p.Published {
		t.Errorf("product = %s %q %s published=%v", p.Handle, p.Title, p.Status, p.Published)
	}
	vs := byTitle(p)
	want := map[string]struct {
		price string
		left  int
	}{"General admission": {"25.00", 31}, "VIP": {"90.00", 19}} // the capacity's 50 allocated
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
	seated := b.productByHandle(b.handleOf(ev.ID, ev.RegistrationTypes[1].ID))
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
		p := b.productByHandle(b.handleOf(o.ID))
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
	before := b.productByHandle(b.handleOf(ev.ID))
	// The capacity's 100 allocated: Early 31, Door 62, VIP 7.
	if len(before.Variants.Nodes) != 3 || byTitle(before)["Door"].available()[loc] != 62 {
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
	after := b.productByHandle(b.handleOf(ev.ID))
	if after.ID != before.ID {
		t.Errorf("product id changed %s → %s", before.ID, after.ID)
	}
	vs := byTitle(after)
	if len(vs) != 2 || vs["Early"].ID != byTitle(before)["Early"].ID {
		t.Fatalf("after: variants %+v (VIP should be gone, the others keep their ids)", after.Variants.Nodes)
	}
	if vs["Early"].available()[loc] != 27 || vs["Door"].available()[loc] != 33 {
		t.Errorf("after: Early %v Door %v, want 27 and 33 (the capacity's 60 allocated)", vs["Early"].available(), vs["Door"].available())
	}
	// The capacity change was written with compare-and-set from what was read.
	var cas bool
	for _, c := range b.calls() {
		if c.Has("inventorySetQuantities") && strings.Contains(string(c.Variables), `"changeFromQuantity":62`) &&
			strings.Contains(string(c.Variables), `"quantity":33`) {
			cas = true
		}
	}
	if !cas {
		t.Errorf("no inventorySetQuantities from 62 to 33 with changeFromQuantity in the call log")
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
	first := b.productByHandle(b.handleOf(ev.ID, ev.RegistrationTypes[0].ID))
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
	if len(left) != 1 || left[0].Handle != b.handleOf(keep.ID) {
		t.Fatalf("left in the shop: %+v", left)
	}
}

func numericID(gid string) string {
	return gid[strings.LastIndex(gid, "/")+1:]
}
