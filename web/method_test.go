package web

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"eventops/web/client"
	"eventops/web/httperr"
)

// A method that a path does not have is 405 method_not_allowed, with the
// methods it has in Allow; a path that does not exist stays 404.
func TestWrongMethodIs405WithAllow(t *testing.T) {
	t.Parallel()
	f := setup(t)
	c := f.event(f.keyA)
	ev := "/api/v2/events/" + itoa(c.EventID)
	for _, tc := range []struct {
		method, path string
		allow        []string
	}{
		{"PUT", ev, []string{"GET", "HEAD", "PATCH", "DELETE"}},
		{"POST", ev, []string{"GET", "HEAD", "PATCH", "DELETE"}},
		{"DELETE", "/api/v2/venues", []string{"GET", "HEAD", "POST"}},
		{"PATCH", "/api/v2/venues/1", []string{"GET", "HEAD"}},
		{"POST", ev + "/operations", []string{"GET", "HEAD"}},
		{"GET", ev + "/refund", []string{"POST"}},
		{"DELETE", "/api/v2/operations", []string{"GET", "HEAD"}},
		{"POST", "/api/v2", []string{"GET", "HEAD"}},
	} {
		r := f.do(tc.method, tc.path, f.keyA, nil)
		r.expectProblem(t, http.StatusMethodNotAllowed, httperr.TypeMethodNotAllowed)
		got := strings.Split(strings.ReplaceAll(r.Header.Get("Allow"), " ", ""), ",")
		slices.Sort(got)
		want := slices.Clone(tc.allow)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s %s: Allow %q, want %v", tc.method, tc.path, r.Header.Get("Allow"), tc.allow)
		}
	}
	f.do("GET", "/api/v2/nothing", f.keyA, nil).expectProblem(t, http.StatusNotFound, httperr.TypeNotFound)
	f.do("PUT", "/api/v2/nothing/1", f.keyA, nil).expectProblem(t, http.StatusNotFound, httperr.TypeNotFound)
	// Authentication comes first: without a key the answer is 401.
	f.do("PUT", ev, "", nil).expectProblem(t, http.StatusUnauthorized, httperr.TypeUnauthorized)
	// Nothing was changed by the refused methods.
	if got := decode[client.Event](t, f.do("GET", ev, f.keyA, nil).expect(t, http.StatusOK)); got.Name != c.Event.Name {
		t.Fatalf("event after refused methods: %+v", got)
	}
}
