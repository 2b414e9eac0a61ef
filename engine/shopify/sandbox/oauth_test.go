package sandbox_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"eventops/engine/shopify/sandbox"
)

type tokenAnswer struct {
	AccessToken  string `json:"access_token"`
	Scope        string `json:"scope"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	RefreshIn    int64  `json:"refresh_token_expires_in"`
	Error        string `json:"error"`
}

// The token endpoint: each grant's answer, Shopify's errors, access tokens
// that expire into 401, and refresh tokens that rotate with the previous
// one valid until its replacement is first used.
func TestOAuthTokenEndpoint(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	sb, err := sandbox.New(sandbox.Options{Control: true, Clock: clock, TokenTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sb.Handler())
	t.Cleanup(func() { srv.Close(); sb.Close() })
	if _, err := sb.CreateShop("acme"); err != nil {
		t.Fatal(err)
	}
	app := sb.App()
	base := srv.URL + sandbox.Prefix + "acme"
	grant := func(form url.Values) (int, tokenAnswer) {
		t.Helper()
		form.Set("client_id", app.ClientID)
		if form.Get("client_secret") == "" {
			form.Set("client_secret", app.ClientSecret)
		}
		resp, err := http.PostForm(base+"/admin/oauth/access_token", form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var a tokenAnswer
		_ = json.NewDecoder(resp.Body).Decode(&a)
		return resp.StatusCode, a
	}
	call := func(token string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, base+"/admin/api/2026-10/graphql.json", strings.NewReader(`{"query":"{ shop { name } }"}`))
		req.Header.Set("X-Shopify-Access-Token", token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	if status, a := grant(url.Values{"grant_type": {"client_credentials"}, "client_secret": {"wrong"}}); status != http.StatusUnauthorized || a.Error != "invalid_client" {
		t.Errorf("wrong secret: %d %+v", status, a)
	}
	status, cc := grant(url.Values{"grant_type": {"client_credentials"}})
	if status != 200 || cc.ExpiresIn != 60 || !strings.Contains(cc.Scope, "write_products") || cc.RefreshToken != "" {
		t.Fatalf("client credentials: %d %+v", status, cc)
	}
	if call(cc.AccessToken) != 200 {
		t.Error("a fresh token is refused")
	}
	now = now.Add(61 * time.Second)
	if call(cc.AccessToken) != http.StatusUnauthorized {
		t.Error("an expired token is accepted")
	}

	// Authorization code: once only.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(base + "/admin/oauth/authorize?" + url.Values{"client_id": {app.ClientID}, "scope": {"write_products"},
		"redirect_uri": {"https://app.example/cb"}, "state": {"s"}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	code := loc.Query().Get("code")
	if loc.Query().Get("hmac") != sandbox.SignQuery(loc.Query(), app.ClientSecret) || loc.Query().Get("shop") != "acme.myshopify.com" {
		t.Fatalf("authorize redirect: %s", loc)
	}
	status, r1 := grant(url.Values{"code": {code}, "expiring": {"1"}})
	if status != 200 || r1.RefreshToken == "" || r1.ExpiresIn != 60 || r1.Scope != "write_products" {
		t.Fatalf("code exchange: %d %+v", status, r1)
	}
	if status, a := grant(url.Values{"code": {code}, "expiring": {"1"}}); status != http.StatusBadRequest || a.Error != "invalid_grant" {
		t.Errorf("used code: %d %+v", status, a)
	}

	// Rotation: r1 → r2; r1 again (r2's answer was lost) → r3; r3 used →
	// r1 is spent.
	refresh := func(rt string) (int, tokenAnswer) {
		return grant(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	}
	status, r2 := refresh(r1.RefreshToken)
	if status != 200 || r2.RefreshToken == "" || r2.RefreshToken == r1.RefreshToken {
		t.Fatalf("refresh: %d %+v", status, r2)
	}
	status, r3 := refresh(r1.RefreshToken)
	if status != 200 {
		t.Fatalf("the previous refresh token, before its replacement was used: %d %+v", status, r3)
	}
	if status, _ := refresh(r3.RefreshToken); status != 200 {
		t.Fatalf("refresh with the replacement: %d", status)
	}
	if status, a := refresh(r1.RefreshToken); status != http.StatusBadRequest || a.Error != "invalid_grant" {
		t.Errorf("the replaced refresh token after its replacement was used: %d %+v", status, a)
	}
	now = now.Add(sandbox.DefaultRefreshTokenTTL)
	if status, a := refresh(r2.RefreshToken); status != http.StatusBadRequest || a.Error != "invalid_grant" {
		t.Errorf("an expired refresh token: %d %+v", status, a)
	}
	g, _ := sb.TokenGrants("acme")
	if g["refresh_token"] != 3 || g["client_credentials"] != 1 || g["authorization_code"] != 1 {
		t.Errorf("grants counted: %v", g)
	}
}
