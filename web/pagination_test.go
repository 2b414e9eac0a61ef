package web

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"eventops/web/client"
)

func TestPagination(t *testing.T) {
	t.Parallel()
	f := setup(t, withConfig(func(c *Config) { c.PublicURL = "https://ops.example.com" }))
	for _, name := range []string{"A", "B", "C"} {
		f.do("POST", "/api/v2/venues", f.keyA, `{"venue": {"name": "`+name+`", "time_zone": "UTC"}}`).expect(t, 201)
	}
	first := decode[client.Page[client.Venue]](t, f.do("GET", "/api/v2/venues?page[size]=2", f.keyA, nil).expect(t, 200))
	meta := first.Meta
	if meta.Count != 2 || meta.Page.Size != 2 || !meta.Page.First || meta.Page.Last || meta.Page.NextCursor == nil {
		t.Fatalf("first page: %+v", meta)
	}
	if self, _ := url.QueryUnescape(meta.Links.Self); self != "https://ops.example.com/api/v2/venues?page[size]=2" {
		t.Fatalf("self: %v", meta.Links.Self)
	}
	if meta.Links.Next == nil {
		t.Fatal("first page: no next link")
	}
	next := *meta.Links.Next
	if !strings.HasPrefix(next, "https://ops.example.com/api/v2/venues?") || !strings.Contains(next, "page%5Bsize%5D=2") {
		t.Fatalf("next: %v", next)
	}
	last := decode[client.Page[client.Venue]](t, f.do("GET", strings.TrimPrefix(next, "https://ops.example.com"), f.keyA, nil).expect(t, 200))
	meta = last.Meta
	if meta.Count != 1 || meta.Page.First || !meta.Page.Last || meta.Page.NextCursor != nil ||
		meta.Links.Next != nil || len(last.Data) != 1 || last.Data[0].Name != "C" {
		t.Fatalf("last page: %+v", last)
	}
	// Default and bounds.
	if p := decode[client.Page[client.Venue]](t, f.do("GET", "/api/v2/venues", f.keyA, nil).expect(t, 200)); p.Meta.Page.Size != 25 {
		t.Fatalf("default page size %d, want 25", p.Meta.Page.Size)
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

// page0Cursor is the next cursor of the first one-venue page.
func page0Cursor(t *testing.T, f *fixture) string {
	t.Helper()
	return nextCursor(t, f, "/api/v2/venues?page[size]=1")
}

// nextCursor is the next cursor of the page at path, query-escaped; it
// fails when there is none.
func nextCursor(t *testing.T, f *fixture, path string) string {
	t.Helper()
	p := decode[client.Page[json.RawMessage]](t, f.do("GET", path, f.keyA, nil).expect(t, 200))
	if p.Meta.Page.NextCursor == nil {
		t.Fatalf("GET %s: no next cursor: %+v", path, p.Meta)
	}
	return url.QueryEscape(*p.Meta.Page.NextCursor)
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

	ev1, ev2 := "/api/v2/events/"+itoa(c1.EventID), "/api/v2/events/"+itoa(c2.EventID)
	for _, tc := range []struct {
		name    string
		first   string   // a list's first page; its next cursor is reused below
		same    string   // the same query (page[size] and cache busters may differ): accepted
		refused []string // other queries: 422 on page[cursor]
	}{
		{"venues: another search, or none", "/api/v2/venues?filter[search]=hall&page[size]=1",
			"/api/v2/venues?filter[search]=hall&page[size]=5&_=1",
			[]string{"/api/v2/venues?filter[search]=room&page[size]=1", "/api/v2/venues?page[size]=1"}},
		{"events: another sort, another filter", "/api/v2/events?sort[name]=asc&page[size]=1",
			"/api/v2/events?sort[name]=asc&page[size]=1",
			[]string{"/api/v2/events?sort[name]=desc&page[size]=1", "/api/v2/events?sort[name]=asc&filter[status]=future&page[size]=1"}},
		{"operations: another filter, another list", "/api/v2/operations?filter[action]=save&page[size]=1",
			"/api/v2/operations?filter[action]=save&page[size]=1",
			[]string{"/api/v2/operations?filter[action]=refund&page[size]=1", ev1 + "/operations?filter[action]=save&page[size]=1"}},
		{"orders: another event's list", ev1 + "/orders?page[size]=1", ev1 + "/orders?page[size]=1",
			[]string{ev2 + "/orders?page[size]=1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := f.in(t)
			c := nextCursor(t, f, tc.first)
			f.do("GET", tc.same+"&page[cursor]="+c, f.keyA, nil).expect(t, 200)
			for _, path := range tc.refused {
				cursorRefused(t, f, path+"&page[cursor]="+c)
			}
		})
	}
	cursorRefused(t, f, "/api/v2/operations?page[cursor]=12") // made up
}

// cursorRefused checks that GET path is 422 naming page[cursor] invalid.
func cursorRefused(t *testing.T, f *fixture, path string) {
	t.Helper()
	p := f.do("GET", path, f.keyA, nil).expectProblem(t, 422, "validation_error")
	if a := firstAttribute(p); a.Attribute != "page[cursor]" || a.Code != "invalid" {
		t.Fatalf("GET %s: %+v", path, p.Attributes())
	}
}
