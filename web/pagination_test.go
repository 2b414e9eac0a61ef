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
	f.do("GET", "/api/v2/venues?page[size]=100", f.keyA, nil).expect(t, 200)
	f.do("GET", "/api/v2/venues?page[size]=101", f.keyA, nil).expectProblem(t, 422, "validation_error")
	f.do("GET", "/api/v2/venues?page[size]=x", f.keyA, nil).expectProblem(t, 422, "validation_error")
	f.do("GET", "/api/v2/venues?page[number]=2", f.keyA, nil).expectProblem(t, 400, "unpermitted_parameters")
	// A cursor of another list is refused.
	f.do("GET", "/api/v2/ticket_types?page[cursor]="+page0Cursor(t, f), f.keyA, nil).expectProblem(t, 422, "validation_error")
	// Other query parameters (cache busters) are left alone.
	f.do("GET", "/api/v2/venues?_=123", f.keyA, nil).expect(t, 200)
}

func page0Cursor(t *testing.T, f *fixture) string {
	m := f.do("GET", "/api/v2/venues?page[size]=1", f.keyA, nil).json(t)
	return m["meta"].(map[string]any)["page"].(map[string]any)["next_cursor"].(string)
}
