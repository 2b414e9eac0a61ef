package shopify_test

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"eventops/engine"
	"eventops/engine/shopify/sandbox"
)

// Reconciliation (issue 14 §2): what the shop's webhooks never delivered is
// read back from the shop's orders, recorded once, and not written over.

// paidRefunded sums the event's paid and refunded quantities.
func (h *hooked) paidRefunded(eventID uint64) (paid, refunded int) {
	h.t.Helper()
	orders, err := h.eng.Orders(h.company.ID, eventID)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, o := range orders {
		switch o.Status {
		case engine.OrderPaid:
			paid += o.Quantity
		case engine.OrderRefunded:
			refunded += o.Quantity
		}
	}
	return paid, refunded
}

// dropped waits until the shop has given up on n deliveries of topic.
func (h *hooked) dropped(topic string, n int) {
	h.t.Helper()
	until(h.t, 30*time.Second, func() bool {
		ds, err := h.sb.Deliveries(h.shop.Name)
		if err != nil {
			h.t.Fatal(err)
		}
		k := 0
		for _, d := range ds {
			if d.Topic == topic && d.Status == "failed" {
				k++
			}
		}
		return k >= n
	}, func() string { return "no dropped " + topic + " delivery" })
}

// The scenario: eventops is down, a buyer takes 4 of 10, the shop
// gives up on the webhook for good; eventops starts, its start-up
// reconciliation records the 4, and a name-only save then leaves the shop
// offering 6, not 10 (which would sell 14 for 10 seats).
func TestReconcileRecordsASaleWhoseWebhookNeverArrives(t *testing.T) {
	t.Parallel()
	h := setupHooked(t, options{reconcile: true})
	ev, op := h.create(h.input("Lost webhook", nil, regType{"GA", 2000, ptr(10)}))
	h.completed(op.ID)
	if got := h.levels(ev.ID); len(got) != 1 || got[0] != 10 {
		t.Fatalf("shop offers %v before the sale, want [10]", got)
	}
	variant := h.structure(ev.ID).Products[0].Variants[0].ShopifyVariantID

	h.crash()
	if err := h.sb.AddFaults(h.shop.Name, sandbox.FaultRule{Operation: "orders/create", Fault: sandbox.FaultDropWebhooks}); err != nil {
		t.Fatal(err)
	}
	shopOrder, err := h.sb.PlaceOrder(h.shop.Name, variant, 4)
	if err != nil {
		t.Fatalf("buyer: %v", err)
	}
	h.dropped("orders/create", 1)

	h.start()
	until(t, 30*time.Second, func() bool { p, _ := h.paidRefunded(ev.ID); return p == 4 },
		func() string { p, _ := h.paidRefunded(ev.ID); return "paid after start-up: " + strconv.Itoa(p) })
	orders, _ := h.eng.Orders(h.company.ID, ev.ID)
	if len(orders) != 1 || orders[0].ShopifyOrderID != shopOrder.ID || orders[0].Amount.Amount != 8000 {
		t.Fatalf("recorded orders: %+v", orders)
	}
	// The sale's own inventory-only save and a name-only save both leave
	// the shop at what is left to sell.
	for _, o := range h.inventoryOps(ev.ID) {
		h.wait(o.ID)
	}
	_, op = h.update(ev.ID, engine.EventInput{Name: ptr("Lost webhook, renamed")})
	h.completed(op.ID)
	if got := h.levels(ev.ID); len(got) != 1 || got[0] != 6 {
		t.Fatalf("shop offers %v after a name-only save, want [6]", got)
	}
	if a := h.structure(ev.ID).Products[0].Variants[0].Available; a == nil || *a != 6 {
		t.Fatalf("available %v, want 6", a)
	}

	// The order is too recent to move the mark (see
	// TestReconcileReadsRecentOrdersAgain): a pass reads it again and
	// records nothing.
	res, err := h.rec.Shop(context.Background(), h.company.ID)
	if err != nil || res.Orders != 1 || res.Recorded != 0 {
		t.Fatalf("second pass: %+v, %v", res, err)
	}
	// Once it is old enough, a pass moves the mark past it, and the next
	// one does not read it at all.
	h.rec.SetClock(func() time.Time { return time.Now().Add(2 * time.Minute) })
	if res, err = h.rec.Shop(context.Background(), h.company.ID); err != nil || res.Recorded != 0 {
		t.Fatalf("third pass: %+v, %v", res, err)
	}
	if res, err = h.rec.Shop(context.Background(), h.company.ID); err != nil || res.Orders != 0 {
		t.Fatalf("a pass after the mark moved: %+v, %v", res, err)
	}
	if p, _ := h.paidRefunded(ev.ID); p != 4 {
		t.Fatalf("paid %d after more passes, want 4", p)
	}
}

// Shopify's timestamps are whole seconds: an order read in the second of
// its update can change again under the same updatedAt. A recent order
// therefore does not move the mark: the next pass reads it again, and a
// refund made right after the pass recorded the sale is recorded.
func TestReconcileReadsRecentOrdersAgain(t *testing.T) {
	t.Parallel()
	h := setupHooked(t, options{reconcile: true})
	ev, op := h.create(h.input("Same second", nil, regType{"GA", 1000, ptr(10)}))
	h.completed(op.ID)
	if err := h.sb.AddFaults(h.shop.Name, sandbox.FaultRule{Operation: "*", Fault: sandbox.FaultDropWebhooks}); err != nil {
		t.Fatal(err)
	}
	o, err := h.sb.PlaceOrder(h.shop.Name, h.structure(ev.ID).Products[0].Variants[0].ShopifyVariantID, 3)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if res, err := h.rec.Shop(ctx, h.company.ID); err != nil || res.Recorded != 1 {
		t.Fatalf("first pass: %+v, %v", res, err)
	}
	if _, err := h.sb.RefundOrder(h.shop.Name, o.ID, nil, "at once"); err != nil {
		t.Fatal(err)
	}
	if res, err := h.rec.Shop(ctx, h.company.ID); err != nil || res.Recorded != 1 {
		t.Fatalf("second pass: %+v, %v", res, err)
	}
	if p, r := h.paidRefunded(ev.ID); p != 0 || r != 3 {
		t.Fatalf("paid %d refunded %d, want 0 and 3", p, r)
	}
}

// A refund and a cancellation made in the shop while its webhooks are
// dropped are recorded by the poll; an order whose webhook did arrive is
// recorded once although the poll reads it too; passes run again from the
// start (no mark) record nothing twice.
func TestReconcileRecordsRefundsAndCancellationsOnce(t *testing.T) {
	t.Parallel()
	h := setupHooked(t, options{reconcile: true})
	ev, op := h.create(h.input("Refunds", nil, regType{"GA", 1000, ptr(20)}))
	h.completed(op.ID)
	variant := h.structure(ev.ID).Products[0].Variants[0].ShopifyVariantID
	var shopOrders []sandbox.OrderState
	for _, q := range []int{2, 3, 4} {
		o, err := h.sb.PlaceOrder(h.shop.Name, variant, q)
		if err != nil {
			t.Fatal(err)
		}
		shopOrders = append(shopOrders, o)
	}
	h.delivered("orders/create", 3)
	if p, _ := h.paidRefunded(ev.ID); p != 9 {
		t.Fatalf("paid %d after the webhooks, want 9", p)
	}

	if err := h.sb.AddFaults(h.shop.Name, sandbox.FaultRule{Operation: "*", Fault: sandbox.FaultDropWebhooks}); err != nil {
		t.Fatal(err)
	}
	// A partial refund of the first order, a cancellation of the second.
	if _, err := h.sb.RefundOrder(h.shop.Name, shopOrders[0].ID,
		[]sandbox.RefundLine{{LineItemID: shopOrders[0].LineItems[0].ID, Quantity: 1}}, "one back"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.sb.CancelOrder(h.shop.Name, shopOrders[1].ID, "customer"); err != nil {
		t.Fatal(err)
	}
	h.dropped("refunds/create", 1)
	h.dropped("orders/cancelled", 1)
	// Nothing but a reconciliation pass can record them now: the explicit
	// one below, or one that a rebalancing inventory phase asks for when it
	// finds the shop's numbers other than expected (which may come first).

	res, err := h.rec.Shop(context.Background(), h.company.ID)
	if err != nil {
		t.Fatal(err)
	}
	if p, r := h.paidRefunded(ev.ID); p != 5 || r != 4 {
		t.Fatalf("paid %d refunded %d after the poll, want 5 and 4 (%+v)", p, r, res)
	}
	// (Another pass, one an inventory phase asked for, may have recorded
	// part of it first: what counts is the state, and that it is once.)
	if res.Recorded > 2 {
		t.Fatalf("the poll recorded %d changes, want at most 2 (the refund and the cancellation's refund)", res.Recorded)
	}

	// Forget the mark, as if every commit of the pass had been lost but
	// its effects kept: a pass from the start reads everything again and
	// records nothing twice.
	if err := h.db.Update(context.Background(), func(tx engine.Tx) error {
		c, err := tx.Company(h.company.ID)
		if err != nil {
			return err
		}
		c.Shop.Reconciled = nil
		return tx.PutCompany(c)
	}); err != nil {
		t.Fatal(err)
	}
	res, err = h.rec.Shop(context.Background(), h.company.ID)
	if err != nil || res.Orders != 3 || res.Recorded != 0 {
		t.Fatalf("pass without a mark: %+v, %v", res, err)
	}
	if p, r := h.paidRefunded(ev.ID); p != 5 || r != 4 {
		t.Fatalf("paid %d refunded %d after a second pass", p, r)
	}
	orders, _ := h.eng.Orders(h.company.ID, ev.ID)
	if len(orders) != 4 { // 3 sales, the first split into a paid and a refunded part
		t.Fatalf("%d orders, want 4: %+v", len(orders), orders)
	}
}

// eventops crashes in the middle of a reconciliation pass (after the first
// missed order is recorded, while the second is being read): the restart's
// pass goes on from the mark committed with the first, and every order is
// recorded once.
func TestReconcileResumesAfterACrashMidPass(t *testing.T) {
	t.Parallel()
	g := &gate{held: make(chan struct{}), release: make(chan struct{})}
	h := setupHooked(t, options{reconcile: true, reconcileAhead: 2 * time.Minute,
		wrap: func(next http.RoundTripper) http.RoundTripper { g.next = next; return g }})
	ev, op := h.create(h.input("Mid-pass", nil, regType{"GA", 1000, ptr(20)}))
	h.completed(op.ID)
	variant := h.structure(ev.ID).Products[0].Variants[0].ShopifyVariantID

	h.crash()
	if err := h.sb.AddFaults(h.shop.Name, sandbox.FaultRule{Operation: "*", Fault: sandbox.FaultDropWebhooks}); err != nil {
		t.Fatal(err)
	}
	var shopOrders []sandbox.OrderState
	for _, q := range []int{1, 2, 3} {
		o, err := h.sb.PlaceOrder(h.shop.Name, variant, q)
		if err != nil {
			t.Fatal(err)
		}
		shopOrders = append(shopOrders, o)
	}
	h.dropped("orders/create", 3)
	second := shopOrders[1].ID
	g.match = func(body string) bool {
		return strings.Contains(body, "query ReconcileOrder") && strings.Contains(body, `"`+second+`"`)
	}
	g.armed.Store(true)
	h.start()
	select {
	case <-g.held:
	case <-time.After(30 * time.Second):
		t.Fatal("the start-up pass never read the second order")
	}
	if p, _ := h.paidRefunded(ev.ID); p != 1 {
		t.Fatalf("paid %d when the pass is held on the second order, want 1", p)
	}
	c, _ := h.eng.Company(h.company.ID)
	if m := c.Shop.Reconciled; m == nil || len(m.OrderIDs) == 0 || !slices.Contains(m.OrderIDs, shopOrders[0].ID) {
		t.Fatalf("mark after the first order: %+v", m)
	}
	h.crash()
	g.armed.Store(false)
	close(g.release)

	h.start()
	until(t, 30*time.Second, func() bool { p, _ := h.paidRefunded(ev.ID); return p == 6 },
		func() string { p, _ := h.paidRefunded(ev.ID); return "paid after the restart: " + strconv.Itoa(p) })
	orders, _ := h.eng.Orders(h.company.ID, ev.ID)
	if len(orders) != 3 {
		t.Fatalf("%d orders, want 3: %+v", len(orders), orders)
	}
	// A later pass may read an order again (its fulfilment, done after
	// it was recorded, moved its updated_at past the mark) but records
	// nothing.
	res, err := h.rec.Shop(context.Background(), h.company.ID)
	if err != nil || res.Recorded != 0 {
		t.Fatalf("a pass after everything was read: %+v, %v", res, err)
	}
}

// One pass at a time per shop: callers arriving while a pass runs share
// the one pass that follows it, which reads the shop after they asked.
func TestReconcileIsSingleFlightPerShop(t *testing.T) {
	t.Parallel()
	g := &gate{held: make(chan struct{}), release: make(chan struct{}),
		match: func(body string) bool { return strings.Contains(body, "query OrdersSince") }}
	h := setupHooked(t, options{reconcile: true, wrap: func(next http.RoundTripper) http.RoundTripper { g.next = next; return g }})
	ctx := context.Background()
	// The start-up pass runs on its own goroutine: on a loaded machine it
	// may still be to come. Wait for it, so that the gate holds the pass
	// this test starts.
	select {
	case <-h.rec.StartedUp():
	case <-time.After(30 * time.Second):
		t.Fatal("the start-up pass never ended")
	}
	if _, err := h.rec.Shop(ctx, h.company.ID); err != nil {
		t.Fatal(err)
	}
	before, _ := h.sb.Calls(h.shop.Name, "orders")

	g.armed.Store(true)
	first := make(chan error, 1)
	go func() { _, err := h.rec.Shop(ctx, h.company.ID); first <- err }()
	<-g.held
	g.armed.Store(false)
	const callers = 5
	done := make(chan error, callers)
	for range callers {
		go func() { _, err := h.rec.Shop(ctx, h.company.ID); done <- err }()
	}
	until(t, 30*time.Second, func() bool { return h.rec.NextPassAsked(h.company.ID) == callers },
		func() string {
			return strconv.Itoa(h.rec.NextPassAsked(h.company.ID)) + " callers wait for the next pass"
		})
	close(g.release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for range callers {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	after, _ := h.sb.Calls(h.shop.Name, "orders")
	// The held pass's list (held, then sent again after the lost answer)
	// and one pass for the five callers.
	if n := len(after) - len(before); n != 3 {
		t.Fatalf("%d orders calls, want 3", n)
	}
}

// The timer runs passes: a sale whose webhook is dropped while eventops
// runs is recorded without a restart.
func TestReconcileRunsOnItsInterval(t *testing.T) {
	t.Parallel()
	h := setupHooked(t, options{reconcile: true, reconcileEvery: 50 * time.Millisecond})
	ev, op := h.create(h.input("Timer", nil, regType{"GA", 1000, ptr(10)}))
	h.completed(op.ID)
	if err := h.sb.AddFaults(h.shop.Name, sandbox.FaultRule{Operation: "orders/create", Fault: sandbox.FaultDropWebhooks}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.sb.PlaceOrder(h.shop.Name, h.structure(ev.ID).Products[0].Variants[0].ShopifyVariantID, 2); err != nil {
		t.Fatal(err)
	}
	until(t, 30*time.Second, func() bool { p, _ := h.paidRefunded(ev.ID); return p == 2 },
		func() string { p, _ := h.paidRefunded(ev.ID); return "paid: " + strconv.Itoa(p) })
}
