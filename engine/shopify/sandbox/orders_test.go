package sandbox

import (
	"net/http"
	"strings"
	"testing"
)

const mRefundCreate = `mutation($input: RefundInput!, $key: String!) {
  refundCreate(input: $input) @idempotent(key: $key) {
    refund { id refundLineItems(first: 10) { nodes { quantity restockType restocked lineItem { id } } } }
    order { displayFinancialStatus }
    userErrors { field message }
  }
}`

// order places a buyer's order through the control route.
func (b *bundle) order(variant string, qty int) map[string]any {
	b.t.Helper()
	status, out := b.control(http.MethodPost, "/orders", map[string]any{"variant_id": variant, "quantity": qty})
	if status != http.StatusCreated {
		b.t.Fatalf("POST orders: %d %v", status, out)
	}
	return out["order"].(map[string]any)
}

func TestOrderSendsSignedWebhook(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	ids := b.catalog()

	o := b.order(ids.variants[0], 3)
	mustEqual(t, "order id", o["id"].(string), "gid://shopify/Order/1")
	mustEqual(t, "order name", o["name"].(string), "#1001")
	q := b.quantities(ids.items[0], ids.location)
	mustEqual(t, "available", q["available"], 7)
	mustEqual(t, "committed", q["committed"], 3)

	h := b.hooks.wait(t, "orders/create", 1)[0]
	if !validHMAC(b.shop.WebhookSecret, h) {
		t.Fatal("the HMAC does not verify with the shop's webhook secret")
	}
	if validHMAC("another secret", h) {
		t.Fatal("the HMAC verifies with any secret")
	}
	mustEqual(t, "path", h.path, "/webhooks/shopify/orders/create")
	mustEqual(t, "shop domain", h.header.Get("X-Shopify-Shop-Domain"), "test.myshopify.com")
	if h.header.Get("X-Shopify-Webhook-Id") == "" || h.header.Get("X-Shopify-API-Version") == "" {
		t.Fatalf("missing headers: %v", h.header)
	}
	body := h.json()
	mustEqual(t, "admin_graphql_api_id", body["admin_graphql_api_id"].(string), "gid://shopify/Order/1")
	mustEqual(t, "financial_status", body["financial_status"].(string), "paid")
	line := body["line_items"].([]any)[0].(map[string]any)
	mustEqual(t, "variant_id", line["variant_id"].(float64), 1)
	mustEqual(t, "quantity", line["quantity"].(float64), 3)
	mustEqual(t, "price", line["price"].(string), "25.00")
	mustEqual(t, "line gid", line["admin_graphql_api_id"].(string), "gid://shopify/LineItem/1")

	// Not enough left: refused, nothing sold.
	status, _ := b.control(http.MethodPost, "/orders", map[string]any{"variant_id": ids.variants[1], "quantity": 6})
	mustEqual(t, "oversell refused", status, http.StatusUnprocessableEntity)
	mustEqual(t, "orders", len(b.state().Orders), 1)

	// A redelivery keeps the webhook id.
	if err := b.sb.Redeliver(t.Context(), b.shop.Name, h.header.Get("X-Shopify-Webhook-Id")); err != nil {
		t.Fatal(err)
	}
	again := b.hooks.wait(t, "orders/create", 2)
	mustEqual(t, "same webhook id", again[1].header.Get("X-Shopify-Webhook-Id"), h.header.Get("X-Shopify-Webhook-Id"))
}

func TestRefundCreateIdempotency(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	ids := b.catalog()
	b.order(ids.variants[0], 3)
	line := b.mustData(`{ order(id: "gid://shopify/Order/1") { lineItems(first: 5) { nodes { id refundableQuantity } } } }`, nil).
		str("data.order.lineItems.nodes.0.id")

	input := func(qty int) map[string]any {
		return map[string]any{"orderId": "gid://shopify/Order/1", "notify": false,
			"refundLineItems": []any{map[string]any{"lineItemId": line, "quantity": qty, "restockType": "CANCEL"}}}
	}
	first := b.mustData(mRefundCreate, map[string]any{"input": input(2), "key": "refund-op1-order1"})
	if errs := first.list("data.refundCreate.userErrors"); len(errs) > 0 {
		t.Fatalf("userErrors: %v", errs)
	}
	refundID := first.str("data.refundCreate.refund.id")
	mustEqual(t, "refund id", refundID, "gid://shopify/Refund/1")
	// Without transactions no money went back: the order is still paid.
	mustEqual(t, "financial status", first.str("data.refundCreate.order.displayFinancialStatus"), "PAID")
	q := b.quantities(ids.items[0], ids.location)
	mustEqual(t, "restocked available", q["available"], 9)
	mustEqual(t, "committed", q["committed"], 1)

	// Same key, same arguments: the original result, nothing refunded twice.
	replay := b.mustData(mRefundCreate, map[string]any{"input": input(2), "key": "refund-op1-order1"})
	mustEqual(t, "replayed refund", replay.str("data.refundCreate.refund.id"), refundID)
	mustEqual(t, "one refund", len(b.state().Refunds), 1)
	mustEqual(t, "available unchanged", b.quantities(ids.items[0], ids.location)["available"], 9)

	// Same key, other arguments.
	mismatch := b.mustData(mRefundCreate, map[string]any{"input": input(1), "key": "refund-op1-order1"})
	mismatchErrs := mismatch.list("data.refundCreate.userErrors")
	mustEqual(t, "mismatch", len(mismatchErrs), 1)
	mustEqual(t, "mismatch message", dig(mismatchErrs[0], "message").(string),
		"The same idempotency key cannot be used with different operation parameters.")
	if mismatch.get("data.refundCreate.refund") != nil {
		t.Fatal("a refund came back with the mismatch")
	}

	// More than was bought.
	over := b.mustData(mRefundCreate, map[string]any{"input": input(2), "key": "refund-op2-order1"})
	errs := over.list("data.refundCreate.userErrors")
	if len(errs) != 1 || !strings.Contains(dig(errs[0], "message").(string), "more items than were purchased") {
		t.Fatalf("over-refund: %s", over.raw)
	}
	mustEqual(t, "still one refund", len(b.state().Refunds), 1)

	// Without a key from 2026-04: refused.
	noKey := b.gql(`mutation($input: RefundInput!) { refundCreate(input: $input) { refund { id } userErrors { field message } } }`,
		map[string]any{"input": input(1)})
	mustEqual(t, "key required", noKey.str("errors.0.extensions.code"), "BAD_REQUEST")

	// The API refund sent refunds/create.
	h := b.hooks.wait(t, "refunds/create", 1)[0]
	rl := h.json()["refund_line_items"].([]any)[0].(map[string]any)
	mustEqual(t, "restock_type", rl["restock_type"].(string), "cancel")
	mustEqual(t, "refunded variant", rl["line_item"].(map[string]any)["variant_id"].(float64), 1)

	calls, _ := b.sb.Calls(b.shop.Name, "refundCreate")
	mustEqual(t, "refundCreate calls", len(calls), 5)
	mustEqual(t, "replay flagged", calls[1].Replayed, true)
}

func TestAdminRefundAndCancel(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	ids := b.catalog()
	b.order(ids.variants[1], 2)
	b.order(ids.variants[1], 1)
	mustEqual(t, "VIP left", b.quantities(ids.items[1], ids.location)["available"], 2)

	status, out := b.control(http.MethodPost, "/orders/1/refund", nil)
	if status != http.StatusCreated {
		t.Fatalf("admin refund: %d %v", status, out)
	}
	mustEqual(t, "restocked", b.quantities(ids.items[1], ids.location)["available"], 4)
	h := b.hooks.wait(t, "refunds/create", 1)[0]
	mustEqual(t, "refund order", h.json()["order_id"].(float64), 1)
	mustEqual(t, "restock", h.json()["restock"].(bool), true)

	status, _ = b.control(http.MethodPost, "/orders/1/refund", nil)
	mustEqual(t, "nothing left to refund", status, http.StatusUnprocessableEntity)

	status, out = b.control(http.MethodPost, "/orders/gid%3A%2F%2Fshopify%2FOrder%2F2/cancel", nil)
	if status != http.StatusOK {
		t.Fatalf("cancel: %d %v", status, out)
	}
	mustEqual(t, "all back", b.quantities(ids.items[1], ids.location)["available"], 5)
	c := b.hooks.wait(t, "orders/cancelled", 1)[0].json()
	mustEqual(t, "cancelled order", c["id"].(float64), 2)
	mustEqual(t, "refunded", c["financial_status"].(string), "refunded")
	if c["cancelled_at"] == nil {
		t.Fatal("no cancelled_at")
	}
}

func TestWebhookSubscriptionsTargetAndRetries(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	ids := b.catalog()
	other := newHookReceiver(t)
	sub := b.mustData(`mutation($t: WebhookSubscriptionTopic!, $s: WebhookSubscriptionInput!) {
	  webhookSubscriptionCreate(topic: $t, webhookSubscription: $s) { webhookSubscription { id topic uri } userErrors { field message } }
	}`, map[string]any{"t": "ORDERS_CREATE", "s": map[string]any{"uri": other.srv.URL + "/hooks/orders", "format": "JSON"}})
	mustEqual(t, "topic", sub.str("data.webhookSubscriptionCreate.webhookSubscription.topic"), "ORDERS_CREATE")
	dup := b.mustData(`mutation($s: WebhookSubscriptionInput!) { webhookSubscriptionCreate(topic: ORDERS_CREATE, webhookSubscription: $s) { userErrors { field message } } }`,
		map[string]any{"s": map[string]any{"callbackUrl": other.srv.URL + "/hooks/orders"}})
	mustEqual(t, "duplicate refused", len(dup.list("data.webhookSubscriptionCreate.userErrors")), 1)

	// The subscription's address gets it, after two failed attempts.
	other.failNext(2)
	b.order(ids.variants[0], 1)
	got := other.wait(t, "orders/create", 3)
	mustEqual(t, "path", got[2].path, "/hooks/orders")
	mustEqual(t, "same id across retries", got[2].header.Get("X-Shopify-Webhook-Id"), got[0].header.Get("X-Shopify-Webhook-Id"))
	for _, h := range b.hooks.all() {
		if h.header.Get("X-Shopify-Topic") == "orders/create" {
			t.Fatal("the default URL got a webhook the shop has a subscription for")
		}
	}
	var last Delivery
	eventually(t, func() bool {
		ds, _ := b.sb.Deliveries(b.shop.Name)
		last = ds[len(ds)-1]
		return last.Status != "pending"
	})
	mustEqual(t, "delivered", last.Status, "delivered")
	mustEqual(t, "attempts", last.Attempts, 3)
}

// Money moves only with transactions: a refund of line items alone returns
// nothing (totalRefundedSet unchanged), suggestedRefund names the payment
// to refund through, and transactions returning more than is left to
// refund are refused with a userError, refunding nothing.
func TestRefundMovesMoneyOnlyWithTransactions(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	ids := b.catalog()
	b.order(ids.variants[0], 3) // 3 × 25.00
	const order = "gid://shopify/Order/1"
	line := b.mustData(`{ order(id: "gid://shopify/Order/1") { lineItems(first: 5) { nodes { id } } } }`, nil).
		str("data.order.lineItems.nodes.0.id")
	refunded := func() string {
		return b.mustData(`{ order(id: "gid://shopify/Order/1") { totalRefundedSet { shopMoney { amount } } } }`, nil).
			str("data.order.totalRefundedSet.shopMoney.amount")
	}
	lines := func(q int) []any {
		return []any{map[string]any{"lineItemId": line, "quantity": q, "restockType": "CANCEL"}}
	}
	create := func(key string, q int, txs []any) answer {
		in := map[string]any{"orderId": order, "refundLineItems": lines(q)}
		if txs != nil {
			in["transactions"] = txs
		}
		return b.mustData(mRefundCreate, map[string]any{"input": in, "key": key})
	}

	if errs := create("k1", 1, nil).list("data.refundCreate.userErrors"); len(errs) > 0 {
		t.Fatalf("userErrors: %v", errs)
	}
	mustEqual(t, "refunded without transactions", refunded(), "0.00")

	s := b.mustData(`query($id: ID!, $l: [RefundLineItemInput!]) { order(id: $id) { suggestedRefund(refundLineItems: $l) {
	  amountSet { shopMoney { amount currencyCode } presentmentMoney { amount } }
	  suggestedTransactions { amountSet { shopMoney { amount } presentmentMoney { amount currencyCode } } gateway kind parentTransaction { id kind } } } } }`,
		map[string]any{"id": order, "l": lines(2)})
	mustEqual(t, "suggested", s.str("data.order.suggestedRefund.amountSet.shopMoney.amount"), "50.00")
	txs := s.list("data.order.suggestedRefund.suggestedTransactions")
	mustEqual(t, "suggested transactions", len(txs), 1)
	mustEqual(t, "gateway", s.str("data.order.suggestedRefund.suggestedTransactions.0.gateway"), "bogus")
	mustEqual(t, "kind", s.str("data.order.suggestedRefund.suggestedTransactions.0.kind"), "SUGGESTED_REFUND")
	mustEqual(t, "parent kind", s.str("data.order.suggestedRefund.suggestedTransactions.0.parentTransaction.kind"), "SALE")
	parent := s.str("data.order.suggestedRefund.suggestedTransactions.0.parentTransaction.id")
	tx := func(amount string) []any {
		return []any{map[string]any{"orderId": order, "kind": "REFUND", "gateway": "bogus", "parentId": parent, "amount": amount}}
	}

	// 80.00 of an order of 75.00: refused, nothing refunded.
	over := create("k2", 2, tx("80.00"))
	errs := over.list("data.refundCreate.userErrors")
	if len(errs) != 1 || !strings.Contains(dig(errs[0], "message").(string), "exceeds what is left to refund") {
		t.Fatalf("over-refund: %s", over.raw)
	}
	mustEqual(t, "refunds after the refused one", len(b.state().Refunds), 1)
	mustEqual(t, "refunded after the refused one", refunded(), "0.00")

	if errs := create("k3", 2, tx("50.00")).list("data.refundCreate.userErrors"); len(errs) > 0 {
		t.Fatalf("userErrors: %v", errs)
	}
	mustEqual(t, "refunded with the suggested transaction", refunded(), "50.00")
	mustEqual(t, "state total_refunded", b.state().Orders[0].TotalRefunded, "50.00")
	mustEqual(t, "financial status", b.state().Orders[0].FinancialStatus, "partially_refunded")

	// 25.00 is left: 30.00 is refused even without line items.
	in := map[string]any{"orderId": order, "transactions": tx("30.00")}
	if errs := b.mustData(mRefundCreate, map[string]any{"input": in, "key": "k4"}).list("data.refundCreate.userErrors"); len(errs) != 1 {
		t.Fatalf("over-refund of the rest: %v", errs)
	}
	mustEqual(t, "refunded", refunded(), "50.00")
}
