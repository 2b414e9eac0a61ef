package web

import (
	"fmt"
	"testing"

	"eventops/web/client"
)

func TestOrders(t *testing.T) {
	t.Parallel()
	f := setup(t)
	c := f.event(f.keyA)
	f.waitTerminal(c.EventID, c.OpID)
	vip := c.Event.RegistrationTypes[1].ID
	path := fmt.Sprintf("/api/v2/events/%d/orders", c.EventID)
	r := f.do("POST", path, f.keyA, fmt.Sprintf(`{"order": {"registration_type_id": %d, "quantity": 3}}`, vip)).expect(t, 201)
	o := decode[client.Order](t, r)
	if o.Status != "paid" || o.Quantity != 3 || o.Amount.Amount != 27000 || o.Amount.Formatted != "$270.00" ||
		o.ShopifyOrderID != nil || o.PresentmentAmount != nil {
		t.Fatalf("order: %+v", o)
	}
	// The type as sold is kept on the order; a box-office order is never
	// retired nor of a gone occurrence.
	if o.RegistrationTypeName == nil || *o.RegistrationTypeName != c.Event.RegistrationTypes[1].Name ||
		o.UnitPrice == nil || o.UnitPrice.Amount != 9000 || o.Retired || o.OccurrenceID != nil {
		t.Fatalf("order's registration type: %+v", o)
	}
	if r.Header.Get(HeaderOperationID) != "" {
		t.Fatal("a sale of a company without a shop started an operation")
	}
	ev := decode[client.Event](t, f.do("GET", fmt.Sprintf("/api/v2/events/%d", c.EventID), f.keyA, nil).expect(t, 200))
	if got := ev.RegistrationTypes[1]; !intIs(got.Sold, 3) || !intIs(got.Available, 47) {
		t.Fatalf("VIP after a sale: %+v", got)
	}
	if got := ev.RegistrationTypes[0]; !intIs(got.Available, 150) || !intIs(ev.Available, 197) || !intIs(ev.Sold, 3) {
		t.Fatalf("after a sale: %+v / %v %v", got, ev.Available, ev.Sold)
	}
	// Refused orders: more than is left, a type of no event of ours, a
	// price sent, no envelope.
	refused(t, f, []refusal{
		{"more than is left", "POST", path, f.keyA, fmt.Sprintf(`{"order": {"registration_type_id": %d, "quantity": 48}}`, vip),
			422, "validation_error", []string{"quantity"}},
		{"unknown type", "POST", path, f.keyA, `{"order": {"registration_type_id": 999, "quantity": 1}}`, 422, "validation_error", nil},
		{"a price", "POST", path, f.keyA, `{"order": {"registration_type_id": 1, "quantity": 1, "price": 0}}`, 400, "unpermitted_parameters", nil},
		{"no envelope", "POST", path, f.keyA, `{"registration_type_id": 1}`, 400, "parameter_missing", nil},
	})

	list := decode[client.Page[client.Order]](t, f.do("GET", path, f.keyA, nil).expect(t, 200))
	if len(list.Data) != 1 || list.Data[0].ID != o.ID || list.Data[0].Quantity != 3 {
		t.Fatalf("orders: %+v, want only %+v", list.Data, o)
	}
}

func TestOrdersPaginate(t *testing.T) {
	t.Parallel()
	f := setup(t)
	c := f.event(f.keyA)
	rt := c.Event.RegistrationTypes[0].ID
	path := fmt.Sprintf("/api/v2/events/%d/orders", c.EventID)
	for i := 0; i < 3; i++ {
		f.do("POST", path, f.keyA, fmt.Sprintf(`{"order": {"registration_type_id": %d, "quantity": 1}}`, rt)).expect(t, 201)
	}
	seen := 0
	next := path + "?page[size]=2"
	for pages := 0; next != ""; pages++ {
		page := decode[client.Page[client.Order]](t, f.do("GET", next, f.keyA, nil).expect(t, 200))
		seen += len(page.Data)
		next = ""
		if page.Meta.Links.Next != nil {
			next = *page.Meta.Links.Next
		}
		if pages > 3 {
			t.Fatal("pagination does not end")
		}
	}
	if seen != 3 {
		t.Fatalf("%d orders over the pages, want 3", seen)
	}
}
