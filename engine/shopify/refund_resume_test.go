package shopify_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"eventops/engine"
	"eventops/engine/shopify/sandbox"
)

// A refund's input is committed before its first send. Crashed between the
// commit and the send (the shop never saw the call), the resumed refund
// sends exactly the committed input, without asking the shop again, and
// the buyer — who paid in another currency than the shop's — gets back
// what they paid, in their currency.
func TestRefundResumesWithItsPersistedInput(t *testing.T) {
	t.Parallel()
	g := &gate{held: make(chan struct{}), release: make(chan struct{}), unsent: true,
		match: func(body string) bool { return strings.Contains(body, "mutation RefundCreate") }}
	b := setup(t, options{wrap: func(next http.RoundTripper) http.RoundTripper { g.next = next; return g }})
	ev, op := b.create(b.input("Resumed", ptr(50), regType{"A", 1000, nil}))
	b.completed(op.ID)
	v := b.structure(ev.ID).Products[0].Variants[0]
	so, err := b.sb.PlaceOrderWith(b.shop.Name, v.ShopifyVariantID, 2,
		sandbox.OrderOptions{PresentmentCurrency: "EUR", PresentmentUnitPrice: "9.20"})
	if err != nil {
		t.Fatalf("place order: %v", err)
	}
	ord := b.recordShopOrder(ev.ID, v.RegistrationTypeID, so)

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
	var persisted json.RawMessage
	err = b.db.View(func(tx engine.Tx) error {
		o, err := tx.Order(ord.ID)
		if err == nil && o.ShopifyRefund != nil && o.ShopifyRefund.OperationID == rop.ID {
			persisted = o.ShopifyRefund.Input
		}
		return err
	})
	if err != nil || persisted == nil {
		t.Fatalf("no refund input committed before the send (err %v)", err)
	}
	b.eng.Stop(0) // crash: the refundCreate never reached the shop
	b.close()
	g.armed.Store(false)
	close(g.release)
	before := len(b.calls())
	b.open()
	b.completed(rop.ID)

	var sent []sandbox.Call
	for _, c := range b.calls()[before:] {
		if c.OperationName == "OrderForRefund" || c.OperationName == "SuggestedRefund" {
			t.Errorf("the resumed refund asked the shop again: %s", c.OperationName)
		}
		if c.Has("refundCreate") {
			sent = append(sent, c)
		}
	}
	if len(sent) != 1 {
		t.Fatalf("%d refundCreate calls after the restart, want 1", len(sent))
	}
	var vars struct {
		Input json.RawMessage `json:"input"`
	}
	if err := json.Unmarshal(sent[0].Variables, &vars); err != nil {
		t.Fatal(err)
	}
	if !sameJSON(t, vars.Input, persisted) {
		t.Errorf("sent input %s, committed %s", vars.Input, persisted)
	}
	var in struct {
		Currency     string `json:"currency"`
		Transactions []struct {
			Amount, Kind, ParentID string
		} `json:"transactions"`
	}
	_ = json.Unmarshal(persisted, &in)
	if in.Currency != "EUR" || len(in.Transactions) != 1 || in.Transactions[0].Amount != "18.40" || in.Transactions[0].Kind != "REFUND" {
		t.Errorf("refund input %s, want one REFUND transaction of 18.40 EUR", persisted)
	}
	st, err := b.sb.State(b.shop.Name)
	if err != nil {
		t.Fatal(err)
	}
	if o := st.Orders[0]; o.TotalRefunded != o.TotalPrice || o.FinancialStatus != "refunded" {
		t.Errorf("shop order %s: %s %s returned of %s paid, %s", o.ID, o.TotalRefunded, o.Currency, o.TotalPrice, o.FinancialStatus)
	}
}

// sameJSON compares two JSON documents by value.
func sameJSON(t *testing.T, a, b json.RawMessage) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	xs, _ := json.Marshal(x)
	ys, _ := json.Marshal(y)
	return string(xs) == string(ys)
}

// A presale order placed more than 60 days ago is invisible to an app
// without the read_all_orders scope: the refund fails with
// REFUND_SCOPE_MISSING naming the scope, refunding nothing; once the scope
// is granted, a new refund returns the buyer's money.
func TestRefundOfAnOldOrderNeedsReadAllOrders(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	ev, op := b.create(b.input("Presale", ptr(50), regType{"A", 1000, nil}))
	b.completed(op.ID)
	v := b.structure(ev.ID).Products[0].Variants[0]
	placed := time.Now().UTC().AddDate(0, 0, -90)
	so, err := b.sb.PlaceOrderWith(b.shop.Name, v.ShopifyVariantID, 1, sandbox.OrderOptions{PlacedAt: placed})
	if err != nil {
		t.Fatalf("place order: %v", err)
	}
	ord := b.recordShopOrder(ev.ID, v.RegistrationTypeID, so)
	err = b.db.Update(context.Background(), func(tx engine.Tx) error {
		o, err := tx.Order(ord.ID)
		if err != nil {
			return err
		}
		o.CreatedAt = placed
		return tx.PutOrder(o)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.sb.GrantAllOrders(b.shop.Name, false); err != nil {
		t.Fatal(err)
	}
	rop, err := b.eng.RefundEvent(context.Background(), b.company.ID, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	done := b.wait(rop.ID)
	if done.Error == nil || done.Error.Code != engine.CodeRefundScopeMissing || !strings.Contains(done.Error.Message, "read_all_orders") {
		t.Fatalf("refund = %s, want REFUND_SCOPE_MISSING naming read_all_orders", opJSON(done))
	}
	orders, _ := b.eng.Orders(b.company.ID, ev.ID)
	if len(orders) != 1 || orders[0].Status != engine.OrderPaid {
		t.Errorf("orders after the failed refund: %+v", orders)
	}

	if err := b.sb.GrantAllOrders(b.shop.Name, true); err != nil {
		t.Fatal(err)
	}
	rop, err = b.eng.RefundEvent(context.Background(), b.company.ID, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	b.completed(rop.ID)
	st, _ := b.sb.State(b.shop.Name)
	if o := st.Orders[0]; o.TotalRefunded != o.TotalPrice {
		t.Errorf("shop order %s: %s returned of %s paid", o.ID, o.TotalRefunded, o.TotalPrice)
	}
}

// A refund never marks an order refunded when the shop order does not show
// its line: that would return no money. Recorded with the shop's line item,
// the order is refunded by it; recorded against something no line of the
// shop order sells, the refund fails and the order stays paid (it was
// marked refunded, with nothing sent).
func TestRefundOfALineTheShopDoesNotShow(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	ev, op := b.create(b.input("Unmatched", ptr(50), regType{"A", 1000, nil}))
	b.completed(op.ID)
	v := b.structure(ev.ID).Products[0].Variants[0]
	matched, err := b.sb.PlaceOrder(b.shop.Name, v.ShopifyVariantID, 1)
	if err != nil {
		t.Fatal(err)
	}
	stray, err := b.sb.PlaceOrder(b.shop.Name, v.ShopifyVariantID, 1)
	if err != nil {
		t.Fatal(err)
	}
	byLine := b.recordShopOrder(ev.ID, v.RegistrationTypeID, matched)
	// The order of another registration type than any line of its shop
	// order sells.
	lost := b.recordShopOrder(ev.ID, v.RegistrationTypeID+1000, stray)
	err = b.db.Update(context.Background(), func(tx engine.Tx) error {
		o, err := tx.Order(byLine.ID)
		if err != nil {
			return err
		}
		o.ShopifyLineItemID = matched.LineItems[0].ID
		return tx.PutOrder(o)
	})
	if err != nil {
		t.Fatal(err)
	}
	rop, err := b.eng.RefundEvent(context.Background(), b.company.ID, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	done := b.wait(rop.ID)
	if done.Error == nil || done.Error.Code != engine.CodeRefundRejected || !strings.Contains(done.Error.Message, "does not show") {
		t.Fatalf("refund = %s, want REFUND_REJECTED: the shop order does not show our line", opJSON(done))
	}
	orders, _ := b.eng.Orders(b.company.ID, ev.ID)
	for _, o := range orders {
		if o.ID == lost.ID && o.Status != engine.OrderPaid {
			t.Errorf("the unmatched order is %s with no money returned", o.Status)
		}
	}
	st, _ := b.sb.State(b.shop.Name)
	for _, o := range st.Orders {
		if o.ID == matched.ID && o.TotalRefunded != o.TotalPrice {
			t.Errorf("the order matched by its line item: %s returned of %s", o.TotalRefunded, o.TotalPrice)
		}
	}
}
