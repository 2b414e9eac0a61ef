package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"eventops/engine"
	"eventops/engine/shopify"
	"eventops/engine/shopify/sandbox"
	"eventops/storage"
	"eventops/storage/storetest"
	"eventops/web/client"
	"eventops/web/httperr"
)

// The webhook receiver against the sandbox over HTTP: a real engine and
// data file, the Shopify work, this server on a real listener, and a
// sandbox shop whose webhooks (its subscriptions, made by shop set-up, or
// WebhookURL once the app is uninstalled) are sent to it.

type hookFixture struct {
	*fixture
	sb      *sandbox.Sandbox
	sbURL   string
	base    string // this server's URL
	shop    sandbox.ShopCredentials
	venue   *engine.Venue
	tickets *engine.TicketType
}

func setupShop(t *testing.T) *hookFixture { t.Helper(); return setupShopIn(t, "") }

// setupShopIn is setupShop with a sandbox shop selling in currency.
func setupShopIn(t *testing.T, currency string) *hookFixture {
	t.Helper()
	dir := t.TempDir()
	quiet := quietLogger()
	db, err := storetest.Open(t, filepath.Join(dir, "eventops.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := storage.LoadSealer(dir)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	sb, err := sandbox.New(sandbox.Options{Control: true, WebhookURL: base + "/webhooks/shopify",
		WebhookBackoff: 10 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	sbSrv := httptest.NewServer(sb.Handler())
	retry := engine.RetryPolicy{Base: time.Millisecond, Max: 5 * time.Millisecond, Attempts: 3}
	shopCfg := shopify.Config{SandboxURL: sbSrv.URL, WebhookBaseURL: base, Logger: quiet, Retry: retry,
		Client: shopify.ClientPolicy{Attempts: 2, Base: time.Millisecond, Max: 5 * time.Millisecond, Deadline: 5 * time.Second, Timeout: 5 * time.Second}}
	works, refund := shopify.Works(shopCfg)
	eng := engine.New(engine.Config{Store: db, Sealer: sealer, Work: works, Refund: refund, Retry: retry, Logger: quiet,
		Shops: shopify.ShopReader(shopCfg), Seats: shopify.Seats(shopCfg)})
	if err := eng.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := New(Config{Engine: eng, Logger: quiet, PublicURL: base, ShopWebhooks: shopify.NewWebhookReceiver(eng, quiet)})
	go srv.App().Listener(ln)
	t.Cleanup(func() {
		_ = srv.Shutdown(context.Background())
		eng.Stop(5 * time.Second)
		if err := db.Check(); err != nil {
			t.Errorf("check: %v", err)
		}
		if err := db.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	// Runs first: the sandbox stops sending before this server stops.
	t.Cleanup(func() {
		sbSrv.CloseClientConnections()
		sbSrv.Close()
		sb.Close()
	})
	f := &hookFixture{fixture: &fixture{t: t, db: db, eng: eng, srv: srv, ln: &listener{}}, sb: sb, sbURL: sbSrv.URL, base: base}
	if f.shop, err = sb.CreateShopWith("acme", sandbox.ShopOptions{Currency: currency}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if f.a, err = eng.CreateCompany(ctx, "Acme", &engine.ShopInput{Sandbox: true, Domain: f.shop.Name,
		AccessToken: engine.Secret(f.shop.AccessToken), WebhookSecret: engine.Secret(f.shop.WebhookSecret)}); err != nil {
		t.Fatal(err)
	}
	k, plain, err := eng.CreateAPIKey(ctx, f.a.ID, "test", []engine.Scope{engine.ScopeRead, engine.ScopeWrite})
	if err != nil {
		t.Fatal(err)
	}
	f.keyA, f.keyAID = plain.Reveal(), k.ID
	if f.venue, err = eng.CreateVenue(ctx, f.a.ID, engine.VenueInput{Name: "Blue Room", TimeZone: "UTC"}); err != nil {
		t.Fatal(err)
	}
	if f.tickets, err = eng.CreateTicketType(ctx, f.a.ID, engine.TicketTypeInput{Name: "Seat"}); err != nil {
		t.Fatal(err)
	}
	return f
}

// mirrored creates an event through the API (capacity 6: GA without a
// limit of its own, VIP 4) and waits until it is in the shop.
func (f *hookFixture) mirrored() (uint64, client.Event) {
	f.t.Helper()
	body := fmt.Sprintf(`{"event": {"name": "Shop Night", "type": "date", "venue_id": %d,
  "starts_at": "2026-12-05T19:00:00Z", "ends_at": "2026-12-05T23:00:00Z", "capacity": 6,
  "published_at": "2026-11-26T10:00:00Z",
  "registration_types": [
    {"name": "GA", "ticket_type_id": %d, "price": {"amount": 2500, "currency": "USD"}},
    {"name": "VIP", "ticket_type_id": %d, "price": {"amount": 9000, "currency": "USD"}, "quantity": 4}]}}`,
		f.venue.ID, f.tickets.ID, f.tickets.ID)
	r := f.do("POST", "/api/v2/events", f.keyA, body).expect(f.t, 201)
	id := decode[client.Event](f.t, r).ID
	if op := f.waitTerminal(id, opHeader(f.t, r)); op.Status != "completed" {
		f.t.Fatalf("save: %v", op)
	}
	return id, f.getEvent(id)
}

func (f *hookFixture) getEvent(id uint64) client.Event {
	f.t.Helper()
	return decode[client.Event](f.t, f.do("GET", fmt.Sprintf("/api/v2/events/%d", id), f.keyA, nil).expect(f.t, 200))
}

// typeState is (sold, available, variant id) of the event's registration
// types as the API shows them, 0 or "" where it shows none.
// shopOffers is shop_available per registration type, as the API shows it.
func shopOffers(ev client.Event) []int {
	var out []int
	for _, rt := range ev.RegistrationTypes {
		out = append(out, deref(rt.ShopAvailable))
	}
	return out
}

func typeState(ev client.Event) (sold, avail []int, variants []string) {
	for _, rt := range ev.RegistrationTypes {
		sold, avail, variants = append(sold, deref(rt.Sold)), append(avail, deref(rt.Available)), append(variants, deref(rt.ShopifyVariantID))
	}
	return
}

// deref is *p, or T's zero value for nil.
func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// control calls a sandbox control route (the shop's side: its JSON is the
// sandbox's, not our API's) and returns the answer's body.
func (f *hookFixture) control(method, path string, body any) []byte {
	f.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, f.sbURL+"/sandbox/shopify/"+f.shop.Name+path, rd)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	raw := readAll(f.t, res)
	if res.StatusCode >= 300 {
		f.t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, raw)
	}
	return raw
}

// hookStatus is the status of a 200 answer to a webhook delivery
// (processed, duplicate, ...).
func hookStatus(t testing.TB, r *resp) string {
	t.Helper()
	return decode[struct{ Status string }](t, r.expect(t, 200)).Status
}

// delivered waits until the shop has delivered n webhooks of topic (a 2xx
// from this server: the effect is committed) and returns them.
func (f *hookFixture) delivered(topic string, n int) []sandbox.Delivery {
	f.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ds, err := f.sb.Deliveries(f.shop.Name)
		if err != nil {
			f.t.Fatal(err)
		}
		var done []sandbox.Delivery
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
				f.t.Fatalf("delivery %s %s: %s (%s)", topic, d.WebhookID, d.Status, d.LastError)
			}
		}
		if len(done) >= n && !pending {
			return done
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("%d of %d %s deliveries after 20 s: %+v", len(done), n, topic, ds)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// inventoryOps lists the event's inventory-only saves, oldest first.
func (f *hookFixture) inventoryOps(eventID uint64) []*engine.Operation {
	f.t.Helper()
	ops, _, err := f.eng.Operations(engine.OperationQuery{CompanyID: f.a.ID, EventID: eventID, Limit: 100})
	if err != nil {
		f.t.Fatal(err)
	}
	var out []*engine.Operation
	for i := len(ops) - 1; i >= 0; i-- {
		if ops[i].InventoryOnly {
			out = append(out, ops[i])
		}
	}
	return out
}

// shopAvailable is each variant's available quantity at our location.
func (f *hookFixture) shopAvailable(variants []string) []int64 {
	f.t.Helper()
	c, err := f.eng.Company(f.a.ID)
	if err != nil || c.Shop.Setup == nil {
		f.t.Fatalf("shop set-up: %v", err)
	}
	st, err := f.sb.State(f.shop.Name)
	if err != nil {
		f.t.Fatal(err)
	}
	out := make([]int64, len(variants))
	for i, v := range variants {
		for _, l := range st.InventoryLevels {
			if l.VariantID == v && l.LocationID == c.Shop.Setup.LocationID {
				out[i] = l.Available
			}
		}
	}
	return out
}

func (f *hookFixture) post(path string, body []byte, h map[string]string) *resp {
	f.t.Helper()
	headers := make([]hdr, 0, len(h))
	for k, v := range h {
		headers = append(headers, hdr{k, v})
	}
	return f.do("POST", path, "", body, headers...)
}

func (f *hookFixture) orders(eventID uint64) []*engine.Order {
	f.t.Helper()
	os, err := f.eng.Orders(f.a.ID, eventID)
	if err != nil {
		f.t.Fatal(err)
	}
	return os
}

// An order placed in the shop arrives once: a redelivery changes nothing
// and forged or foreign deliveries are refused with 401 before anything is
// recorded. It lowers what is left to sell of the other variant sharing the
// capacity, the API's event shows it, the shop's inventory follows within
// one inventory operation, and the event is not deletable (409) until
// refunds made in the shop's admin return every ticket.
func TestShopOrdersThroughWebhooks(t *testing.T) {
	t.Parallel()
	f := setupShop(t)
	id, ev := f.mirrored()
	sold, avail, variants := typeState(ev)
	if fmt.Sprint(sold, avail) != "[0 0] [6 4]" || variants[0] == "" || variants[1] == "" {
		t.Fatalf("before any sale: %v %v %v", sold, avail, variants)
	}
	// The shop is offered the capacity's 6, allocated (never 6 and 4),
	// and the API shows what it offers.
	if got := f.shopAvailable(variants); fmt.Sprint(got) != "[4 2]" || fmt.Sprint(shopOffers(ev)) != "[4 2]" {
		t.Fatalf("shop before any sale: %v, API shop_available %v; want [4 2]", got, shopOffers(ev))
	}

	// Refused deliveries: a made-up order with a wrong or missing signature,
	// from an unknown shop, a topic header contradicting the path.
	fake := []byte(fmt.Sprintf(`{"id": 99, "admin_graphql_api_id": "gid://shopify/Order/99", "currency": "USD",
  "line_items": [{"id": 1, "sku": "eventops-%d-%d", "quantity": 2, "price": "25.00"}]}`, id, ev.RegistrationTypes[0].ID))
	good := shopify.SignWebhook(engine.Secret(f.shop.WebhookSecret), fake)
	headers := func(domain, sig, webhookID string) map[string]string {
		return map[string]string{"X-Shopify-Shop-Domain": domain, "X-Shopify-Hmac-Sha256": sig,
			"X-Shopify-Webhook-Id": webhookID, "X-Shopify-Topic": "orders/create"}
	}
	for _, h := range []map[string]string{
		headers("acme.myshopify.com", shopify.SignWebhook("guess", fake), "f1"), // wrong secret
		headers("acme.myshopify.com", "", "f2"),                                 // no signature
		headers("nobody.myshopify.com", good, "f3"),                             // unknown shop
	} {
		f.post("/webhooks/shopify/orders/create", fake, h).expectProblem(t, 401, httperr.TypeUnauthorized)
	}
	f.post("/webhooks/shopify/orders/cancelled", fake, headers("acme.myshopify.com", good, "f4")).expectProblem(t, 400, httperr.TypeBadRequest)
	f.post("/webhooks/shopify/orders/create", fake, headers("acme.myshopify.com", good, "")).expectProblem(t, 400, httperr.TypeBadRequest)
	if os := f.orders(id); len(os) != 0 {
		t.Fatalf("refused deliveries recorded orders: %+v", os)
	}
	if ops := f.inventoryOps(id); len(ops) != 0 {
		t.Fatalf("refused deliveries started operations: %+v", ops)
	}

	// A buyer orders 3 GA tickets in the shop.
	var placed struct{ Order sandbox.OrderState }
	if err := json.Unmarshal(f.control("POST", "/orders", map[string]any{"variant_id": variants[0], "quantity": 3}), &placed); err != nil {
		t.Fatal(err)
	}
	shopOrder := placed.Order
	ds := f.delivered("orders/create", 1)
	os := f.orders(id)
	if len(os) != 1 || os[0].Quantity != 3 || os[0].Status != engine.OrderPaid || os[0].ShopifyOrderID != shopOrder.ID ||
		os[0].Amount != (engine.Money{Amount: 7500, Currency: "USD"}) {
		t.Fatalf("orders after the shop sale: %+v", os)
	}
	ops := f.inventoryOps(id)
	if len(ops) != 1 {
		t.Fatalf("%d inventory operations after one sale", len(ops))
	}
	if done := f.waitTerminal(id, ops[0].ID); done.Status != "completed" {
		t.Fatalf("inventory save: %v", done)
	}
	ev = f.getEvent(id)
	sold, avail, _ = typeState(ev)
	if fmt.Sprint(sold, avail) != "[3 0] [3 3]" || !intIs(ev.Sold, 3) || !intIs(ev.Available, 3) || ev.Deletable {
		t.Fatalf("API event after the sale: sold %v available %v (event %v/%v, deletable %v)", sold, avail, deref(ev.Sold), deref(ev.Available), ev.Deletable)
	}
	// The shop sold GA itself; the 3 seats left were allocated again in
	// one operation (VIP lowered first, GA raised).
	if got := f.shopAvailable(variants); fmt.Sprint(got) != "[2 1]" || fmt.Sprint(shopOffers(ev)) != "[2 1]" {
		t.Fatalf("shop after the inventory save: %v, API shop_available %v; want [2 1]", got, shopOffers(ev))
	}

	// Redelivered: nothing changes.
	if err := f.sb.Redeliver(context.Background(), f.shop.Name, ds[0].WebhookID); err != nil {
		t.Fatalf("redeliver: %v", err)
	}
	if os := f.orders(id); len(os) != 1 {
		t.Fatalf("orders after a redelivery: %+v", os)
	}
	if ops := f.inventoryOps(id); len(ops) != 1 {
		t.Fatalf("a redelivery started an operation: %d", len(ops))
	}
	// The same delivery posted by hand answers duplicate.
	r := f.post("/webhooks/shopify/orders/create", ds[0].Body, map[string]string{"X-Shopify-Shop-Domain": "acme.myshopify.com",
		"X-Shopify-Hmac-Sha256": shopify.SignWebhook(engine.Secret(f.shop.WebhookSecret), ds[0].Body), "X-Shopify-Webhook-Id": ds[0].WebhookID})
	if hookStatus(t, r) != "duplicate" {
		t.Errorf("replayed delivery: %s", r.Body)
	}
	// Gzipped, with the signature of the JSON inside: the signature covers
	// the decoded body (see decodeBody), so it verifies.
	r = f.post("/webhooks/shopify/orders/create", encode(t, "gzip", ds[0].Body), map[string]string{"X-Shopify-Shop-Domain": "acme.myshopify.com",
		"X-Shopify-Hmac-Sha256": shopify.SignWebhook(engine.Secret(f.shop.WebhookSecret), ds[0].Body), "X-Shopify-Webhook-Id": ds[0].WebhookID,
		"Content-Encoding": "gzip"})
	if hookStatus(t, r) != "duplicate" {
		t.Errorf("replayed gzipped delivery: %s", r.Body)
	}

	// Not deletable while paid.
	f.do("DELETE", fmt.Sprintf("/api/v2/events/%d", id), f.keyA, nil).expectProblem(t, 409, httperr.TypeConflict)

	// A refund of one ticket in the shop's admin.
	lineID := shopOrder.LineItems[0].ID
	orderPath := "/orders/" + url.PathEscape(shopOrder.ID) + "/refund"
	f.control("POST", orderPath, map[string]any{"refund_line_items": []any{map[string]any{"line_item_id": lineID, "quantity": 1}}})
	f.delivered("refunds/create", 1)
	ops = f.inventoryOps(id)
	if len(ops) != 2 {
		t.Fatalf("%d inventory operations after a refund", len(ops))
	}
	f.waitTerminal(id, ops[1].ID)
	sold, avail, _ = typeState(f.getEvent(id))
	if fmt.Sprint(sold, avail) != "[2 0] [4 4]" {
		t.Fatalf("API event after a partial refund: %v %v", sold, avail)
	}
	if got := f.shopAvailable(variants); fmt.Sprint(got) != "[2 2]" {
		t.Fatalf("shop after the partial refund: %v, want the 4 seats left allocated [2 2]", got)
	}
	f.do("DELETE", fmt.Sprintf("/api/v2/events/%d", id), f.keyA, nil).expectProblem(t, 409, httperr.TypeConflict)

	// The rest refunded: deletable again.
	f.control("POST", orderPath, nil)
	f.delivered("refunds/create", 2)
	ev = f.getEvent(id)
	sold, avail, _ = typeState(ev)
	if fmt.Sprint(sold, avail) != "[0 0] [6 4]" || !ev.Deletable {
		t.Fatalf("API event after the full refund: %v %v deletable %v", sold, avail, ev.Deletable)
	}
	for _, o := range f.orders(id) {
		if o.Status != engine.OrderRefunded {
			t.Errorf("order %d is %s", o.ID, o.Status)
		}
	}
	r = f.do("DELETE", fmt.Sprintf("/api/v2/events/%d", id), f.keyA, nil).expect(t, 202)
	if done := f.waitTerminal(id, opHeader(t, r)); done.Status != "completed" {
		t.Fatalf("delete: %v", done)
	}
}

// Uninstalling the app in the shop marks the connection revoked: the next
// Shopify phase fails with SHOPIFY_AUTH_REJECTED (without calling the shop),
// and reconnecting the company with the new token heals it.
func TestShopUninstallAndReconnect(t *testing.T) {
	t.Parallel()
	f := setupShop(t)
	id, _ := f.mirrored()
	f.control("POST", "/revoke", nil)
	f.delivered("app/uninstalled", 1)
	c, err := f.eng.Company(f.a.ID)
	if err != nil || !c.Shop.Revoked {
		t.Fatalf("after uninstall: %+v, %v", c.Shop, err)
	}
	calls, _ := f.sb.Calls(f.shop.Name, "")
	r := f.do("PATCH", fmt.Sprintf("/api/v2/events/%d", id), f.keyA, `{"event": {"name": "Renamed"}}`).expect(t, 200)
	done := f.waitTerminal(id, opHeader(t, r))
	if e := done.Error; done.Status != "failed" || e == nil || e.Code != string(engine.CodeShopifyAuthRejected) || e.Phase == nil || *e.Phase != "catalog" {
		t.Fatalf("save after uninstall: %+v", done)
	}
	if after, _ := f.sb.Calls(f.shop.Name, ""); len(after) != len(calls) {
		t.Errorf("%d shop calls made with a revoked connection", len(after)-len(calls))
	}

	creds, err := f.sb.RotateToken(f.shop.Name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.ConnectShop(context.Background(), f.a.ID, engine.ShopInput{Sandbox: true, Domain: f.shop.Name,
		AccessToken: engine.Secret(creds.AccessToken), WebhookSecret: engine.Secret(creds.WebhookSecret)}); err != nil {
		t.Fatal(err)
	}
	r = f.do("PATCH", fmt.Sprintf("/api/v2/events/%d", id), f.keyA, `{"event": {"name": "Healed"}}`).expect(t, 200)
	if done := f.waitTerminal(id, opHeader(t, r)); done.Status != "completed" {
		t.Fatalf("save after reconnecting: %v", done)
	}
	// Set-up subscribed the webhooks again; a sale still arrives.
	_, _, variants := typeState(f.getEvent(id))
	f.control("POST", "/orders", map[string]any{"variant_id": variants[1], "quantity": 1})
	f.delivered("orders/create", 1)
	if os := f.orders(id); len(os) != 1 || os[0].Quantity != 1 {
		t.Fatalf("orders after reconnecting: %+v", os)
	}
	st, _ := f.sb.State(f.shop.Name)
	if len(st.Webhooks) != 4 {
		t.Errorf("subscriptions after reconnecting: %+v", st.Webhooks)
	}
}

// A box-office order of a shop company takes its seats off the shop's
// offer before it commits; with the shop unreachable it is refused with
// 503 shop_unavailable (code ORDER_SHOP_UNAVAILABLE, Retry-After) and
// nothing is sold.
func TestBoxOfficeOrderWithTheShopDown(t *testing.T) {
	t.Parallel()
	f := setupShop(t)
	id, ev := f.mirrored()
	_, _, variants := typeState(ev)
	f.control("POST", "/faults", map[string]any{"rules": []any{map[string]any{"operation": "*", "fault": "http_503", "times": 1000}}})
	body := fmt.Sprintf(`{"order": {"registration_type_id": %d, "quantity": 1}}`, ev.RegistrationTypes[0].ID)
	r := f.do("POST", fmt.Sprintf("/api/v2/events/%d/orders", id), f.keyA, body)
	p := r.expectProblem(t, 503, httperr.TypeShopUnavailable)
	if p.Code != string(engine.CodeOrderShopUnavailable) || r.Header.Get("Retry-After") == "" {
		t.Errorf("refusal: code %q, Retry-After %q", p.Code, r.Header.Get("Retry-After"))
	}
	if os := f.orders(id); len(os) != 0 {
		t.Fatalf("a refused order was recorded: %+v", os)
	}
	f.control("DELETE", "/faults", nil)
	r = f.do("POST", fmt.Sprintf("/api/v2/events/%d/orders", id), f.keyA, body).expect(t, 201)
	// Taken off the shop before the answer: 5 left of the capacity's 6.
	if got := f.shopAvailable(variants); got[0]+got[1] > 5 {
		t.Errorf("right after the box-office sale the shop offers %v, more than the 5 left", got)
	}
	f.waitTerminal(id, opHeader(t, r))
	if got := f.shopAvailable(variants); fmt.Sprint(got) != "[3 2]" || fmt.Sprint(shopOffers(f.getEvent(id))) != "[3 2]" {
		t.Errorf("after the rebalance: shop %v, API shop_available %v; want [3 2]", got, shopOffers(f.getEvent(id)))
	}
}
