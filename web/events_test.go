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
	brunch := num(f.do("POST", "/api/v2/events", f.keyA, later).expect(t, 201).json(t), "id")

	got := f.do("GET", fmt.Sprintf("/api/v2/events/%d", brunch), f.keyA, nil).expect(t, 200).json(t)
	price := got["registration_types"].([]any)[0].(map[string]any)["price"].(map[string]any)
	if price["decimal"] != "1500" || price["formatted"] != "¥1,500" {
		t.Errorf("JPY price: %v", price)
	}
	if got["available"] != nil || got["registration_types"].([]any)[0].(map[string]any)["available"] != nil {
		t.Errorf("no limit should be available null: %v", got)
	}

	ids := func(query string) []uint64 {
		m := f.do("GET", "/api/v2/events"+query, f.keyA, nil).expect(t, 200).json(t)
		var out []uint64
		for _, e := range m["data"].([]any) {
			out = append(out, num(e.(map[string]any), "id"))
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
	m := r.json(t)
	rec := m["recurrence"].(map[string]any)
	if rec["frequency"] != "weekly" || rec["interval"] != 1.0 || rec["count"] != 3.0 || rec["until"] != nil {
		t.Errorf("recurrence: %v", rec)
	}
	if m["sold"] != nil || m["registration_types"].([]any)[0].(map[string]any)["available"] != nil {
		t.Errorf("a template has no sold/available: %v", m)
	}
	id := num(m, "id")
	f.waitTerminal(id, opHeader(t, r))
	occ := f.do("GET", fmt.Sprintf("/api/v2/events?filter[parent_event_id]=%d", id), f.keyA, nil).expect(t, 200).json(t)
	data := occ["data"].([]any)
	if len(data) != 3 {
		t.Fatalf("%d occurrences, want 3", len(data))
	}
	first := data[0].(map[string]any)
	if num(first, "parent_event_id") != id || first["type"] != "date" || first["available"] != 100.0 {
		t.Errorf("occurrence: %v", first)
	}
	if got := first["registration_types"].([]any)[0].(map[string]any)["price"].(map[string]any)["formatted"]; got != "€20.00" {
		t.Errorf("EUR formatted %v", got)
	}
}

func TestUpdateEvent(t *testing.T) {
	t.Parallel()
	f := setup(t)
	c := f.event(f.keyA)
	path := fmt.Sprintf("/api/v2/events/%d", c.EventID)
	r := f.do("PATCH", path, f.keyA, `{"event": {"name": "Late Jazz", "capacity": null}}`).expect(t, 200)
	m := r.json(t)
	if m["name"] != "Late Jazz" || m["capacity"] != nil || m["slug"] != "jazz-night" {
		t.Fatalf("patched: %v", m)
	}
	op := opHeader(t, r)
	if op == c.OpID || r.Header.Get(HeaderSyncJobID) != r.Header.Get(HeaderOperationID) {
		t.Fatalf("PATCH operation headers: %v", r.Header)
	}
	f.do("PATCH", path, f.keyA, `{"event": {"type": "recurring"}}`).expectProblem(t, 422, "validation_error")
	f.do("PATCH", path, f.keyA, `{}`).expectProblem(t, 400, "parameter_missing")
	f.do("PATCH", "/api/v2/events/999", f.keyA, `{"event": {"name": "x"}}`).expectProblem(t, 404, "not_found")
	f.do("PATCH", "/api/v2/events/abc", f.keyA, `{"event": {"name": "x"}}`).expectProblem(t, 404, "not_found")
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
	m := r.json(t)
	if m["action"] != "delete" || num(m, "id") != opHeader(t, r) || r.Header.Get(HeaderSyncJobID) != r.Header.Get(HeaderOperationID) {
		t.Fatalf("delete answer: %v %v", m, r.Header)
	}
	if r.Header.Get("Location") != opPath(c.EventID, num(m, "id")) {
		t.Fatalf("Location %q", r.Header.Get("Location"))
	}
	f.do("GET", path, f.keyA, nil).expectProblem(t, 404, "not_found")
	list := f.do("GET", "/api/v2/events", f.keyA, nil).json(t)
	if len(list["data"].([]any)) != 0 {
		t.Fatal("a deleted event is still listed")
	}
	// Its operations stay readable.
	done := f.waitTerminal(c.EventID, num(m, "id"))
	if done.Status != client.StatusCompleted {
		t.Fatalf("delete: %v", done)
	}
	ops := f.do("GET", path+"/operations", f.keyA, nil).expect(t, 200).json(t)
	if len(ops["data"].([]any)) != 2 {
		t.Fatalf("operations of the deleted event: %s", ops)
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
	ev := f.do("GET", fmt.Sprintf("/api/v2/events/%d", c.EventID), f.keyA, nil).json(t)
	if ev["deletable"] != false {
		t.Fatal("deletable with a paid order")
	}
	f.do("DELETE", fmt.Sprintf("/api/v2/events/%d", c.EventID), f.keyA, nil).expectProblem(t, 409, "conflict")

	// Refund first, then delete.
	r := f.do("POST", fmt.Sprintf("/api/v2/events/%d/refund", c.EventID), f.keyA, nil).expect(t, 202)
	if r.Header.Get(HeaderOperationID) != r.Header.Get(HeaderSyncJobID) || r.json(t)["action"] != "refund" {
		t.Fatalf("refund answer: %v %s", r.Header, r.Body)
	}
	f.waitTerminal(c.EventID, opHeader(t, r))
	ev = f.do("GET", fmt.Sprintf("/api/v2/events/%d", c.EventID), f.keyA, nil).json(t)
	if ev["deletable"] != true || ev["sold"] != 0.0 {
		t.Fatalf("after refund: %v", ev)
	}
	f.do("DELETE", fmt.Sprintf("/api/v2/events/%d", c.EventID), f.keyA, nil).expect(t, 202)
}
