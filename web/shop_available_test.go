package web

import (
	"fmt"
	"testing"

	"eventops/web/client"
)

// shop_available is what the shop offers now: after a shop sale that needs
// no write (nothing shares a capacity, so the level the sale left is the
// allocation), the API shows the level the sale left, not the offer
// written before it.
func TestShopAvailableFollowsShopSales(t *testing.T) {
	t.Parallel()
	f := setupShop(t)
	body := fmt.Sprintf(`{"event": {"name": "Open Night", "type": "date", "venue_id": %d,
  "starts_at": "2026-12-06T19:00:00Z", "ends_at": "2026-12-06T23:00:00Z",
  "published_at": "2026-11-26T10:00:00Z",
  "registration_types": [
    {"name": "GA", "ticket_type_id": %d, "price": {"amount": 2500, "currency": "USD"}, "quantity": 5},
    {"name": "VIP", "ticket_type_id": %d, "price": {"amount": 9000, "currency": "USD"}, "quantity": 4}]}}`,
		f.venue.ID, f.tickets.ID, f.tickets.ID)
	r := f.do("POST", "/api/v2/events", f.keyA, body).expect(t, 201)
	id := decode[client.Event](t, r).ID
	if op := f.waitTerminal(id, opHeader(t, r)); op.Status != "completed" {
		t.Fatalf("save: %v", op)
	}
	_, _, variants := typeState(f.getEvent(id))
	if got, api := f.shopAvailable(variants), shopOffers(f.getEvent(id)); fmt.Sprint(got) != "[5 4]" || fmt.Sprint(api) != "[5 4]" {
		t.Fatalf("before any sale: shop %v, API shop_available %v; want [5 4]", got, api)
	}
	f.control("POST", "/orders", map[string]any{"variant_id": variants[0], "quantity": 2})
	f.delivered("orders/create", 1)
	for _, op := range f.inventoryOps(id) {
		f.waitTerminal(id, op.ID)
	}
	if got, api := f.shopAvailable(variants), shopOffers(f.getEvent(id)); fmt.Sprint(got) != "[3 4]" || fmt.Sprint(api) != "[3 4]" {
		t.Errorf("after 2 of GA sold in the shop: shop %v, API shop_available %v; want [3 4]", got, api)
	}
}
