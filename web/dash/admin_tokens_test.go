package dash

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"
)

// An admin revokes an installation admin token from the API keys page
// while the server runs (review finding: only `eventops admintoken revoke`
// could, with the server stopped): the page lists the tokens (prefix,
// name, last use) to admins only, Revoke asks first and changes nothing,
// the confirmed revoke refuses the token from then on and is audited.
func TestDashboardRevokesAnAdminToken(t *testing.T) {
	t.Parallel()
	f := setupDash(t)
	k, token, err := f.eng.CreateAdminToken(context.Background(), "nightly-backup")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.AuthenticateAdminToken(token.Reveal()); err != nil {
		t.Fatal(err)
	}
	f.viewer().get("/keys").expect(t, http.StatusOK).lacks(t, k.Prefix, "nightly-backup")

	admin := f.admin()
	tok := admin.token("/keys")
	admin.get("/keys").expect(t, http.StatusOK).
		contains(t, "Admin tokens", k.Prefix+"…", "nightly-backup", "Revoke admin token nightly-backup").
		lacks(t, token.Reveal())

	revoke := fmt.Sprintf("/admintokens/%d/revoke", k.ID)
	viewer := f.viewer()
	viewer.post(revoke, url.Values{"_csrf": {viewer.token("/keys")}, "confirm": {"1"}}).expect(t, http.StatusForbidden)

	ask := admin.post(revoke, url.Values{"_csrf": {tok}}).expect(t, http.StatusOK)
	ask.contains(t, "Revoke admin token", "nightly-backup", k.Prefix, `name="confirm" value="1"`)
	if _, err := f.eng.AuthenticateAdminToken(token.Reveal()); err != nil {
		t.Fatalf("asking to revoke revoked the token (or a viewer did): %v", err)
	}
	r := admin.post(revoke, url.Values{"_csrf": {tok}, "confirm": {"1"}}).expect(t, http.StatusSeeOther)
	if loc := r.Header.Get("Location"); loc != "/keys" {
		t.Fatalf("revoke redirected to %q", loc)
	}
	if _, err := f.eng.AuthenticateAdminToken(token.Reveal()); err == nil {
		t.Fatal("a revoked admin token still authenticates")
	}
	admin.get("/keys").contains(t, "revoked").lacks(t, "Revoke admin token nightly-backup")
	admin.post(revoke, url.Values{"_csrf": {tok}}).expect(t, http.StatusConflict)
	admin.get("/audit").expect(t, http.StatusOK).contains(t, "admintoken.revoke", fmt.Sprintf("admin token %d", k.ID))
}
