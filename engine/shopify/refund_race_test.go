package shopify_test

import (
	"context"
	"testing"

	"eventops/engine"
)

// A refund made in the shop's admin puts its tickets back on sale in the
// shop at once (restock), but eventops learns of it only when its webhook
// arrives. A rebalance in between finds the shop holding more than it
// wrote; once the refund is recorded and everything has settled, what
// eventops says the shop offers (the API's shop_available) is what the
// shop holds, and that is the allocation: no seat is held back for good as
// a sale not recorded yet.
func TestAdminRefundBeforeItsWebhookLeavesTheOffersTrue(t *testing.T) {
	t.Parallel()
	h := setupHooked(t, options{})
	ev, op := h.create(h.input("Restock", ptr(10), regType{"A", 1000, ptr(10)}, regType{"B", 2000, ptr(10)}))
	h.completed(op.ID)
	a := h.structure(ev.ID).Products[0].Variants[0].ShopifyVariantID
	order, err := h.sb.PlaceOrder(h.shop.Name, a, 2)
	if err != nil {
		t.Fatal(err)
	}
	h.delivered("orders/create", 1)
	h.settled(ev.ID)

	h.rc.hold.Store(true) // the refund's webhook waits
	if _, err := h.sb.RefundOrder(h.shop.Name, order.ID, nil, "admin"); err != nil {
		t.Fatal(err)
	}
	rop, err := h.eng.Rebalance(context.Background(), h.company.ID, ev.ID)
	if err != nil || rop == nil {
		t.Fatalf("Rebalance: %v, %v", rop, err)
	}
	h.completed(rop.ID)
	h.rc.hold.Store(false)
	h.delivered("refunds/create", 1)
	h.settled(ev.ID)
	if p, r := h.paidRefunded(ev.ID); p != 0 || r != 2 {
		t.Fatalf("paid %d, refunded %d; want 0 and 2", p, r)
	}
	s := h.structure(ev.ID)
	alloc := engine.StructureAllocation(s, nil)
	levels := h.levels(ev.ID)
	for i, v := range s.Products[0].Variants {
		offered := s.ShopOffered(v)
		if offered == nil || *offered != levels[i] || alloc[v.RegistrationTypeID] == nil || *alloc[v.RegistrationTypeID] != levels[i] {
			t.Errorf("%s: the shop holds %d, eventops says it offers %s, the allocation is %s",
				v.Title, levels[i], fmtInt(offered), fmtInt(alloc[v.RegistrationTypeID]))
		}
	}
}
