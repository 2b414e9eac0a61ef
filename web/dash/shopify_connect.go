package dash

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"eventops/engine"
)

// Connect with Shopify (OAuth's authorization code grant), from the
// Companies page: POST /companies/:id/shopify names the shop; the admin's
// browser goes to the shop's /admin/oauth/authorize with a state bound to
// this session; Shopify sends it back to GET /shopify/callback, which
// checks the state (this session's, unused, recent), then the query's HMAC,
// the shop (*.myshopify.com, the one asked for) and the merchant's
// approval, exchanges the code, checks the scopes and stores the
// connection. Any failed check shows the Companies page with the reason and
// stores nothing.

// ShopifyOAuth is the protocol side (engine/shopify's OAuth implements it;
// serve wires it).
type ShopifyOAuth interface {
	// ShopDomain reads a typed shop domain ("" when it is not one).
	ShopDomain(typed string) string
	// Begin is the shop's authorize URL for state and redirectURI. app
	// names a custom-distribution app of this connection; nil is the
	// installation's app (eventops shopify-app set).
	Begin(shop, state, redirectURI string, app *engine.AppCredentials) (string, error)
	// VerifyCallback checks a callback's query and returns its shop.
	VerifyCallback(q url.Values, app *engine.AppCredentials) (string, error)
	// Finish exchanges a verified callback's code for the connection.
	Finish(ctx context.Context, q url.Values, app *engine.AppCredentials) (*engine.ShopInput, error)
	// SetUpShop makes the connected company's one-time shop set-up.
	SetUpShop(ctx context.Context, eng *engine.Engine, companyID uint64) error
}

// oauthStateTTL bounds how long a merchant may take to approve.
const oauthStateTTL = 15 * time.Minute

// putOAuth stores a flow with the admin's session (engine.PutConnectFlow:
// the state hashed, a custom app's client secret sealed, an expiry), not in
// this node's memory: behind a load balancer the shop's callback may reach
// another node, which completes it. The callback takes it (single use)
// whichever node it reaches; on bbolt the one node does as before.
func (st *sessionStore) putOAuth(ctx context.Context, s *staffSession, state string, p engine.ConnectStart) error {
	return st.store.PutConnectFlow(ctx, []byte(s.key), state, p)
}

// takeOAuth returns the flow of state in session s, once; nil when there
// is none or it has expired.
func (st *sessionStore) takeOAuth(ctx context.Context, s *staffSession, state string) (*engine.ConnectStart, error) {
	return st.store.TakeConnectFlow(ctx, []byte(s.key), state)
}

// refusal is a refused connection as the audit log records it.
func refusal(msg string) error { return &engine.Error{Kind: engine.KindInvalid, Message: msg} }

func (d *Dashboard) redirectURI(c *fiber.Ctx) string {
	base := d.origin
	if base == "" {
		base = c.Protocol() + "://" + c.Hostname()
	}
	return base + "/shopify/callback"
}

// publicURLError is the refusal of a real shop's connection when webhooks
// could not reach the server (see engine.CheckPublicURL).
func (d *Dashboard) publicURLError(c *fiber.Ctx) error {
	base := d.origin
	if base == "" {
		base = c.Protocol() + "://" + c.Hostname()
	}
	return engine.CheckPublicURL(base)
}

func (d *Dashboard) beginShopifyConnect(c *fiber.Ctx, sess *staffSession) error {
	id, err := dashPathID(c, "id")
	if err != nil {
		return err
	}
	co, err := d.eng.Company(id)
	if err != nil {
		return err
	}
	fail := func(msg string) error {
		d.record(c, sess, "company.shopify_connect", "company "+strconv.FormatUint(id, 10), "shop "+c.FormValue("shop"), refusal(msg))
		return d.renderCompanies(c, sess, http.StatusUnprocessableEntity, "Connect with Shopify of "+co.Name+": "+msg)
	}
	if d.opts.ShopifyOAuth == nil {
		return fail("this server has no Shopify app: run eventops shopify-app set, then restart it.")
	}
	if err := d.publicURLError(c); err != nil {
		return fail(err.Error() + " [" + string(engine.CodeShopifyPublicURLInsecure) + "]")
	}
	shop := d.opts.ShopifyOAuth.ShopDomain(c.FormValue("shop"))
	if shop == "" {
		return fail("the shop must be a NAME.myshopify.com domain.")
	}
	var app *engine.AppCredentials
	if id := strings.TrimSpace(c.FormValue("client_id")); id != "" {
		secret := engine.Secret(strings.Clone(c.FormValue("client_secret")))
		if secret == "" {
			return fail("a custom app's client id needs its client secret.")
		}
		app = &engine.AppCredentials{ClientID: strings.Clone(id), ClientSecret: secret}
	}
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return err
	}
	state := base64.RawURLEncoding.EncodeToString(raw)
	to, err := d.opts.ShopifyOAuth.Begin(shop, state, d.redirectURI(c), app)
	if err != nil {
		return fail(err.Error())
	}
	ctx, cancel := actionContext()
	defer cancel()
	if err := d.sessions.putOAuth(ctx, sess, state, engine.ConnectStart{CompanyID: id, Shop: shop, App: app, Expires: d.now().Add(oauthStateTTL)}); err != nil {
		return err
	}
	return c.Redirect(to, http.StatusSeeOther)
}

func (d *Dashboard) shopifyCallback(c *fiber.Ctx, sess *staffSession) error {
	if !sess.admin() {
		return dashForbidden("Only admins may connect shops: your role is viewer.")
	}
	q, err := url.ParseQuery(string(c.Request().URI().QueryString()))
	if err != nil {
		return d.renderCompanies(c, sess, http.StatusBadRequest, "Connect with Shopify failed: the callback's query is malformed.")
	}
	failed := func(target, msg string, _ error) error {
		d.record(c, sess, "company.shopify_connect", target, "callback from "+q.Get("shop"), refusal(msg))
		return d.renderCompanies(c, sess, http.StatusBadRequest, "Connect with Shopify failed: "+msg+" Nothing was stored.")
	}
	ctx, cancel := actionContext()
	defer cancel()
	p, err := d.sessions.takeOAuth(ctx, sess, q.Get("state"))
	if err != nil {
		return err
	}
	if p == nil {
		return failed("", "the state does not match a connection started in this session (or it is older than 15 minutes): start again from Companies.", errors.New("state mismatch"))
	}
	target := "company " + strconv.FormatUint(p.CompanyID, 10)
	shop, err := d.opts.ShopifyOAuth.VerifyCallback(q, p.App)
	if err != nil {
		return failed(target, err.Error()+".", err)
	}
	if shop != p.Shop {
		return failed(target, "the callback names another shop ("+shop+") than the one asked for ("+p.Shop+").", errors.New("shop mismatch"))
	}
	in, err := d.opts.ShopifyOAuth.Finish(ctx, q, p.App)
	if err != nil {
		return failed(target, err.Error()+".", err)
	}
	co, err := d.eng.ConnectShop(ctx, p.CompanyID, *in)
	if err != nil {
		var ee *engine.Error
		if errors.As(err, &ee) && ee.Kind != engine.KindInternal {
			msg := ee.Message
			if len(ee.Fields) > 0 {
				msg = fieldMessages(ee)
			}
			if ee.Code != "" {
				msg += " [" + string(ee.Code) + "]"
			}
			return failed(target, msg, err)
		}
		return err
	}
	d.record(c, sess, "company.shopify_connect", target, "oauth, shop "+shop+", scopes "+strings.Join(co.Shop.Scopes, ","), nil)
	d.names.reload()
	// The shop set-up runs now, so that the shop is ready (and the page
	// says so) before the first save; a failure keeps the connection,
	// which the first save sets up again.
	if err := d.opts.ShopifyOAuth.SetUpShop(ctx, d.eng, co.ID); err != nil {
		d.log.Warn("shop set-up after Connect with Shopify", "company", co.ID, "shop", shop, "err", err)
		return d.renderCompanies(c, sess, http.StatusOK, "Connected "+shop+", but its set-up failed ("+err.Error()+"); the company's first save sets it up again.")
	}
	return c.Redirect("/companies#company-"+strconv.FormatUint(co.ID, 10), http.StatusSeeOther)
}
