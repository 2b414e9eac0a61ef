package shopify_test

import (
	"fmt"
	"testing"

	"eventops/engine"
)

// A save that does not shrink the pool costs no lowering step, even after
// shop sales: "shrinks" compares the new allocation with what the shop
// offers now (the offer last written less the shop sales recorded since),
// not with the offer as written before the sales, which every sale would
// make look higher than the allocation.
func TestRenameAfterShopSalesDoesNotLowerFirst(t *testing.T) {
	t.Parallel()
	h := setupHooked(t, options{})
	ev, op := h.create(h.input("Unshrunk", nil, regType{"GA", 1000, ptr(10)}))
	h.completed(op.ID)
	v := h.structure(ev.ID).Products[0].Variants[0].ShopifyVariantID
	if !h.buy(v, 3) {
		t.Fatal("the shop refused 3 of the 10 it offers")
	}
	h.delivered("orders/create", 1)
	h.settled(ev.ID)
	if got := h.levels(ev.ID); fmt.Sprint(got) != "[7]" {
		t.Fatalf("shop offers %v after 3 sold, want [7]", got)
	}
	before, err := h.sb.Calls(h.shop.Name, "")
	if err != nil {
		t.Fatal(err)
	}
	_, op = h.update(ev.ID, engine.EventInput{Name: ptr("Unshrunk, renamed")})
	h.completed(op.ID)
	after, err := h.sb.Calls(h.shop.Name, "")
	if err != nil {
		t.Fatal(err)
	}
	var seq []string
	for _, c := range after[len(before):] {
		seq = append(seq, c.Operation)
		if c.Has("productSet") {
			break
		}
	}
	for _, name := range seq {
		if name == "nodes" { // InventoryLevels

			t.Errorf("a rename read the shop's levels before its catalog call (a lowering step): %v", seq)
			break
		}
	}
	if got := h.levels(ev.ID); fmt.Sprint(got) != "[7]" {
		t.Errorf("shop offers %v after the rename, want [7]", got)
	}
}
