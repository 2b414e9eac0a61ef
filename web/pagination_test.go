package web

import (
	"net/url"
	"strings"
	"testing"
)

func TestPagination(t *testing.T) {
	t.Parallel()
	f := setup(t, withConfig(func(c *Config) { c.PublicURL = "https://ops.example.com" }))
	for _, name := range []string{"A", "B", "C"} {
		f.do("POST", "/api/v2/venues", f.keyA, `{"venue": {"name": "`+name+`", "time_zone": "UTC"}}`).expect(t, 201)
	}
	m := f.do("GET", "/api/v2/venues?page[size]=2", f.keyA, nil).expect(t, 200).json(t)
	meta := m["meta"].(map[string]any)
	page := meta["page"].(map[string]any)
	links := meta["links"].(map[string]any)
	if meta["count"] != 2.0 || page["size"] != 2.0 || page["first"] != true || page["last"] != false || page["next_cursor"] == nil {
		t.Fatalf("first page: %v", meta)
	}
	if self, _ := url.QueryUnescape(links["self"].(string)); self != "https://ops.example.com/api/v2/venues?page[size]=2" {
		t.Fatalf("self: %v", links["self"])
	}
	next := links["next"].(string)
	if !strings.HasPrefix(next, "https://ops.example.com/api/v2/venues?") || !strings.Contains(next, "page%5Bsize%5D=2") {
		t.Fatalf("next: %v", next)
	}
	m = f.do("GET", strings.TrimPrefix(next, "https://ops.example.com"), f.keyA, nil).expect(t, 200).json(t)
	meta = m["meta"].(map[string]any)
	page = meta["page"].(map[string]any)
	if meta["count"] != 1.0 || page["first"] != false || page["last"] != true || page["next_cursor"] != nil ||
		meta["links"].(map[string]any)["next"] != nil || m["data"].([]any)[0].(map[string]any)["name"] != "C" {
		t.Fatalf("last page: %v", m)
	}
	// Default and bounds.
	m = f.do("GET", "/api/v2/venues", f.keyA, nil).json(t)
	if m["meta"].(map[string]any)["page"].(map[string]any)["size"] != 25.0 {
		t.Fatal("default page size")
	}
	for _, tc := range []struct {
		path   string
		status int
		typ    string // the problem's, "" for a 200
	}{
		{"/api/v2/venues?page[size]=100", 200, ""},
		{"/api/v2/venues?page[size]=101", 422, "validation_error"},
		{"/api/v2/venues?page[size]=x", 422, "validation_error"},
		{"/api/v2/venues?page[number]=2", 400, "unpermitted_parameters"},
		// A cursor of another list is refused.
		{"/api/v2/ticket_types?page[cursor]=" + page0Cursor(t, f), 422, "validation_error"},
		// Other query parameters (cache busters) are left alone.
		{"/api/v2/venues?_=123", 200, ""},
	} {
		r := f.do("GET", tc.path, f.keyA, nil)
		if tc.typ == "" {
			r.expect(t, tc.status)
		} else {
			r.expectProblem(t, tc.status, tc.typ)
		}
	}
}

func page0Cursor(t *testing.T, f *fixture) string {
	m := f.do("GET", "/api/v2/venues?page[size]=1", f.keyA, nil).json(t)
	return m["meta"].(map[string]any)["page"].(map[string]any)["next_cursor"].(string)
}

// A cursor belongs to its list and to the filters and sort it was made
// with: reused with other ones it is 422 (page[cursor], invalid), never a
// page of another query. page[size] may change between pages, and other
// query parameters (cache busters) do not count.
func TestCursorIsBoundToItsListAndFilters(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for _, name := range []string{"Hall A", "Hall B", "Room C", "Room D"} {
		f.do("POST", "/api/v2/venues", f.keyA, `{"venue": {"name": "`+name+`", "time_zone": "UTC"}}`).expect(t, 201)
	}
	c1, c2 := f.event(f.keyA), f.event(f.keyA)
	f.waitTerminal(c1.EventID, c1.OpID)
	f.waitTerminal(c2.EventID, c2.OpID)
	f.do("POST", "/api/v2/events/"+itoa(c1.EventID)+"/orders", f.keyA,
		`{"order": {"registration_type_id": `+itoa(c1.Event.RegistrationTypes[0].ID)+`, "quantity": 1}}`).expect(t, 201)
	f.do("POST", "/api/v2/events/"+itoa(c1.EventID)+"/orders", f.keyA,
		`{"order": {"registration_type_id": `+itoa(c1.Event.RegistrationTypes[0].ID)+`, "quantity": 1}}`).expect(t, 201)

	next := func(path string) string {
		t.Helper()
		m := f.do("GET", path, f.keyA, nil).expect(t, 200).json(t)
		c, ok := m["meta"].(map[string]any)["page"].(map[string]any)["next_cursor"].(string)
		if !ok {
			t.Fatalf("GET %s: no next cursor: %v", path, m["meta"])
		}
		return url.QueryEscape(c)
	}
	refused := func(path string) {
		t.Helper()
		p := f.do("GET", path, f.keyA, nil).expectProblem(t, 422, "validation_error")
		if a := firstAttribute(p); a.Attribute != "page[cursor]" || a.Code != "invalid" {
			t.Fatalf("GET %s: %+v", path, p.Attributes())
		}
	}
	ev1, ev2 := "/api/v2/events/"+itoa(c1.EventID), "/api/v2/events/"+itoa(c2.EventID)

	// Venues: a search's cursor with another search, or with none.
	c := next("/api/v2/venues?filter[search]=hall&page[size]=1")
	f.do("GET", "/api/v2/venues?filter[search]=hall&page[size]=5&_=1&page[cursor]="+c, f.keyA, nil).expect(t, 200)
	refused("/api/v2/venues?filter[search]=room&page[size]=1&page[cursor]=" + c)
	refused("/api/v2/venues?page[size]=1&page[cursor]=" + c)
	// Events: another sort, another filter.
	c = next("/api/v2/events?sort[name]=asc&page[size]=1")
	f.do("GET", "/api/v2/events?sort[name]=asc&page[size]=1&page[cursor]="+c, f.keyA, nil).expect(t, 200)
	refused("/api/v2/events?sort[name]=desc&page[size]=1&page[cursor]=" + c)
	refused("/api/v2/events?sort[name]=asc&filter[status]=future&page[size]=1&page[cursor]=" + c)
	// Operations: another filter, another list.
	c = next("/api/v2/operations?filter[action]=save&page[size]=1")
	f.do("GET", "/api/v2/operations?filter[action]=save&page[size]=1&page[cursor]="+c, f.keyA, nil).expect(t, 200)
	refused("/api/v2/operations?filter[action]=refund&page[size]=1&page[cursor]=" + c)
	refused(ev1 + "/operations?filter[action]=save&page[size]=1&page[cursor]=" + c)
	// Orders: another event's list.
	c = next(ev1 + "/orders?page[size]=1")
	f.do("GET", ev1+"/orders?page[size]=1&page[cursor]="+c, f.keyA, nil).expect(t, 200)
	refused(ev2 + "/orders?page[size]=1&page[cursor]=" + c)
	// Made up.
	refused("/api/v2/operations?page[cursor]=12")
}
