package shopify_test

import (
	"context"
	"fmt"
	"testing"

	"eventops/engine"
)

// shopLevels is the shop's available quantity of each variant of the
// event's product, by title, at our location.
func (b *bundle) shopLevels(eventID uint64, titles ...string) string {
	b.t.Helper()
	vs := byTitle(b.productByHandle(b.handleOf(eventID)))
	loc := b.setupOf().LocationID
	out := make([]int, len(titles))
	for i, title := range titles {
		out[i] = vs[title].available()[loc]
	}
	return fmt.Sprint(out)
}

// A lowering the shop applied but whose answer was lost (the client's
// retries used up, then the phase retried) is eventops' own write, not a
// sale: the shop ends at the new allocation, not below it, and stays there
// through later saves.
func TestLostAnswerToALoweringIsNotTakenForASale(t *testing.T) {
	t.Parallel()
	b := setup(t, options{reconcile: true})
	ev, op := b.create(b.input("Lost answer", ptr(10), regType{"A", 1000, ptr(10)}, regType{"B", 2000, ptr(10)}))
	b.completed(op.ID)
	if got := b.shopLevels(ev.ID, "A", "B"); got != "[5 5]" {
		t.Fatalf("shop offers %s, want [5 5]", got)
	}
	b.faults(fault{Operation: "inventorySetQuantities", Fault: "apply_then_drop", Times: 2})
	_, op = b.update(ev.ID, engine.EventInput{Capacity: engine.Nullable[int]{Set: true, Value: ptr(6)}})
	b.completed(op.ID)
	if got := b.shopLevels(ev.ID, "A", "B"); got != "[3 3]" {
		t.Errorf("after a lowering whose answer was lost the shop offers %s, want [3 3]", got)
	}
	// A later save (a name change) does not take it for a sale either,
	// and needs no reading of the shop's orders to know it.
	reads := countCalls(b.calls(), "orders")
	_, op = b.update(ev.ID, engine.EventInput{Name: ptr("Lost answer, renamed")})
	b.completed(op.ID)
	if got := b.shopLevels(ev.ID, "A", "B"); got != "[3 3]" {
		t.Errorf("after a later save the shop offers %s, want [3 3]", got)
	}
	if n := countCalls(b.calls(), "orders") - reads; n != 0 {
		t.Errorf("a name save after the lost answer read the shop's orders %d times, want 0", n)
	}
	// Nor does a save that raises the capacity: 4 and 4, and still no
	// reading of the orders (nothing in the shop is unexplained).
	_, op = b.update(ev.ID, engine.EventInput{Capacity: engine.Nullable[int]{Set: true, Value: ptr(8)}})
	b.completed(op.ID)
	if got := b.shopLevels(ev.ID, "A", "B"); got != "[4 4]" {
		t.Errorf("after capacity 8 the shop offers %s, want [4 4]", got)
	}
	if n := countCalls(b.calls(), "orders") - reads; n != 0 {
		t.Errorf("later saves read the shop's orders %d times, want 0", n)
	}
	for _, p := range b.structure(ev.ID).Products {
		for _, v := range p.Variants {
			if v.ShopPending != nil || v.ShopOffer == nil || *v.ShopOffer != 4 {
				t.Errorf("variant %s: offer %v, pending %v; want 4 recorded, none pending", v.Title, v.ShopOffer, v.ShopPending)
			}
		}
	}
}

// A box-office sale whose lowering the shop applied but whose answer was
// lost is refused (nothing sold); the seats it took off the shop are not
// taken for a sale the shop made: the next sale and its rebalance leave the
// shop at the allocation of what is really left.
func TestLostAnswerToABoxOfficeLoweringIsNotTakenForASale(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	ev, op := b.create(b.input("Box lost", ptr(10), regType{"A", 1000, ptr(10)}, regType{"B", 2000, ptr(10)}))
	b.completed(op.ID)
	b.faults(fault{Operation: "inventorySetQuantities", Fault: "apply_then_drop", Times: 2})
	_, _, err := b.eng.CreateOrder(context.Background(), b.company.ID, ev.ID,
		engine.OrderInput{RegistrationTypeID: ev.RegistrationTypes[0].ID, Quantity: 4})
	if engine.ErrorCode(err) != engine.CodeOrderShopUnavailable {
		t.Fatalf("order whose shop answer was lost: %v, want ORDER_SHOP_UNAVAILABLE", err)
	}
	// The shop applied it: 3 and 3. Nothing was sold; a name save
	// rebalances to the 10 seats left.
	_, op = b.update(ev.ID, engine.EventInput{Name: ptr("Box lost, renamed")})
	b.completed(op.ID)
	if got := b.shopLevels(ev.ID, "A", "B"); got != "[5 5]" {
		t.Errorf("after a refused box-office sale and a save the shop offers %s, want [5 5]", got)
	}
	_, op, err = b.eng.CreateOrder(context.Background(), b.company.ID, ev.ID,
		engine.OrderInput{RegistrationTypeID: ev.RegistrationTypes[0].ID, Quantity: 4})
	if err != nil {
		t.Fatal(err)
	}
	b.completed(op.ID)
	if got := b.shopLevels(ev.ID, "A", "B"); got != "[3 3]" {
		t.Errorf("after the box-office sale of 4 the shop offers %s, want [3 3]", got)
	}
}
