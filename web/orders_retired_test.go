package web

import (
	"fmt"
	"testing"

	"eventops/engine"
	"eventops/engine/shopify"
	"eventops/web/client"
)

// A shop order whose webhook lands after a PATCH removed its registration
// type (the buyer paid while the variant was still on sale) is recorded on
// the event with the type retired: GET /events/{id}/orders shows it with
// the type's name and price, and the event is not deletable. (The refund of
// such orders through the shop is tested in engine/shopify.)
func TestRetiredShopOrderJSON(t *testing.T) {
	t.Parallel()
	f := setupShop(t)
	id, ev := f.mirrored()
	ga, vip := ev.RegistrationTypes[0], ev.RegistrationTypes[1]
	patch := fmt.Sprintf(`{"event": {"registration_types": [{"id": %d, "name": "GA", "ticket_type_id": %d, "price": {"amount": 2500, "currency": "USD"}}]}}`,
		ga.ID, f.tickets.ID)
	r := f.do("PATCH", fmt.Sprintf("/api/v2/events/%d", id), f.keyA, patch).expect(t, 200)
	if op := f.waitTerminal(id, opHeader(t, r)); op.Status != "completed" {
		t.Fatalf("save: %v", op)
	}
	body := []byte(fmt.Sprintf(`{"id": 4242, "admin_graphql_api_id": "gid://shopify/Order/4242", "currency": "USD",
  "line_items": [{"id": 7, "admin_graphql_api_id": "gid://shopify/LineItem/7", "sku": "eventops-%d-%d", "quantity": 2,
    "price": "90.00", "title": "Shop Night", "variant_title": "VIP"}]}`, id, vip.ID))
	sig := shopify.SignWebhook(engine.Secret(f.shop.WebhookSecret), body)
	r = f.post("/webhooks/shopify/orders/create", body, map[string]string{"X-Shopify-Shop-Domain": "acme.myshopify.com",
		"X-Shopify-Hmac-Sha256": sig, "X-Shopify-Webhook-Id": "retired-1", "X-Shopify-Topic": "orders/create"})
	if got := hookStatus(t, r); got != "processed" {
		t.Fatalf("delivery: %s", got)
	}
	list := decode[client.Page[client.Order]](t, f.do("GET", fmt.Sprintf("/api/v2/events/%d/orders", id), f.keyA, nil).expect(t, 200))
	if len(list.Data) != 1 {
		t.Fatalf("orders: %+v, want the shop order of the removed type", list.Data)
	}
	o := list.Data[0]
	if !o.Retired || o.RegistrationTypeID != vip.ID || o.RegistrationTypeName == nil || *o.RegistrationTypeName != "VIP" ||
		o.UnitPrice == nil || o.UnitPrice.Amount != 9000 || o.Amount.Amount != 18000 || o.Status != "paid" ||
		o.OccurrenceID != nil || o.ShopifyOrderID == nil || *o.ShopifyOrderID != "gid://shopify/Order/4242" {
		t.Fatalf("order: %+v", o)
	}
	if got := f.getEvent(id); got.Deletable {
		t.Fatal("an event with a paid order of a retired type is deletable")
	}
	f.do("DELETE", fmt.Sprintf("/api/v2/events/%d", id), f.keyA, nil).expect(t, 409)
}
