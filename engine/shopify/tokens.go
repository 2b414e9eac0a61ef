package shopify

// The token source: how a phase gets a shop's access token for the
// connection's kind (engine/shop_auth.go). A token connection's token is
// used as stored. A client-credentials connection requests a new token
// with its client id and secret; an oauth connection refreshes with its
// refresh token (grant_type=refresh_token), which rotates. Either happens
// ahead of expiry (when a phase starts with a token in the last tenth of
// its life, at most five minutes), and once more when the shop answers
// 401 to a token eventops believed valid; never two at once for a shop
// (one lock per company, in this process and across the nodes sharing
// the store, TokenStore.Locks: "shop-token:{company id}"; the token is
// read from the store again once the lock is held, and a token another
// holder, on any node, just got is used rather than requested again). Every grant is committed to the store
// (sealed) before its token is used: for a rotating refresh token, a crash
// between Shopify's answer and the commit leaves the old refresh token
// stored, which Shopify keeps valid until its replacement is first used, so
// the next start refreshes with it. Tokens are never logged.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"eventops/engine"
)

// TokenStore is what the token source reads and writes: the engine.
type TokenStore interface {
	Company(id uint64) (*engine.Company, error)
	OpenShopSecrets(s *engine.Shop) (engine.ShopSecrets, error)
	StoreShopTokens(ctx context.Context, companyID uint64, domain, clientID string, t engine.ShopTokens) (bool, error)
	NoteShopTokenRefused(ctx context.Context, companyID uint64, domain, clientID, reason string) error
	// Locks make a refresh (and a shop's set-up) one node at a time.
	Locks() engine.Locks
}

// Tokens is the token source shared by every phase and the connect
// checks of one process (Config.Tokens).
type Tokens struct {
	mu    sync.Mutex
	locks map[uint64]*sync.Mutex
	now   func() time.Time
	// grants counts the token requests Shopify answered.
	grants atomic.Int64
	// AfterGrant, when set, runs between Shopify's answer to a token
	// request and its commit (tests of a crash at that moment).
	AfterGrant func()
}

// NewTokens makes a token source.
func NewTokens() *Tokens {
	return &Tokens{locks: map[uint64]*sync.Mutex{}, now: time.Now}
}

// Grants is how many token requests Shopify answered since the start.
func (t *Tokens) Grants() int64 { return t.grants.Load() }

func (t *Tokens) lock(companyID uint64) *sync.Mutex {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.locks[companyID]
	if m == nil {
		m = &sync.Mutex{}
		t.locks[companyID] = m
	}
	return m
}

// fresh reports whether a held token is usable now, and not in the last
// tenth of its life (at most five minutes before its expiry).
func (t *Tokens) fresh(s *engine.Shop, sec engine.ShopSecrets) bool {
	if sec.AccessToken == "" {
		return false
	}
	if sec.TokenExpiresAt.IsZero() {
		return true
	}
	margin := 5 * time.Minute
	if s.TokenRefreshedAt != nil {
		if life := sec.TokenExpiresAt.Sub(*s.TokenRefreshedAt) / 10; life < margin {
			margin = life
		}
	}
	return t.now().Add(margin).Before(sec.TokenExpiresAt)
}

// token is the access token to call company's shop with. stale, when set,
// is a token the shop just refused: another one is got (or the refusal is
// final for a token connection).
func (t *Tokens) token(ctx context.Context, st TokenStore, httpc *http.Client, base string, c *engine.Company, stale engine.Secret) (engine.Secret, error) {
	sec, err := st.OpenShopSecrets(c.Shop)
	if err != nil {
		return "", err
	}
	if sec.Auth == engine.ShopAuthToken || c.Shop.Sandbox {
		if sec.AccessToken == "" || (stale != "" && sec.AccessToken == stale) {
			return "", engine.Errorf(engine.CodeShopifyAuthRejected, "company %d has no access token the shop accepts: reconnect the shop", c.ID)
		}
		return sec.AccessToken, nil
	}
	if t.fresh(c.Shop, sec) && sec.AccessToken != stale {
		return sec.AccessToken, nil
	}
	m := t.lock(c.ID)
	m.Lock()
	defer m.Unlock()
	held, err := st.Locks().Lock(ctx, tokenLockName(c.ID))
	if err != nil {
		return "", engine.Transientf(engine.CodeShopifyUnavailable, "wait for company %d's token refresh: %v", c.ID, err)
	}
	defer held.Unlock()
	ctx, cancel := engine.Guard(ctx, held)
	defer cancel()
	// Another holder of the lock, here or on another node, may have got
	// one meanwhile.
	cur, err := st.Company(c.ID)
	if err != nil {
		return "", err
	}
	if !cur.Shopify() || cur.Shop.Domain != c.Shop.Domain || cur.Shop.ClientID != c.Shop.ClientID {
		return "", engine.Errorf(engine.CodeShopifyAuthRejected, "company %d was connected to another shop meanwhile", c.ID)
	}
	if cur.Shop.Revoked {
		return "", engine.Errorf(engine.CodeShopifyAuthRejected,
			"the shop connection of company %d is revoked (the app was uninstalled): reconnect the shop", c.ID)
	}
	if sec, err = st.OpenShopSecrets(cur.Shop); err != nil {
		return "", err
	}
	if t.fresh(cur.Shop, sec) && sec.AccessToken != stale {
		return sec.AccessToken, nil
	}
	form := url.Values{"client_id": {sec.ClientID}, "client_secret": {sec.ClientSecret.Reveal()}}
	switch {
	case sec.Auth == engine.ShopAuthClientCredentials:
		form.Set("grant_type", "client_credentials")
	case sec.RefreshToken != "":
		form.Set("grant_type", "refresh_token")
		form.Set("refresh_token", sec.RefreshToken.Reveal())
	default:
		return "", engine.Errorf(engine.CodeShopifyAuthRejected,
			"company %d's access token expired or was refused and the connection holds no refresh token: reconnect the shop", c.ID)
	}
	g, err := t.request(ctx, httpc, base, form)
	if err != nil {
		if engine.ErrorCode(err) == engine.CodeShopifyAuthRejected {
			// A refusal stays until someone acts: the dashboard says so.
			// The error is the call's; a failure to note it is not.
			_ = st.NoteShopTokenRefused(ctx, c.ID, cur.Shop.Domain, cur.Shop.ClientID, err.Error())
		}
		return "", err
	}
	if t.AfterGrant != nil {
		t.AfterGrant()
	}
	stored, err := st.StoreShopTokens(ctx, c.ID, cur.Shop.Domain, cur.Shop.ClientID, g.tokens(t.now()))
	if err != nil {
		return "", err
	}
	if !stored {
		return "", engine.Errorf(engine.CodeShopifyAuthRejected, "company %d was connected to another shop meanwhile", c.ID)
	}
	return g.AccessToken, nil
}

// tokenLockName names the lock of a company's token refresh.
func tokenLockName(companyID uint64) string { return fmt.Sprintf("shop-token:%d", companyID) }

// grant is Shopify's answer to a token request.
type grant struct {
	AccessToken           engine.Secret `json:"access_token"`
	Scope                 string        `json:"scope"`
	ExpiresIn             int64         `json:"expires_in"`
	RefreshToken          engine.Secret `json:"refresh_token"`
	RefreshTokenExpiresIn int64         `json:"refresh_token_expires_in"`
}

func (g *grant) tokens(now time.Time) engine.ShopTokens {
	t := engine.ShopTokens{AccessToken: g.AccessToken, RefreshToken: g.RefreshToken, Scopes: splitScope(g.Scope)}
	if g.ExpiresIn > 0 {
		t.ExpiresAt = now.Add(time.Duration(g.ExpiresIn) * time.Second)
	}
	if g.RefreshTokenExpiresIn > 0 {
		t.RefreshExpiresAt = now.Add(time.Duration(g.RefreshTokenExpiresIn) * time.Second)
	}
	return t
}

func splitScope(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// tokenTimeout bounds one token request.
const tokenTimeout = 20 * time.Second

// request posts a token request to the shop's /admin/oauth/access_token. A
// refusal (wrong secret, unknown or expired refresh token or code) is a
// permanent SHOPIFY_AUTH_REJECTED; a shop that cannot answer, a transient
// SHOPIFY_UNAVAILABLE. The error never carries the form.
func (t *Tokens) request(ctx context.Context, httpc *http.Client, base string, form url.Values) (*grant, error) {
	ctx, cancel := context.WithTimeout(ctx, tokenTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, TokenURL(base), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if err := engine.CheckLease(ctx); err != nil {
		return nil, err // nothing sent: the attempt waits for the lease
	}
	resp, err := httpc.Do(req)
	if err != nil {
		return nil, engine.Transientf(engine.CodeShopifyUnavailable, "token request: %v", transportError(err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, engine.Transientf(engine.CodeShopifyUnavailable, "token request: %v", transportError(err))
	}
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
		return nil, engine.Transientf(engine.CodeShopifyUnavailable, "token request: HTTP %d", resp.StatusCode)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		_ = json.Unmarshal(raw, &e)
		return nil, engine.Errorf(engine.CodeShopifyAuthRejected, "the shop refused the token request (HTTP %d %s: %s)",
			resp.StatusCode, e.Error, e.Description)
	}
	var g grant
	if err := json.Unmarshal(raw, &g); err != nil || g.AccessToken == "" {
		return nil, engine.Transientf(engine.CodeShopifyUnavailable, "token request: an answer without an access token")
	}
	t.grants.Add(1)
	return &g, nil
}

// TokenURL is the token endpoint under a shop's base URL.
func TokenURL(base string) string { return base + "/admin/oauth/access_token" }

// phaseTokens adapts a phase run to TokenStore.
type phaseTokens struct {
	r *engine.PhaseRun
}

func (p phaseTokens) Company(id uint64) (*engine.Company, error) {
	var c *engine.Company
	err := p.r.View(func(tx engine.Tx) error {
		var err error
		c, err = tx.Company(id)
		return err
	})
	if err == nil && c == nil {
		err = engine.NotFound("company %d not found", id)
	}
	return c, err
}

func (p phaseTokens) Locks() engine.Locks { return p.r.Locks() }

func (p phaseTokens) OpenShopSecrets(s *engine.Shop) (engine.ShopSecrets, error) {
	return p.r.ShopSecrets(s)
}

func (p phaseTokens) RememberShopSetup(ctx context.Context, id uint64, domain string, su *engine.ShopSetup) error {
	return p.r.RememberShopSetup(ctx, id, domain, su)
}

func (p phaseTokens) NoteShopTokenRefused(ctx context.Context, id uint64, domain, clientID, reason string) error {
	return p.r.NoteShopTokenRefused(ctx, id, domain, clientID, reason)
}

func (p phaseTokens) StoreShopTokens(ctx context.Context, id uint64, domain, clientID string, t engine.ShopTokens) (bool, error) {
	return p.r.StoreShopTokens(ctx, id, domain, clientID, t)
}

// errUnauthorized marks a 401 answer, which the client answers by getting
// another token once (see Client.renew).
var errUnauthorized = errors.New("HTTP 401")

// renewer gets another token after a 401 (nil: none).
type renewer func(ctx context.Context, stale engine.Secret) (engine.Secret, error)
