package shopify_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"eventops/engine"
	"eventops/engine/shopify"
	"eventops/storage"
	"eventops/storage/storetest"
)

// Webhook deliveries handed to the receiver directly, signed as the shop
// signs them, for an engine whose Shopify phases do nothing but count
// inventory runs: the protocol (signature, shop domains, payloads, gids,
// SKUs) against the engine's domain commands. The end-to-end tests against
// the sandbox (web/webhooks_test.go, orders_webhooks_test.go) cover the
// HTTP side.

const hookSecret = "shpss_webhook_secret"

// hookBundle is an engine with a company connected to sandbox shop "acme".
type hookBundle struct {
	*bundle
	rcv           *shopify.WebhookReceiver
	inventoryRuns atomic.Int64
}

// phaseFunc adapts a function to engine.Work.
type phaseFunc func(ctx context.Context, r *engine.PhaseRun) error

func (f phaseFunc) Run(ctx context.Context, r *engine.PhaseRun) error { return f(ctx, r) }

func setupHooks(t *testing.T) *hookBundle { return setupHooksOn(t, "", nil) }

// setupHooksOn is setupHooks on the PostgreSQL database at url ("": the
// test's store); with first, it is a second node of first's installation
// (its own store on first's database, engine and receiver, and first's
// sealing key and records).
func setupHooksOn(t *testing.T, url string, first *hookBundle) *hookBundle {
	t.Helper()
	b := &bundle{t: t, dir: t.TempDir(), quiet: quietLogger()}
	h := &hookBundle{bundle: b}
	var db *storage.DB
	var err error
	if url != "" {
		db, err = storage.OpenPostgres(context.Background(), url, storage.Options{})
	} else {
		db, err = storetest.Open(t, filepath.Join(b.dir, "eventops.db"), storage.Options{})
	}
	if err != nil {
		t.Fatal(err)
	}
	sealDir := b.dir
	if first != nil {
		sealDir = first.dir
	}
	sealer, err := storage.LoadSealer(sealDir)
	if err != nil {
		t.Fatal(err)
	}
	work := map[string]engine.Work{}
	for _, name := range engine.ShopifyPhases {
		work[name] = phaseFunc(func(context.Context, *engine.PhaseRun) error { return nil })
	}
	work[engine.PhaseInventory] = phaseFunc(func(context.Context, *engine.PhaseRun) error {
		h.inventoryRuns.Add(1)
		return nil
	})
	b.db = db
	b.eng = engine.New(engine.Config{Store: db, SharedStore: db.Postgres(), Sealer: sealer, Work: work, Retry: fastRetry, Logger: b.quiet})
	if err := b.eng.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.close)
	h.rcv = shopify.NewWebhookReceiver(b.eng, b.quiet)
	if first != nil {
		b.company, b.venue, b.tickets = first.company, first.venue, first.tickets
		return h
	}
	ctx := context.Background()
	if b.company, err = b.eng.CreateCompany(ctx, "Blue Note", &engine.ShopInput{Sandbox: true, Domain: "acme",
		AccessToken: "shpat_x", WebhookSecret: hookSecret}); err != nil {
		t.Fatal(err)
	}
	if b.venue, err = b.eng.CreateVenue(ctx, b.company.ID, engine.VenueInput{Name: "Blue Room", TimeZone: "America/Chicago"}); err != nil {
		t.Fatal(err)
	}
	if b.tickets, err = b.eng.CreateTicketType(ctx, b.company.ID, engine.TicketTypeInput{Name: "General admission"}); err != nil {
		t.Fatal(err)
	}
	return h
}

// event creates a date event (capacity 200: GA 150 at 25.00, VIP 50 at
// 90.00) and waits for its save, so that its ticket structure exists.
func (h *hookBundle) event(name string, day int) *engine.Event {
	h.t.Helper()
	in := h.input(name, ptr(200), regType{"General admission", 2500, ptr(150)}, regType{"VIP", 9000, ptr(50)})
	in.StartsAt = ptr(time.Date(2026, 12, day, 19, 0, 0, 0, time.UTC))
	in.EndsAt = ptr(in.StartsAt.Add(4 * time.Hour))
	ev, op := h.create(in)
	h.completed(op.ID)
	return ev
}

func (h *hookBundle) deliver(topic, id string, body []byte) ([]*engine.WebhookOutcome, error) {
	return h.rcv.Receive(context.Background(), shopify.Delivery{Topic: topic, ShopDomain: "acme.myshopify.com",
		ID: id, HMAC: shopify.SignWebhook(hookSecret, body), Body: body})
}

func (h *hookBundle) mustDeliver(topic, id string, body []byte) *engine.WebhookOutcome {
	h.t.Helper()
	out, err := h.deliver(topic, id, body)
	if err != nil || len(out) != 1 {
		h.t.Fatalf("deliver %s %s: %v, %v", topic, id, out, err)
	}
	return out[0]
}

func (h *hookBundle) view(fn func(tx engine.Tx) error) {
	h.t.Helper()
	if err := h.db.View(fn); err != nil {
		h.t.Fatal(err)
	}
}

type line struct {
	id, variant int64
	sku         string
	qty         int64
	price       string
}

func orderBody(id int64, lines ...line) []byte {
	items := make([]map[string]any, len(lines))
	for i, l := range lines {
		items[i] = map[string]any{"id": l.id, "admin_graphql_api_id": fmt.Sprintf("gid://shopify/LineItem/%d", l.id),
			"variant_id": l.variant, "sku": l.sku, "quantity": l.qty, "price": l.price}
	}
	raw, _ := json.Marshal(map[string]any{"id": id, "admin_graphql_api_id": fmt.Sprintf("gid://shopify/Order/%d", id),
		"currency": "USD", "cancelled_at": nil, "line_items": items, "refunds": []any{}})
	return raw
}

func refundBody(id, orderID int64, lines ...line) []byte {
	rl := make([]map[string]any, len(lines))
	for i, l := range lines {
		rl[i] = map[string]any{"line_item_id": l.id, "quantity": l.qty, "restock_type": "no_restock",
			"line_item": map[string]any{"id": l.id, "admin_graphql_api_id": fmt.Sprintf("gid://shopify/LineItem/%d", l.id), "sku": l.sku}}
	}
	raw, _ := json.Marshal(map[string]any{"id": id, "admin_graphql_api_id": fmt.Sprintf("gid://shopify/Refund/%d", id),
		"order_id": orderID, "refund_line_items": rl})
	return raw
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

// A shop order is recorded once per line item that sells our tickets (by
// SKU, or by variant id when the SKU was changed in the shop), at the price
// paid; it lowers what is left to sell of every type sharing the capacity
// and starts one inventory-only save per occurrence sold. A redelivery, and
// the same order under another webhook id, change nothing; forged or
// foreign deliveries are refused before anything is recorded.
func TestWebhookOrderRecordedOnce(t *testing.T) {
	t.Parallel()
	h := setupHooks(t)
	a, b := h.event("Jazz", 5), h.event("Blues", 6)
	ga, vip := a.RegistrationTypes[0].ID, a.RegistrationTypes[1].ID
	// Event b's VIP variant is mirrored as ProductVariant/77.
	err := h.db.Update(context.Background(), func(tx engine.Tx) error {
		s, err := tx.TicketStructure(b.ID)
		if err != nil {
			return err
		}
		s.Products[0].Variants[1].ShopifyVariantID = "gid://shopify/ProductVariant/77"
		return tx.PutTicketStructure(s)
	})
	if err != nil {
		t.Fatal(err)
	}
	body := orderBody(1001,
		line{id: 1, variant: 10, sku: fmt.Sprintf("eventops-%d-%d", a.ID, vip), qty: 2, price: "80.00"},
		line{id: 2, variant: 77, sku: "renamed-by-merchant", qty: 1, price: "90.00"},
		line{id: 3, variant: 99, sku: "t-shirt", qty: 4, price: "15.00"},
		line{id: 4, variant: 11, sku: fmt.Sprintf("eventops-%d-%d", a.ID, ga), qty: 3, price: "25.00"},
	)

	// Refused: a forged signature, an unknown shop, no signature.
	forged := shopify.Delivery{Topic: "orders/create", ShopDomain: "acme.myshopify.com", ID: "w1",
		HMAC: shopify.SignWebhook("not the secret", body), Body: body}
	for name, w := range map[string]shopify.Delivery{
		"forged":         forged,
		"unknown shop":   {Topic: "orders/create", ShopDomain: "other.myshopify.com", ID: "w1", HMAC: shopify.SignWebhook(hookSecret, body), Body: body},
		"unsigned":       {Topic: "orders/create", ShopDomain: "acme.myshopify.com", ID: "w1", Body: body},
		"body tampered":  {Topic: "orders/create", ShopDomain: "acme.myshopify.com", ID: "w1", HMAC: shopify.SignWebhook(hookSecret, body), Body: append(append([]byte{}, body...), ' ')},
		"bad base64 sig": {Topic: "orders/create", ShopDomain: "acme.myshopify.com", ID: "w1", HMAC: "%%%", Body: body},
	} {
		if _, err := h.rcv.Receive(context.Background(), w); engine.ErrorKind(err) != engine.KindUnauthorized {
			t.Errorf("%s: err = %v, want unauthorized", name, err)
		}
	}
	if _, err := h.deliver("orders/create", "", body); engine.ErrorKind(err) != engine.KindInvalid {
		t.Errorf("no webhook id: err = %v", err)
	}
	if _, err := h.deliver("orders/create", "w0", []byte(`{"line_items": "nope"}`)); engine.ErrorKind(err) != engine.KindInvalid {
		t.Errorf("malformed body: err = %v", err)
	}
	if n := len(h.orders(a.ID)) + len(h.orders(b.ID)); n != 0 {
		t.Fatalf("%d orders recorded by refused deliveries", n)
	}
	h.view(func(tx engine.Tx) error {
		if w, _ := tx.Webhook(h.company.ID, "w1"); w != nil {
			t.Errorf("a refused delivery was remembered: %+v", w)
		}
		return nil
	})

	out := h.mustDeliver("orders/create", "w1", body)
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
		o.Status != engine.OrderPaid || o.ShopifyOrderID != "gid://shopify/Order/1001" || o.ShopifyLineItemID != "gid://shopify/LineItem/1" {
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
	if out := h.mustDeliver("orders/create", "w1", body); !out.Duplicate || len(out.Orders)+len(out.Operations) != 0 {
		t.Errorf("redelivery: %+v", out)
	}
	if out := h.mustDeliver("orders/create", "w2", body); !out.Ignored || len(out.Orders)+len(out.Operations) != 0 {
		t.Errorf("same order, other webhook id: %+v", out)
	}
	if n := len(h.orders(a.ID)); n != 2 {
		t.Errorf("%d orders after redeliveries", n)
	}
	if h.inventoryRuns.Load() != ops {
		t.Error("a redelivery started an inventory save")
	}
	// An order of nothing of ours is remembered and ignored.
	if out := h.mustDeliver("orders/create", "w3", orderBody(1002, line{id: 9, variant: 99, sku: "t-shirt", qty: 1, price: "15.00"})); !out.Ignored {
		t.Errorf("foreign order: %+v", out)
	}
	// An unknown topic is ignored (signed or not, it is not ours to keep).
	if out := h.mustDeliver("products/update", "w4", []byte(`{}`)); !out.Ignored {
		t.Errorf("unknown topic: %+v", out)
	}
	h.view(func(tx engine.Tx) error {
		if w, _ := tx.Webhook(h.company.ID, "w4"); w != nil {
			t.Errorf("an unknown topic was remembered: %+v", w)
		}
		w, _ := tx.Webhook(h.company.ID, "w1")
		if w == nil || len(w.OrderIDs) != 3 || len(w.OperationIDs) != 2 || w.Topic != "orders/create" {
			t.Errorf("delivery record = %+v", w)
		}
		return nil
	})
}

// Deliveries of one webhook racing each other record the order once.
func TestWebhookConcurrentRedeliveries(t *testing.T) {
	t.Parallel()
	h := setupHooks(t)
	ev := h.event("Race", 7)
	body := orderBody(5, line{id: 1, sku: fmt.Sprintf("eventops-%d-%d", ev.ID, ev.RegistrationTypes[0].ID), qty: 1, price: "25.00"})
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
			out, err := h.deliver("orders/create", id, body)
			if err != nil {
				t.Error(err)
				return
			}
			if !out[0].Duplicate && !out[0].Ignored {
				processed.Add(1)
				h.waitAll(out[0].Operations)
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
// (a partial refund splits an order), returns them to what is left to sell
// whatever the restock type, and counts once however often it is delivered;
// a cancellation refunds the rest. A cancellation body posted as anything
// but a cancellation changes nothing.
func TestWebhookRefundsAndCancellations(t *testing.T) {
	t.Parallel()
	h := setupHooks(t)
	ev := h.event("Refunds", 8)
	ga, vip := ev.RegistrationTypes[0].ID, ev.RegistrationTypes[1].ID
	gaSKU, vipSKU := fmt.Sprintf("eventops-%d-%d", ev.ID, ga), fmt.Sprintf("eventops-%d-%d", ev.ID, vip)
	out := h.mustDeliver("orders/create", "o1", orderBody(7, line{id: 1, sku: gaSKU, qty: 4, price: "25.00"}, line{id: 2, sku: vipSKU, qty: 2, price: "90.00"}))
	h.waitAll(out.Operations)
	if s := h.soldAvail(ev.ID); s != "4/146 2/48 " {
		t.Fatalf("after the sale: %s", s)
	}
	// An orders/create body delivered as orders/cancelled: no cancelled_at.
	if out := h.mustDeliver("orders/cancelled", "bogus", orderBody(7)); !out.Ignored {
		t.Errorf("not cancelled: %+v", out)
	}
	// A refund unknown to us (another shop order) changes nothing.
	if out := h.mustDeliver("refunds/create", "r0", refundBody(40, 999, line{id: 1, sku: gaSKU, qty: 1})); !out.Ignored {
		t.Errorf("refund of an unknown order: %+v", out)
	}

	// A partial refund of one GA ticket, not restocked in the shop.
	partial := refundBody(41, 7, line{id: 1, sku: gaSKU, qty: 1})
	out = h.mustDeliver("refunds/create", "r1", partial)
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
		o.ShopifyOrderID != "gid://shopify/Order/7" || o.RefundedAt == nil || len(o.ShopifyRefundIDs) != 1 {
		t.Errorf("the refunded part = %+v", o)
	}
	// The same refund again, under the same and another webhook id.
	if out := h.mustDeliver("refunds/create", "r1", partial); !out.Duplicate {
		t.Errorf("refund redelivered: %+v", out)
	}
	if out := h.mustDeliver("refunds/create", "r1-bis", partial); !out.Ignored {
		t.Errorf("refund under another id: %+v", out)
	}
	if s := h.soldAvail(ev.ID); s != "3/147 2/48 " {
		t.Errorf("after the refund's redeliveries: %s", s)
	}
	if ok, _ := h.eng.EventDeletable(ev); ok {
		t.Error("deletable with paid orders")
	}
	if _, err := h.eng.DeleteEvent(context.Background(), h.company.ID, ev.ID); engine.ErrorKind(err) != engine.KindConflict {
		t.Errorf("delete with paid orders: %v", err)
	}

	// The order cancelled in the shop: everything left is refunded.
	raw, _ := json.Marshal(map[string]any{"id": 7, "admin_graphql_api_id": "gid://shopify/Order/7",
		"cancelled_at": "2026-12-01T10:00:00Z", "line_items": []any{}, "refunds": []any{map[string]any{"id": 42}}})
	out = h.mustDeliver("orders/cancelled", "c1", raw)
	if out.Ignored || len(out.Orders) != 2 {
		t.Fatalf("cancel: %+v", out)
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
	// The cancellation's refund, delivered as refunds/create too, is known.
	if out := h.mustDeliver("refunds/create", "r2", refundBody(42, 7, line{id: 2, sku: vipSKU, qty: 2})); !out.Ignored {
		t.Errorf("the cancellation's refund: %+v", out)
	}
	if ok, _ := h.eng.EventDeletable(ev); !ok {
		t.Error("not deletable once refunded")
	}
	op, err := h.eng.DeleteEvent(context.Background(), h.company.ID, ev.ID)
	if err != nil {
		t.Fatalf("delete once refunded: %v", err)
	}
	h.wait(op.ID)
}

// app/uninstalled marks the connection revoked, once; ConnectShop heals it.
func TestWebhookAppUninstalled(t *testing.T) {
	t.Parallel()
	h := setupHooks(t)
	if out := h.mustDeliver("app/uninstalled", "u1", []byte(`{"id": 1, "myshopify_domain": "acme.myshopify.com"}`)); out.Ignored || out.Duplicate {
		t.Fatalf("uninstall: %+v", out)
	}
	c, err := h.eng.Company(h.company.ID)
	if err != nil || !c.Shop.Revoked {
		t.Fatalf("company after uninstall: %+v, %v", c.Shop, err)
	}
	if out := h.mustDeliver("app/uninstalled", "u1", []byte(`{"id": 1, "myshopify_domain": "acme.myshopify.com"}`)); !out.Duplicate {
		t.Errorf("uninstall redelivered: %+v", out)
	}
	if _, err := h.eng.ConnectShop(context.Background(), h.company.ID, engine.ShopInput{Sandbox: true, Domain: "acme",
		AccessToken: "shpat_new", WebhookSecret: hookSecret}); err != nil {
		t.Fatal(err)
	}
	if c, _ := h.eng.Company(h.company.ID); c.Shop.Revoked {
		t.Error("still revoked after reconnecting")
	}
	// A delivery signed with the old secret after the secret changed fails.
	if _, err := h.eng.ConnectShop(context.Background(), h.company.ID, engine.ShopInput{Sandbox: true, Domain: "acme",
		AccessToken: "shpat_new", WebhookSecret: "rotated"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.deliver("app/uninstalled", "u2", []byte(`{}`)); !errors.Is(err, shopify.ErrWebhookUnauthorized) {
		t.Errorf("old secret: %v", err)
	}
}

// The shop domain names a company's shop however its domain was given.
func TestWebhookShopDomains(t *testing.T) {
	t.Parallel()
	h := setupHooks(t)
	ctx := context.Background()
	for i, d := range []string{"https://real-shop.myshopify.com", "real-shop.myshopify.com", "real-shop",
		"http://127.0.0.1:9999/sandbox/shopify/real-shop/"} {
		c, err := h.eng.CreateCompany(ctx, fmt.Sprintf("Real %d", i), &engine.ShopInput{Domain: d, AccessToken: "t", WebhookSecret: "s"})
		if err != nil {
			t.Fatal(err)
		}
		body := []byte(`{"id": 1}`)
		out, err := h.rcv.Receive(ctx, shopify.Delivery{Topic: "app/uninstalled",
			ShopDomain: "Real-Shop.myshopify.com", ID: "x", HMAC: shopify.SignWebhook("s", body), Body: body})
		if err != nil {
			t.Fatalf("%s: %v", d, err)
		}
		found := false
		for _, o := range out {
			found = found || o.CompanyID == c.ID
		}
		if !found {
			t.Errorf("domain %q: the delivery did not reach company %d: %+v", d, c.ID, out)
		}
	}
}

// A shop order is recorded in the shop's currency (the order's currency,
// the one its prices are in), read exactly from Shopify's zero-padded
// REST amounts ("5000.00" yen), with what the buyer paid in their own
// currency (presentment money) kept beside it.
func TestWebhookOrderInShopAndPresentmentCurrency(t *testing.T) {
	t.Parallel()
	h := setupHooks(t)
	ev := h.event("Kabuki", 5)
	sku := fmt.Sprintf("eventops-%d-%d", ev.ID, ev.RegistrationTypes[0].ID)
	body, _ := json.Marshal(map[string]any{"id": 3001, "admin_graphql_api_id": "gid://shopify/Order/3001",
		"currency": "JPY", "presentment_currency": "EUR", "cancelled_at": nil, "refunds": []any{},
		"line_items": []any{map[string]any{"id": 1, "admin_graphql_api_id": "gid://shopify/LineItem/1", "variant_id": 10,
			"sku": sku, "quantity": 2, "price": "5000.00", "price_set": map[string]any{
				"shop_money":        map[string]any{"amount": "5000.00", "currency_code": "JPY"},
				"presentment_money": map[string]any{"amount": "30.50", "currency_code": "EUR"}}}}})
	h.mustDeliver("orders/create", "jpy-1", body)
	os := h.orders(ev.ID)
	if len(os) != 1 {
		t.Fatalf("orders: %+v", os)
	}
	if os[0].Amount != (engine.Money{Amount: 10000, Currency: "JPY"}) {
		t.Errorf("amount %v, want 10000 JPY", os[0].Amount)
	}
	if p := os[0].Presentment; p == nil || *p != (engine.Money{Amount: 6100, Currency: "EUR"}) {
		t.Errorf("presentment %v, want 61.00 EUR", p)
	}
}

// ReceiveWebhook reads the delivery from the request: the topic from the
// path, or from X-Shopify-Topic when the path names none; a header naming
// another topic than the path is refused before anything is recorded.
func TestReceiveWebhookFromARequest(t *testing.T) {
	t.Parallel()
	h := setupHooks(t)
	body := []byte(`{"id": 1}`)
	headers := func(topic, id string) func(string) string {
		return func(name string) string {
			return map[string]string{"X-Shopify-Topic": topic, "X-Shopify-Shop-Domain": "acme.myshopify.com",
				"X-Shopify-Webhook-Id": id, "X-Shopify-Hmac-Sha256": shopify.SignWebhook(hookSecret, body)}[name]
		}
	}
	ctx := context.Background()
	if _, err := h.rcv.ReceiveWebhook(ctx, "orders/create", headers("app/uninstalled", "h1"), body); engine.ErrorKind(err) != engine.KindInvalid {
		t.Errorf("contradicting topic header: err = %v", err)
	}
	if c, _ := h.eng.Company(h.company.ID); c.Shop.Revoked {
		t.Fatal("a refused delivery revoked the shop")
	}
	// The header alone names the topic (the path is the bare route).
	out, err := h.rcv.ReceiveWebhook(ctx, "", headers("app/uninstalled", "h2"), body)
	if err != nil || len(out) != 1 || out[0].Ignored {
		t.Fatalf("topic from the header: %+v, %v", out, err)
	}
	// Path and header agreeing, in another case and with slashes.
	out, err = h.rcv.ReceiveWebhook(ctx, "/app/uninstalled/", headers("APP/UNINSTALLED", "h2"), body)
	if err != nil || len(out) != 1 || !out[0].Duplicate {
		t.Fatalf("the same delivery again: %+v, %v", out, err)
	}
	if c, _ := h.eng.Company(h.company.ID); !c.Shop.Revoked {
		t.Error("the uninstall was not applied")
	}
}
