package shopify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"eventops/engine"
	"eventops/engine/shopify/sandbox"
)

// recordShopOrder records, as the orders/create webhook does, a shop order
// against the event and registration type of the variant sold.
func (b *bundle) recordShopOrder(eventID, rtID uint64, o sandbox.OrderState) *engine.Order {
	b.t.Helper()
	ord := &engine.Order{CompanyID: b.company.ID, EventID: eventID, RegistrationTypeID: rtID,
		Quantity: int(o.LineItems[0].Quantity), Amount: engine.Money{Amount: 1000 * o.LineItems[0].Quantity, Currency: "USD"},
		Status: engine.OrderPaid, ShopifyOrderID: o.ID, CreatedAt: time.Now().UTC()}
	err := b.db.Update(context.Background(), func(tx engine.Tx) error {
		var err error
		if ord.ID, err = tx.NextID(engine.SeqOrder); err != nil {
			return err
		}
		return tx.PutOrder(ord)
	})
	if err != nil {
		b.t.Fatalf("record shop order: %v", err)
	}
	return ord
}

func refundOrderID(c sandbox.Call) string {
	var v struct {
		Input struct {
			OrderID string `json:"orderId"`
		} `json:"input"`
	}
	_ = json.Unmarshal(c.Variables, &v)
	return v.Input.OrderID
}

// An event refund refunds each shop order once through refundCreate, with
// one idempotency key per order (a lost answer re-sent with the same key is
// answered from it), box-office orders locally, and reports its progress.
// Interrupted by a crash after the shop refunded an order but before we
// recorded it, the resumed refund re-sends that order's refund input as it
// was persisted before the first send, under the same key: the shop answers
// from the key (no second refund, no parameter mismatch). Every buyer gets
// back what they paid.
func TestRefundThroughTheShop(t *testing.T) {
	t.Parallel()
	g := &gate{held: make(chan struct{}), release: make(chan struct{}),
		match: func(body string) bool { return strings.Contains(body, "mutation RefundCreate") }}
	b := setup(t, options{wrap: func(next http.RoundTripper) http.RoundTripper { g.next = next; return g }})
	ev, op := b.create(b.input("Refunded", ptr(50), regType{"A", 1000, nil}, regType{"B", 1000, nil}))
	b.completed(op.ID)
	s := b.structure(ev.ID)
	var shopOrders []sandbox.OrderState
	for i, v := range s.Products[0].Variants {
		o, err := b.sb.PlaceOrder(b.shop.Name, v.ShopifyVariantID, i+1)
		if err != nil {
			t.Fatalf("place order: %v", err)
		}
		b.recordShopOrder(ev.ID, v.RegistrationTypeID, o)
		shopOrders = append(shopOrders, o)
	}
	_, iop, err := b.eng.CreateOrder(context.Background(), b.company.ID, ev.ID,
		engine.OrderInput{RegistrationTypeID: ev.RegistrationTypes[0].ID, Quantity: 3})
	if err != nil {
		t.Fatal(err)
	}
	b.completed(iop.ID)
	// The first refundCreate reaches the shop and is applied; then the
	// engine crashes before it learns so.
	g.armed.Store(true)
	rop, err := b.eng.RefundEvent(context.Background(), b.company.ID, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-g.held:
	case <-time.After(30 * time.Second):
		t.Fatal("the refund never called refundCreate")
	}
	b.eng.Stop(0) // crash
	b.close()
	g.armed.Store(false)
	close(g.release)
	// After the restart the next refundCreate is applied but its answer is
	// lost: the client re-sends it with the same key.
	b.faults(fault{Operation: "refundCreate", Fault: "apply_then_drop", Times: 1})
	b.open()
	done := b.completed(rop.ID)
	if done.Progress == nil || done.Progress.Completed != 3 || done.Progress.Total != 3 || len(done.Phases) != 0 {
		t.Errorf("refund = %s", opJSON(done))
	}
	orders, err := b.eng.Orders(b.company.ID, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range orders {
		if o.Status != engine.OrderRefunded {
			t.Errorf("order %d (shop %q) is %s", o.ID, o.ShopifyOrderID, o.Status)
		}
	}
	st, err := b.sb.State(b.shop.Name)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(st)
	var state struct {
		Orders []struct {
			ID              string   `json:"id"`
			FinancialStatus string   `json:"financial_status"`
			RefundIDs       []string `json:"refund_ids"`
			TotalPrice      string   `json:"total_price"`
			TotalRefunded   string   `json:"total_refunded"`
		} `json:"orders"`
	}
	if err := json.Unmarshal(raw, &state); err != nil {
		t.Fatal(err)
	}
	if len(state.Orders) != len(shopOrders) {
		t.Fatalf("shop orders = %s", raw)
	}
	for _, o := range state.Orders {
		if len(o.RefundIDs) != 1 || o.FinancialStatus != "refunded" {
			t.Errorf("shop order %s: %d refunds, %s", o.ID, len(o.RefundIDs), o.FinancialStatus)
		}
		// The buyer got back what they paid for the tickets.
		if o.TotalRefunded != o.TotalPrice {
			t.Errorf("shop order %s: %s returned to the buyer, who paid %s", o.ID, o.TotalRefunded, o.TotalPrice)
		}
	}
	// One key per order, every call of an order with its key.
	keys := map[string]map[string]bool{}
	applied := map[string]int{}
	replays := 0
	sent := map[string]string{} // shop order → the variables of its first refundCreate
	for _, c := range b.calls() {
		if !c.Has("refundCreate") {
			continue
		}
		id := refundOrderID(c)
		if first, ok := sent[id]; !ok {
			sent[id] = string(c.Variables)
		} else if first != string(c.Variables) {
			t.Errorf("shop order %s: refundCreate re-sent with other variables:\n%s\nthen\n%s", id, first, c.Variables)
		}
		if keys[id] == nil {
			keys[id] = map[string]bool{}
		}
		keys[id][c.IdempotencyKey] = true
		if c.Replayed {
			replays++
		} else {
			applied[id]++
		}
	}
	if replays != 2 {
		t.Errorf("%d refundCreate calls answered from their key, want 2: the one held at the crash and the one whose answer was lost", replays)
	}
	for _, o := range shopOrders {
		if len(keys[o.ID]) != 1 || applied[o.ID] != 1 {
			t.Errorf("shop order %s: keys %v, applied %d times", o.ID, keys[o.ID], applied[o.ID])
		}
	}
}

// A refund of a company without a shop is local.
func TestRefundWithoutShopIsLocal(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	before := len(b.calls()) // the shop's own company read its currency at connect
	local, err := b.eng.CreateCompany(context.Background(), "Local", nil)
	if err != nil {
		t.Fatal(err)
	}
	venue, _ := b.eng.CreateVenue(context.Background(), local.ID, engine.VenueInput{Name: "Hall", TimeZone: "UTC"})
	tt, _ := b.eng.CreateTicketType(context.Background(), local.ID, engine.TicketTypeInput{Name: "Seat"})
	b.company, b.venue, b.tickets = local, venue, tt
	ev, op := b.create(b.input("Local", nil, regType{"A", 1000, ptr(5)}))
	b.completed(op.ID)
	if _, _, err := b.eng.CreateOrder(context.Background(), local.ID, ev.ID, engine.OrderInput{RegistrationTypeID: ev.RegistrationTypes[0].ID, Quantity: 2}); err != nil {
		t.Fatal(err)
	}
	rop, err := b.eng.RefundEvent(context.Background(), local.ID, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	b.completed(rop.ID)
	orders, _ := b.eng.Orders(local.ID, ev.ID)
	if len(orders) != 1 || orders[0].Status != engine.OrderRefunded {
		t.Errorf("orders = %+v", orders)
	}
	if n := len(b.calls()) - before; n != 0 {
		t.Errorf("%d shop calls for a company without a shop", n)
	}
}

// A refund canceled while the shop applies one of its refunds (restocking
// it there) still makes the shop's quantities follow ours: the shop never
// offers more than is left to sell.
func TestCanceledRefundStillSyncsInventory(t *testing.T) {
	t.Parallel()
	g := &gate{held: make(chan struct{}), release: make(chan struct{}),
		match: func(body string) bool { return strings.Contains(body, "mutation RefundCreate") }}
	b := setup(t, options{wrap: func(next http.RoundTripper) http.RoundTripper { g.next = next; return g }})
	ev, op := b.create(b.input("Canceled", nil, regType{"A", 1000, ptr(10)}))
	b.completed(op.ID)
	v := b.structure(ev.ID).Products[0].Variants[0]
	o, err := b.sb.PlaceOrder(b.shop.Name, v.ShopifyVariantID, 2)
	if err != nil {
		t.Fatalf("place order: %v", err)
	}
	b.recordShopOrder(ev.ID, v.RegistrationTypeID, o)
	_, op = b.update(ev.ID, engine.EventInput{}) // our structure counts the sale
	b.completed(op.ID)
	available := func() int {
		p := b.productByHandle(b.handleOf(ev.ID))
		return p.Variants.Nodes[0].available()[b.setupOf().LocationID]
	}
	if got := available(); got != 8 {
		t.Fatalf("before the refund the shop offers %d, want 8", got)
	}

	g.armed.Store(true)
	rop, err := b.eng.RefundEvent(context.Background(), b.company.ID, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-g.held: // the shop refunded the order and restocked it; the answer is held
	case <-time.After(30 * time.Second):
		t.Fatal("the refund never called refundCreate")
	}
	if _, err := b.eng.CancelOperation(context.Background(), b.company.ID, rop.ID); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	if done := b.wait(rop.ID); done.Error == nil || done.Error.Code != engine.CodeOperationCanceled {
		t.Fatalf("refund = %s, want canceled", opJSON(done))
	}
	g.armed.Store(false)
	close(g.release)
	left := *b.structure(ev.ID).Products[0].Variants[0].Available
	until(t, 10*time.Second, func() bool { return available() == left }, func() string {
		return fmt.Sprintf("after the canceled refund the shop offers %d, we have %d left to sell", available(), left)
	})
}
