package shopify

import (
	"context"
	"errors"
	"net/url"
	"sort"
	"strings"
	"time"

	"eventops/engine"
)

// Connecting a real shop (engine.ShopConnector): a client-credentials
// connection gets its first token, then every kind has its scopes read with
// currentAppInstallation { accessScopes { handle } } and compared with
// Scopes. A missing scope refuses the connection with
// SHOPIFY_SCOPES_MISSING, naming each one, instead of a phase failing
// later; a granted write_X counts as read_X (Shopify grants read with
// write).

const qAccessScopes = `query AccessScopes { currentAppInstallation { accessScopes { handle } } }`

// readScopes asks the shop which scopes the token's app holds.
func readScopes(ctx context.Context, c *Client) ([]string, error) {
	var out struct {
		CurrentAppInstallation struct {
			AccessScopes []struct {
				Handle string `json:"handle"`
			} `json:"accessScopes"`
		} `json:"currentAppInstallation"`
	}
	if err := c.Do(ctx, Call{Name: "AccessScopes", Query: qAccessScopes, Resendable: true}, &out); err != nil {
		return nil, err
	}
	scopes := make([]string, 0, len(out.CurrentAppInstallation.AccessScopes))
	for _, s := range out.CurrentAppInstallation.AccessScopes {
		scopes = append(scopes, s.Handle)
	}
	sort.Strings(scopes)
	return scopes, nil
}

// MissingScopes are the scopes of need that granted lacks, in need's order;
// a granted write_X covers read_X.
func MissingScopes(granted, need []string) []string {
	has := map[string]bool{}
	for _, g := range granted {
		has[g] = true
		if x, ok := strings.CutPrefix(g, "write_"); ok {
			has["read_"+x] = true
		}
	}
	var missing []string
	for _, n := range need {
		if !has[n] {
			missing = append(missing, n)
		}
	}
	return missing
}

// connectTimeout bounds the calls of a connection's check.
const connectTimeout = 30 * time.Second

// Authorize implements engine.ShopConnector.
func (r shopReader) Authorize(ctx context.Context, in *engine.ShopInput) error {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	base, err := r.s.baseURL(&engine.Shop{Domain: in.Domain})
	if err != nil {
		return engine.Invalid(engine.FieldError{Attribute: "shop", Code: "invalid", Message: err.Error()})
	}
	if in.Auth == engine.ShopAuthClientCredentials {
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {in.ClientID}, "client_secret": {in.ClientSecret.Reveal()}}
		g, err := r.s.cfg.Tokens.request(ctx, r.s.http, base, form)
		if err != nil {
			return connectError(err, "client_secret", "the shop refused the client id and secret")
		}
		t := g.tokens(r.s.cfg.Tokens.now())
		in.AccessToken, in.TokenExpiresAt = t.AccessToken, t.ExpiresAt
	}
	c := r.s.client(Endpoint(base), in.AccessToken, r.s.log.With("shop", in.Domain))
	scopes, err := readScopes(ctx, c)
	if err != nil {
		return connectError(err, "access_token", "the shop refused the access token")
	}
	if missing := MissingScopes(scopes, Scopes); len(missing) > 0 {
		return engine.ScopesMissing(missing)
	}
	in.Scopes = scopes
	return nil
}

// connectError is a connection check's failure as a validation error, so
// that the operator sees why and nothing is stored.
func connectError(err error, attr, refused string) error {
	var ee *engine.Error
	if errors.As(err, &ee) && ee.Code == engine.CodeShopifyAuthRejected {
		return engine.Invalid(engine.FieldError{Attribute: attr, Code: "rejected", Message: refused + ": " + ee.Message})
	}
	return engine.Invalid(engine.FieldError{Attribute: "shop", Code: "unreachable",
		Message: "the shop could not be checked (" + err.Error() + "): check the domain and try again"})
}
