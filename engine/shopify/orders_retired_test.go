package shopify_test

import (
	"context"
	"testing"

	"eventops/engine"
	"eventops/engine/shopify/sandbox"
)

// Paid shop orders that land after what they sold is gone (DESIGN §8:
// "Paid shop orders are always recorded, whatever happened to their type
// or occurrence"). The buyer pays while the variant is still on sale; the
// shop's orders/create delivery is held (eventops answers 503) until the
// save that removed the type, or dropped the occurrence, has completed.

// variantOf is the shop variant id of a registration type in an
// occurrence's structure.
func (h *hooked) variantOf(eventID, rtID uint64) string {
	h.t.Helper()
	for _, p := range h.structure(eventID).Products {
		for _, v := range p.Variants {
			if v.RegistrationTypeID == rtID && v.ShopifyVariantID != "" {
				return v.ShopifyVariantID
			}
		}
	}
	h.t.Fatalf("no variant of registration type %d in event %d", rtID, eventID)
	return ""
}

// refundedThroughShop checks that an event refund completed over want
// orders, that refundCreate was sent once for the shop order, and that the
// shop order then has shopRefunds refunds.
func (h *hooked) refundedThroughShop(eventID uint64, want int, shopOrder sandbox.OrderState, shopRefunds int) {
	h.t.Helper()
	rop, err := h.eng.RefundEvent(context.Background(), h.company.ID, eventID)
	if err != nil {
		h.t.Fatal(err)
	}
	done := h.completed(rop.ID)
	if done.Progress == nil || done.Progress.Completed != want || done.Progress.Total != want {
		h.t.Errorf("refund of event %d = %s, want %d of %d", eventID, opJSON(done), want, want)
	}
	sent := 0
	for _, c := range h.calls() {
		if c.Has("refundCreate") && refundOrderID(c) == shopOrder.ID {
			sent++
		}
	}
	if sent != 1 {
		h.t.Errorf("refundCreate sent %d times for shop order %s, want once", sent, shopOrder.ID)
	}
	st, err := h.sb.State(h.shop.Name)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, o := range st.Orders {
		if o.ID == shopOrder.ID && len(o.RefundIDs) != shopRefunds {
			h.t.Errorf("shop order %s has %d refunds, want %d", o.ID, len(o.RefundIDs), shopRefunds)
		}
	}
}

// A buyer pays for a registration type that a PATCH removes meanwhile: the
// order is recorded on the event with its type kept as retired (its name
// and price on the order), listed, keeps the event from being deleted, and
// the event's refund refunds it through the shop.
func TestShopSaleOfARemovedRegistrationTypeIsRecorded(t *testing.T) {
	t.Parallel()
	h := setupHooked(t, options{})
	ev, op := h.create(h.input("Retired", ptr(50), regType{"Floor", 1000, nil}, regType{"Balcony", 2500, ptr(10)}))
	h.completed(op.ID)
	keep, gone := ev.RegistrationTypes[0], ev.RegistrationTypes[1]
	variant := h.variantOf(ev.ID, gone.ID)

	h.rc.hold.Store(true)
	so, err := h.sb.PlaceOrder(h.shop.Name, variant, 2)
	if err != nil {
		t.Fatalf("place order: %v", err)
	}
	amount := keep.Price.Amount
	rts := []engine.RegistrationTypeInput{{ID: &keep.ID, Name: keep.Name, TicketTypeID: keep.TicketTypeID,
		Price: engine.MoneyInput{Amount: &amount, Currency: keep.Price.Currency}, Quantity: keep.Quantity}}
	_, op = h.update(ev.ID, engine.EventInput{RegistrationTypes: &rts})
	h.completed(op.ID)
	h.rc.hold.Store(false)
	h.delivered("orders/create", 1)

	orders, err := h.eng.Orders(h.company.ID, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(orders) != 1 {
		t.Fatalf("orders of the event = %+v, want the shop order of the removed type", orders)
	}
	o := orders[0]
	if o.ShopifyOrderID != so.ID || o.RegistrationTypeID != gone.ID || o.Quantity != 2 || o.Status != engine.OrderPaid ||
		o.Amount.Amount != 5000 || !o.Retired || o.RegistrationTypeName != "Balcony" ||
		o.UnitPrice == nil || o.UnitPrice.Amount != 2500 {
		t.Errorf("order = %+v, want 2 × Balcony (retired, 25.00 each) of shop order %s", o, so.ID)
	}
	if ok, err := h.eng.EventDeletable(ev); ok || err != nil {
		t.Errorf("event with a paid order of a retired type is deletable (%v)", err)
	}
	h.refundedThroughShop(ev.ID, 1, so, 1)
	orders, _ = h.eng.Orders(h.company.ID, ev.ID)
	if len(orders) != 1 || orders[0].Status != engine.OrderRefunded {
		t.Errorf("orders after the refund: %+v", orders)
	}
	if ok, err := h.eng.EventDeletable(ev); !ok || err != nil {
		t.Errorf("refunded event not deletable (%v)", err)
	}
}

// A buyer pays for an occurrence that a recurrence change drops meanwhile
// (its product still on sale until the save deletes it): the order is
// recorded against the recurring event, naming the occurrence that sold
// it, listed under the recurring event, keeps it from being deleted, and
// the recurring event's refund refunds it through the shop.
func TestShopSaleOfADroppedOccurrenceIsRecordedOnTheParent(t *testing.T) {
	t.Parallel()
	h := setupHooked(t, options{})
	ev, op := h.create(h.weekly("Weekly Jam", 3))
	h.completed(op.ID)
	occs := h.children(ev.ID)
	if len(occs) != 3 {
		t.Fatalf("%d occurrences, want 3", len(occs))
	}
	last, rt := occs[2], ev.RegistrationTypes[0]
	variant := h.variantOf(last.ID, rt.ID)

	h.rc.hold.Store(true)
	so, err := h.sb.PlaceOrder(h.shop.Name, variant, 3)
	if err != nil {
		t.Fatalf("place order: %v", err)
	}
	_, op = h.update(ev.ID, engine.EventInput{Recurrence: h.weekly("", 2).Recurrence})
	h.completed(op.ID)
	if n := len(h.children(ev.ID)); n != 2 {
		t.Fatalf("%d occurrences after the change, want 2", n)
	}
	h.rc.hold.Store(false)
	h.delivered("orders/create", 1)

	orders, err := h.eng.Orders(h.company.ID, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(orders) != 1 {
		t.Fatalf("orders of the recurring event = %+v, want the shop order of the dropped occurrence", orders)
	}
	o := orders[0]
	if o.ShopifyOrderID != so.ID || o.EventID != ev.ID || o.OccurrenceID != last.ID || o.RegistrationTypeID != rt.ID ||
		o.Quantity != 3 || o.Status != engine.OrderPaid || !o.Retired || o.RegistrationTypeName != "Entry" {
		t.Errorf("order = %+v, want 3 × Entry of occurrence %d (retired) recorded on event %d", o, last.ID, ev.ID)
	}
	if ok, err := h.eng.EventDeletable(ev); ok || err != nil {
		t.Errorf("recurring event with a paid order of a dropped occurrence is deletable (%v)", err)
	}
	// One ticket refunded in the shop's admin: the order splits, both
	// parts still of the gone occurrence, retired, under the parent.
	if _, err := h.sb.RefundOrder(h.shop.Name, so.ID, []sandbox.RefundLine{{LineItemID: so.LineItems[0].ID, Quantity: 1}}, ""); err != nil {
		t.Fatalf("admin refund: %v", err)
	}
	h.delivered("refunds/create", 1)
	orders, _ = h.eng.Orders(h.company.ID, ev.ID)
	if len(orders) != 2 {
		t.Fatalf("orders after refunding one ticket in the shop: %+v", orders)
	}
	for _, o := range orders {
		if o.OccurrenceID != last.ID || !o.Retired || o.RegistrationTypeName != "Entry" || o.UnitPrice == nil {
			t.Errorf("part of the split order lost its occurrence or type: %+v", o)
		}
	}
	h.refundedThroughShop(ev.ID, 2, so, 2)
	orders, _ = h.eng.Orders(h.company.ID, ev.ID)
	if len(orders) != 2 || orders[0].Status != engine.OrderRefunded || orders[1].Status != engine.OrderRefunded {
		t.Errorf("orders after the refund: %+v", orders)
	}
	if ok, err := h.eng.EventDeletable(ev); !ok || err != nil {
		t.Errorf("refunded recurring event not deletable (%v)", err)
	}
}
