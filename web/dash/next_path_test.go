package dash

import (
	"net/http"
	"net/url"
	"testing"
)

// After sign-in the browser goes back where it was, but never off the
// site: a tab or newline (raw or percent-encoded) that browsers drop from
// a Location, a scheme, a host or a leading "//" sends it to "/" instead.
func TestDashboardSignInNextStaysOnSite(t *testing.T) {
	t.Parallel()
	f := setupDash(t)
	for _, tc := range []struct{ next, want string }{
		{"/operations?status=failed", "/operations?status=failed"},
		{"/operations/12", "/operations/12"},
		{"/\t/evil.com", "/"},
		{"/%09/evil.com", "/"},
		{"/%0a/evil.com", "/"},
		{"/%0D%0A/evil.com", "/"},
		{"/\x00/evil.com", "/"},
		{"/\x7f/evil.com", "/"},
		{"//evil.com", "/"},
		{"/%2F/evil.com", "/"},
		{"/\\evil.com", "/"},
		{"/%5Cevil.com", "/"},
		{"https://evil.com/", "/"},
		{"/%zz", "/"},
	} {
		b := f.browser()
		tok := b.token("/login?next=" + url.QueryEscape(tc.next))
		r := b.post("/login", url.Values{"_csrf": {tok}, "email": {dashAdmin}, "password": {dashPassword}, "next": {tc.next}}).
			expect(t, http.StatusSeeOther)
		if loc := r.Header.Get("Location"); loc != tc.want {
			t.Errorf("next %q: signed in and sent to %q, want %q", tc.next, loc, tc.want)
		}
	}
}
