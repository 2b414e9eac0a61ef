package sandbox

// The app's side of Shopify's OAuth, as the sandbox emulates it: one app
// identity (a client id and secret) for the whole sandbox; the token
// endpoint /admin/oauth/access_token for the client credentials,
// authorization code and refresh token grants; /admin/oauth/authorize,
// which approves at once (or denies, by a control rule); access tokens
// that expire (Options.TokenTTL) and answer 401 once expired; refresh
// tokens that rotate, the previous one staying valid until its replacement
// is first used; the scopes granted, which a control rule can narrow.

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Token lifetimes Shopify answers with: a client credentials token lasts
// about a day, an expiring offline token an hour, its refresh token about
// 90 days. Options.TokenTTL replaces the first two.
const (
	DefaultClientCredentialsTTL = 86399 * time.Second
	DefaultOfflineTokenTTL      = time.Hour
	DefaultRefreshTokenTTL      = 90 * 24 * time.Hour
	codeTTL                     = 10 * time.Minute
)

// DefaultScopes are the scopes the sandbox grants an app that does not
// name any (a client credentials token, a legacy token): those a Dev
// Dashboard app of eventops would be configured with.
var DefaultScopes = []string{
	"write_products", "read_products", "write_inventory", "read_inventory", "read_locations",
	"write_fulfillments", "read_fulfillments", "write_publications", "read_publications",
	"write_orders", "read_orders", "read_all_orders",
	"write_assigned_fulfillment_orders", "read_assigned_fulfillment_orders",
	"write_merchant_managed_fulfillment_orders", "read_merchant_managed_fulfillment_orders",
	"write_third_party_fulfillment_orders", "read_third_party_fulfillment_orders",
}

// App is the sandbox's one app identity.
type App struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

// shopAuth is a shop's record of the app's grants (in the shop's meta).
type shopAuth struct {
	// Tokens maps each access token issued by a grant to its expiry
	// (zero: a non-expiring offline token).
	Tokens  map[string]time.Time   `json:"tokens,omitempty"`
	Refresh map[string]*refreshRec `json:"refresh,omitempty"`
	Codes   map[string]time.Time   `json:"codes,omitempty"` // unused code → expiry
	// Scopes are those the merchant approved at the last authorize (nil:
	// DefaultScopes); Withheld are removed from every grant (control).
	Scopes   []string `json:"scopes,omitempty"`
	Withheld []string `json:"withheld,omitempty"`
	// DenyInstall makes authorize decline (control).
	DenyInstall bool `json:"deny_install,omitempty"`
	// AppSigned: the app identity holds the shop's current grant, so
	// webhooks are signed with its client secret, not the legacy API
	// secret (RotateToken, a legacy reinstall, clears it).
	AppSigned bool `json:"app_signed,omitempty"`
	// Grants counts the token requests answered, by grant type.
	Grants map[string]int `json:"grants,omitempty"`
}

type refreshRec struct {
	Expires time.Time `json:"expires"`
	// Prev is the refresh token this one replaced: valid until this one is
	// first used.
	Prev string `json:"prev,omitempty"`
}

func (st *shopState) auth() *shopAuth {
	if st.Meta.Auth == nil {
		st.Meta.Auth = &shopAuth{}
	}
	a := st.Meta.Auth
	if a.Tokens == nil {
		a.Tokens = map[string]time.Time{}
	}
	if a.Refresh == nil {
		a.Refresh = map[string]*refreshRec{}
	}
	if a.Codes == nil {
		a.Codes = map[string]time.Time{}
	}
	if a.Grants == nil {
		a.Grants = map[string]int{}
	}
	return a
}

// grantedScopes are the scopes the app holds on the shop now.
func (st *shopState) grantedScopes() []string {
	base := DefaultScopes
	var withheld []string
	if a := st.Meta.Auth; a != nil {
		if a.Scopes != nil {
			base = a.Scopes
		}
		withheld = a.Withheld
	}
	if st.Meta.NoAllOrders {
		withheld = append(withheld[:len(withheld):len(withheld)], "read_all_orders")
	}
	var out []string
	for _, s := range base {
		if !containsStr(withheld, s) {
			out = append(out, s)
		}
	}
	return out
}

func containsStr(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// tokenValid reports whether token opens the shop's API now; sh.mu held.
func (st *shopState) tokenValid(token string, now time.Time) bool {
	if st.Meta.Revoked || token == "" {
		return false
	}
	if subtle.ConstantTimeCompare([]byte(token), []byte(st.Meta.Token)) == 1 {
		return true
	}
	if a := st.Meta.Auth; a != nil {
		if exp, ok := a.Tokens[token]; ok {
			return exp.IsZero() || now.Before(exp)
		}
	}
	return false
}

// webhookSecret signs the shop's webhooks: the app's client secret when a
// grant of the app holds the shop, else the legacy API secret.
func (s *Sandbox) webhookSecret(st *shopState) string {
	if a := st.Meta.Auth; a != nil && a.AppSigned {
		return s.app.ClientSecret
	}
	return st.Meta.Secret
}

// App returns the sandbox's app identity.
func (s *Sandbox) App() App { return s.app }

// loadApp reads the app identity from the file, or draws one and keeps it.
func (st *store) loadApp() (App, error) {
	var app App
	err := st.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMeta)
		if raw := b.Get([]byte("app")); raw != nil {
			return json.Unmarshal(raw, &app)
		}
		app = newApp()
		raw, err := json.Marshal(app)
		if err != nil {
			return err
		}
		return b.Put([]byte("app"), raw)
	})
	return app, err
}

func newApp() App { return App{ClientID: randomHex(16), ClientSecret: "shpss_" + randomHex(16)} }

// oauthError is an OAuth 2.0 error answer (RFC 6749 §5.2).
func oauthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// serveAccessToken is POST /{shop}/admin/oauth/access_token.
func (s *Sandbox) serveAccessToken(w http.ResponseWriter, r *http.Request) {
	sh, err := s.shop(r.PathValue("shop"))
	if err != nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"errors": "Not Found"})
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "the body is not a form")
		return
	}
	form := r.PostForm
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var body map[string]any
		if err := readBody(r, &body); err != nil {
			oauthError(w, http.StatusBadRequest, "invalid_request", "the body is not JSON")
			return
		}
		form = url.Values{}
		for k, v := range body {
			form.Set(k, fmt.Sprint(v))
		}
	}
	if subtle.ConstantTimeCompare([]byte(form.Get("client_id")), []byte(s.app.ClientID)) != 1 ||
		subtle.ConstantTimeCompare([]byte(form.Get("client_secret")), []byte(s.app.ClientSecret)) != 1 {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "Client authentication failed: unknown client_id or wrong client_secret")
		return
	}
	grant := form.Get("grant_type")
	if grant == "" && form.Get("code") != "" {
		grant = "authorization_code"
	}
	now := s.now().UTC()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	st := sh.st
	if st.Meta.Revoked && grant != "authorization_code" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "the app is not installed on this shop")
		return
	}
	a := st.auth()
	a.prune(now)
	ans := map[string]any{}
	switch grant {
	case "client_credentials":
		a.Scopes = nil
		ans["access_token"], ans["expires_in"] = a.issue(now, s.ttl(DefaultClientCredentialsTTL))
	case "authorization_code":
		code := form.Get("code")
		exp, ok := a.Codes[code]
		if !ok || !now.Before(exp) {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "the authorization code is unknown, expired or already used")
			return
		}
		delete(a.Codes, code)
		st.Meta.Revoked = false
		if form.Get("expiring") == "1" {
			ans["access_token"], ans["expires_in"] = a.issue(now, s.ttl(DefaultOfflineTokenTTL))
			ans["refresh_token"], ans["refresh_token_expires_in"] = a.issueRefresh(now, "")
		} else {
			tok, _ := a.issue(now, 0)
			ans["access_token"] = tok
		}
	case "refresh_token":
		old := form.Get("refresh_token")
		rec, ok := a.Refresh[old]
		if !ok || !now.Before(rec.Expires) {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "the refresh token is unknown, expired or replaced")
			return
		}
		if rec.Prev != "" {
			// The replacement is in use: the token it replaced is spent.
			delete(a.Refresh, rec.Prev)
			rec.Prev = ""
		}
		ans["access_token"], ans["expires_in"] = a.issue(now, s.ttl(DefaultOfflineTokenTTL))
		ans["refresh_token"], ans["refresh_token_expires_in"] = a.issueRefresh(now, old)
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be client_credentials, authorization_code or refresh_token")
		return
	}
	a.AppSigned = true
	a.Grants[grant]++
	ans["scope"] = strings.Join(st.grantedScopes(), ",")
	st.mark(keyMeta)
	if err := s.commit(sh); err != nil {
		oauthError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the shop could not record the grant")
		return
	}
	writeJSON(w, http.StatusOK, ans)
}

func (s *Sandbox) ttl(def time.Duration) time.Duration {
	if s.opts.TokenTTL > 0 {
		return s.opts.TokenTTL
	}
	return def
}

// issue makes an access token living ttl (0: forever); it answers the
// token and its expires_in in seconds.
func (a *shopAuth) issue(now time.Time, ttl time.Duration) (string, int64) {
	tok := "shpat_" + randomHex(16)
	if ttl <= 0 {
		a.Tokens[tok] = time.Time{}
		return tok, 0
	}
	a.Tokens[tok] = now.Add(ttl)
	return tok, int64((ttl + time.Second - 1) / time.Second)
}

func (a *shopAuth) issueRefresh(now time.Time, prev string) (string, int64) {
	tok := "shprt_" + randomHex(16)
	a.Refresh[tok] = &refreshRec{Expires: now.Add(DefaultRefreshTokenTTL), Prev: prev}
	return tok, int64(DefaultRefreshTokenTTL / time.Second)
}

// prune forgets expired access tokens, refresh tokens and codes.
func (a *shopAuth) prune(now time.Time) {
	for t, exp := range a.Tokens {
		if !exp.IsZero() && now.After(exp.Add(time.Hour)) {
			delete(a.Tokens, t)
		}
	}
	for t, r := range a.Refresh {
		if now.After(r.Expires) {
			delete(a.Refresh, t)
		}
	}
	for c, exp := range a.Codes {
		if now.After(exp) {
			delete(a.Codes, c)
		}
	}
}

// serveAuthorize is GET /{shop}/admin/oauth/authorize: the merchant
// approves at once (or declines, by the deny_install rule), and the browser
// goes back to redirect_uri with code, hmac, shop, state and timestamp.
func (s *Sandbox) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	sh, err := s.shop(r.PathValue("shop"))
	if err != nil {
		http.Error(w, "There is no shop of this name", http.StatusNotFound)
		return
	}
	q := r.URL.Query()
	if q.Get("client_id") != s.app.ClientID {
		http.Error(w, "Oauth error invalid_request: The client_id is not valid for this shop", http.StatusBadRequest)
		return
	}
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || redirect.Host == "" || (redirect.Scheme != "https" && redirect.Scheme != "http") {
		http.Error(w, "Oauth error invalid_request: The redirect_uri is missing or not a URL", http.StatusBadRequest)
		return
	}
	now := s.now().UTC()
	sh.mu.Lock()
	st := sh.st
	a := st.auth()
	back := url.Values{}
	back.Set("shop", st.domain())
	back.Set("state", q.Get("state"))
	back.Set("timestamp", strconv.FormatInt(now.Unix(), 10))
	if a.DenyInstall {
		sh.mu.Unlock()
		back.Set("error", "access_denied")
		back.Set("error_description", "The merchant declined the installation")
	} else {
		code := randomHex(16)
		a.prune(now)
		a.Codes[code] = now.Add(codeTTL)
		if sc := strings.TrimSpace(q.Get("scope")); sc != "" {
			a.Scopes = splitScopes(sc)
		}
		st.mark(keyMeta)
		err := s.commit(sh)
		sh.mu.Unlock()
		if err != nil {
			http.Error(w, "the shop could not record the installation", http.StatusServiceUnavailable)
			return
		}
		back.Set("code", code)
	}
	back.Set("hmac", SignQuery(back, s.app.ClientSecret))
	redirect.RawQuery = back.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

// SignQuery is Shopify's query HMAC: hex HMAC-SHA256, with the client
// secret, of the parameters other than hmac and signature, sorted by name,
// joined as name=value with &.
func SignQuery(q url.Values, secret string) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		if k != "hmac" && k != "signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+strings.Join(q[k], ","))
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strings.Join(parts, "&")))
	return hex.EncodeToString(mac.Sum(nil))
}

func splitScopes(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" && !containsStr(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// Credentials of a shop for every kind of connection, as the control route
// GET /{shop}/credentials answers them.
type AppCredentials struct {
	AdminURL     string `json:"admin_url"`
	AccessToken  string `json:"access_token"`
	APISecret    string `json:"api_secret"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

func (s *Sandbox) serveCredentials(w http.ResponseWriter, r *http.Request) {
	c, err := s.Credentials(r.PathValue("shop"))
	if err != nil {
		fail(w, err)
		return
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	writeJSON(w, http.StatusOK, AppCredentials{
		AdminURL:    scheme + "://" + r.Host + Prefix + c.Name,
		AccessToken: c.AccessToken, APISecret: c.WebhookSecret,
		ClientID: s.app.ClientID, ClientSecret: s.app.ClientSecret,
	})
}

// ExpireTokens ends every access token the app's grants issued for the
// shop (refresh tokens stay valid): the next call with one answers 401.
// It returns how many were live.
func (s *Sandbox) ExpireTokens(shopName string) (int, error) {
	n := 0
	err := s.act(shopName, func(x *execCtx) error {
		a := x.st.auth()
		for t, exp := range a.Tokens {
			if exp.IsZero() || x.now.Before(exp) {
				n++
			}
			a.Tokens[t] = x.now.Add(-time.Second)
		}
		x.st.mark(keyMeta)
		return nil
	})
	return n, err
}

// ExpireRefreshTokens ends every refresh token of a shop's app at once, as
// their 90 days running out would: the next refresh is refused with
// invalid_grant, and only a new install gets the app tokens again.
func (s *Sandbox) ExpireRefreshTokens(shopName string) error {
	return s.act(shopName, func(x *execCtx) error {
		a := x.st.auth()
		for _, r := range a.Refresh {
			r.Expires = x.now.Add(-time.Second)
		}
		x.st.mark(keyMeta)
		return nil
	})
}

func (s *Sandbox) serveExpireTokens(w http.ResponseWriter, r *http.Request) {
	n, err := s.ExpireTokens(r.PathValue("shop"))
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"expired": n})
}

// AppRules are the control rules of the app's installation on a shop.
type AppRules struct {
	// WithholdScopes are scopes the merchant did not grant.
	WithholdScopes []string `json:"withhold_scopes"`
	// DenyInstall makes /admin/oauth/authorize decline.
	DenyInstall bool `json:"deny_install"`
}

// SetAppRules replaces a shop's app rules.
func (s *Sandbox) SetAppRules(shopName string, rules AppRules) error {
	return s.act(shopName, func(x *execCtx) error {
		a := x.st.auth()
		a.Withheld = append([]string(nil), rules.WithholdScopes...)
		a.DenyInstall = rules.DenyInstall
		x.st.mark(keyMeta)
		return nil
	})
}

func (s *Sandbox) serveAppRules(w http.ResponseWriter, r *http.Request) {
	var rules AppRules
	if err := readBody(r, &rules); err != nil {
		fail(w, err)
		return
	}
	if err := s.SetAppRules(r.PathValue("shop"), rules); err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rules)
}

// TokenGrants counts the token requests the shop answered, by grant type
// (client_credentials, authorization_code, refresh_token).
func (s *Sandbox) TokenGrants(shopName string) (map[string]int, error) {
	sh, err := s.shop(shopName)
	if err != nil {
		return nil, err
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	out := map[string]int{}
	if a := sh.st.Meta.Auth; a != nil {
		for k, v := range a.Grants {
			out[k] = v
		}
	}
	return out, nil
}
