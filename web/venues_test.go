package web

import (
	"fmt"
	"testing"

	"eventops/web/client"
)

func TestVenues(t *testing.T) {
	t.Parallel()
	f := setup(t)
	r := f.do("POST", "/api/v2/venues", f.keyA, `{"venue": {"name": " Blue Room ", "time_zone": "America/Chicago"}}`).expect(t, 201)
	v := decode[client.Venue](t, r)
	path := fmt.Sprintf("/api/v2/venues/%d", v.ID)
	if v.Name != "Blue Room" || v.TimeZone != "America/Chicago" || r.Header.Get("Location") != path {
		t.Fatalf("venue: %+v %v", v, r.Header)
	}
	f.do("POST", "/api/v2/venues", f.keyA, `{"venue": {"name": "Red Hall", "time_zone": "Europe/Berlin"}}`).expect(t, 201)
	if got := decode[client.Venue](t, f.do("GET", path, f.keyA, nil).expect(t, 200)); got.Name != "Blue Room" {
		t.Fatalf("GET: %+v", got)
	}
	list := decode[client.Page[client.Venue]](t, f.do("GET", "/api/v2/venues?filter[search]=RED", f.keyA, nil).expect(t, 200))
	if len(list.Data) != 1 || list.Data[0].Name != "Red Hall" {
		t.Fatalf("search: %+v", list.Data)
	}
	refused(t, f, []refusal{
		{"blank name, unknown zone", "POST", "/api/v2/venues", f.keyA, `{"venue": {"name": "", "time_zone": "Mars/Olympus"}}`,
			422, "validation_error", []string{"name", "time_zone"}},
		{"unknown id", "GET", "/api/v2/venues/999", f.keyA, "", 404, "not_found", nil},
		{"another company's", "GET", path, f.keyB, "", 404, "not_found", nil},
	})
	if n := f.count("/api/v2/venues", f.keyA); n != 2 {
		t.Fatalf("%d venues after the refusals, want 2", n)
	}
}

func TestTicketTypes(t *testing.T) {
	t.Parallel()
	f := setup(t)
	tt := decode[client.TicketType](t, f.do("POST", "/api/v2/ticket_types", f.keyA, `{"ticket_type": {"name": "General admission"}}`).expect(t, 201))
	if tt.Kind != "admission" {
		t.Fatalf("default kind: %+v", tt)
	}
	path := fmt.Sprintf("/api/v2/ticket_types/%d", tt.ID)
	f.do("POST", "/api/v2/ticket_types", f.keyA, `{"ticket_type": {"name": "Box", "kind": "seated"}}`).expect(t, 201)
	if got := decode[client.TicketType](t, f.do("GET", path, f.keyA, nil).expect(t, 200)); got.Name != "General admission" {
		t.Fatalf("GET: %+v", got)
	}
	list := decode[client.Page[client.TicketType]](t, f.do("GET", "/api/v2/ticket_types?filter[search]=box", f.keyA, nil).expect(t, 200))
	if len(list.Data) != 1 || list.Data[0].Name != "Box" || list.Data[0].Kind != "seated" {
		t.Fatalf("search: %+v", list.Data)
	}
	refused(t, f, []refusal{
		{"name too long", "POST", "/api/v2/ticket_types", f.keyA, `{"ticket_type": {"name": "` + string(repeat('x', 201)) + `"}}`,
			422, "validation_error", []string{"name"}},
		{"no envelope", "POST", "/api/v2/ticket_types", f.keyA, `{"ticket_types": {"name": "x"}}`, 400, "parameter_missing", nil},
		{"another company's", "GET", path, f.keyB, "", 404, "not_found", nil},
	})
	if n := f.count("/api/v2/ticket_types", f.keyA); n != 2 {
		t.Fatalf("%d ticket types after the refusals, want 2", n)
	}
}

// refusal is a request the API refuses with a problem.
type refusal struct {
	name, method, path, key, body string
	status                        int
	typ                           string   // the problem's type
	attrs                         []string // attributes a 422 must name
}

// refused sends each request as a subtest and checks its problem.
func refused(t *testing.T, f *fixture, rs []refusal) {
	t.Helper()
	for _, tc := range rs {
		t.Run(tc.name, func(t *testing.T) {
			var body any
			if tc.body != "" {
				body = tc.body
			}
			p := f.in(t).do(tc.method, tc.path, tc.key, body).expectProblem(t, tc.status, tc.typ)
			for _, a := range tc.attrs {
				if !contains422(p, a) {
					t.Errorf("%s not named: %+v", a, p.Attributes())
				}
			}
		})
	}
}
