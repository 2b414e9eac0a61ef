package web

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"eventops/engine"
)

// The document is OpenAPI 3.1: kin-openapi (v0.153) loads 3.1 documents and
// validates their schemas with a JSON Schema 2020-12 validator, so nullable
// values are written as type arrays ("type": ["string", "null"]) and
// oneOf-with-null, as 3.1 has it, rather than 3.0's `nullable`.

type openAPIChecker struct {
	doc    *openapi3.T
	router routers.Router

	mu      sync.Mutex
	covered map[string]bool // "METHOD /path status"
}

var loadOpenAPI = sync.OnceValues(func() (*openAPIChecker, error) {
	ctx := context.Background()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openAPIDocument)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	if err := doc.Validate(ctx); err != nil {
		return nil, fmt.Errorf("validate document: %w", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	return &openAPIChecker{doc: doc, router: router, covered: map[string]bool{}}, nil
})

// checkOpenAPI validates an answer against the document: every answer of
// every test goes through it (see fixture.do), so the document stays true.
// Requests to paths the document does not have (404 tests) are skipped.
func checkOpenAPI(t testing.TB, r *resp) {
	t.Helper()
	chk, err := loadOpenAPI()
	if err != nil {
		t.Fatalf("openapi: %v", err)
	}
	req := r.req.Clone(context.Background())
	route, params, err := chk.router.FindRoute(req)
	if err != nil {
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		},
		Status: r.Status,
		Header: r.Header,
		Options: &openapi3filter.Options{
			IncludeResponseStatus: true,
			MultiError:            true,
		},
	}
	in.SetBodyBytes(r.Body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		t.Fatalf("%s %s → %d does not match openapi.json: %v\n%s", r.req.Method, r.req.URL, r.Status, err, r.Body)
	}
	if r.Status == http.StatusNotModified && route.Operation.Responses.Status(r.Status) == nil {
		t.Fatalf("%s %s → 304 is not documented", r.req.Method, r.req.URL)
	}
	chk.mu.Lock()
	chk.covered[fmt.Sprintf("%s %s %s %d", t.Name(), route.Method, route.Path, r.Status)] = true
	chk.mu.Unlock()
}

// call is a request of a table and the status its answer must have.
type call struct {
	method, path, key, body string // body "" sends none
	status                  int
}

// calls sends the requests in order (a row may depend on the rows before)
// and checks each status; every answer is validated by checkOpenAPI.
func (f *fixture) calls(t testing.TB, cs []call) {
	t.Helper()
	for _, c := range cs {
		var body any
		if c.body != "" {
			body = c.body
		}
		f.do(c.method, c.path, c.key, body).expect(t, c.status)
	}
}

// TestOpenAPI runs requests against every route of the document, happy and
// error paths, each validated by checkOpenAPI, and fails for a route (or a
// documented status of the main answers) left unexercised.
func TestOpenAPI(t *testing.T) {
	t.Parallel()
	f := setup(t, withConfig(func(c *Config) { c.RateLimit = 1000 }))
	hook := `{"webhook_endpoint": {"url": "https://hooks.example/in", "events": ["order.created"], "description": "crm"}}`
	f.do("POST", "/api/v2/webhook_endpoints", f.keyA, hook).expect(t, 201)
	a := f.event(f.keyA)
	f.waitTerminal(a.EventID, a.OpID)
	ev := fmt.Sprint(a.EventID)
	rt := fmt.Sprint(a.Event.RegistrationTypes[0].ID)

	evPath, ordersPath := "/api/v2/events/"+ev, "/api/v2/events/"+ev+"/orders"
	order := func(rt string, quantity int) string {
		return fmt.Sprintf(`{"order": {"registration_type_id": %s, "quantity": %d}}`, rt, quantity)
	}
	f.calls(t, []call{
		{"GET", "/api/v2/openapi.json", "", "", 200},
		{"GET", "/api/v2/", f.keyA, "", 200},
		{"GET", "/api/v2/", "", "", 401},
		{"GET", "/api/v2/", f.keyWO, "", 403},

		{"GET", "/api/v2/venues?filter[search]=blue", f.keyA, "", 200},
		{"GET", "/api/v2/venues?page[size]=0", f.keyA, "", 422},
		{"GET", "/api/v2/venues?filter[nope]=1", f.keyA, "", 400},
		{"GET", "/api/v2/venues/" + fmt.Sprint(a.Event.VenueID), f.keyA, "", 200},
		{"GET", "/api/v2/venues/999", f.keyA, "", 404},
		{"POST", "/api/v2/venues", f.keyA, `{"venue": {"name": "", "time_zone": "Mars/Base"}}`, 422},
		{"POST", "/api/v2/venues", f.keyA, `{"venue": {"name": "X", "time_zone": "UTC", "colour": 1}}`, 400},
		{"POST", "/api/v2/venues", f.keyRO, `{"venue": {"name": "X", "time_zone": "UTC"}}`, 403},

		{"GET", "/api/v2/ticket_types", f.keyA, "", 200},
		{"GET", "/api/v2/ticket_types?page[cursor]=zzz", f.keyA, "", 422},
		{"GET", "/api/v2/ticket_types?sort[x]=asc", f.keyA, "", 400},
		{"GET", "/api/v2/ticket_types/1", f.keyA, "", 200},
		{"GET", "/api/v2/ticket_types/1", f.keyB, "", 404},
		{"POST", "/api/v2/ticket_types", f.keyA, `{"ticket_type": {"name": "Balcony", "kind": "seated"}}`, 201},
		{"POST", "/api/v2/ticket_types", f.keyA, `{"ticket_type": {"name": " "}}`, 422},
		{"POST", "/api/v2/ticket_types", f.keyA, `{}`, 400},

		{"GET", "/api/v2/events?sort[name]=desc&filter[status]=future", f.keyA, "", 200},
		{"GET", "/api/v2/events?filter[status]=soon", f.keyA, "", 422},
		{"GET", "/api/v2/events?filter[colour]=red", f.keyA, "", 400},
		{"GET", evPath, f.keyA, "", 200},
		{"GET", evPath, f.keyB, "", 404},
		{"POST", "/api/v2/events", f.keyA, `{"event": {"name": ""}}`, 422},
		{"POST", "/api/v2/events", f.keyA, `{"event": {`, 400},
		{"PATCH", evPath, f.keyA, `{"event": {"name": "Jazz Night II"}}`, 200},
		{"PATCH", evPath, f.keyA, `{"event": {"capacity": -1}}`, 422},
		{"PATCH", evPath, f.keyB, `{"event": {"name": "x"}}`, 404},

		{"POST", ordersPath, f.keyA, order(rt, 2), 201},
		{"POST", ordersPath, f.keyA, order(rt, 0), 422},
		{"POST", ordersPath, f.keyB, order("1", 1), 404},
		{"GET", ordersPath, f.keyA, "", 200},
		{"GET", ordersPath, f.keyB, "", 404},
		{"GET", ordersPath + "?page[cursor]=x", f.keyA, "", 422},
		{"DELETE", evPath, f.keyA, "", 409}, // paid orders
	})
	f.do("POST", "/api/v2/venues", f.keyA, "name=x", hdr{"Content-Type", "text/plain"}).expect(t, 415)
	f.net().do("POST", "/api/v2/venues", f.keyA, `{"venue": {"name": "`+strings.Repeat("x", BodyLimit)+`"}}`).expect(t, 413)

	refund := f.do("POST", evPath+"/refund", f.keyA, nil).expect(t, 202)
	f.do("POST", evPath+"/refund", f.keyB, nil).expect(t, 404)
	refundOp := opHeader(t, refund)
	f.waitTerminal(a.EventID, refundOp)

	op, syncJob := opPath(a.EventID, a.OpID), fmt.Sprintf("/api/v2/events/%s/sync_jobs/%d", ev, a.OpID)
	f.calls(t, []call{
		{"GET", evPath + "/operations", f.keyA, "", 200},
		{"GET", evPath + "/operations?filter[action]=paint", f.keyA, "", 422},
		{"GET", evPath + "/operations?page[bogus]=1", f.keyA, "", 400},
		{"GET", evPath + "/operations", f.keyB, "", 404},
		{"GET", op + "?wait=-1", f.keyA, "", 422},
		{"GET", opPath(a.EventID+1000, a.OpID), f.keyA, "", 404},
		{"POST", op + "/cancel", f.keyA, "", 409},
		{"POST", op + "/cancel", f.keyB, "", 404},
		{"POST", op + "/retry", f.keyA, "", 409},
		{"POST", op + "/retry", f.keyB, "", 404},
		{"GET", "/api/v2/operations?filter[status]=completed&filter[event_id]=" + ev, f.keyA, "", 200},
		{"GET", "/api/v2/operations?filter[code]=lower", f.keyA, "", 422},
		{"GET", "/api/v2/operations?filter[x]=1", f.keyA, "", 400},

		{"GET", evPath + "/sync_jobs", f.keyA, "", 200},
		{"GET", evPath + "/sync_jobs", f.keyB, "", 404},
		{"GET", evPath + "/sync_jobs?filter[x]=1", f.keyA, "", 400},
		{"GET", evPath + "/sync_jobs?filter[status]=x", f.keyA, "", 422},
		{"GET", syncJob, f.keyA, "", 200},
		{"GET", syncJob, f.keyB, "", 404},
		{"GET", syncJob + "?wait=x", f.keyA, "", 422},
	})
	f.calls(t, []call{
		{"GET", "/api/v2/webhook_endpoints", f.keyA, "", 200},
		{"GET", "/api/v2/webhook_endpoints?page[size]=0", f.keyA, "", 422},
		{"POST", "/api/v2/webhook_endpoints", f.keyA, `{"webhook_endpoint": {"url": "ftp://x", "events": ["nope"]}}`, 422},
		{"POST", "/api/v2/webhook_endpoints", f.keyRO, hook, 403},
		{"GET", "/api/v2/webhook_endpoints/1", f.keyA, "", 200},
		{"GET", "/api/v2/webhook_endpoints/1", f.keyB, "", 404},
		{"PATCH", "/api/v2/webhook_endpoints/1", f.keyA, `{"webhook_endpoint": {"phases": ["tickets"], "events": ["order.created", "operation.phase_completed"]}}`, 200},
		{"PATCH", "/api/v2/webhook_endpoints/1", f.keyA, `{"webhook_endpoint": {"secret": "x"}}`, 400},
		{"POST", "/api/v2/webhook_endpoints/1/rotate_secret", f.keyA, "", 200},
		{"POST", "/api/v2/webhook_endpoints/1/rotate_secret", f.keyB, "", 404},
		{"GET", "/api/v2/webhook_endpoints/1/deliveries", f.keyA, "", 200},
		{"GET", "/api/v2/webhook_endpoints/1/deliveries", f.keyB, "", 404},
		{"POST", "/api/v2/webhook_endpoints/1/deliveries/1/retry", f.keyA, "", 202},
		{"POST", "/api/v2/webhook_endpoints/1/deliveries/999/retry", f.keyA, "", 404},
		{"GET", "/api/v2/webhook_deliveries", f.keyA, "", 200},
		{"GET", "/api/v2/webhook_deliveries?wait=x", f.keyA, "", 422},
		{"POST", "/api/v2/webhook_endpoints", f.keyA, hook, 201},
		{"DELETE", "/api/v2/webhook_endpoints/2", f.keyA, "", 204},
		{"DELETE", "/api/v2/webhook_endpoints/2", f.keyA, "", 404},
	})
	one := f.do("GET", op, f.keyA, nil).expect(t, 200)
	f.do("GET", op, f.keyA, nil, hdr{"If-None-Match", one.Header.Get("ETag")}).expect(t, 304)

	del := f.do("DELETE", evPath, f.keyA, nil).expect(t, 202)
	f.waitTerminal(a.EventID, opHeader(t, del))
	f.calls(t, []call{
		{"DELETE", evPath, f.keyA, "", 404},
		{"POST", evPath + "/refund", f.keyA, "", 404},
	})

	// A failed operation, retried.
	ff := setup(t, withWork("tickets", failing{}))
	b := ff.event(ff.keyA)
	ff.waitTerminal(b.EventID, b.OpID)
	ff.do("POST", opPath(b.EventID, b.OpID)+"/retry", ff.keyA, nil).expect(t, 202)
	ff.do("POST", opPath(b.EventID, b.OpID)+"/retry", ff.keyA, `{"x": 1}`, hdr{"Content-Type", "text/csv"}).expect(t, 415)
	// In bulk, by filter.
	ff.do("POST", "/api/v2/operations/retry?filter[status]=failed&filter[created_at][from]=2020-01-01T00:00:00Z", ff.keyA, nil).expect(t, 202)
	ff.do("POST", "/api/v2/operations/retry?filter[status]=completed", ff.keyA, nil).expect(t, 422)
	ff.do("POST", "/api/v2/operations/cancel?filter[status]=failed", ff.keyA, nil).expect(t, 422)
	ff.do("POST", "/api/v2/operations/retry?page[size]=2", ff.keyA, nil).expect(t, 400)
	ff.do("GET", "/api/v2/operations?filter[created_at][to]=2020-01-01T00:00:00Z", ff.keyA, nil).expect(t, 200)

	// A running operation, cancelled.
	held := newGate(engine.TicketsWork{})
	h := setup(t, withWork("tickets", held))
	t.Cleanup(held.open)
	c := h.event(h.keyA)
	waitStarted(t, held)
	h.do("POST", opPath(c.EventID, c.OpID)+"/cancel", h.keyA, nil).expect(t, 202)
	h.do("POST", "/api/v2/operations/cancel?filter[action]=save", h.keyA, nil).expect(t, 202)

	// Gone, and too many requests.
	g := setup(t, withConfig(func(c *Config) { c.EnforceSunset = true; c.RateLimit = 3 }))
	g.do("GET", "/api/v2/events/1/sync_jobs", g.keyA, nil).expect(t, 410)
	g.do("GET", "/api/v2/events/1/sync_jobs/1", g.keyA, nil).expect(t, 410)
	g.do("GET", "/api/v2/venues", g.keyA, nil).expect(t, 200)
	for _, path := range []string{"/api/v2/", "/api/v2/venues", "/api/v2/venues/1", "/api/v2/ticket_types", "/api/v2/ticket_types/1",
		"/api/v2/events", "/api/v2/events/1", "/api/v2/events/1/orders", "/api/v2/events/1/operations",
		"/api/v2/events/1/operations/1", "/api/v2/operations", "/api/v2/events/1/sync_jobs", "/api/v2/events/1/sync_jobs/1"} {
		g.do("GET", path, g.keyA, nil).expect(t, 429)
	}
	for _, w := range []struct{ method, path string }{{"POST", "/api/v2/venues"}, {"POST", "/api/v2/ticket_types"},
		{"POST", "/api/v2/events"}, {"PATCH", "/api/v2/events/1"}, {"DELETE", "/api/v2/events/1"},
		{"POST", "/api/v2/events/1/refund"}, {"POST", "/api/v2/events/1/orders"},
		{"POST", "/api/v2/events/1/operations/1/cancel"}, {"POST", "/api/v2/events/1/operations/1/retry"},
		{"POST", "/api/v2/operations/retry"}, {"POST", "/api/v2/operations/cancel"}} {
		g.do(w.method, w.path, g.keyA, nil).expect(t, 429)
		f.do(w.method, w.path, "", nil).expect(t, 401)
		f.do(w.method, w.path, f.keyRO, nil).expect(t, 403)
		f.do(w.method, w.path, f.keyA, "<x/>", hdr{"Content-Type", "application/xml"}).expect(t, 415)
	}
	for _, w := range []struct{ method, path string }{{"POST", "/api/v2/venues"}, {"POST", "/api/v2/ticket_types"},
		{"POST", "/api/v2/events"}, {"PATCH", "/api/v2/events/" + ev}, {"POST", "/api/v2/events/" + ev + "/orders"}} {
		f.do(w.method, w.path, f.keyA, `{"x":`).expect(t, 400)
	}

	// Every route of the document was exercised, with its main answers.
	chk, _ := loadOpenAPI()
	chk.mu.Lock()
	defer chk.mu.Unlock()
	var missing []string
	for _, path := range chk.doc.Paths.InMatchingOrder() {
		for method, op := range chk.doc.Paths.Value(path).Operations() {
			failure := false
			for status := range op.Responses.Map() {
				key := fmt.Sprintf("%s %s %s %s", t.Name(), method, path, status)
				switch {
				case status[0] == '2' && !chk.covered[key]:
					missing = append(missing, method+" "+path+" "+status)
				case status[0] == '4' && chk.covered[key]:
					failure = true
				}
			}
			if !failure && path != "/openapi.json" {
				missing = append(missing, method+" "+path+" (no error answer)")
			}
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("documented answers never exercised:\n  %s", strings.Join(missing, "\n  "))
	}
}
