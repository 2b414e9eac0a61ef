package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const mMetafieldsSet = `mutation($m: [MetafieldsSetInput!]!) {
  metafieldsSet(metafields: $m) { metafields { id namespace key value } userErrors { field message code elementIndex } }
}`

func mf(owner, key, typ, value string) map[string]any {
	return map[string]any{"ownerId": owner, "namespace": "$app:events", "key": key, "type": typ, "value": value}
}

func TestMetafieldsSetLimitsAndTypes(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	ids := b.catalog()

	ok := b.mustData(mMetafieldsSet, map[string]any{"m": []any{
		mf(ids.product, "starts_at", "date_time", "2026-12-05T19:00:00Z"),
		mf(ids.product, "venue", "single_line_text_field", "Blue Room"),
		mf(ids.variants[0], "event_id", "number_integer", "71390"),
		mf(ids.product, "facts", "json", `{"tz":"America/Chicago"}`),
		mf(ids.product, "link", "url", "https://example.com/events/71390"),
	}})
	if errs := ok.list("data.metafieldsSet.userErrors"); len(errs) > 0 {
		t.Fatalf("userErrors: %v", errs)
	}
	mustEqual(t, "app namespace", ok.str("data.metafieldsSet.metafields.0.namespace"), appNamespace+"--events")
	read := b.mustData(`query($id: ID!) { product(id: $id) { metafield(namespace: "$app:events", key: "venue") { value type } } }`,
		map[string]any{"id": ids.product})
	mustEqual(t, "read back", read.str("data.product.metafield.value"), "Blue Room")

	// More than 25: refused whole.
	var many []any
	for i := 0; i < 26; i++ {
		many = append(many, mf(ids.product, fmt.Sprintf("k%02d", i), "single_line_text_field", "x"))
	}
	tooMany := b.mustData(mMetafieldsSet, map[string]any{"m": many})
	mustEqual(t, "over 25", codes(tooMany.list("data.metafieldsSet.userErrors")), "LESS_THAN_OR_EQUAL_TO")

	// One bad value: nothing written, the error points at its element.
	bad := b.mustData(mMetafieldsSet, map[string]any{"m": []any{
		mf(ids.product, "fine", "single_line_text_field", "ok"),
		mf(ids.product, "count", "number_integer", "twelve"),
	}})
	errs := bad.list("data.metafieldsSet.userErrors")
	mustEqual(t, "invalid value", codes(errs), "INVALID_VALUE")
	mustEqual(t, "elementIndex", dig(errs[0], "elementIndex").(float64), 1)
	mustEqual(t, "field", fmt.Sprint(dig(errs[0], "field")), "[metafields 1 value]")
	if bad.get("data.metafieldsSet.metafields") != nil {
		t.Fatal("metafields came back with userErrors")
	}
	mustEqual(t, "all or nothing", len(b.state().Metafields), 5)

	for _, c := range []struct {
		in   map[string]any
		code string
	}{
		{mf(ids.product, "x1", "colour_wheel", "red"), "INVALID_TYPE"},
		{mf(ids.product, "venue", "number_integer", "3"), "INVALID_TYPE"},
		{mf(ids.product, "x2", "single_line_text_field", "  "), "BLANK"},
		{mf(ids.product, "x3", "single_line_text_field", strings.Repeat("a", 70000)), "TOO_LONG"},
		{mf(ids.product, strings.Repeat("k", 65), "single_line_text_field", "v"), "TOO_LONG"},
		{mf(ids.product, "x4", "date_time", "next friday"), "INVALID_VALUE"},
		{mf(ids.product, "x5", "url", "not a url"), "INVALID_VALUE"},
		{mf(ids.product, "x6", "json", "{"), "INVALID_VALUE"},
		{mf("gid://shopify/Product/999", "x7", "single_line_text_field", "v"), "INVALID"},
	} {
		a := b.mustData(mMetafieldsSet, map[string]any{"m": []any{c.in}})
		mustEqual(t, fmt.Sprint(c.in["key"], " ", c.in["type"]), codes(a.list("data.metafieldsSet.userErrors")), c.code)
	}
}

func TestProductDeleteTwiceAndBehindOurBack(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	ids := b.catalog()
	b.mustData(mMetafieldsSet, map[string]any{"m": []any{mf(ids.variants[0], "event_id", "number_integer", "1")}})
	b.mustData(`mutation($id: ID!, $p: ID!) { publishablePublish(id: $id, input: [{publicationId: $p}]) { userErrors { field message } } }`,
		map[string]any{"id": ids.product, "p": "gid://shopify/Publication/1"})
	mustEqual(t, "published", len(b.state().Publications[0].ProductIDs), 1)

	del := `mutation($id: ID!) { productDelete(input: {id: $id}, synchronous: true) { deletedProductId userErrors { field message } } }`
	first := b.mustData(del, map[string]any{"id": ids.product})
	mustEqual(t, "deleted", first.str("data.productDelete.deletedProductId"), ids.product)
	st := b.state()
	if len(st.Products)+len(st.Variants)+len(st.InventoryLevels)+len(st.Metafields)+len(st.Publications[0].ProductIDs) != 0 {
		t.Fatalf("something of the product is left: %+v", st)
	}
	second := b.mustData(del, map[string]any{"id": ids.product})
	errs := second.list("data.productDelete.userErrors")
	mustEqual(t, "second delete", len(errs), 1)
	mustEqual(t, "message", dig(errs[0], "message").(string), "Product does not exist")
	if second.get("data.productDelete.deletedProductId") != nil {
		t.Fatal("a second delete reported a deleted id")
	}

	// Deleted behind the app's back: the next read finds nothing.
	again := b.catalog()
	status, _ := b.control(http.MethodDelete, "/products/"+numericID(again.product), nil)
	mustEqual(t, "DELETE product", status, http.StatusNoContent)
	gone := b.mustData(`query($id: ID!) { product(id: $id) { id } }`, map[string]any{"id": again.product})
	if gone.get("data.product") != nil {
		t.Fatalf("the product survived: %s", gone.raw)
	}
	status, _ = b.control(http.MethodDelete, "/products/"+numericID(again.product), nil)
	mustEqual(t, "DELETE again", status, http.StatusNotFound)
}

func TestRevokeAnswers401AndSendsAppUninstalled(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	b.mustData(`mutation { webhookSubscriptionCreate(topic: APP_UNINSTALLED, webhookSubscription: {uri: "`+b.hooks.srv.URL+`/uninstalled", format: JSON}) { userErrors { field message } } }`, nil)

	status, _ := b.control(http.MethodPost, "/revoke", nil)
	mustEqual(t, "revoke", status, http.StatusOK)
	mustEqual(t, "revoked token", b.gql(`{ shop { id } }`, nil).status, http.StatusUnauthorized)
	h := b.hooks.wait(t, "app/uninstalled", 1)[0]
	mustEqual(t, "to the subscription", h.path, "/uninstalled")
	mustEqual(t, "shop", h.json()["myshopify_domain"].(string), "test.myshopify.com")
	if !validHMAC(b.shop.WebhookSecret, h) {
		t.Fatal("bad signature")
	}
	st := b.state()
	mustEqual(t, "revoked in state", st.Revoked, true)
	mustEqual(t, "subscriptions removed", len(st.Webhooks), 0)

	// Reinstalling gives a new token that works; the old one stays refused.
	creds, err := b.sb.RotateToken(b.shop.Name)
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "same secret", creds.WebhookSecret, b.shop.WebhookSecret)
	mustEqual(t, "new token", b.gqlAs(creds.AccessToken, `{ shop { id } }`, nil).status, http.StatusOK)
	mustEqual(t, "old token", b.gql(`{ shop { id } }`, nil).status, http.StatusUnauthorized)
}

func TestPersistsAcrossReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sandbox.db")
	hooks := newHookReceiver(t)
	opts := Options{Path: path, Control: true, WebhookURL: hooks.srv.URL + "/webhooks/shopify"}

	sb, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sb.Handler())
	creds, err := sb.CreateShop("Persist Me")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "shop name", creds.Name, "persist-me")
	b := &bundle{t: t, sb: sb, srv: srv, shop: creds, hooks: hooks}
	ids := b.catalog()
	b.order(ids.variants[0], 2)
	b.mustData(mRefundCreate, map[string]any{"key": "r1", "input": map[string]any{"orderId": "gid://shopify/Order/1",
		"refundLineItems": []any{map[string]any{"lineItemId": "gid://shopify/LineItem/1", "quantity": 1, "restockType": "RETURN"}}}})
	b.hooks.wait(t, "refunds/create", 1)
	before := b.state()
	srv.Close()
	if err := sb.Close(); err != nil {
		t.Fatal(err)
	}
	checkFile(t, path)

	sb2, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb2.Close() })
	srv2 := httptest.NewServer(sb2.Handler())
	t.Cleanup(srv2.Close)
	b2 := &bundle{t: t, sb: sb2, srv: srv2, shop: creds, hooks: hooks}

	if _, err := sb2.CreateShop("persist-me"); err == nil {
		t.Fatal("a second shop with the same name was created")
	}
	after := b2.state()
	rawBefore, _ := json.Marshal(before)
	rawAfter, _ := json.Marshal(after)
	mustEqual(t, "state", string(rawAfter), string(rawBefore))

	// The token still works, sequences go on, idempotency keys are remembered.
	replay := b2.mustData(mRefundCreate, map[string]any{"key": "r1", "input": map[string]any{"orderId": "gid://shopify/Order/1",
		"refundLineItems": []any{map[string]any{"lineItemId": "gid://shopify/LineItem/1", "quantity": 1, "restockType": "RETURN"}}}})
	mustEqual(t, "replayed after reopen", replay.str("data.refundCreate.refund.id"), "gid://shopify/Refund/1")
	a := b2.mustData(mProductSet, map[string]any{"input": map[string]any{"title": "Next"}})
	mustEqual(t, "sequence continues", a.str("data.productSet.product.id"), "gid://shopify/Product/2")
	other, err := sb2.CreateShop("")
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "shop sequence continues", other.Name, "shop-2")
}

func TestStateRoutes(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	ids := b.catalog()
	b.order(ids.variants[0], 1)
	if _, err := b.sb.CreateShop("second"); err != nil {
		t.Fatal(err)
	}

	resp, err := b.srv.Client().Get(b.srv.URL + "/sandbox/shopify/state")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var all map[string]ShopState
	if err := json.NewDecoder(resp.Body).Decode(&all); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "shops", len(all), 2)
	st := all["test"]
	mustEqual(t, "products", len(st.Products), 1)
	mustEqual(t, "variant order", st.Variants[0].ID, ids.variants[0])
	mustEqual(t, "fulfillment service", st.FulfillmentServices[0].LocationID, ids.location)
	mustEqual(t, "online store", st.Publications[0].Name, "Online Store")
	mustEqual(t, "orders", len(st.Orders), 1)
	mustEqual(t, "locations", len(st.Locations), 2)
	if raw, _ := json.Marshal(st); strings.Contains(string(raw), b.shop.AccessToken) || strings.Contains(string(raw), b.shop.WebhookSecret) {
		t.Fatal("the state shows a secret")
	}
	mustEqual(t, "empty shop", len(all["second"].Products), 0)

	// Two identical reads are byte-identical (stable ordering).
	r1, _ := json.Marshal(b.state())
	r2, _ := json.Marshal(b.state())
	mustEqual(t, "stable", string(r1), string(r2))
}

func TestControlRoutesNeedLoopbackOrAuthorisation(t *testing.T) {
	t.Parallel()
	sb, err := New(Options{Control: true, AuthorizeControl: func(r *http.Request) bool {
		return r.Header.Get("X-Admin") == "yes"
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	if _, err := sb.CreateShop("shop"); err != nil {
		t.Fatal(err)
	}
	h := sb.Handler()
	call := func(remote string, mod func(*http.Request) *http.Request) int {
		req := httptest.NewRequest(http.MethodGet, "/sandbox/shopify/shop/calls", nil)
		req.RemoteAddr = remote
		if mod != nil {
			req = mod(req)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	mustEqual(t, "remote", call("203.0.113.9:4000", nil), http.StatusForbidden)
	mustEqual(t, "loopback", call("127.0.0.1:4000", nil), http.StatusOK)
	mustEqual(t, "ipv6 loopback", call("[::1]:4000", nil), http.StatusOK)
	mustEqual(t, "hook", call("203.0.113.9:4000", func(r *http.Request) *http.Request {
		r.Header.Set("X-Admin", "yes")
		return r
	}), http.StatusOK)
	mustEqual(t, "context", call("203.0.113.9:4000", func(r *http.Request) *http.Request {
		return r.WithContext(ControlAccess(context.Background()))
	}), http.StatusOK)

	// Mounted behind StripPrefix, the same routes answer.
	stripped := http.StripPrefix("/sandbox/shopify", sb.Handler())
	req := httptest.NewRequest(http.MethodGet, "/sandbox/shopify/shop/state", nil)
	rec := httptest.NewRecorder()
	stripped.ServeHTTP(rec, req)
	mustEqual(t, "stripped prefix", rec.Code, http.StatusOK)

	// Without Control the routes do not exist; state is always there.
	plain, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { plain.Close() })
	if _, err := plain.CreateShop("shop"); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]int{"/sandbox/shopify/shop/calls": http.StatusNotFound, "/sandbox/shopify/shop/state": http.StatusOK} {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.RemoteAddr = "127.0.0.1:1"
		rec := httptest.NewRecorder()
		plain.Handler().ServeHTTP(rec, req)
		mustEqual(t, path, rec.Code, want)
	}
}

func TestDeterministicIDs(t *testing.T) {
	t.Parallel()
	run := func() string {
		clock := &fakeClock{t: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
		b := setup(t, Options{Clock: clock.now})
		ids := b.catalog()
		b.order(ids.variants[1], 1)
		raw, _ := json.Marshal(b.state())
		return string(raw)
	}
	mustEqual(t, "same calls, same state", run(), run())
}

func TestPendingWebhooksResumeAfterReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sandbox.db")
	hooks := newHookReceiver(t)
	hooks.failNext(1)
	opts := Options{Path: path, WebhookURL: hooks.srv.URL + "/webhooks/shopify", WebhookAttempts: 10, WebhookBackoff: time.Hour}

	sb, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	creds, _ := sb.CreateShop("resume")
	if err := sb.Revoke(creds.Name); err != nil {
		t.Fatal(err)
	}
	hooks.wait(t, "app/uninstalled", 1) // the first attempt, refused
	eventually(t, func() bool {
		ds, _ := sb.Deliveries(creds.Name)
		return len(ds) == 1 && ds[0].Attempts == 1 && ds[0].Status == "pending"
	})
	if err := sb.Close(); err != nil {
		t.Fatal(err)
	}

	sb2, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb2.Close() })
	got := hooks.wait(t, "app/uninstalled", 2)
	mustEqual(t, "same delivery", got[1].header.Get("X-Shopify-Webhook-Id"), got[0].header.Get("X-Shopify-Webhook-Id"))
	eventually(t, func() bool {
		ds, _ := sb2.Deliveries(creds.Name)
		return len(ds) == 1 && ds[0].Status == "delivered" && ds[0].Attempts == 2
	})
}
