package shopify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"eventops/engine"
)

// The one-time shop set-up and the products' delivery settings.

// Shop set-up happens once per shop, also when many saves start together,
// and is idempotent across a crash that lost what was remembered: the next
// set-up finds the fulfillment service and the subscriptions instead of
// making them again.
func TestShopSetupOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, options{webhooks: "http://127.0.0.1:1/eventops"})
	var ops []uint64
	for i := range 5 {
		_, op := b.create(b.input(fmt.Sprintf("Parallel %d", i), nil, regType{"A", 1000, ptr(5)}))
		ops = append(ops, op.ID)
	}
	for _, id := range ops {
		b.completed(id)
	}
	su := b.setupOf()
	if su == nil || !su.Webhooks || su.LocationID == "" || su.PublicationID == "" {
		t.Fatalf("set-up = %+v", su)
	}
	cs := b.calls()
	if n := countCalls(cs, "fulfillmentServiceCreate"); n != 1 {
		t.Errorf("fulfillment service created %d times", n)
	}
	topics := map[string]string{}
	for _, c := range cs {
		if c.Has("webhookSubscriptionCreate") {
			var v struct {
				Topic string `json:"topic"`
				Sub   struct {
					URI string `json:"uri"`
				} `json:"sub"`
			}
			_ = json.Unmarshal(c.Variables, &v)
			topics[v.Topic] = v.Sub.URI
		}
	}
	want := map[string]string{
		"ORDERS_CREATE":    "http://127.0.0.1:1/eventops/webhooks/shopify/orders/create",
		"REFUNDS_CREATE":   "http://127.0.0.1:1/eventops/webhooks/shopify/refunds/create",
		"ORDERS_CANCELLED": "http://127.0.0.1:1/eventops/webhooks/shopify/orders/cancelled",
		"APP_UNINSTALLED":  "http://127.0.0.1:1/eventops/webhooks/shopify/app/uninstalled",
	}
	if fmt.Sprint(topics) != fmt.Sprint(want) || countCalls(cs, "webhookSubscriptionCreate") != 4 {
		t.Errorf("subscriptions = %v", topics)
	}

	// Forget the set-up, as a crash right after making it would.
	err := b.db.Update(context.Background(), func(tx engine.Tx) error {
		c, err := tx.Company(b.company.ID)
		if err != nil {
			return err
		}
		c.Shop.Setup = nil
		return tx.PutCompany(c)
	})
	if err != nil {
		t.Fatal(err)
	}
	_, op := b.create(b.input("After", nil, regType{"A", 1000, ptr(5)}))
	b.completed(op.ID)
	cs = b.calls()
	if countCalls(cs, "fulfillmentServiceCreate") != 1 || countCalls(cs, "webhookSubscriptionCreate") != 4 {
		t.Errorf("set-up made again: %d services, %d subscriptions", countCalls(cs, "fulfillmentServiceCreate"), countCalls(cs, "webhookSubscriptionCreate"))
	}
	if again := b.setupOf(); again == nil || again.LocationID != su.LocationID || again.FulfillmentServiceID != su.FulfillmentServiceID {
		t.Errorf("set-up found again = %+v, want %+v", again, su)
	}
}

// Tickets ship as digital goods. The variants a new event's catalog just
// created were answered as not requiring shipping, so delivery makes no
// call for them; on a later save it reads the shop, and a variant a
// merchant switched to "requires shipping" is switched back: by the
// catalog's productSet when the switch came before it, by delivery itself
// when it came between the two.
func TestDeliveryKeepsTicketsDigital(t *testing.T) {
	t.Parallel()
	between := &beforeFirst{match: "query Delivery("}
	b := setup(t, options{wrap: func(next http.RoundTripper) http.RoundTripper { between.next = next; return between }})
	callsOf := func(document string) int {
		n := 0
		for _, c := range b.calls() {
			if strings.HasPrefix(c.Query, document) {
				n++
			}
		}
		return n
	}
	ev, op := b.create(b.input("Digital", nil, regType{"A", 1000, ptr(5)}, regType{"B", 2000, ptr(5)}))
	b.completed(op.ID)
	if n := callsOf("query Delivery("); n != 0 {
		t.Errorf("a new event's delivery read the shop %d times, want 0", n)
	}
	handle := b.handleOf(ev.ID)
	vs := byTitle(b.productByHandle(handle))
	if vs["A"].InventoryItem.RequiresShipping || vs["B"].InventoryItem.RequiresShipping {
		t.Fatalf("new variants require shipping: %+v", vs)
	}

	ship := func(item string) {
		var out struct {
			InventoryItemUpdate struct {
				UserErrors []map[string]any `json:"userErrors"`
			} `json:"inventoryItemUpdate"`
		}
		b.gql(`mutation Ship($id: ID!) { inventoryItemUpdate(id: $id, input: {requiresShipping: true}) { userErrors { message } } }`,
			map[string]any{"id": item}, &out)
		mustf(t, len(out.InventoryItemUpdate.UserErrors) == 0, "merchant edit refused: %v", out.InventoryItemUpdate.UserErrors)
	}
	ship(vs["A"].InventoryItem.ID)
	between.hook = func(string) { ship(vs["B"].InventoryItem.ID) }

	_, op = b.update(ev.ID, engine.EventInput{Name: ptr("Digital, renamed")})
	b.completed(op.ID)
	if n := callsOf("query Delivery("); n != 1 {
		t.Errorf("the update's delivery read the shop %d times, want 1", n)
	}
	if n := callsOf("mutation InventoryItemUpdate("); n != 1 {
		t.Errorf("delivery switched %d items back, want 1 (B)", n)
	}
	vs = byTitle(b.productByHandle(handle))
	if vs["A"].InventoryItem.RequiresShipping || vs["B"].InventoryItem.RequiresShipping {
		t.Errorf("after the update: A requires shipping %v, B %v; want neither",
			vs["A"].InventoryItem.RequiresShipping, vs["B"].InventoryItem.RequiresShipping)
	}
}
