package web

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"eventops/web/client"
)

// Hostile input over HTTP: every refusal is a typed problem naming the
// attribute and code, and changes nothing (no event, no operation).

// problemAttrs lists a 422's attributes as "attribute:code".
func problemAttrs(t testing.TB, p client.Problem) []string {
	t.Helper()
	var out []string
	for _, a := range p.Attributes() {
		out = append(out, a.Attribute+":"+a.Code)
	}
	return out
}

// stored counts the company's events (not occurrences, which a save
// accepted earlier may still be adding) and operations through the API.
func (f *fixture) stored(key string) (events, ops int) {
	f.t.Helper()
	return f.count("/api/v2/events?page[size]=100&filter[parent_event_id]=null", key), f.count("/api/v2/operations?page[size]=100", key)
}

// regTypesJSON is n registration types of ticket type tt, as JSON.
func regTypesJSON(n int, tt uint64) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(`{"name": "Type %d", "ticket_type_id": %d, "price": {"amount": 100, "currency": "USD"}}`, i+1, tt)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func TestHostileWrites(t *testing.T) {
	t.Parallel()
	f := setup(t)
	v, tt := f.venue(f.keyA), f.ticketType(f.keyA)
	date := f.event(f.keyA)
	f.waitTerminal(date.EventID, date.OpID)
	datePath := eventPath(date.EventID)
	opPathOf := opPath(date.EventID, date.OpID)

	event := func(attrs string) string {
		return fmt.Sprintf(`{"event": {"name": "Jazz", "type": "date", "venue_id": %d,
			"starts_at": "2027-01-08T19:00:00Z", "ends_at": "2027-01-08T22:00:00Z",
			"registration_types": [{"name": "GA", "ticket_type_id": %d, "price": {"amount": 100, "currency": "USD"}}]%s}}`, v, tt, attrs)
	}
	recurring := func(rule string, types string) string {
		return fmt.Sprintf(`{"event": {"name": "Jazz", "type": "recurring", "venue_id": %d,
			"starts_at": "2027-01-08T19:00:00Z", "ends_at": "2027-01-08T22:00:00Z",
			"recurrence": %s, "registration_types": %s}}`, v, rule, types)
	}
	han := func(n int) string { return strings.Repeat("日", n) }
	// An event with no capacity and no quantity: nothing but the limits
	// bounds an order of it.
	open := decode[client.Event](t, f.do("POST", "/api/v2/events", f.keyA, event("")).expect(t, 201))
	openOrders := eventPath(open.ID) + "/orders"
	order := func(q string) string {
		return fmt.Sprintf(`{"order": {"registration_type_id": %d, "quantity": %s}}`, open.RegistrationTypes[0].ID, q)
	}

	for _, tc := range []struct {
		name         string
		method, path string
		body         string
		status       int
		typ          string // problem type; "" for a success
		field        string // "attribute:code" of a 422
	}{
		{"a name of 67 three-byte characters", "POST", "/api/v2/venues", `{"venue": {"name": "` + han(67) + `", "time_zone": "UTC"}}`, 201, "", ""},
		{"a name of 200 characters", "POST", "/api/v2/ticket_types", `{"ticket_type": {"name": "` + han(200) + `"}}`, 201, "", ""},
		{"a name of 201 characters", "POST", "/api/v2/venues", `{"venue": {"name": "` + han(201) + `", "time_zone": "UTC"}}`, 422, "validation_error", "name:too_long"},
		{"a NUL in a venue name", "POST", "/api/v2/venues", `{"venue": {"name": "Blue\u0000Room", "time_zone": "UTC"}}`, 422, "validation_error", "name:invalid"},
		{"a newline in an event name", "POST", "/api/v2/events", strings.Replace(event(""), `"Jazz"`, `"Jazz\nNight"`, 1), 422, "validation_error", "name:invalid"},
		{"an escape in a registration type name", "POST", "/api/v2/events", strings.Replace(event(""), `"GA"`, `"G\u001bA"`, 1), 422, "validation_error", "registration_types[0].name:invalid"},
		{"a lone surrogate in a ticket type name", "POST", "/api/v2/ticket_types", `{"ticket_type": {"name": "GA \ud800"}}`, 422, "validation_error", "name:invalid"},
		{"invalid UTF-8 in a name", "POST", "/api/v2/ticket_types", "{\"ticket_type\": {\"name\": \"GA \xff\"}}", 422, "validation_error", "name:invalid"},
		{"invalid UTF-8 in a slug", "POST", "/api/v2/events", strings.Replace(event(`, "slug": "jazz"`), "jazz", "ja\xffzz", 1), 422, "validation_error", "slug:invalid"},
		{"a control character in a kind", "POST", "/api/v2/ticket_types", `{"ticket_type": {"name": "GA", "kind": "seat\u0007"}}`, 422, "validation_error", "kind:invalid"},
		{"a kind of 51 characters", "POST", "/api/v2/ticket_types", `{"ticket_type": {"name": "GA", "kind": "` + strings.Repeat("k", 51) + `"}}`, 422, "validation_error", "kind:too_long"},
		{"a slug of 201 characters", "POST", "/api/v2/events", event(`, "slug": "` + strings.Repeat("s", 201) + `"`), 422, "validation_error", "slug:too_long"},
		{"a start in 1969", "POST", "/api/v2/events", strings.Replace(event(""), "2027-01-08T19:00:00Z", "1969-12-31T19:00:00Z", 1), 422, "validation_error", "starts_at:out_of_range"},
		{"an end in 2200", "POST", "/api/v2/events", strings.Replace(event(""), "2027-01-08T22:00:00Z", "2200-01-08T22:00:00Z", 1), 422, "validation_error", "ends_at:out_of_range"},
		{"publication in year 1", "POST", "/api/v2/events", event(`, "published_at": "0001-01-01T00:00:00Z"`), 422, "validation_error", "published_at:out_of_range"},
		{"until in 2200", "POST", "/api/v2/events", recurring(`{"frequency": "daily", "until": "2200-01-01"}`, regTypesJSON(1, tt)), 422, "validation_error", "recurrence.until:out_of_range"},
		{"interval 0", "POST", "/api/v2/events", recurring(`{"frequency": "daily", "interval": 0, "count": 3}`, regTypesJSON(1, tt)), 422, "validation_error", "recurrence.interval:out_of_range"},
		{"interval -1", "POST", "/api/v2/events", recurring(`{"frequency": "daily", "interval": -1, "count": 3}`, regTypesJSON(1, tt)), 422, "validation_error", "recurrence.interval:out_of_range"},
		{"500 daily occurrences × 11 types", "POST", "/api/v2/events", recurring(`{"frequency": "daily", "count": 500}`, regTypesJSON(11, tt)), 422, "validation_error", "registration_types:limit_exceeded"},
		{"a capacity over a million", "POST", "/api/v2/events", event(`, "capacity": 1000001`), 422, "validation_error", "capacity:out_of_range"},
		{"a quantity over a million", "POST", "/api/v2/events", strings.Replace(event(""), `"currency": "USD"}`, `"currency": "USD"}, "quantity": 1000001`, 1), 422, "validation_error", "registration_types[0].quantity:out_of_range"},
		{"a price over 10^12 minor units", "POST", "/api/v2/events", strings.Replace(event(""), `"amount": 100`, `"amount": 9007199254740993`, 1), 422, "validation_error", "registration_types[0].price.amount:out_of_range"},
		{"an order whose amount would overflow", "POST", openOrders, order("4000000000000000000"), 422, "validation_error", "quantity:out_of_range"},
		{"an order of a million and one", "POST", openOrders, order("1000001"), 422, "validation_error", "quantity:out_of_range"},
		{"name null", "PATCH", datePath, `{"event": {"name": null}}`, 422, "validation_error", "name:blank"},
		{"starts_at null", "PATCH", datePath, `{"event": {"starts_at": null}}`, 422, "validation_error", "starts_at:blank"},
		{"ends_at null", "PATCH", datePath, `{"event": {"ends_at": null}}`, 422, "validation_error", "ends_at:blank"},
		{"venue_id null", "PATCH", datePath, `{"event": {"venue_id": null}}`, 422, "validation_error", "venue_id:blank"},
		{"type null", "PATCH", datePath, `{"event": {"type": null}}`, 422, "validation_error", "type:blank"},
		{"registration_types null", "PATCH", datePath, `{"event": {"registration_types": null}}`, 422, "validation_error", "registration_types:blank"},
		{"name null on create", "POST", "/api/v2/events", strings.Replace(event(""), `"Jazz"`, "null", 1), 422, "validation_error", "name:blank"},
		{"an empty PATCH", "PATCH", datePath, `{"event": {}}`, 422, "validation_error", "event:blank"},
		{"a member in a DELETE body", "DELETE", datePath, `{"force": true}`, 400, "unpermitted_parameters", ""},
		{"an envelope in a DELETE body", "DELETE", datePath, `{"event": {}}`, 400, "unpermitted_parameters", ""},
		{"a member in a refund body", "POST", datePath + "/refund", `{"reason": "rain"}`, 400, "unpermitted_parameters", ""},
		{"a list as a refund body", "POST", datePath + "/refund", `[]`, 400, "unpermitted_parameters", ""},
		{"malformed JSON as a refund body", "POST", datePath + "/refund", `{"reason"`, 400, "malformed_json", ""},
		{"a member in a cancel body", "POST", opPathOf + "/cancel", `{"force": true}`, 400, "unpermitted_parameters", ""},
		{"a member in a retry body", "POST", opPathOf + "/retry", `{"action": "delete"}`, 400, "unpermitted_parameters", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			events, ops := f.stored(f.keyA)
			r := f.do(tc.method, tc.path, f.keyA, tc.body)
			if tc.typ == "" {
				r.expect(t, tc.status)
				return
			}
			m := r.expectProblem(t, tc.status, tc.typ)
			if tc.field != "" {
				if got := problemAttrs(t, m); !slices.Contains(got, tc.field) {
					t.Fatalf("attributes %v, want %s\n%s", got, tc.field, r.Body)
				}
			}
			if e, o := f.stored(f.keyA); e != events || o != ops {
				t.Fatalf("a refused write changed the store: %d events, %d operations before; %d, %d after", events, ops, e, o)
			}
		})
	}

	t.Run("an empty DELETE or refund body is still fine", func(t *testing.T) {
		f.do("POST", datePath+"/refund", f.keyA, `{}`).expect(t, 202)
		f.do("DELETE", datePath, f.keyA, ` {} `).expect(t, 202)
	})
}

func TestSlugOfANameWithoutLettersIsNeverEmpty(t *testing.T) {
	t.Parallel()
	f := setup(t)
	v, tt := f.venue(f.keyA), f.ticketType(f.keyA)
	body := strings.Replace(eventBody(v, tt), `"Jazz Night"`, `"!!!"`, 1)
	ev := decode[client.Event](t, f.do("POST", "/api/v2/events", f.keyA, body).expect(t, 201))
	if want := fmt.Sprintf("event-%d", ev.ID); ev.Slug != want {
		t.Fatalf("slug %q, want %q", ev.Slug, want)
	}
	if ev.KeptOccurrenceIDs == nil || len(ev.KeptOccurrenceIDs) != 0 {
		t.Fatalf("kept_occurrence_ids = %v, want []", ev.KeptOccurrenceIDs)
	}
}

// A change of the rule that drops a sold occurrence is refused with
// occurrence_sold; the event and its operations stay as they were.
func TestRecurrenceChangeDroppingASoldOccurrence(t *testing.T) {
	t.Parallel()
	f := setup(t)
	v, tt := f.venue(f.keyA), f.ticketType(f.keyA)
	body := fmt.Sprintf(`{"event": {"name": "Friday Jazz", "type": "recurring", "venue_id": %d,
		"starts_at": "2027-01-08T19:00:00Z", "ends_at": "2027-01-08T23:00:00Z",
		"recurrence": {"frequency": "weekly", "count": 4},
		"registration_types": [{"name": "GA", "ticket_type_id": %d, "price": {"amount": 2000, "currency": "USD"}}]}}`, v, tt)
	r := f.do("POST", "/api/v2/events", f.keyA, body).expect(t, 201)
	id := decode[client.Event](t, r).ID
	f.waitTerminal(id, opHeader(t, r))
	page := decode[client.Page[client.Event]](t, f.do("GET", fmt.Sprintf("/api/v2/events?filter[parent_event_id]=%d", id), f.keyA, nil).expect(t, 200))
	last := page.Data[3]
	f.do("POST", fmt.Sprintf("/api/v2/events/%d/orders", last.ID), f.keyA,
		fmt.Sprintf(`{"order": {"registration_type_id": %d, "quantity": 1}}`, last.RegistrationTypes[0].ID)).expect(t, 201)

	events, ops := f.stored(f.keyA)
	m := f.do("PATCH", eventPath(id), f.keyA, `{"event": {"recurrence": {"frequency": "weekly", "count": 2}}}`).
		expectProblem(t, 422, "validation_error")
	if got := problemAttrs(t, m); !slices.Equal(got, []string{"recurrence:occurrence_sold"}) {
		t.Fatalf("attributes %v, want recurrence:occurrence_sold", got)
	}
	if !strings.Contains(m.Detail, fmt.Sprint(last.ID)) {
		t.Errorf("detail %q does not name occurrence %d", m.Detail, last.ID)
	}
	if e, o := f.stored(f.keyA); e != events || o != ops {
		t.Fatalf("the refused change stored something: %d/%d events, %d/%d operations", e, events, o, ops)
	}
	ev := decode[client.Event](t, f.do("GET", eventPath(id), f.keyA, nil).expect(t, 200))
	if ev.Recurrence == nil || ev.Recurrence.Count != 4 || len(ev.KeptOccurrenceIDs) != 0 {
		t.Fatalf("after the refusal: recurrence %+v, kept %v", ev.Recurrence, ev.KeptOccurrenceIDs)
	}
}
