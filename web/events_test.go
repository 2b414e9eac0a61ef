package web

import (
	"fmt"
	"testing"
	"time"

	"eventops/web/client"
)

func TestCreateEvent(t *testing.T) {
	t.Parallel()
	f := setup(t)
	c := f.event(f.keyA)
	r := c.Resp
	if op, alias := r.Header.Get(HeaderOperationID), r.Header.Get(HeaderSyncJobID); op == "" || op != alias {
		t.Fatalf("operation headers %q and %q, want equal", op, alias)
	}
	if r.Header.Get("Location") != fmt.Sprintf("/api/v2/events/%d", c.EventID) {
		t.Fatalf("Location %q", r.Header.Get("Location"))
	}
	ev := c.Event
	if want := (client.ZonedTime{TZ: "America/Chicago", Local: "2026-12-05T13:00:00-06:00", UTC: "2026-12-05T19:00:00Z"}); ev.Start != want {
		t.Errorf("start: %+v, want %+v", ev.Start, want)
	}
	rt := ev.RegistrationTypes[0]
	if want := (client.Money{Amount: 2500, Currency: "USD", Decimal: "25.00", Formatted: "$25.00"}); rt.Price != want {
		t.Errorf("price: %+v, want %+v", rt.Price, want)
	}
	if rt.Sold == nil || *rt.Sold != 0 || rt.Available == nil || *rt.Available != 150 || rt.ShopifyVariantID != nil {
		t.Errorf("registration type: %+v", rt)
	}
	// A company without a shop: nothing offered in a shop, nothing oversold.
	if rt.ShopAvailable != nil || !intIs(ev.Oversold, 0) {
		t.Errorf("shop_available %v, oversold %v; want null and 0", rt.ShopAvailable, ev.Oversold)
	}
	if !ev.Deletable || ev.Slug != "jazz-night" || ev.ParentEventID != nil {
		t.Errorf("event: %+v", ev)
	}
	// The operation named in the header is the event's save.
	op := decode[client.Operation](t, f.do("GET", opPath(c.EventID, c.OpID), f.keyA, nil).expect(t, 200))
	if op.Action != "save" || op.EventID != c.EventID {
		t.Fatalf("operation: %+v", op)
	}
}

func TestGetAndListEvents(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2026, 12, 5, 20, 0, 0, 0, time.UTC)} // during Jazz Night
	f := setup(t, withConfig(func(c *Config) { c.Clock = clk.now }))
	c := f.event(f.keyA)
	v, tt := c.Event.VenueID, uint64(1)
	later := fmt.Sprintf(`{"event": {"name": "Brunch", "type": "date", "venue_id": %d,
		"starts_at": "2027-01-10T10:00:00Z", "ends_at": "2027-01-10T12:00:00Z",
		"registration_types": [{"name": "Seat", "ticket_type_id": %d, "price": {"amount": 1500, "currency": "JPY"}}]}}`, v, tt)
	brunch := decode[client.Event](t, f.do("POST", "/api/v2/events", f.keyA, later).expect(t, 201)).ID

	got := decode[client.Event](t, f.do("GET", fmt.Sprintf("/api/v2/events/%d", brunch), f.keyA, nil).expect(t, 200))
	if price := got.RegistrationTypes[0].Price; price.Decimal != "1500" || price.Formatted != "¥1,500" {
		t.Errorf("JPY price: %+v", price)
	}
	if got.Available != nil || got.RegistrationTypes[0].Available != nil {
		t.Errorf("no limit should be available null: %+v", got)
	}

	ids := func(query string) []uint64 {
		page := decode[client.Page[client.Event]](t, f.do("GET", "/api/v2/events"+query, f.keyA, nil).expect(t, 200))
		var out []uint64
		for _, e := range page.Data {
			out = append(out, e.ID)
		}
		return out
	}
	for query, want := range map[string][]uint64{
		"":                       {c.EventID, brunch},
		"?sort[starts_at]=desc":  {brunch, c.EventID},
		"?sort[name]=asc":        {brunch, c.EventID},
		"?sort[id]=desc":         {brunch, c.EventID},
		"?filter[status]=active": {c.EventID},
		"?filter[status]=future": {brunch},
		"?filter[status]=past":   nil,
		"?filter[starts_at][from]=2027-01-01T00:00:00Z":       {brunch},
		"?filter[starts_at][to]=2026-12-31T00:00:00Z":         {c.EventID},
		"?filter[parent_event_id]=null":                       {c.EventID, brunch},
		fmt.Sprintf("?filter[parent_event_id]=%d", c.EventID): nil,
	} {
		if got := ids(query); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("GET /events%s: %v, want %v", query, got, want)
		}
	}
	for query, attr := range map[string]string{
		"?filter[status]=soon":              "filter[status]",
		"?sort[name]=up":                    "sort[name]",
		"?sort[name]=asc&sort[id]=asc":      "sort[",
		"?filter[starts_at][from]=tomorrow": "filter[starts_at][from]",
		"?filter[parent_event_id]=x":        "filter[parent_event_id]",
		"?page[size]=101":                   "page[size]",
		"?page[cursor]=bm90LWEtY3Vyc29y":    "page[cursor]",
	} {
		m := f.do("GET", "/api/v2/events"+query, f.keyA, nil).expectProblem(t, 422, "validation_error")
		a := firstAttribute(m).Attribute
		if len(a) < len(attr) || a[:len(attr)] != attr {
			t.Errorf("GET /events%s names %q, want %q", query, a, attr)
		}
	}
	f.do("GET", "/api/v2/events?filter[state]=active", f.keyA, nil).expectProblem(t, 400, "unpermitted_parameters")
}

func TestRecurringEvent(t *testing.T) {
	t.Parallel()
	f := setup(t)
	v, tt := f.venue(f.keyA), f.ticketType(f.keyA)
	body := fmt.Sprintf(`{"event": {"name": "Friday Jazz", "type": "recurring", "venue_id": %d,
		"starts_at": "2026-12-04T19:00:00Z", "ends_at": "2026-12-04T23:00:00Z", "capacity": 100,
		"recurrence": {"frequency": "weekly", "by_day": ["FR"], "count": 3},
		"registration_types": [{"name": "GA", "ticket_type_id": %d, "price": {"amount": 2000, "currency": "EUR"}, "quantity": 80}]}}`, v, tt)
	r := f.do("POST", "/api/v2/events", f.keyA, body).expect(t, 201)
	m := decode[client.Event](t, r)
	if rec := m.Recurrence; rec == nil || rec.Frequency != "weekly" || rec.Interval != 1 || rec.Count != 3 || rec.Until != "" {
		t.Errorf("recurrence: %+v", rec)
	}
	if m.Sold != nil || m.Oversold != nil || m.RegistrationTypes[0].Available != nil {
		t.Errorf("a template has no sold/available: %+v", m)
	}
	id := m.ID
	f.waitTerminal(id, opHeader(t, r))
	occ := decode[client.Page[client.Event]](t, f.do("GET", fmt.Sprintf("/api/v2/events?filter[parent_event_id]=%d", id), f.keyA, nil).expect(t, 200))
	if len(occ.Data) != 3 {
		t.Fatalf("%d occurrences, want 3", len(occ.Data))
	}
	first := occ.Data[0]
	if first.ParentEventID == nil || *first.ParentEventID != id || first.Type != client.EventDate || !intIs(first.Available, 100) {
		t.Errorf("occurrence: %+v", first)
	}
	if got := first.RegistrationTypes[0].Price.Formatted; got != "€20.00" {
		t.Errorf("EUR formatted %v", got)
	}
}

func TestUpdateEvent(t *testing.T) {
	t.Parallel()
	f := setup(t)
	c := f.event(f.keyA)
	path := fmt.Sprintf("/api/v2/events/%d", c.EventID)
	r := f.do("PATCH", path, f.keyA, `{"event": {"name": "Late Jazz", "capacity": null}}`).expect(t, 200)
	if m := decode[client.Event](t, r); m.Name != "Late Jazz" || m.Capacity != nil || m.Slug != "jazz-night" {
		t.Fatalf("patched: %+v", m)
	}
	op := opHeader(t, r)
	if op == c.OpID || r.Header.Get(HeaderSyncJobID) != r.Header.Get(HeaderOperationID) {
		t.Fatalf("PATCH operation headers: %v", r.Header)
	}
	refused(t, f, []refusal{
		{"type changed", "PATCH", path, f.keyA, `{"event": {"type": "recurring"}}`, 422, "validation_error", []string{"type"}},
		{"no envelope", "PATCH", path, f.keyA, `{}`, 400, "parameter_missing", nil},
		{"unknown id", "PATCH", "/api/v2/events/999", f.keyA, `{"event": {"name": "x"}}`, 404, "not_found", nil},
		{"not an id", "PATCH", "/api/v2/events/abc", f.keyA, `{"event": {"name": "x"}}`, 404, "not_found", nil},
	})
	if got := decode[client.Event](t, f.do("GET", path, f.keyA, nil).expect(t, 200)); got.Name != "Late Jazz" || got.Type != client.EventDate {
		t.Fatalf("after the refusals: %+v", got)
	}
}

func TestCapacityBelowSoldIsInvalid(t *testing.T) {
	t.Parallel()
	f := setup(t)
	c := f.event(f.keyA)
	f.waitTerminal(c.EventID, c.OpID)
	rt := c.Event.RegistrationTypes[0].ID
	f.do("POST", fmt.Sprintf("/api/v2/events/%d/orders", c.EventID), f.keyA,
		fmt.Sprintf(`{"order": {"registration_type_id": %d, "quantity": 5}}`, rt)).expect(t, 201)
	m := f.do("PATCH", fmt.Sprintf("/api/v2/events/%d", c.EventID), f.keyA, `{"event": {"capacity": 4}}`).
		expectProblem(t, 422, "validation_error")
	if a := firstAttribute(m); a.Attribute != "capacity" || a.Code != "out_of_range" {
		t.Fatalf("attribute: %+v", a)
	}
	body := fmt.Sprintf(`{"event": {"registration_types": [{"id": %d, "name": "GA", "ticket_type_id": 1, "price": {"amount": 1, "currency": "USD"}, "quantity": 2}]}}`, rt)
	m = f.do("PATCH", fmt.Sprintf("/api/v2/events/%d", c.EventID), f.keyA, body).expectProblem(t, 422, "validation_error")
	if !contains422(m, "registration_types[0].quantity") {
		t.Fatalf("quantity below sold: %v", m)
	}
}

func TestDeleteEvent(t *testing.T) {
	t.Parallel()
	f := setup(t)
	c := f.event(f.keyA)
	path := fmt.Sprintf("/api/v2/events/%d", c.EventID)
	r := f.do("DELETE", path, f.keyA, nil).expect(t, 202)
	m := decode[client.Operation](t, r)
	if m.Action != "delete" || m.ID != opHeader(t, r) || r.Header.Get(HeaderSyncJobID) != r.Header.Get(HeaderOperationID) {
		t.Fatalf("delete answer: %+v %v", m, r.Header)
	}
	if r.Header.Get("Location") != opPath(c.EventID, m.ID) {
		t.Fatalf("Location %q", r.Header.Get("Location"))
	}
	f.do("GET", path, f.keyA, nil).expectProblem(t, 404, "not_found")
	list := decode[client.Page[client.Event]](t, f.do("GET", "/api/v2/events", f.keyA, nil).expect(t, 200))
	if len(list.Data) != 0 {
		t.Fatal("a deleted event is still listed")
	}
	// Its operations stay readable.
	done := f.waitTerminal(c.EventID, m.ID)
	if done.Status != client.StatusCompleted {
		t.Fatalf("delete: %+v", done)
	}
	ops := decode[client.Page[client.Operation]](t, f.do("GET", path+"/operations", f.keyA, nil).expect(t, 200))
	if len(ops.Data) != 2 {
		t.Fatalf("operations of the deleted event: %+v", ops)
	}
	f.do("GET", opPath(c.EventID, c.OpID), f.keyA, nil).expect(t, 200)
}

func TestDeleteEventWithPaidOrdersIsConflict(t *testing.T) {
	t.Parallel()
	f := setup(t)
	c := f.event(f.keyA)
	f.waitTerminal(c.EventID, c.OpID)
	rt := c.Event.RegistrationTypes[0].ID
	f.do("POST", fmt.Sprintf("/api/v2/events/%d/orders", c.EventID), f.keyA,
		fmt.Sprintf(`{"order": {"registration_type_id": %d, "quantity": 1}}`, rt)).expect(t, 201)
	getEvent := func() client.Event {
		return decode[client.Event](t, f.do("GET", fmt.Sprintf("/api/v2/events/%d", c.EventID), f.keyA, nil).expect(t, 200))
	}
	if getEvent().Deletable {
		t.Fatal("deletable with a paid order")
	}
	f.do("DELETE", fmt.Sprintf("/api/v2/events/%d", c.EventID), f.keyA, nil).expectProblem(t, 409, "conflict")

	// Refund first, then delete.
	r := f.do("POST", fmt.Sprintf("/api/v2/events/%d/refund", c.EventID), f.keyA, nil).expect(t, 202)
	if r.Header.Get(HeaderOperationID) != r.Header.Get(HeaderSyncJobID) || decode[client.Operation](t, r).Action != "refund" {
		t.Fatalf("refund answer: %v %s", r.Header, r.Body)
	}
	f.waitTerminal(c.EventID, opHeader(t, r))
	if ev := getEvent(); !ev.Deletable || !intIs(ev.Sold, 0) {
		t.Fatalf("after refund: %+v", ev)
	}
	f.do("DELETE", fmt.Sprintf("/api/v2/events/%d", c.EventID), f.keyA, nil).expect(t, 202)
}
