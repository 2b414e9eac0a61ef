package engine_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"eventops/engine"
	"eventops/storage"
)

// The domain commands a shop's deliveries become (engine/webhooks.go), called
// directly with the shop's ids as opaque strings. The protocol (signature,
// payloads, gids, SKUs) is engine/shopify's (webhooks_test.go there); the
// end-to-end tests against the sandbox (web/webhooks_test.go,
// engine/shopify/orders_*_test.go) cover the HTTP side.

const hookSecret = "shpss_webhook_secret"

// hookBundle is an engine with a company connected to sandbox shop "acme",
// whose Shopify phases do nothing but count inventory runs.
type hookBundle struct {
	*bundle
	inventoryRuns atomic.Int64
}

func setupHooks(t *testing.T) *hookBundle {
	t.Helper()
	sealer, err := storage.LoadSealer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	h := &hookBundle{}
	work := map[string]engine.Work{}
	for _, name := range engine.ShopifyPhases {
		work[name] = workFunc(func(context.Context, *engine.PhaseRun) error { return nil })
	}
	work[engine.PhaseInventory] = workFunc(func(context.Context, *engine.PhaseRun) error {
		h.inventoryRuns.Add(1)
		return nil
	})
	h.bundle = setup(t, engine.Config{Sealer: sealer, Work: work})
	h.seed(&engine.ShopInput{Sandbox: true, Domain: "acme", AccessToken: "shpat_x", WebhookSecret: hookSecret})
	return h
}

// event creates a date event (capacity 200: GA 150, VIP 50) and waits for
// its save, so that its ticket structure exists.
func (h *hookBundle) event(name string, day int) *engine.Event {
	h.t.Helper()
	ev, op := h.createDate(name, day)
	if done := h.wait(op.ID); done.Status != engine.StatusCompleted {
		h.t.Fatalf("save %s: %+v", name, done.Error)
	}
	return ev
}

// delivery is a delivery id under a topic.
func delivery(id string) engine.ShopDelivery {
	return engine.ShopDelivery{ID: id, Topic: "orders/create"}
}

// sale is a shop order of lines.
func sale(orderID string, lines ...engine.ShopSaleLine) engine.ShopSale {
	return engine.ShopSale{OrderID: orderID, Lines: lines}
}

// ticketLine sells quantity of registration type rt of occurrence occ at
// unit price amount (dollars) in USD.
func ticketLine(lineID string, occ, rt uint64, quantity int, amount string) engine.ShopSaleLine {
	return engine.ShopSaleLine{LineID: lineID, EventID: occ, RegistrationTypeID: rt, Quantity: quantity,
		UnitPrice: engine.ShopMoney{Amount: amount, Currency: "USD"}}
}

func (h *hookBundle) record(id string, s engine.ShopSale) *engine.WebhookOutcome {
	h.t.Helper()
	out, err := h.eng.RecordShopSale(context.Background(), h.company.ID, delivery(id), s)
	if err != nil {
		h.t.Fatalf("record %s: %v", id, err)
	}
	return out
}

func (h *hookBundle) refund(id string, r engine.ShopRefund) *engine.WebhookOutcome {
	h.t.Helper()
	out, err := h.eng.RefundShopLines(context.Background(), h.company.ID, engine.ShopDelivery{ID: id, Topic: "refunds/create"}, r)
	if err != nil {
		h.t.Fatalf("refund %s: %v", id, err)
	}
	return out
}

func (h *hookBundle) orders(eventID uint64) []*engine.Order {
	h.t.Helper()
	os, err := h.eng.Orders(h.company.ID, eventID)
	if err != nil {
		h.t.Fatal(err)
	}
	return os
}

// soldAvail is (sold, available) per registration type, in the event's
// order, from the ticket structure.
func (h *hookBundle) soldAvail(eventID uint64) string {
	h.t.Helper()
	s, err := h.eng.TicketStructure(h.company.ID, eventID)
	if err != nil || s == nil {
		h.t.Fatalf("structure of %d: %v", eventID, err)
	}
	out := ""
	for _, t := range s.Types {
		out += fmt.Sprintf("%d/%d ", t.Sold, *t.Available)
	}
	return out
}

func (h *hookBundle) waitAll(ops []*engine.Operation) {
	h.t.Helper()
	for _, op := range ops {
		if done := h.wait(op.ID); done.Status != engine.StatusCompleted {
			h.t.Fatalf("operation %d: %+v", op.ID, done.Error)
		}
	}
}

// A shop sale is recorded once per line that sells our tickets (by the ids
// its SKU gave, or by variant id when the SKU was changed in the shop), at
// the price paid; it lowers what is left to sell of every type sharing the
// capacity and starts one inventory-only save per occurrence sold. A
// redelivery, and the same order under another delivery id, change nothing;
// a delivery without an id is refused before anything is recorded.
func TestShopSaleRecordedOnce(t *testing.T) {
	t.Parallel()
	h := setupHooks(t)
	a, b := h.event("Jazz", 5), h.event("Blues", 6)
	ga, vip := a.RegistrationTypes[0].ID, a.RegistrationTypes[1].ID
	// Event b's VIP variant is mirrored as shop variant "variant-77".
	err := h.db.Update(context.Background(), func(tx engine.Tx) error {
		s, err := tx.TicketStructure(b.ID)
		if err != nil {
			return err
		}
		s.Products[0].Variants[1].ShopifyVariantID = "variant-77"
		return tx.PutTicketStructure(s)
	})
	if err != nil {
		t.Fatal(err)
	}
	byVariant := engine.ShopSaleLine{LineID: "line-2", VariantID: "variant-77", Quantity: 1, UnitPrice: engine.ShopMoney{Amount: "90.00", Currency: "USD"}}
	tshirt := engine.ShopSaleLine{LineID: "line-3", VariantID: "variant-99", Quantity: 4, UnitPrice: engine.ShopMoney{Amount: "15.00", Currency: "USD"}}
	s := sale("order-1001", ticketLine("line-1", a.ID, vip, 2, "80.00"), byVariant, tshirt, ticketLine("line-4", a.ID, ga, 3, "25.00"))

	if _, err := h.eng.RecordShopSale(context.Background(), h.company.ID, delivery(" "), s); engine.ErrorKind(err) != engine.KindInvalid {
		t.Errorf("no delivery id: err = %v", err)
	}
	if n := len(h.orders(a.ID)) + len(h.orders(b.ID)); n != 0 {
		t.Fatalf("%d orders recorded by a refused delivery", n)
	}

	out := h.record("w1", s)
	if out.Duplicate || out.Ignored || len(out.Orders) != 3 || len(out.Operations) != 2 {
		t.Fatalf("first delivery: %+v", out)
	}
	h.waitAll(out.Operations)
	for _, op := range out.Operations {
		if !op.InventoryOnly || len(op.Phases) != 1 || op.Phases[0].Name != engine.PhaseInventory {
			t.Errorf("operation %d is not an inventory-only save: %+v", op.ID, op)
		}
	}
	got := h.orders(a.ID)
	if len(got) != 2 {
		t.Fatalf("orders of a = %+v", got)
	}
	if o := got[0]; o.RegistrationTypeID != vip || o.Quantity != 2 || o.Amount != (engine.Money{Amount: 16000, Currency: "USD"}) ||
		o.Status != engine.OrderPaid || o.ShopifyOrderID != "order-1001" || o.ShopifyLineItemID != "line-1" {
		t.Errorf("VIP order = %+v", o)
	}
	if o := got[1]; o.RegistrationTypeID != ga || o.Quantity != 3 || o.Amount.Amount != 7500 {
		t.Errorf("GA order = %+v", o)
	}
	if o := h.orders(b.ID); len(o) != 1 || o[0].RegistrationTypeID != b.RegistrationTypes[1].ID || o[0].Quantity != 1 {
		t.Errorf("orders of b (by variant id) = %+v", o)
	}
	// Capacity 200: GA 150 and VIP 50 each, sharing it.
	if s := h.soldAvail(a.ID); s != "3/147 2/48 " {
		t.Errorf("a after the sale: %s", s)
	}

	// The same delivery again, and the same order under another id.
	ops := h.inventoryRuns.Load()
	if out := h.record("w1", s); !out.Duplicate || len(out.Orders)+len(out.Operations) != 0 {
		t.Errorf("redelivery: %+v", out)
	}
	if out := h.record("w2", s); !out.Ignored || len(out.Orders)+len(out.Operations) != 0 {
		t.Errorf("same order, other delivery id: %+v", out)
	}
	if n := len(h.orders(a.ID)); n != 2 {
		t.Errorf("%d orders after redeliveries", n)
	}
	if h.inventoryRuns.Load() != ops {
		t.Error("a redelivery started an inventory save")
	}
	// An order of nothing of ours is remembered and ignored.
	if out := h.record("w3", sale("order-1002", tshirt)); !out.Ignored {
		t.Errorf("foreign order: %+v", out)
	}
	h.view(func(tx engine.Tx) error {
		w, _ := tx.Webhook(h.company.ID, "w1")
		if w == nil || len(w.OrderIDs) != 3 || len(w.OperationIDs) != 2 || w.Topic != "orders/create" {
			t.Errorf("delivery record = %+v", w)
		}
		if w, _ := tx.Webhook(h.company.ID, "w3"); w == nil {
			t.Error("the foreign order's delivery was not remembered")
		}
		return nil
	})
}

// Deliveries of one sale racing each other record the order once.
func TestShopSaleConcurrentRedeliveries(t *testing.T) {
	t.Parallel()
	h := setupHooks(t)
	ev := h.event("Race", 7)
	s := sale("order-5", ticketLine("line-1", ev.ID, ev.RegistrationTypes[0].ID, 1, "25.00"))
	var wg sync.WaitGroup
	var processed atomic.Int64
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := "same"
			if i%2 == 1 {
				id = fmt.Sprintf("other-%d", i) // a second subscription's delivery
			}
			out, err := h.eng.RecordShopSale(context.Background(), h.company.ID, delivery(id), s)
			if err != nil {
				t.Error(err)
				return
			}
			if !out.Duplicate && !out.Ignored {
				processed.Add(1)
				h.waitAll(out.Operations)
			}
		}()
	}
	wg.Wait()
	if n := processed.Load(); n != 1 {
		t.Errorf("%d deliveries recorded the order", n)
	}
	if os := h.orders(ev.ID); len(os) != 1 {
		t.Errorf("orders = %+v", os)
	}
}

// A refund made in the shop takes its quantities off the line items' orders
// (a partial refund splits an order), returns them to what is left to sell,
// and counts once however often it is delivered; a cancellation refunds the
// rest, and its refunds are then known.
func TestShopRefundsAndCancellations(t *testing.T) {
	t.Parallel()
	h := setupHooks(t)
	ctx := context.Background()
	ev := h.event("Refunds", 8)
	ga, vip := ev.RegistrationTypes[0].ID, ev.RegistrationTypes[1].ID
	out := h.record("o1", sale("order-7", ticketLine("line-1", ev.ID, ga, 4, "25.00"), ticketLine("line-2", ev.ID, vip, 2, "90.00")))
	h.waitAll(out.Operations)
	if s := h.soldAvail(ev.ID); s != "4/146 2/48 " {
		t.Fatalf("after the sale: %s", s)
	}
	// A refund of another shop order changes nothing.
	if out := h.refund("r0", engine.ShopRefund{ID: "refund-40", OrderID: "order-999", Lines: []engine.ShopRefundLine{{LineID: "line-1", Quantity: 1}}}); !out.Ignored {
		t.Errorf("refund of an unknown order: %+v", out)
	}

	// A partial refund of one GA ticket.
	partial := engine.ShopRefund{ID: "refund-41", OrderID: "order-7", Lines: []engine.ShopRefundLine{{LineID: "line-1", Quantity: 1}}}
	out = h.refund("r1", partial)
	if out.Ignored || len(out.Orders) != 2 || len(out.Operations) != 1 {
		t.Fatalf("partial refund: %+v", out)
	}
	h.waitAll(out.Operations)
	if s := h.soldAvail(ev.ID); s != "3/147 2/48 " {
		t.Errorf("after the partial refund: %s", s)
	}
	os := h.orders(ev.ID)
	if len(os) != 3 {
		t.Fatalf("orders = %+v", os)
	}
	if o := os[0]; o.Status != engine.OrderPaid || o.Quantity != 3 || o.Amount.Amount != 7500 {
		t.Errorf("the paid part = %+v", o)
	}
	if o := os[2]; o.Status != engine.OrderRefunded || o.Quantity != 1 || o.Amount.Amount != 2500 ||
		o.ShopifyOrderID != "order-7" || o.RefundedAt == nil || len(o.ShopifyRefundIDs) != 1 {
		t.Errorf("the refunded part = %+v", o)
	}
	// The same refund again, under the same and another delivery id.
	if out := h.refund("r1", partial); !out.Duplicate {
		t.Errorf("refund redelivered: %+v", out)
	}
	if out := h.refund("r1-bis", partial); !out.Ignored {
		t.Errorf("refund under another id: %+v", out)
	}
	if s := h.soldAvail(ev.ID); s != "3/147 2/48 " {
		t.Errorf("after the refund's redeliveries: %s", s)
	}
	if ok, _ := h.eng.EventDeletable(ev); ok {
		t.Error("deletable with paid orders")
	}

	// A delivery that asks nothing is remembered.
	if out, err := h.eng.IgnoreShopDelivery(ctx, h.company.ID, engine.ShopDelivery{ID: "bogus", Topic: "orders/cancelled"}, "not cancelled"); err != nil || !out.Ignored {
		t.Errorf("ignored delivery: %+v, %v", out, err)
	}
	if out, _ := h.eng.IgnoreShopDelivery(ctx, h.company.ID, engine.ShopDelivery{ID: "bogus", Topic: "orders/cancelled"}, "not cancelled"); !out.Duplicate {
		t.Errorf("ignored delivery again: %+v", out)
	}

	// The order cancelled in the shop: everything left is refunded.
	out, err := h.eng.CancelShopOrder(ctx, h.company.ID, engine.ShopDelivery{ID: "c1", Topic: "orders/cancelled"},
		engine.ShopCancellation{OrderID: "order-7", RefundIDs: []string{"refund-42"}})
	if err != nil || out.Ignored || len(out.Orders) != 2 {
		t.Fatalf("cancel: %+v, %v", out, err)
	}
	h.waitAll(out.Operations)
	if s := h.soldAvail(ev.ID); s != "0/150 0/50 " {
		t.Errorf("after the cancellation: %s", s)
	}
	for _, o := range h.orders(ev.ID) {
		if o.Status != engine.OrderRefunded {
			t.Errorf("order %d is %s", o.ID, o.Status)
		}
	}
	// The cancellation's refund, delivered on its own too, is known.
	if out := h.refund("r2", engine.ShopRefund{ID: "refund-42", OrderID: "order-7", Lines: []engine.ShopRefundLine{{LineID: "line-2", Quantity: 2}}}); !out.Ignored {
		t.Errorf("the cancellation's refund: %+v", out)
	}
	if ok, _ := h.eng.EventDeletable(ev); !ok {
		t.Error("not deletable once refunded")
	}
}

// RevokeShop marks the connection revoked, once; ConnectShop heals it; a
// revocation for a shop the company left changes nothing.
func TestRevokeShop(t *testing.T) {
	t.Parallel()
	h := setupHooks(t)
	ctx := context.Background()
	shop := h.company.Shop
	d := engine.ShopDelivery{ID: "u1", Topic: "app/uninstalled"}
	if out, err := h.eng.RevokeShop(ctx, h.company.ID, d, shop); err != nil || out.Ignored || out.Duplicate {
		t.Fatalf("revoke: %+v, %v", out, err)
	}
	c, err := h.eng.Company(h.company.ID)
	if err != nil || !c.Shop.Revoked {
		t.Fatalf("company after revoke: %+v, %v", c.Shop, err)
	}
	if out, _ := h.eng.RevokeShop(ctx, h.company.ID, d, shop); !out.Duplicate {
		t.Errorf("revoke redelivered: %+v", out)
	}
	if out, _ := h.eng.RevokeShop(ctx, h.company.ID, engine.ShopDelivery{ID: "u2", Topic: "app/uninstalled"}, shop); !out.Ignored {
		t.Errorf("revoke of a revoked connection: %+v", out)
	}
	if _, err := h.eng.ConnectShop(ctx, h.company.ID, engine.ShopInput{Sandbox: true, Domain: "acme",
		AccessToken: "shpat_new", WebhookSecret: hookSecret}); err != nil {
		t.Fatal(err)
	}
	if c, _ := h.eng.Company(h.company.ID); c.Shop.Revoked {
		t.Error("still revoked after reconnecting")
	}
	// Connected to another shop since: a late revocation of the old one.
	if _, err := h.eng.ConnectShop(ctx, h.company.ID, engine.ShopInput{Sandbox: true, Domain: "elsewhere",
		AccessToken: "shpat_new", WebhookSecret: hookSecret}); err != nil {
		t.Fatal(err)
	}
	if out, _ := h.eng.RevokeShop(ctx, h.company.ID, engine.ShopDelivery{ID: "u3", Topic: "app/uninstalled"}, shop); !out.Ignored {
		t.Errorf("revoke of a shop left: %+v", out)
	}
	if c, _ := h.eng.Company(h.company.ID); c.Shop.Revoked {
		t.Error("the new connection was revoked")
	}
}

// A shop sale is recorded in the shop's currency, read exactly from the
// shop's zero-padded amounts ("5000.00" yen), with what the buyer paid in
// their own currency kept beside it; a price without a currency is in the
// company's shop currency, else the type's.
func TestShopSaleInShopAndPresentmentCurrency(t *testing.T) {
	t.Parallel()
	h := setupHooks(t)
	ev := h.event("Kabuki", 5)
	rt := ev.RegistrationTypes[0].ID
	l := ticketLine("line-1", ev.ID, rt, 2, "5000.00")
	l.UnitPrice.Currency = "JPY"
	l.Presented = engine.ShopMoney{Amount: "30.50", Currency: "EUR"}
	noCurrency := ticketLine("line-2", ev.ID, rt, 1, "25.00")
	noCurrency.UnitPrice.Currency = ""
	h.record("jpy-1", sale("order-3001", l, noCurrency))
	os := h.orders(ev.ID)
	if len(os) != 2 {
		t.Fatalf("orders: %+v", os)
	}
	if os[0].Amount != (engine.Money{Amount: 10000, Currency: "JPY"}) {
		t.Errorf("amount %v, want 10000 JPY", os[0].Amount)
	}
	if p := os[0].Presentment; p == nil || *p != (engine.Money{Amount: 6100, Currency: "EUR"}) {
		t.Errorf("presentment %v, want 61.00 EUR", p)
	}
	if os[1].Amount != (engine.Money{Amount: 2500, Currency: "USD"}) || os[1].Presentment != nil {
		t.Errorf("a price without a currency: %v (presentment %v), want 25.00 USD", os[1].Amount, os[1].Presentment)
	}
}

// A delivery without an id, or naming a blank shop order or refund, is
// refused (Invalid, naming the attribute) and nothing is recorded, not even
// the delivery.
func TestShopDeliveryRefusedInputs(t *testing.T) {
	t.Parallel()
	h := setupHooks(t)
	ctx := context.Background()
	ev := h.event("Refused", 9)
	line := ticketLine("line-1", ev.ID, ev.RegistrationTypes[0].ID, 1, "25.00")
	c := h.company.ID
	tests := []struct {
		name, id, attribute string
		call                func(d engine.ShopDelivery) error
	}{
		{"sale without delivery id", "", "delivery_id", func(d engine.ShopDelivery) error {
			_, err := h.eng.RecordShopSale(ctx, c, d, sale("order-1", line))
			return err
		}},
		{"sale of no shop order", "d1", "order_id", func(d engine.ShopDelivery) error {
			_, err := h.eng.RecordShopSale(ctx, c, d, sale(" ", line))
			return err
		}},
		{"refund without refund id", "d2", "refund_id", func(d engine.ShopDelivery) error {
			_, err := h.eng.RefundShopLines(ctx, c, d, engine.ShopRefund{OrderID: "order-1"})
			return err
		}},
		{"refund of no shop order", "d3", "order_id", func(d engine.ShopDelivery) error {
			_, err := h.eng.RefundShopLines(ctx, c, d, engine.ShopRefund{ID: "refund-1"})
			return err
		}},
		{"cancellation of no shop order", "d4", "order_id", func(d engine.ShopDelivery) error {
			_, err := h.eng.CancelShopOrder(ctx, c, d, engine.ShopCancellation{})
			return err
		}},
		{"revocation without delivery id", " ", "delivery_id", func(d engine.ShopDelivery) error {
			_, err := h.eng.RevokeShop(ctx, c, d, h.company.Shop)
			return err
		}},
		{"ignored delivery without id", "", "delivery_id", func(d engine.ShopDelivery) error {
			_, err := h.eng.IgnoreShopDelivery(ctx, c, d, "nothing")
			return err
		}},
	}
	for _, tc := range tests {
		err := tc.call(engine.ShopDelivery{ID: tc.id, Topic: "orders/create"})
		var e *engine.Error
		if !errors.As(err, &e) || e.Kind != engine.KindInvalid || len(e.Fields) != 1 || e.Fields[0].Attribute != tc.attribute {
			t.Errorf("%s: err = %v, want invalid %s", tc.name, err, tc.attribute)
		}
		h.view(func(tx engine.Tx) error {
			if w, _ := tx.Webhook(c, tc.id); w != nil {
				t.Errorf("%s: the delivery was remembered: %+v", tc.name, w)
			}
			return nil
		})
	}
	if os := h.orders(ev.ID); len(os) != 0 {
		t.Errorf("refused deliveries recorded %+v", os)
	}
	if c, _ := h.eng.Company(c); c.Shop.Revoked {
		t.Error("a refused revocation revoked the shop")
	}
}
