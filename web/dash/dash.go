// Package dash is the staff dashboard (DESIGN §5): server-rendered pages
// under /, kept current over one websocket per page at /ws. It holds the
// staff sessions and their CSRF tokens, the sign-in limiter, the websocket
// hub, the tally of operations the overview counts, and the cache of the
// names the pages show.
//
// It imports engine, views, static, web/httperr (the status of an error
// kind) and web/metrics (the websocket series). Package web mounts it on
// its app (web.New) and may import it; dash must never import web, so what
// it needs of the API (the JSON of an operation) is given in its Config.
package dash

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"

	"eventops/engine"
	"eventops/static"
	"eventops/views"
	"eventops/web/httperr"
	"eventops/web/metrics"
)

// StorageHealth is what the storage page shows of the data file.
type StorageHealth = views.StorageHealth

// StorageStats reports the data file's health. The dashboard does not
// import storage; main adapts storage.DB.Stats (see StorageStatsFunc).
type StorageStats interface {
	StorageHealth() (StorageHealth, error)
}

// StorageStatsFunc adapts a function to StorageStats.
type StorageStatsFunc func() (StorageHealth, error)

// StorageHealth calls f.
func (f StorageStatsFunc) StorageHealth() (StorageHealth, error) { return f() }

// SandboxState gives the sandbox shops' state as the JSON of its
// GET /sandbox/shopify/state route: an object keyed by shop name.
type SandboxState interface {
	SandboxState(ctx context.Context) ([]byte, error)
}

// Config wires a Dashboard. Engine is required.
type Config struct {
	Engine *engine.Engine
	Logger *slog.Logger
	// Clock is injected so that tests are exact (default time.Now).
	Clock func() time.Time
	// PublicURL is the server's external base URL: its origin is the one
	// forms and websockets must come from, and https makes cookies Secure.
	PublicURL string
	// Metrics counts the websockets (nil counts nothing).
	Metrics *metrics.Metrics
	// OperationJSON is an operation as the API answers it, shown raw on
	// the operation page; nil shows the engine's own encoding.
	OperationJSON func(*engine.Operation) any
	// Sessions keeps the staff sessions; nil keeps them in the engine's
	// store.
	Sessions SessionStore
	Options
}

// Options tune the dashboard. Zero values take the defaults.
type Options struct {
	// Storage feeds the storage-health page; nil shows "not wired".
	Storage StorageStats
	// Sandbox feeds the sandbox page; nil shows "no sandbox".
	Sandbox SandboxState
	// ShopifyOAuth enables Connect with Shopify (nil: not offered).
	ShopifyOAuth ShopifyOAuth
	// ShopOrigins are the origins, besides https://*.myshopify.com, that
	// Connect with Shopify may send the browser to (the CSP's form-action
	// allows them): sandboxes of serve --shopify-domain-map.
	ShopOrigins []string
	// SessionIdle ends a session after this long without a request
	// (default 2 h); SessionMax ends it this long after sign-in (12 h).
	SessionIdle time.Duration
	SessionMax  time.Duration
	// LoginBurst sign-in attempts are allowed at once per client IP and
	// per email (default 10), then one more per LoginRefill (30 s). A
	// successful sign-in gives its attempt back: only failures count.
	LoginBurst  int
	LoginRefill time.Duration
	// LoginLimits keeps the sign-in buckets where every node of the
	// installation sees them (storage.DB on PostgreSQL); nil keeps them in
	// this process (one node, bbolt).
	LoginLimits LoginLimits
	// SendQueue is each websocket client's queue of messages (default
	// 64); a client whose queue is full is disconnected.
	SendQueue int
	// PingEvery is the websocket ping period (default 25 s); a client that
	// answers no ping for two periods is disconnected.
	PingEvery time.Duration
	// BulkTimeout bounds one bulk retry or cancel (default 30 s): past
	// it, the call stops and the page shows what was done and where the
	// preview goes on.
	BulkTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.SessionIdle <= 0 {
		o.SessionIdle = 2 * time.Hour
	}
	if o.SessionMax <= 0 {
		o.SessionMax = 12 * time.Hour
	}
	if o.LoginBurst <= 0 {
		o.LoginBurst = 10
	}
	if o.LoginRefill <= 0 {
		o.LoginRefill = 30 * time.Second
	}
	if o.SendQueue <= 0 {
		o.SendQueue = 64
	}
	if o.PingEvery <= 0 {
		o.PingEvery = 25 * time.Second
	}
	if o.BulkTimeout <= 0 {
		o.BulkTimeout = 30 * time.Second
	}
	return o
}

// Dashboard is the dashboard's state: sessions, the sign-in limiter, the
// websocket hub, the tally and the caches of names.
type Dashboard struct {
	eng     *engine.Engine
	log     *slog.Logger
	now     func() time.Time
	opts    Options
	metrics *metrics.Metrics
	opJSON  func(*engine.Operation) any
	// orders reads an event's orders (the engine's; a test counts the reads).
	orders func(companyID, eventID uint64) ([]*engine.Order, error)
	// loadEventsList is eventsList, called off the hub's goroutine when an
	// events list joins (a test holds it).
	loadEventsList func(get func(string) string) (views.EventsPage, error)
	sessions       *sessionStore
	logins         *loginLimiter
	tally          *liveTally
	hub            *hub
	names          *nameCache
	// secure marks cookies Secure (PublicURL is https).
	secure bool
	// origin is PublicURL's origin, "" without one; wsSource is the
	// websocket origin the CSP allows besides 'self'.
	origin   string
	wsSource string
}

// New builds the dashboard and starts its websocket hub, subscribed to the
// engine's transitions from now on. Mount its routes with Mount; call
// CloseSockets on shutdown.
func New(cfg Config) *Dashboard {
	opts := cfg.Options.withDefaults()
	now := cfg.Clock
	if now == nil {
		now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	sessions := cfg.Sessions
	if sessions == nil {
		sessions = cfg.Engine
	}
	d := &Dashboard{
		eng:      cfg.Engine,
		log:      log.With("component", "dashboard"),
		now:      now,
		opts:     opts,
		metrics:  cfg.Metrics,
		opJSON:   cfg.OperationJSON,
		sessions: newSessionStore(sessions, log, opts.SessionIdle, opts.SessionMax, now),
		logins:   newLoginLimiter(opts.LoginBurst, opts.LoginRefill, now, opts.LoginLimits),
		tally:    newLiveTally(cfg.Engine, now),
		names:    newNameCache(cfg.Engine),
		origin:   urlOrigin(strings.TrimRight(cfg.PublicURL, "/")),
	}
	d.orders = cfg.Engine.Orders
	d.loadEventsList = d.eventsList
	if d.opJSON == nil {
		d.opJSON = func(op *engine.Operation) any { return op }
	}
	if strings.HasPrefix(d.origin, "https://") {
		d.secure = true
		d.wsSource = "wss://" + strings.TrimPrefix(d.origin, "https://")
	} else if d.origin != "" {
		d.wsSource = "ws://" + strings.TrimPrefix(d.origin, "http://")
	}
	d.hub = newHub(d)
	d.metrics.WatchWebsocketClients(d.hub.connected)
	return d
}

// Mount registers every dashboard route on app. The app's own error
// handler never sees the dashboard's refusals: they are answered as HTML
// pages here (htmlError).
func (d *Dashboard) Mount(app *fiber.App) {
	app.Get("/static/*", d.static)

	app.Get("/login", d.public(d.loginPage))
	app.Post("/login", d.public(d.login))
	app.Get("/logout", d.page(d.signOutPage))
	app.Post("/logout", d.form(false, d.logout))

	app.Get("/", d.page(d.overview))
	app.Get("/operations", d.page(d.operations))
	app.Get("/operations/:id", d.page(d.operation))
	app.Get("/operations/:id/json", d.page(d.operationJSON))
	app.Post("/operations/:id/cancel", d.form(true, d.cancelOperation))
	app.Post("/operations/:id/retry", d.form(true, d.retryOperation))
	app.Get("/bulk", d.page(d.bulkPage))
	app.Post("/bulk", d.form(true, d.bulkAction))
	app.Get("/search", d.page(d.search))
	app.Get("/events", d.page(d.events))
	app.Get("/events/:id", d.page(d.event))
	app.Get("/companies", d.page(d.companies))
	app.Post("/companies", d.form(true, d.createCompany))
	app.Post("/companies/:id/shop", d.form(true, d.connectShop))
	app.Post("/companies/:id/shopify", d.form(true, d.beginShopifyConnect))
	app.Get("/shopify/callback", d.page(d.shopifyCallback))
	app.Get("/companies/:id/webhooks", d.page(d.webhooks))
	app.Post("/companies/:id/webhooks/:ep/deliveries/:delivery/retry", d.form(true, d.retryDelivery))
	app.Get("/keys", d.page(d.keys))
	app.Post("/keys", d.form(true, d.createKey))
	app.Post("/keys/:id/revoke", d.form(true, d.revokeKey))
	app.Post("/admintokens/:id/revoke", d.form(true, d.revokeAdminToken))
	app.Get("/aliases", d.page(d.aliases))
	app.Get("/audit", d.page(d.audit))
	app.Get("/storage", d.page(d.storage))
	app.Get("/sandbox", d.page(d.sandbox))

	wsCfg := websocket.Config{
		HandshakeTimeout: 10 * time.Second,
		RecoverHandler:   d.recoverSocket,
	}
	if d.origin != "" {
		wsCfg.Origins = []string{d.origin}
	}
	app.Get("/session", d.sessionState)
	app.Get("/ws", d.wsGuard, websocket.New(d.serveSocket, wsCfg))
}

// CloseSockets closes every dashboard websocket with 1012 (service
// restart; htmx's ws extension reconnects after it), refuses new ones and
// stops the hub. Fiber's shutdown does not see upgraded connections, so the
// server calls it. It is safe to call more than once.
func (d *Dashboard) CloseSockets() { d.hub.shutdown() }

// AdminGuard admits a signed-in admin and refuses everyone else, for routes
// outside the dashboard that only admins may use (GET /backup). A browser
// that is not signed in is sent to the sign-in form, which brings it back.
func (d *Dashboard) AdminGuard(c *fiber.Ctx) error {
	sess := d.sessions.get(c.Cookies(sessionCookie))
	switch {
	case sess == nil && c.Method() == fiber.MethodGet:
		d.headers(c)
		return c.Redirect("/login?next="+url.QueryEscape(c.OriginalURL()), http.StatusSeeOther)
	case sess == nil:
		d.headers(c)
		return d.htmlError(c, nil, dashForbidden("Sign in as an admin first."))
	case !sess.admin():
		d.headers(c)
		return d.htmlError(c, sess, dashForbidden("Only admins may do this: your role is viewer."))
	}
	return c.Next()
}

// AdminRequest reports whether r carries the session cookie of a signed-in
// admin (the sandbox's control routes accept such requests from anywhere).
func (d *Dashboard) AdminRequest(r *http.Request) bool {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return false
	}
	sess := d.sessions.get(c.Value)
	return sess != nil && sess.admin()
}

// dashHandler is a dashboard page or action; sess is nil on public pages.
type dashHandler func(c *fiber.Ctx, sess *staffSession) error

// public serves a page that needs no session (the sign-in form).
func (d *Dashboard) public(h dashHandler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		d.headers(c)
		return d.htmlError(c, d.sessions.get(c.Cookies(sessionCookie)), h(c, nil))
	}
}

// page serves a page for signed-in staff; others go to the sign-in form,
// which brings them back.
func (d *Dashboard) page(h dashHandler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		d.headers(c)
		sess := d.sessions.get(c.Cookies(sessionCookie))
		if sess == nil {
			return c.Redirect("/login?next="+url.QueryEscape(c.OriginalURL()), http.StatusSeeOther)
		}
		return d.htmlError(c, sess, h(c, sess))
	}
}

// form serves a POST: signed in, from this origin, with the session's
// CSRF token, and by an admin when admin is set. Anything else is 403.
func (d *Dashboard) form(admin bool, h dashHandler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		d.headers(c)
		sess := d.sessions.get(c.Cookies(sessionCookie))
		// The origin first: a browser does not send the SameSite=Lax
		// session cookie with a cross-site POST, and "your session has
		// ended" would send the user looking for the wrong cause.
		switch {
		case !d.sameOrigin(c):
			return d.htmlError(c, sess, dashCrossSite())
		case sess == nil:
			return d.htmlError(c, nil, dashForbidden("Your session has ended. Sign in again."))
		case !csrfOK(c, sess.csrf):
			return d.htmlError(c, sess, dashForbidden("The form's security token is missing or stale. Reload the page and try again."))
		case admin && !sess.admin():
			return d.htmlError(c, sess, dashForbidden("Only admins may do this: your role is viewer."))
		}
		return d.htmlError(c, sess, h(c, sess))
	}
}

// headers are the security headers of every dashboard answer. The CSP
// allows only this site's scripts, styles and websocket: no inline script
// or style anywhere (the pages and htmx's configuration are written for
// it).
func (d *Dashboard) headers(c *fiber.Ctx) {
	connect := "'self'"
	ws := d.wsSource
	if ws == "" {
		ws = "ws://" + c.Hostname()
		if c.Protocol() == "https" {
			ws = "wss://" + c.Hostname()
		}
	}
	connect += " " + ws
	forms := "'self'"
	if d.opts.ShopifyOAuth != nil {
		// Connect with Shopify's form is answered with a redirect to the
		// shop's authorize page, which form-action governs too.
		forms += " https://*.myshopify.com"
		for _, o := range d.opts.ShopOrigins {
			forms += " " + o
		}
	}
	c.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src "+connect+"; form-action "+forms+"; frame-ancestors 'none'; base-uri 'none'")
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set("X-Frame-Options", "DENY")
	c.Set("Referrer-Policy", "same-origin")
	// Pages carry CSRF tokens and, once, a new API key.
	c.Set(fiber.HeaderCacheControl, "no-store")
}

// pageOf is the layout's data for a request.
func (d *Dashboard) pageOf(c *fiber.Ctx, sess *staffSession, title, nav string, live bool) views.Page {
	p := views.Page{Title: title, Path: c.OriginalURL(), Nav: nav, Live: live}
	if sess != nil {
		p.User, p.CSRF, p.Admin = sess.email, sess.csrf, sess.admin()
		n := d.tally.counts()
		p.Running, p.Failed, p.Counted = n.Running, n.Failed, true
		p.Revoked = d.revokedShops()
	}
	return p
}

// revokedShops are the companies whose shop refuses our calls, for the
// banner every page shows. Companies are few; a failure to read them
// shows no banner rather than no page.
func (d *Dashboard) revokedShops() []views.RevokedShop {
	cs, err := d.eng.Companies()
	if err != nil {
		d.log.Warn("companies for the revoked-shop banner", "err", err)
		return nil
	}
	var out []views.RevokedShop
	for _, co := range cs {
		switch {
		case !co.Shopify():
		case co.Shop.Revoked:
			out = append(out, views.RevokedShop{CompanyID: co.ID, Company: co.Name, Domain: co.Shop.Domain})
		case co.Shop.TokenRefusedAt != nil:
			out = append(out, views.RevokedShop{CompanyID: co.ID, Company: co.Name, Domain: co.Shop.Domain, Refused: co.Shop.TokenRefused})
		}
	}
	return out
}

// NotFoundPage reports whether a request that no route took gets the
// dashboard's not-found page (NotFound): a GET or HEAD of a path outside
// the API, the webhooks, the sandbox, the static files and the websocket.
// The server's error handler asks it when Fiber answers 404 at the end of
// its stack, so it holds whatever routes are added later.
func (d *Dashboard) NotFoundPage(c *fiber.Ctx) bool {
	if c.Method() != fiber.MethodGet && c.Method() != fiber.MethodHead {
		return false
	}
	path := c.Path()
	if path == "/api" || path == "/ws" {
		return false
	}
	for _, prefix := range []string{"/api/", "/webhooks/", "/sandbox/shopify/", "/static/"} {
		if strings.HasPrefix(path, prefix) {
			return false
		}
	}
	return true
}

// NotFound answers with the dashboard's not-found page (404), with the
// navigation for signed-in staff.
func (d *Dashboard) NotFound(c *fiber.Ctx) error {
	d.headers(c)
	sess := d.sessions.get(c.Cookies(sessionCookie))
	return d.htmlError(c, sess, &dashError{status: http.StatusNotFound, title: "Page not found",
		message: "There is no page at " + c.Path() + "."})
}

// dashRender answers with a component as HTML, rendered straight into the
// body. The component gets the request's user context, not fasthttp's
// RequestCtx: that one's Err reads the server's state, which races a server
// starting to listen (the race detector caught it in the dashboard tests).
func dashRender(c *fiber.Ctx, status int, comp templ.Component) error {
	c.Status(status)
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return comp.Render(c.UserContext(), c.Response().BodyWriter())
}

// dashError is an error with the status and words of its HTML page.
type dashError struct {
	status  int
	title   string
	message string
}

func (e *dashError) Error() string { return e.title + ": " + e.message }

func dashForbidden(msg string) error {
	return &dashError{status: http.StatusForbidden, title: "Not allowed", message: msg}
}

// dashCrossSite is the refusal of a POST whose Origin is another site's.
func dashCrossSite() error {
	return &dashError{status: http.StatusForbidden, title: "Refused: request from another site",
		message: "This request came from another site and was refused; nothing was changed. " +
			"If you meant to do this, open the dashboard itself and use its form."}
}

func dashBadRequest(msg string) error {
	return &dashError{status: http.StatusBadRequest, title: "Bad request", message: msg}
}

// htmlError answers err as an HTML page (the API's error handler answers
// problem+json, which is for programs): engine errors by kind, with the
// status web/httperr gives that kind, so a browser and an API client see the
// same status; anything unclassified as a logged internal error.
func (d *Dashboard) htmlError(c *fiber.Ctx, sess *staffSession, err error) error {
	if err == nil {
		return nil
	}
	var de *dashError
	var fe *fiber.Error
	var ee *engine.Error
	switch {
	case errors.As(err, &de):
	case errors.As(err, &ee) && ee.Kind != engine.KindInternal:
		class := httperr.Of(ee.Kind)
		de = &dashError{status: class.Status, title: class.Title, message: ee.Message}
		if ee.Kind == engine.KindInvalid {
			de.message = fieldMessages(ee)
		}
		if ee.Kind == engine.KindOverloaded {
			c.Set(fiber.HeaderRetryAfter, strconv.Itoa(httperr.OverloadedRetryAfter))
		}
	case errors.As(err, &fe) && fe.Code < 500:
		de = &dashError{status: fe.Code, title: http.StatusText(fe.Code), message: fe.Message}
	default:
		d.log.Error("dashboard: internal error", "method", c.Method(), "path", c.Path(), "err", err)
		de = &dashError{status: http.StatusInternalServerError, title: "Internal error",
			message: "Something went wrong on our side; it has been logged."}
	}
	c.Response().ResetBody()
	p := d.pageOf(c, sess, de.title, "", false)
	return dashRender(c, de.status, views.ErrorView(p, views.ErrorPage{Status: de.status, Title: de.title, Message: de.message}))
}

// fieldMessages joins a validation error's field messages.
func fieldMessages(e *engine.Error) string {
	if len(e.Fields) == 0 {
		return e.Message
	}
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = strings.ReplaceAll(f.Attribute, "_", " ") + " " + f.Message
	}
	return strings.Join(parts, "; ") + "."
}

// static serves the embedded assets under their content-hashed URLs: a
// URL's content never changes, so it may be cached for a year.
func (d *Dashboard) static(c *fiber.Ctx) error {
	a, ok := static.Lookup(c.Path())
	if !ok {
		c.Set(fiber.HeaderCacheControl, "no-store")
		return c.Status(http.StatusNotFound).SendString("no such asset")
	}
	body := a.Body
	c.Set(fiber.HeaderContentType, a.ContentType)
	c.Set(fiber.HeaderCacheControl, "public, max-age=31536000, immutable")
	c.Set("X-Content-Type-Options", "nosniff")
	return c.Send(body)
}

// dashPathID parses a numeric path parameter; anything else is a 404.
func dashPathID(c *fiber.Ctx, name string) (uint64, error) {
	id, err := strconv.ParseUint(c.Params(name), 10, 64)
	if err != nil || id == 0 {
		return 0, engine.NotFound("no such page")
	}
	return id, nil
}
