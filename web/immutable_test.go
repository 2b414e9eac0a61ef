package web

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"eventops/engine"
	"eventops/web/client"
)

// A company created through the dashboard form keeps its name after the
// server has handled thousands of other requests: no value read from the
// request (form, path, query, header, body, cookie) may alias Fiber's
// buffers past the handler (the first release answered "2econd Co", then
// "/econd Co" for "Second Co").
func TestFormValuesOutliveTheirRequest(t *testing.T) {
	t.Parallel()
	f := setup(t)
	admin := f.signInStaff("admin@example.com", engine.RoleAdmin)
	// One keep-alive connection: fasthttp serves it with one request
	// context, so every request below reuses the buffers of the form.
	conn := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1}}
	t.Cleanup(conn.CloseIdleConnections)
	send := func(method, path, form string, headers ...string) {
		t.Helper()
		var body io.Reader
		if form != "" {
			body = strings.NewReader(form)
		}
		req, err := http.NewRequest(method, admin.base+path, body)
		if err != nil {
			t.Fatal(err)
		}
		if form != "" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		req.Header.Set("Cookie", admin.cookieHeader())
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		res, err := conn.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	tok := admin.token("/companies")
	const name = "Second Co"
	send("POST", "/companies", url.Values{"_csrf": {tok}, "name": {name}, "shop": {"none"}}.Encode())

	var co *engine.Company
	cs, err := f.eng.Companies()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.Name == name {
			co = c
		}
	}
	if co == nil {
		t.Fatalf("no company named %q after the form", name)
	}
	_, key, err := f.eng.CreateAPIKey(context.Background(), co.ID, "reader", []engine.Scope{engine.ScopeRead})
	if err != nil {
		t.Fatal(err)
	}

	// Other requests of every kind, whose bytes land where the form's were:
	// forms, paths, queries, headers and JSON bodies.
	for i := range 3000 {
		filler := fmt.Sprintf("%d/%s", i, strings.Repeat("x", i%40))
		switch i % 4 {
		case 0:
			send("POST", "/companies", url.Values{"_csrf": {tok}, "name": {filler}, "shop": {"bogus"}}.Encode())
		case 1:
			send("GET", "/operations?status="+url.QueryEscape(filler), "")
		case 2:
			send("GET", "/events/"+url.PathEscape(filler), "", "X-Request-Id", filler)
		case 3:
			send("POST", "/api/v2/venues", `{"venue": {"name": "`+filler+`"}}`, "Authorization", "Token "+filler)
		}
	}

	if got, err := f.eng.Company(co.ID); err != nil || got.Name != name {
		t.Fatalf("store: company %d is %+v (%v), want name %q", co.ID, got, err, name)
	}
	api, err := client.New(admin.base, key.Reveal())
	if err != nil {
		t.Fatal(err)
	}
	got, err := api.Company(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != name {
		t.Fatalf("API: company name %q, want %q", got.Name, name)
	}
	if status, page := admin.do("GET", "/companies", nil); status != http.StatusOK || !strings.Contains(page, "<td>"+name+" <span") {
		t.Fatalf("GET /companies: status %d, no row for %q\n%s", status, name, page)
	}
}
