package web

import (
	"fmt"
	"testing"
)

func TestVenues(t *testing.T) {
	t.Parallel()
	f := setup(t)
	r := f.do("POST", "/api/v2/venues", f.keyA, `{"venue": {"name": " Blue Room ", "time_zone": "America/Chicago"}}`).expect(t, 201)
	v := r.json(t)
	if v["name"] != "Blue Room" || v["time_zone"] != "America/Chicago" || r.Header.Get("Location") != fmt.Sprintf("/api/v2/venues/%d", num(v, "id")) {
		t.Fatalf("venue: %v %v", v, r.Header)
	}
	f.do("POST", "/api/v2/venues", f.keyA, `{"venue": {"name": "Red Hall", "time_zone": "Europe/Berlin"}}`).expect(t, 201)
	got := f.do("GET", fmt.Sprintf("/api/v2/venues/%d", num(v, "id")), f.keyA, nil).expect(t, 200).json(t)
	if got["name"] != "Blue Room" {
		t.Fatal(got)
	}
	list := f.do("GET", "/api/v2/venues?filter[search]=RED", f.keyA, nil).expect(t, 200).json(t)
	if d := list["data"].([]any); len(d) != 1 || d[0].(map[string]any)["name"] != "Red Hall" {
		t.Fatalf("search: %v", list)
	}
	m := f.do("POST", "/api/v2/venues", f.keyA, `{"venue": {"name": "", "time_zone": "Mars/Olympus"}}`).expectProblem(t, 422, "validation_error")
	if !contains422(m, "name") || !contains422(m, "time_zone") {
		t.Fatal(m)
	}
	f.do("GET", "/api/v2/venues/999", f.keyA, nil).expectProblem(t, 404, "not_found")
	f.do("GET", fmt.Sprintf("/api/v2/venues/%d", num(v, "id")), f.keyB, nil).expectProblem(t, 404, "not_found")
}

func TestTicketTypes(t *testing.T) {
	t.Parallel()
	f := setup(t)
	tt := f.do("POST", "/api/v2/ticket_types", f.keyA, `{"ticket_type": {"name": "General admission"}}`).expect(t, 201).json(t)
	if tt["kind"] != "admission" {
		t.Fatalf("default kind: %v", tt)
	}
	f.do("POST", "/api/v2/ticket_types", f.keyA, `{"ticket_type": {"name": "Box", "kind": "seated"}}`).expect(t, 201)
	got := f.do("GET", fmt.Sprintf("/api/v2/ticket_types/%d", num(tt, "id")), f.keyA, nil).expect(t, 200).json(t)
	if got["name"] != "General admission" {
		t.Fatal(got)
	}
	list := f.do("GET", "/api/v2/ticket_types?filter[search]=box", f.keyA, nil).expect(t, 200).json(t)
	if len(list["data"].([]any)) != 1 {
		t.Fatal(list)
	}
	f.do("POST", "/api/v2/ticket_types", f.keyA, `{"ticket_type": {"name": "`+string(repeat('x', 201))+`"}}`).expectProblem(t, 422, "validation_error")
	f.do("POST", "/api/v2/ticket_types", f.keyA, `{"ticket_types": {"name": "x"}}`).expectProblem(t, 400, "parameter_missing")
	f.do("GET", fmt.Sprintf("/api/v2/ticket_types/%d", num(tt, "id")), f.keyB, nil).expectProblem(t, 404, "not_found")
}
