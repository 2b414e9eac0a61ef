package engine

import (
	"context"
	"errors"
	"strings"
	"time"
)

// How eventops holds a shop's tokens. Every company connected to a real
// shop has one kind of connection:
//
//   - ShopAuthToken: a legacy custom app's Admin API access token, pasted
//     in, with the app's API secret (which signs webhooks); it lasts until
//     revoked.
//   - ShopAuthClientCredentials: a Dev Dashboard app of the merchant's own
//     organization; eventops holds its client id and secret and requests
//     tokens with the client credentials grant (about a day each).
//   - ShopAuthOAuth: an app the merchant installed through OAuth (the
//     installation's public app, or a custom-distribution app); eventops
//     holds the app's client id and secret, the access token and the
//     refresh token, both rotating (an hour; the refresh token about 90
//     days).
//
// Tokens are requested and refreshed by engine/shopify (its token source),
// which stores each grant with StoreShopTokens before it uses it: for a
// rotating refresh token, the new pair is committed before either new token
// is used, so a crash between Shopify's answer and the commit loses
// nothing (Shopify keeps the previous refresh token valid until its
// replacement is first used). Webhooks of the client-credentials and oauth
// kinds are signed with the app's client secret.

// ShopAuth is the kind of a shop connection.
type ShopAuth string

const (
	ShopAuthToken             ShopAuth = "token"
	ShopAuthClientCredentials ShopAuth = "client-credentials"
	ShopAuthOAuth             ShopAuth = "oauth"
)

// ParseShopAuth reads a connection kind ("" is ShopAuthToken).
func ParseShopAuth(s string) (ShopAuth, error) {
	switch a := ShopAuth(strings.TrimSpace(s)); a {
	case "", ShopAuthToken:
		return ShopAuthToken, nil
	case ShopAuthClientCredentials, ShopAuthOAuth:
		return a, nil
	}
	return "", Invalid(FieldError{Attribute: "shopify_auth", Code: "invalid",
		Message: "must be token, client-credentials or oauth"})
}

// CodeShopifyScopesMissing refuses a connection whose app lacks scopes
// eventops needs (a 422 naming each one).
const CodeShopifyScopesMissing Code = "SHOPIFY_SCOPES_MISSING"

// ScopesMissing is the refusal of a connection lacking scopes.
func ScopesMissing(missing []string) *Error {
	msg := "the app lacks the access scopes " + strings.Join(missing, ", ") +
		": grant them to the app (its configuration or installation), then connect again"
	return &Error{Kind: KindInvalid, Code: CodeShopifyScopesMissing, Message: msg,
		Fields: []FieldError{{Attribute: "scopes", Code: "missing", Message: msg}}}
}

// ShopConnector authorizes a real shop being connected: it gets the first
// token of a client-credentials connection, and checks the scopes the app
// holds (filling in.Scopes), refusing with SHOPIFY_SCOPES_MISSING.
// engine/shopify implements it beside ShopReader (Config.Shops).
type ShopConnector interface {
	Authorize(ctx context.Context, in *ShopInput) error
}

// SandboxShops provisions a shop of the sandbox for a company being
// connected to it: created, or (a reconnection) reinstalled with a fresh
// token, keeping its webhook secret. main implements it (Config.Sandbox):
// in the built-in sandbox, or over HTTP in the `eventops sandbox` process
// that PostgreSQL nodes share. An *Error it returns reaches the caller as
// it is; any other error is a validation error naming it.
type SandboxShops interface {
	ProvisionShop(name, currency string) (*ShopInput, error)
}

// CodeShopifySandboxMissing refuses a connection to the sandbox on a server
// that has none: on PostgreSQL no node runs the built-in sandbox (each node
// would hold shops of its own), and the one the nodes share runs as its own
// process (`eventops sandbox`) that they are told of with --sandbox-url.
const CodeShopifySandboxMissing Code = "SHOPIFY_SANDBOX_MISSING"

// NoSandboxMessage says why, and what to do.
const NoSandboxMessage = "no sandbox in database mode: run `eventops sandbox` and pass --sandbox-url"

// ErrNoSandbox is the refusal (422) of a sandbox connection on a server
// without a sandbox; nothing is stored.
var ErrNoSandbox = &Error{Kind: KindInvalid, Code: CodeShopifySandboxMissing, Message: NoSandboxMessage,
	Fields: []FieldError{{Attribute: "shop", Code: "sandbox_missing", Message: "can't be a sandbox shop: " + NoSandboxMessage}}}

// NoSandbox is the SandboxShops of a server without a sandbox: every
// provisioning is refused with ErrNoSandbox.
type NoSandbox struct{}

// ProvisionShop refuses.
func (NoSandbox) ProvisionShop(string, string) (*ShopInput, error) { return nil, ErrNoSandbox }

// ShopSecrets are a connection's opened credentials.
type ShopSecrets struct {
	Auth        ShopAuth
	AccessToken Secret
	// WebhookSecret is what signs the shop's webhooks: the API secret of
	// a token connection, the client secret of the others.
	WebhookSecret    Secret
	ClientID         string
	ClientSecret     Secret
	RefreshToken     Secret
	TokenExpiresAt   time.Time // zero: the token does not expire
	RefreshExpiresAt time.Time
}

// ShopTokens are what a token grant answered.
type ShopTokens struct {
	AccessToken      Secret
	ExpiresAt        time.Time // zero: does not expire
	RefreshToken     Secret    // "": keep none
	RefreshExpiresAt time.Time
	Scopes           []string // nil: unchanged
}

// ValidateShopInput is the check CreateCompany and ConnectShop make of a
// real shop's credentials for its kind, before anything else (callers
// that check more, such as the server's public URL, make it first).
func ValidateShopInput(in ShopInput) error { return checkShopInput(&in) }

// checkShopInput validates a real shop's credentials for its kind.
func checkShopInput(in *ShopInput) error {
	d := strings.TrimSpace(in.Domain)
	if d == "" {
		return Invalid(FieldError{Attribute: "shop", Code: "blank", Message: "needs a shop domain or URL"})
	}
	if errs := CheckText("shop", d, maxDomainLen); errs != nil {
		return Invalid(errs...)
	}
	if in.Sandbox {
		return nil
	}
	auth, err := ParseShopAuth(string(in.Auth))
	if err != nil {
		return err
	}
	in.Auth = auth
	in.ClientID = strings.TrimSpace(in.ClientID)
	var errs []FieldError
	blank := func(attr, what string) {
		errs = append(errs, FieldError{Attribute: attr, Code: "blank", Message: "can't be blank for a " + what})
	}
	switch auth {
	case ShopAuthToken:
		if in.AccessToken == "" {
			blank("access_token", "token connection")
		}
		if in.WebhookSecret == "" {
			blank("webhook_secret", "token connection")
		}
	case ShopAuthClientCredentials:
		if in.ClientID == "" {
			blank("client_id", "client-credentials connection")
		}
		if in.ClientSecret == "" {
			blank("client_secret", "client-credentials connection")
		}
	case ShopAuthOAuth:
		if in.ClientID == "" {
			blank("client_id", "oauth connection")
		}
		if in.ClientSecret == "" {
			blank("client_secret", "oauth connection")
		}
		if in.AccessToken == "" {
			blank("access_token", "oauth connection")
		}
	}
	if len(errs) > 0 {
		return Invalid(errs...)
	}
	return nil
}

// prepareShop is what CreateCompany and ConnectShop do before they store a
// connection: a sandbox shop is provisioned when no token is given, a
// real one checked for its kind and authorized (its first token, its
// scopes); then it is sealed and its currency read.
func (e *Engine) prepareShop(ctx context.Context, in *ShopInput) (*Shop, error) {
	if in.Sandbox && in.AccessToken == "" && e.sandbox != nil {
		name := strings.TrimSpace(in.Domain)
		p, err := e.sandbox.ProvisionShop(name, in.Currency)
		var typed *Error
		if errors.As(err, &typed) {
			return nil, err // the provisioner's own refusal (ErrNoSandbox, a sandbox that did not answer)
		}
		if err != nil {
			return nil, Invalid(FieldError{Attribute: "shop", Code: "invalid", Message: "the sandbox shop could not be set up: " + err.Error()})
		}
		*in = *p
	}
	if err := checkShopInput(in); err != nil {
		return nil, err
	}
	if !in.Sandbox {
		if c, ok := e.shops.(ShopConnector); ok {
			if err := c.Authorize(ctx, in); err != nil {
				return nil, err
			}
		}
	}
	s, err := e.sealShop(in)
	if err != nil {
		return nil, err
	}
	s.Currency = e.connectCurrency(ctx, s, in)
	return s, nil
}

func (e *Engine) seal(v Secret) ([]byte, error) {
	if v == "" {
		return nil, nil
	}
	if e.sealer == nil {
		return nil, Errorf(CodeOperationStorageFailed, "no sealer configured for shop credentials")
	}
	return e.sealer.Seal(v.Reveal())
}

func (e *Engine) open(b []byte) (Secret, error) {
	if len(b) == 0 {
		return "", nil
	}
	if e.sealer == nil {
		return "", Errorf(CodeOperationStorageFailed, "no sealer configured for shop credentials")
	}
	v, err := e.sealer.Open(b)
	return Secret(v), err
}

// OpenShopSecrets opens every credential of a connection.
func (e *Engine) OpenShopSecrets(s *Shop) (ShopSecrets, error) {
	var out ShopSecrets
	if s == nil {
		return out, nil
	}
	out.Auth, out.ClientID = s.Kind(), s.ClientID
	var err error
	if out.AccessToken, err = e.open(s.AccessToken); err != nil {
		return ShopSecrets{}, err
	}
	if out.ClientSecret, err = e.open(s.ClientSecret); err != nil {
		return ShopSecrets{}, err
	}
	if out.RefreshToken, err = e.open(s.RefreshToken); err != nil {
		return ShopSecrets{}, err
	}
	if out.Auth == ShopAuthToken || s.Sandbox {
		if out.WebhookSecret, err = e.open(s.WebhookSecret); err != nil {
			return ShopSecrets{}, err
		}
	} else {
		out.WebhookSecret = out.ClientSecret
	}
	if s.TokenExpiresAt != nil {
		out.TokenExpiresAt = *s.TokenExpiresAt
	}
	if s.RefreshExpiresAt != nil {
		out.RefreshExpiresAt = *s.RefreshExpiresAt
	}
	return out, nil
}

// StoreShopTokens seals and commits a grant's tokens on the company, if it
// is still connected to the same shop by the same app (a reconnection
// meanwhile keeps its own). It reports whether they were stored.
func (e *Engine) StoreShopTokens(ctx context.Context, companyID uint64, domain, clientID string, t ShopTokens) (bool, error) {
	access, err := e.seal(t.AccessToken)
	if err != nil {
		return false, err
	}
	refresh, err := e.seal(t.RefreshToken)
	if err != nil {
		return false, err
	}
	stored := false
	now := e.now().UTC()
	err = e.store.Update(ctx, func(tx Tx) error {
		stored = false
		c, err := tx.Company(companyID)
		if err != nil || c == nil || !c.Shopify() || c.Shop.Domain != domain || c.Shop.ClientID != clientID || c.Shop.Kind() == ShopAuthToken {
			return err
		}
		s := c.Shop
		s.AccessToken = access
		s.TokenExpiresAt = timeOrNil(t.ExpiresAt)
		if refresh != nil {
			s.RefreshToken = refresh
			s.RefreshExpiresAt = timeOrNil(t.RefreshExpiresAt)
		}
		if t.Scopes != nil {
			s.Scopes = append([]string(nil), t.Scopes...)
		}
		s.TokenRefreshedAt = &now
		s.TokenRefused, s.TokenRefusedAt = "", nil
		stored = true
		return tx.PutCompany(c)
	})
	return stored, err
}

// RememberShopSetup writes on a company's connection what the one-time
// shop set-up made (its fulfillment service and location, publication,
// webhook subscriptions), unless the company was connected to another shop
// meanwhile.
func (e *Engine) RememberShopSetup(ctx context.Context, companyID uint64, domain string, su *ShopSetup) error {
	return e.store.Update(ctx, func(tx Tx) error {
		c, err := tx.Company(companyID)
		if err != nil || c == nil || c.Shop == nil || c.Shop.Domain != domain {
			return err
		}
		cp := *su
		c.Shop.Setup = &cp
		return tx.PutCompany(c)
	})
}

// NoteShopTokenRefused records on a company's connection (if it is still
// the one to domain through clientID) that the shop refused a token
// request, with Shopify's reason: the dashboard shows it on every page
// until a grant succeeds (StoreShopTokens clears it) or the shop is
// reconnected.
func (e *Engine) NoteShopTokenRefused(ctx context.Context, companyID uint64, domain, clientID, reason string) error {
	now := e.now().UTC()
	return e.store.Update(ctx, func(tx Tx) error {
		c, err := tx.Company(companyID)
		if err != nil || c == nil || !c.Shopify() || c.Shop.Domain != domain || c.Shop.ClientID != clientID {
			return err
		}
		if c.Shop.TokenRefused == reason && c.Shop.TokenRefusedAt != nil {
			return nil // said already: no write per failing call
		}
		c.Shop.TokenRefused, c.Shop.TokenRefusedAt = reason, &now
		return tx.PutCompany(c)
	})
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// AppCredentials name an app for one OAuth connection: a
// custom-distribution app of one merchant, given when connecting instead of
// the installation's app.
type AppCredentials struct {
	ClientID     string
	ClientSecret Secret
}

// ShopifyApp is the installation's public app (or the one custom app of a
// single merchant), through which merchants connect with OAuth: its client
// id, its sealed client secret, and the scopes it asks for.
type ShopifyApp struct {
	ClientID     string    `json:"client_id"`
	ClientSecret []byte    `json:"client_secret"`
	Scopes       []string  `json:"scopes"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// SetShopifyApp sets the installation's public app (`eventops shopify-app
// set`). scopes nil keeps engine/shopify's list (the caller gives it).
func (e *Engine) SetShopifyApp(ctx context.Context, clientID string, secret Secret, scopes []string) (*ShopifyApp, error) {
	clientID = strings.TrimSpace(clientID)
	var errs []FieldError
	if clientID == "" {
		errs = append(errs, FieldError{Attribute: "client_id", Code: "blank", Message: "can't be blank"})
	} else if es := CheckText("client_id", clientID, 255); es != nil {
		errs = append(errs, es...)
	}
	if secret == "" {
		errs = append(errs, FieldError{Attribute: "client_secret", Code: "blank", Message: "can't be blank"})
	}
	if len(scopes) == 0 {
		errs = append(errs, FieldError{Attribute: "scopes", Code: "blank", Message: "can't be blank"})
	}
	if len(errs) > 0 {
		return nil, Invalid(errs...)
	}
	sealed, err := e.seal(secret)
	if err != nil {
		return nil, err
	}
	a := &ShopifyApp{ClientID: clientID, ClientSecret: sealed, Scopes: append([]string(nil), scopes...), UpdatedAt: e.now().UTC()}
	if err := e.store.Update(ctx, func(tx Tx) error { return tx.PutShopifyApp(a) }); err != nil {
		return nil, err
	}
	return a, nil
}

// ShopifyApp reads the installation's public app and opens its secret
// (nil and "" when none is set).
func (e *Engine) ShopifyApp() (*ShopifyApp, Secret, error) {
	var a *ShopifyApp
	if err := e.store.View(func(tx Tx) (err error) { a, err = tx.ShopifyApp(); return err }); err != nil || a == nil {
		return nil, "", err
	}
	secret, err := e.open(a.ClientSecret)
	if err != nil {
		return nil, "", err
	}
	return a, secret, nil
}

// CodeShopifyPublicURLInsecure refuses to subscribe a real shop's webhooks
// to a public URL that is not https (Shopify delivers only to https); a
// loopback http URL is allowed, for development and tests.
const CodeShopifyPublicURLInsecure Code = "SHOPIFY_PUBLIC_URL_INSECURE"

// CheckPublicURL is the rule above: nil for an https URL or a loopback
// http one (127.0.0.1, ::1, localhost).
func CheckPublicURL(u string) error {
	rest, ok := strings.CutPrefix(strings.ToLower(strings.TrimSpace(u)), "http://")
	if !ok {
		if strings.HasPrefix(strings.ToLower(strings.TrimSpace(u)), "https://") {
			return nil
		}
		return Errorf(CodeShopifyPublicURLInsecure, "the public URL %q is not an https URL: a real shop sends its webhooks only to https (set --public-url https://...)", u)
	}
	host, _, _ := strings.Cut(rest, "/")
	if h, _, found := strings.Cut(strings.TrimPrefix(host, "["), "]"); found {
		host = h
	} else if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	if host == "localhost" || host == "::1" || strings.HasPrefix(host, "127.") {
		return nil
	}
	return Errorf(CodeShopifyPublicURLInsecure, "the public URL %q is plain http: a real shop sends its webhooks only to https (set --public-url https://...; only loopback http is allowed, for development)", u)
}
