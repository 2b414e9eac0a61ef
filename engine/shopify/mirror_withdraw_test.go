package shopify_test

import (
	"slices"
	"sort"
	"testing"

	"eventops/engine"
)

// Products withdrawn when what they mirrored goes: a switch to or from
// split products, an occurrence dropped from a recurrence.

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
	combined := []string{b.handleOf(ev.ID)}
	split := []string{b.handleOf(ev.ID, a), b.handleOf(ev.ID, bb)}
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
	want := []string{b.handleOf(occs[0].ID), b.handleOf(occs[1].ID)}
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
	expect("occurrence split", b.handleOf(o1), b.handleOf(o2, rt))
	_, op = b.update(o2, engine.EventInput{SplitProducts: ptr(false)})
	b.completed(op.ID)
	expect("occurrence joined again", b.handleOf(o1), b.handleOf(o2))
	_, op = b.update(ev.ID, engine.EventInput{Name: ptr("Weekly Jam, renamed")})
	b.completed(op.ID)
	expect("series renamed", b.handleOf(o1), b.handleOf(o2))
	for _, o := range []uint64{o1, o2} {
		if s := b.structure(o); s.Products[0].ShopifyProductID == "" {
			t.Errorf("occurrence %d lost its product id", o)
		}
	}
}
