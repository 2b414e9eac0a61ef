package shopify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"eventops/engine"
)

// Connecting a shop with OAuth (the authorization code grant), for the
// dashboard's Connect with Shopify: Begin names the shop's
// /admin/oauth/authorize URL (offline access, expiring tokens) for the
// installation's app; Finish checks the callback (the query's HMAC under
// the app's client secret, a *.myshopify.com shop, no error) and exchanges
// the code for the connection's first tokens. The state that binds the
// callback to the admin's session is the caller's (web/dash stores it with
// the session, so that any node completes the flow).

// ErrNoApp is Begin's error when no app is set (eventops shopify-app set).
var ErrNoApp = errors.New("no Shopify app is set: run eventops shopify-app set --client-id ID first")

// shopDomainRE is a shop's myshopify domain, as Shopify sends it.
var shopDomainRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*\.myshopify\.com$`)

// ValidShopDomain reports whether s is a NAME.myshopify.com domain.
func ValidShopDomain(s string) bool { return shopDomainRE.MatchString(s) }

// AppSource reads the installation's app (engine.Engine.ShopifyApp).
type AppSource func() (*engine.ShopifyApp, engine.Secret, error)

// OAuth is the authorization code grant of one installation's app.
type OAuth struct {
	s   *service
	app AppSource
	// maxAge bounds how old a callback's timestamp may be.
	maxAge time.Duration
}

// NewOAuth builds the OAuth side of cfg's shops (its DomainMap routes a
// shop's domain to the sandbox in development and tests).
func NewOAuth(cfg Config, app AppSource) *OAuth {
	return &OAuth{s: newService(cfg), app: app, maxAge: time.Hour}
}

// NormalShopDomain reads a shop domain typed by an operator: "acme",
// "acme.myshopify.com" or "https://acme.myshopify.com/"; "" when it is not
// one.
func NormalShopDomain(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimPrefix(strings.TrimPrefix(s, "https://"), "http://")
	s = strings.TrimRight(s, "/")
	if !strings.Contains(s, ".") {
		s += ".myshopify.com"
	}
	if !ValidShopDomain(s) {
		return ""
	}
	return s
}

// ShopDomain is NormalShopDomain (web/dash's ShopifyOAuth).
func (o *OAuth) ShopDomain(typed string) string { return NormalShopDomain(typed) }

// appOf is the app of a connection: own (a custom-distribution app given
// when connecting) or the installation's.
func (o *OAuth) appOf(own *engine.AppCredentials) (*engine.ShopifyApp, engine.Secret, error) {
	if own != nil && own.ClientID != "" {
		return &engine.ShopifyApp{ClientID: own.ClientID, Scopes: Scopes}, own.ClientSecret, nil
	}
	app, secret, err := o.app()
	if err == nil && (app == nil || secret == "") {
		err = ErrNoApp
	}
	return app, secret, err
}

// Begin is the URL to send the admin's browser to: the shop's authorize
// page for the app (own, or the installation's when nil), its scopes,
// redirectURI and state.
func (o *OAuth) Begin(shop, state, redirectURI string, own *engine.AppCredentials) (string, error) {
	if !ValidShopDomain(shop) {
		return "", engine.Invalid(engine.FieldError{Attribute: "shop", Code: "invalid", Message: "must be a NAME.myshopify.com domain"})
	}
	app, _, err := o.appOf(own)
	if err != nil {
		return "", err
	}
	base, err := o.s.baseURL(&engine.Shop{Domain: shop})
	if err != nil {
		return "", err
	}
	q := url.Values{"client_id": {app.ClientID}, "scope": {strings.Join(app.Scopes, ",")},
		"redirect_uri": {redirectURI}, "state": {state}}
	return base + "/admin/oauth/authorize?" + q.Encode(), nil
}

// CallbackError is a callback that failed a check: Reason is safe to show.
type CallbackError struct{ Reason string }

func (e *CallbackError) Error() string { return e.Reason }

// VerifyCallback checks a callback's query without exchanging anything:
// its HMAC under the app's client secret (own's, or the installation's), its shop, its timestamp, and
// that the merchant did not decline. It returns the shop.
func (o *OAuth) VerifyCallback(q url.Values, own *engine.AppCredentials) (string, error) {
	_, secret, err := o.appOf(own)
	if err != nil {
		return "", err
	}
	if !validQueryHMAC(q, secret) {
		return "", &CallbackError{"the callback's signature (hmac) does not verify: it did not come from Shopify"}
	}
	shop := q.Get("shop")
	if !ValidShopDomain(shop) {
		return "", &CallbackError{"the callback names a shop that is not a NAME.myshopify.com domain"}
	}
	if ts, err := strconv.ParseInt(q.Get("timestamp"), 10, 64); err != nil || time.Since(time.Unix(ts, 0)) > o.maxAge {
		return "", &CallbackError{"the callback is too old or has no timestamp: connect again"}
	}
	if e := q.Get("error"); e != "" {
		return "", &CallbackError{"the installation was not approved in the shop (" + e + ")"}
	}
	if q.Get("code") == "" {
		return "", &CallbackError{"the callback carries no authorization code"}
	}
	return shop, nil
}

// Finish exchanges a verified callback's code for expiring offline tokens
// and returns the oauth connection to store (engine.ConnectShop then checks
// its scopes).
func (o *OAuth) Finish(ctx context.Context, q url.Values, own *engine.AppCredentials) (*engine.ShopInput, error) {
	shop, err := o.VerifyCallback(q, own)
	if err != nil {
		return nil, err
	}
	app, secret, err := o.appOf(own)
	if err != nil {
		return nil, err
	}
	base, err := o.s.baseURL(&engine.Shop{Domain: shop})
	if err != nil {
		return nil, err
	}
	form := url.Values{"client_id": {app.ClientID}, "client_secret": {secret.Reveal()}, "code": {q.Get("code")}, "expiring": {"1"}}
	g, err := o.s.cfg.Tokens.request(ctx, o.s.http, base, form)
	if err != nil {
		return nil, &CallbackError{"the shop did not exchange the authorization code: " + err.Error()}
	}
	t := g.tokens(o.s.cfg.Tokens.now())
	return &engine.ShopInput{Domain: shop, Auth: engine.ShopAuthOAuth, ClientID: app.ClientID, ClientSecret: secret,
		AccessToken: t.AccessToken, TokenExpiresAt: t.ExpiresAt, RefreshToken: t.RefreshToken,
		RefreshExpiresAt: t.RefreshExpiresAt, Scopes: t.Scopes}, nil
}

// validQueryHMAC checks Shopify's query signature: hex HMAC-SHA256 of the
// other parameters, sorted, joined as name=value with &.
func validQueryHMAC(q url.Values, secret engine.Secret) bool {
	got, err := hex.DecodeString(q.Get("hmac"))
	if err != nil || len(got) == 0 {
		return false
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		if k != "hmac" && k != "signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + strings.Join(q[k], ",")
	}
	m := hmac.New(sha256.New, []byte(secret.Reveal()))
	m.Write([]byte(strings.Join(parts, "&")))
	return hmac.Equal(m.Sum(nil), got)
}
