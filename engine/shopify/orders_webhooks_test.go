package shopify_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"eventops/engine"
	"eventops/engine/shopify"
	"eventops/engine/shopify/sandbox"
)

// Orders and refunds flowing through webhooks: the sandbox sends its signed
// deliveries to a receiver that hands them to the engine as the HTTP layer
// does (web/webhooks.go), and answers 503 while eventops is down, so that the
// shop retries them as Shopify would.

// receiver is eventops' webhook endpoint in these tests.
type receiver struct {
	eng  atomic.Pointer[engine.Engine] // nil: eventops is down
	hold atomic.Bool                   // answer 503 as if down
	rec  atomic.Pointer[shopify.Reconciler]
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e := rc.eng.Load()
	if e == nil || rc.hold.Load() {
		http.Error(w, "eventops is down", http.StatusServiceUnavailable)
		return
	}
	body, _ := io.ReadAll(r.Body)
	_, err := shopify.NewWebhookReceiver(e, quietLogger()).FulfilWith(rc.rec.Load()).ReceiveWebhook(r.Context(),
		strings.TrimPrefix(r.URL.Path, "/webhooks/shopify/"), r.Header.Get, body)
	switch {
	case err == nil:
		w.WriteHeader(http.StatusOK)
	case engine.ErrorKind(err) == engine.KindUnauthorized:
		http.Error(w, "unauthorized", http.StatusUnauthorized)
	case engine.ErrorKind(err) == engine.KindInvalid:
		http.Error(w, err.Error(), http.StatusBadRequest)
	default:
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// hooked is a bundle whose shop sends its webhooks to rc.
type hooked struct {
	*bundle
	rc *receiver
}

// setupHooked is setup with the shop's webhooks delivered to eventops
// (without subscriptions: the sandbox's WebhookURL, as an app's declared
// subscriptions), retried every few milliseconds while eventops is down.
func setupHooked(t *testing.T, o options) *hooked {
	t.Helper()
	if o.retry.Attempts == 0 {
		o.retry = fastRetry
	}
	if o.client.Attempts == 0 {
		o.client = fastClient
	}
	h := &hooked{bundle: &bundle{t: t, dir: t.TempDir(), opts: o, quiet: quietLogger()}, rc: &receiver{}}
	b := h.bundle
	hookSrv := httptest.NewServer(h.rc)
	sb, err := sandbox.New(sandbox.Options{Control: true, Logger: b.quiet, WebhookURL: hookSrv.URL + "/webhooks/shopify",
		WebhookBackoff: 5 * time.Millisecond, WebhookAttempts: 12})
	if err != nil {
		t.Fatalf("sandbox: %v", err)
	}
	b.sb = sb
	b.srv = httptest.NewServer(sb.Handler())
	t.Cleanup(func() {
		b.srv.CloseClientConnections()
		b.srv.Close()
		sb.Close()
		hookSrv.Close()
	})
	if b.shop, err = sb.CreateShopWith("acme", sandbox.ShopOptions{Currency: o.currency}); err != nil {
		t.Fatalf("create shop: %v", err)
	}
	t.Cleanup(func() { checkSentCalls(t, sb, b.shop.Name) }) // after b.close: the engine has stopped
	h.start()
	t.Cleanup(b.close)
	t.Cleanup(func() { h.rc.eng.Store(nil) }) // runs first: no delivery reaches a closing engine
	ctx := context.Background()
	b.company, err = b.eng.CreateCompany(ctx, "Acme", &engine.ShopInput{Sandbox: true, Domain: b.shop.Name,
		AccessToken: engine.Secret(b.shop.AccessToken), WebhookSecret: engine.Secret(b.shop.WebhookSecret)})
	if err != nil {
		t.Fatalf("company: %v", err)
	}
	if b.venue, err = b.eng.CreateVenue(ctx, b.company.ID, engine.VenueInput{Name: "Blue Room", TimeZone: "America/Chicago"}); err != nil {
		t.Fatalf("venue: %v", err)
	}
	if b.tickets, err = b.eng.CreateTicketType(ctx, b.company.ID, engine.TicketTypeInput{Name: "Admission"}); err != nil {
		t.Fatalf("ticket type: %v", err)
	}
	b.admin, err = shopify.NewClient(shopify.Config{SandboxURL: b.srv.URL, Logger: b.quiet},
		&engine.Shop{Sandbox: true, Domain: b.shop.Name}, engine.Secret(b.shop.AccessToken))
	if err != nil {
		t.Fatalf("admin client: %v", err)
	}
	return h
}

// start opens the data file, starts the engine and lets deliveries in.
func (h *hooked) start() {
	h.open()
	h.rc.rec.Store(h.rec)
	h.rc.eng.Store(h.eng)
}

// crash stops eventops at once, as a crash would: deliveries fail until
// start.
func (h *hooked) crash() {
	h.rc.eng.Store(nil)
	h.eng.Stop(0)
	h.close()
}

// attempted waits until the shop has tried to deliver a webhook of topic.
func (h *hooked) attempted(topic string) {
	h.t.Helper()
	until(h.t, 30*time.Second, func() bool {
		ds, err := h.sb.Deliveries(h.shop.Name)
		if err != nil {
			h.t.Fatal(err)
		}
		for _, d := range ds {
			if d.Topic == topic && d.Attempts > 0 {
				return true
			}
		}
		return false
	}, func() string { return "no " + topic + " delivery attempted" })
}

// delivered waits until the shop has delivered n webhooks of topic (each
// answered 2xx: its effect is committed).
func (h *hooked) delivered(topic string, n int) []sandbox.Delivery {
	h.t.Helper()
	var done []sandbox.Delivery
	until(h.t, 30*time.Second, func() bool {
		ds, err := h.sb.Deliveries(h.shop.Name)
		if err != nil {
			h.t.Fatal(err)
		}
		done = done[:0]
		pending := false
		for _, d := range ds {
			if d.Topic != topic {
				continue
			}
			switch d.Status {
			case "delivered":
				done = append(done, d)
			case "pending":
				pending = true
			default:
				h.t.Fatalf("%s delivery %s %s after %d attempts: %s", topic, d.WebhookID, d.Status, d.Attempts, d.LastError)
			}
		}
		return len(done) >= n && !pending
	}, func() string { return fmt.Sprintf("%d of %d %s deliveries delivered", len(done), n, topic) })
	return done
}

// inventoryOps lists the event's inventory-only saves, oldest first.
func (h *hooked) inventoryOps(eventID uint64) []*engine.Operation {
	h.t.Helper()
	ops, _, err := h.eng.Operations(engine.OperationQuery{CompanyID: h.company.ID, EventID: eventID, Limit: 100})
	if err != nil {
		h.t.Fatal(err)
	}
	var out []*engine.Operation
	for i := len(ops) - 1; i >= 0; i-- {
		if ops[i].InventoryOnly {
			out = append(out, ops[i])
		}
	}
	return out
}

// levels is the shop's available quantity of each variant of the event's
// product, at the fulfillment service's location.
func (h *hooked) levels(eventID uint64) []int {
	h.t.Helper()
	p := h.productByHandle(h.handleOf(eventID))
	if p == nil {
		h.t.Fatalf("product of event %d is not in the shop", eventID)
	}
	loc := h.setupOf().LocationID
	out := make([]int, len(p.Variants.Nodes))
	for i, v := range p.Variants.Nodes {
		out[i] = v.available()[loc]
	}
	return out
}

// An event refund refunds each shop order exactly once through refundCreate,
// also when eventops crashes after the shop applied a refund and before it
// learned so: the shop's refunds/create webhooks, retried until eventops is
// back, and the resumed refund agree on every order. The call log shows one
// applied refundCreate per shop order, under one key per order, and the
// refundCreate whose answer was lost after the restart re-sent with its key.
func TestEventRefundOfShopOrdersOnceAcrossACrash(t *testing.T) {
	t.Parallel()
	g := &gate{held: make(chan struct{}), release: make(chan struct{}),
		match: func(body string) bool { return strings.Contains(body, "mutation RefundCreate") }}
	h := setupHooked(t, options{wrap: func(next http.RoundTripper) http.RoundTripper { g.next = next; return g }})
	ev, op := h.create(h.input("Refunded", ptr(50), regType{"A", 1000, nil}, regType{"B", 2500, ptr(10)}))
	h.completed(op.ID)
	s := h.structure(ev.ID)
	var shopOrders []sandbox.OrderState
	for i, v := range s.Products[0].Variants {
		o, err := h.sb.PlaceOrder(h.shop.Name, v.ShopifyVariantID, i+1)
		if err != nil {
			t.Fatalf("place order: %v", err)
		}
		shopOrders = append(shopOrders, o)
	}
	h.delivered("orders/create", 2)
	if _, _, err := h.eng.CreateOrder(context.Background(), h.company.ID, ev.ID,
		engine.OrderInput{RegistrationTypeID: ev.RegistrationTypes[0].ID, Quantity: 3}); err != nil {
		t.Fatal(err)
	}
	orders, _ := h.eng.Orders(h.company.ID, ev.ID)
	if len(orders) != 3 || orders[0].ShopifyOrderID != shopOrders[0].ID || orders[1].ShopifyOrderID != shopOrders[1].ID ||
		orders[1].Amount.Amount != 5000 || orders[2].ShopifyOrderID != "" {
		t.Fatalf("orders before the refund: %+v", orders)
	}
	if _, err := h.eng.DeleteEvent(context.Background(), h.company.ID, ev.ID); engine.ErrorKind(err) != engine.KindConflict {
		t.Fatalf("delete with paid orders: %v", err)
	}

	// The first refundCreate reaches the shop and is applied; eventops
	// crashes before it learns so, and before the shop's refunds/create
	// webhook gets through (held until after the restart).
	h.rc.hold.Store(true)
	g.armed.Store(true)
	rop, err := h.eng.RefundEvent(context.Background(), h.company.ID, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-g.held:
	case <-time.After(30 * time.Second):
		t.Fatal("the refund never called refundCreate")
	}
	h.crash()
	g.armed.Store(false)
	close(g.release)
	// The shop has tried to deliver the first refund's webhook while
	// eventops was down (its first attempt may come a little later).
	h.attempted("refunds/create")
	// After the restart the next refundCreate is applied but its answer is
	// lost: the client re-sends it with its key.
	h.faults(fault{Operation: "refundCreate", Fault: "apply_then_drop", Times: 1})
	h.start()
	h.rc.hold.Store(false)
	done := h.completed(rop.ID)
	if done.Progress == nil || done.Progress.Completed != 3 || done.Progress.Total != 3 {
		t.Errorf("refund = %s", opJSON(done))
	}
	if ds := h.delivered("refunds/create", 2); ds[0].Attempts < 2 {
		t.Errorf("the first refund's webhook got through before the crash: %+v", ds[0])
	}
	orders, _ = h.eng.Orders(h.company.ID, ev.ID)
	for _, o := range orders {
		if o.Status != engine.OrderRefunded {
			t.Errorf("order %d (shop %q) is %s", o.ID, o.ShopifyOrderID, o.Status)
		}
	}
	if len(orders) != 3 {
		t.Errorf("orders after the refund: %+v", orders)
	}
	st, err := h.sb.State(h.shop.Name)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range st.Orders {
		if len(o.RefundIDs) != 1 || o.FinancialStatus != "refunded" {
			t.Errorf("shop order %s: %d refunds, %s", o.ID, len(o.RefundIDs), o.FinancialStatus)
		}
		if o.TotalRefunded != o.TotalPrice {
			t.Errorf("shop order %s: %s returned to the buyer, who paid %s", o.ID, o.TotalRefunded, o.TotalPrice)
		}
	}
	keys := map[string]map[string]bool{}
	applied := map[string]int{}
	replays := 0
	for _, c := range h.calls() {
		if !c.Has("refundCreate") {
			continue
		}
		id := refundOrderID(c)
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
	// The one whose answer was lost after the restart, and the one held at
	// the crash unless its refunds/create webhook marked it refunded before
	// the refund resumed (its persisted input is then not re-sent).
	if replays < 1 || replays > 2 {
		t.Errorf("%d refundCreate calls answered from their key, want the one re-sent after a lost answer and perhaps the one held at the crash", replays)
	}
	for _, o := range shopOrders {
		if len(keys[o.ID]) != 1 || applied[o.ID] != 1 {
			t.Errorf("shop order %s: keys %v, applied %d times", o.ID, keys[o.ID], applied[o.ID])
		}
	}
	// Refunded: what was sold is for sale again, and the event deletable.
	for _, tl := range h.structure(ev.ID).Types {
		if tl.Sold != 0 {
			t.Errorf("registration type %d still sold %d", tl.RegistrationTypeID, tl.Sold)
		}
	}
	dop, err := h.eng.DeleteEvent(context.Background(), h.company.ID, ev.ID)
	if err != nil {
		t.Fatalf("delete once refunded: %v", err)
	}
	h.completed(dop.ID)
}

// A shop sale whose webhook is late is never written over: a save that
// finds the shop's level below what eventops last wrote, and no recorded
// sale to explain it, holds the difference back (it used to write what was
// left to sell over it). Once the order is recorded, the inventory-only save
// that follows it finds the shop already right.
func TestShopSaleRacingAnInventoryWrite(t *testing.T) {
	t.Parallel()
	h := setupHooked(t, options{})
	ev, op := h.create(h.input("Race", ptr(20), regType{"GA", 1000, ptr(6)}, regType{"VIP", 3000, ptr(4)}))
	h.completed(op.ID)
	if got := h.levels(ev.ID); fmt.Sprint(got) != "[6 4]" {
		t.Fatalf("shop before the sale: %v", got)
	}
	h.rc.hold.Store(true) // the sale's webhook is late
	gaVariant := h.structure(ev.ID).Products[0].Variants[0].ShopifyVariantID
	if _, err := h.sb.PlaceOrder(h.shop.Name, gaVariant, 3); err != nil {
		t.Fatal(err)
	}
	_, op = h.update(ev.ID, engine.EventInput{Name: ptr("Race (renamed)")})
	h.completed(op.ID)
	if got := h.levels(ev.ID); fmt.Sprint(got) != "[3 4]" {
		t.Fatalf("the save wrote over a sale not recorded yet: shop %v, want [3 4]", got)
	}
	h.rc.hold.Store(false)
	h.delivered("orders/create", 1)
	ops := h.inventoryOps(ev.ID)
	if len(ops) != 1 {
		t.Fatalf("%d inventory saves after the late webhook", len(ops))
	}
	h.completed(ops[0].ID)
	if got := h.levels(ev.ID); fmt.Sprint(got) != "[3 4]" {
		t.Errorf("shop after the sale was recorded: %v, want [3 4]", got)
	}
	s := h.structure(ev.ID)
	if s.Types[0].Sold != 3 || *s.Types[0].Available != 3 || *s.Types[1].Available != 4 {
		raw, _ := json.Marshal(s.Types)
		t.Errorf("structure after the sale: %s", raw)
	}
}

// Deliveries from the shop are refused unless signed with the company's
// secret, and nothing is recorded for them.
func TestForgedDeliveryIsRefused(t *testing.T) {
	t.Parallel()
	h := setupHooked(t, options{})
	ev, op := h.create(h.input("Forged", nil, regType{"GA", 1000, ptr(6)}))
	h.completed(op.ID)
	body := []byte(fmt.Sprintf(`{"id": 5, "line_items": [{"id": 1, "sku": "eventops-%d-%d", "quantity": 2, "price": "10.00"}]}`,
		ev.ID, ev.RegistrationTypes[0].ID))
	_, err := shopify.NewWebhookReceiver(h.eng, quietLogger()).Receive(context.Background(), shopify.Delivery{Topic: "orders/create",
		ShopDomain: h.shop.Name + ".myshopify.com", ID: "forged", HMAC: shopify.SignWebhook("not-the-secret", body), Body: body})
	if !errors.Is(err, shopify.ErrWebhookUnauthorized) {
		t.Fatalf("forged delivery: %v", err)
	}
	if os, _ := h.eng.Orders(h.company.ID, ev.ID); len(os) != 0 {
		t.Errorf("a forged delivery recorded %+v", os)
	}
	if ops := h.inventoryOps(ev.ID); len(ops) != 0 {
		t.Errorf("a forged delivery started %d operations", len(ops))
	}
}
