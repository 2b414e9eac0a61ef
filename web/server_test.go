package web

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
)

func TestUnknownRouteIsProblem(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.do("GET", "/api/v2/nothing-here", f.keyA, nil).expectProblem(t, 404, "not_found")
	// Authentication comes first: an unknown path does not reveal itself.
	f.do("GET", "/api/v2/nothing-here", "", nil).expectProblem(t, 401, "unauthorized")
}

func TestPanicIsInternalError(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.srv.App().Get("/boom", func(*fiber.Ctx) error { panic("secret detail") })
	res, err := f.srv.App().Test(httptest.NewRequest("GET", "/boom", nil), -1)
	if err != nil {
		t.Fatal(err)
	}
	r := &resp{Status: res.StatusCode, Header: res.Header, req: httptest.NewRequest("GET", "/boom", nil)}
	r.Body = readAll(t, res)
	m := r.expectProblem(t, 500, "internal_error")
	if m.Detail != "internal error" || m.Message != "internal error" {
		t.Fatalf("internal error leaks detail: %s", r.Body)
	}
}

func TestPayloadTooLarge(t *testing.T) {
	t.Parallel()
	f := setup(t).net()
	big := `{"event": {"name": "` + string(make([]byte, 0)) + string(repeat('x', BodyLimit)) + `"}}`
	f.do("POST", "/api/v2/events", f.keyA, big).expectProblem(t, 413, "payload_too_large")
	// Just under the limit is read (and judged on its content).
	f.do("POST", "/api/v2/venues", f.keyA, `{"venue": {"name": "`+string(repeat('x', 300))+`", "time_zone": "UTC"}}`).
		expectProblem(t, 422, "validation_error")
}

func TestUnsupportedMediaType(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for _, tc := range []struct {
		contentType string
		status      int
		typ         string // the problem's, "" for a 201
	}{
		{"text/plain", 415, "unsupported_media_type"},
		{"application/x-www-form-urlencoded", 415, "unsupported_media_type"},
		// JSON with a charset, or a +json type, is JSON.
		{"application/json; charset=utf-8", 201, ""},
		{"application/vnd.api+json", 201, ""},
	} {
		r := f.do("POST", "/api/v2/venues", f.keyA, `{"venue": {"name": "X", "time_zone": "UTC"}}`, hdr{"Content-Type", tc.contentType})
		if tc.typ == "" {
			r.expect(t, tc.status)
		} else {
			r.expectProblem(t, tc.status, tc.typ)
		}
	}
	// No body where none is needed is fine, whatever the content type.
	c := f.event(f.keyA)
	f.do("DELETE", "/api/v2/events/"+itoa(c.EventID), f.keyA, nil, hdr{"Content-Type", "text/plain"}).expect(t, 202)
}

// A browser's GET of an unknown path gets the dashboard's not-found page;
// the API keeps its problem+json answers.
func TestUnknownPathsNotFound(t *testing.T) {
	t.Parallel()
	f := setup(t)
	r := f.do("GET", "/no/such/page", "", nil).expect(t, 404)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") || !strings.Contains(string(r.Body), "Page not found") {
		t.Fatalf("unknown page: %s %s", ct, r.Body)
	}
	if r.Header.Get("Content-Security-Policy") == "" {
		t.Fatal("the not-found page has no CSP")
	}
	f.do("GET", "/api/v2/no/such/route", f.keyA, nil).expectProblem(t, 404, "not_found")
}
