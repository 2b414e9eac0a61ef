// Package web is eventops' Fiber application. It owns the app and its
// plumbing (request ids, access log, HTTP metrics, body decoding, the error
// handler) and the JSON API under /api/v2 (DESIGN §3): authentication, rate
// limits, Idempotency-Key, pagination, and one file per resource. The rest
// of the app lives in rooms of its own, which New mounts:
//
//	web/dash     the staff dashboard (HTML pages and their websocket)
//	web/ops      the operator's routes: /healthz, /readyz, /metrics, /backup
//	web/metrics  the Prometheus registry the engine, the Shopify client and
//	             the server report to (main builds it)
//	web/httperr  an error kind's HTTP status, and the problem+json answer
//	web/client   the Go client of the API (of eventops it imports only the
//	             engine's retry policy)
//
// web imports engine and those rooms; only package main imports web. The
// rooms never import web: what they need of it comes through their Config.
package web

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/recover"

	"eventops/engine"
	"eventops/web/dash"
	"eventops/web/docs"
	"eventops/web/metrics"
	"eventops/web/ops"
)

// Config wires a Server. Engine is required.
type Config struct {
	Engine *engine.Engine
	Logger *slog.Logger
	// PublicURL is the server's external base URL (e.g.
	// "https://ops.example.com"); links in answers are absolute under it,
	// and relative when it is empty.
	PublicURL string
	// RateLimit is requests per minute per API key; 0 switches it off.
	RateLimit int
	// RateBudget makes the rate limit one budget shared by every node of
	// the installation (see rateLimiter); nil counts in this process alone.
	RateBudget RateBudget
	// AliasSunset is the announced end of the deprecated sync-job aliases
	// (DESIGN §3.1); the zero value means DefaultAliasSunset.
	AliasSunset time.Time
	// EnforceSunset makes the aliases answer 410 once AliasSunset passed.
	EnforceSunset bool
	// Clock is injected so that tests are exact (default time.Now).
	Clock func() time.Time

	// Metrics collects what /metrics serves; nil makes a fresh one (with
	// HTTP and storage series only: main shares one with the engine).
	Metrics *metrics.Metrics
	// MetricsPublic lets any client read /metrics; by default only
	// loopback clients not relayed by a proxy may (see static/docs/operating.md, "Metrics").
	MetricsPublic bool
	// DataFile is the data file: scraped into /metrics, copied by
	// GET /backup. nil leaves both out.
	DataFile DataFile
	// AdminGuard admits signed-in admins and refuses everyone else; nil
	// means the dashboard's own. GET /backup is mounted only with one.
	AdminGuard fiber.Handler
	// Dashboard configures the staff pages (storage health, sandbox state);
	// its Storage defaults to DataFile.
	Dashboard dash.Options
	// Sandbox is the built-in Shopify sandbox, served under
	// /sandbox/shopify/ when set.
	Sandbox http.Handler
	// ShopWebhooks receives the shops' webhooks under /webhooks/shopify/
	// when set (see web/webhooks.go).
	ShopWebhooks ShopWebhooks
}

// DefaultAliasSunset is the sunset date of the sync-job aliases.
var DefaultAliasSunset = time.Date(2026, 9, 4, 0, 0, 0, 0, time.UTC)

// BodyLimit is the largest request body accepted (413 above): on the wire
// (fasthttp refuses more) and once decoded (decodeBody refuses a compressed
// body that decodes to more).
const BodyLimit = 1 << 20

// Server is the HTTP side of eventops. It owns the Fiber app; the API is
// mounted by New, and other files of the package may add their own groups.
type Server struct {
	cfg    Config
	eng    *engine.Engine
	log    *slog.Logger
	now    func() time.Time
	app    *fiber.App
	public string // PublicURL without a trailing slash

	limiter  *rateLimiter
	inflight *inflightKeys
	ops      *opCache

	dash     *dash.Dashboard
	metrics  *metrics.Metrics
	routes   routeSet
	newReqID func() string
	// decodedBytes counts the bytes decodeBody decoded out of compressed
	// bodies, refused ones included.
	decodedBytes atomic.Int64
	// heldPolls counts the long-polls being held (?wait=N): what a test
	// waits on before it makes the change they wait for.
	heldPolls atomic.Int64

	// ctx is cancelled when Shutdown begins: held long-polls answer at once.
	ctx    context.Context
	cancel context.CancelFunc
}

// New builds the server and mounts every route of the API.
func New(cfg Config) *Server {
	s := &Server{
		cfg:      cfg,
		eng:      cfg.Engine,
		log:      cfg.Logger,
		now:      cfg.Clock,
		public:   strings.TrimRight(cfg.PublicURL, "/"),
		inflight: newInflightKeys(),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = slog.New(LogRequestIDs(s.log.Handler()))
	if s.metrics = cfg.Metrics; s.metrics == nil {
		s.metrics = metrics.New()
	}
	if cfg.DataFile != nil {
		s.metrics.WatchStorage(storageFigures(cfg.DataFile))
	}
	s.metrics.WatchWebhooks(s.webhookFigures)
	s.newReqID = newRequestID
	if s.now == nil {
		s.now = time.Now
	}
	if s.cfg.AliasSunset.IsZero() {
		s.cfg.AliasSunset = DefaultAliasSunset
	}
	s.limiter = newRateLimiter(cfg.RateLimit, s.now, cfg.RateBudget)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.ops = newOpCache(s.eng.Broker(), opCacheSize)
	s.app = fiber.New(fiber.Config{
		AppName: "eventops",
		// Every string and byte slice read from a request (FormValue,
		// Params, Query, Get, Cookies, Body...) is a copy that may be kept:
		// one rule instead of clones by hand, which were missed once and
		// corrupted a company's name in the storage cache. Measured cost:
		// see BenchmarkOperationGet.
		Immutable:             true,
		ErrorHandler:          s.onError,
		BodyLimit:             BodyLimit,
		ReadTimeout:           30 * time.Second,
		IdleTimeout:           120 * time.Second,
		DisableStartupMessage: true,
		// Long-polls are held up to 60 s: the write deadline is set when
		// the answer is written, so it does not count the hold.
		WriteTimeout: 30 * time.Second,
	})
	s.app.Use(s.observeRequests) // request id, access log, HTTP metrics
	s.app.Use(recover.New(recover.Config{
		EnableStackTrace: true,
		StackTraceHandler: func(c *fiber.Ctx, e any) {
			s.log.ErrorContext(c.UserContext(), "panic in handler", "method", c.Method(), "path", c.Path(), "panic", e)
		},
	}))
	s.app.Use(s.decodeBody) // before anything reads a body
	mustDocs().Mount(s.app)
	s.dash = s.newDashboard()
	s.dash.Mount(s.app)
	if s.cfg.AdminGuard == nil {
		s.cfg.AdminGuard = s.dash.AdminGuard
	}
	ops.Mount(s.app, ops.Config{
		Engine: s.eng, Logger: s.log, Clock: s.now, Context: s.ctx,
		Metrics: s.metrics, MetricsPublic: cfg.MetricsPublic,
		DataFile: s.cfg.DataFile, AdminGuard: s.operatorGuard,
	})
	s.mountAPI(s.app)
	s.mountWebhooks(s.app)
	s.mountSandbox(s.app)
	return s
}

// mustDocs renders the embedded documents once per process: they are
// compiled in, so a failure is a build defect, caught by any server test.
var mustDocs = sync.OnceValue(func() *docs.Docs {
	d, err := docs.Load()
	if err != nil {
		panic(err)
	}
	return d
})

// App returns the Fiber app, for Listen and for tests (app.Test).
func (s *Server) App() *fiber.App { return s.app }

// newDashboard builds the staff dashboard (web/dash) on the server's
// engine, clock, logger and metrics. Its operation page shows an operation
// exactly as the API answers it.
func (s *Server) newDashboard() *dash.Dashboard {
	opts := s.cfg.Dashboard
	if opts.Storage == nil && s.cfg.DataFile != nil {
		opts.Storage = s.cfg.DataFile
	}
	return dash.New(dash.Config{
		Engine: s.eng, Logger: s.log, Clock: s.now, PublicURL: s.public, Metrics: s.metrics,
		OperationJSON: func(op *engine.Operation) any { return operation(op) },
		Options:       opts,
	})
}

// Dashboard returns the staff dashboard mounted on the app.
func (s *Server) Dashboard() *dash.Dashboard { return s.dash }

// Metrics returns the server's metrics (Config.Metrics or its own).
func (s *Server) Metrics() *metrics.Metrics { return s.metrics }

// Shutdown answers held long-polls, stops accepting connections and waits
// for the requests in flight until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.cancel()
	// Fiber does not see upgraded connections: the dashboard closes its
	// sockets itself, with 1012 so that pages reconnect by themselves.
	s.dash.CloseSockets()
	err := s.app.ShutdownWithContext(ctx)
	s.ops.close()
	return err
}

// mountAPI sets up the /api/v2 group: every route of DESIGN §3 behind
// authentication and the per-key rate limit, reads needing the read scope
// and writes the write scope.
func (s *Server) mountAPI(app *fiber.App) {
	app.Get("/api/v2/openapi.json", s.openAPI)

	api := app.Group("/api/v2", s.authenticate, s.rateLimit)
	read := s.requireScope(engine.ScopeRead)
	write := s.requireScope(engine.ScopeWrite)
	idem := s.idempotent

	api.Get("/", read, s.getCompany)

	api.Get("/venues", read, s.listVenues)
	api.Post("/venues", write, s.jsonBody, idem(s.venueAnswer, s.venueOfRecord), s.createVenue)
	api.Get("/venues/:id", read, s.getVenue)

	api.Get("/ticket_types", read, s.listTicketTypes)
	api.Post("/ticket_types", write, s.jsonBody, idem(s.ticketTypeAnswer, s.ticketTypeOfRecord), s.createTicketType)
	api.Get("/ticket_types/:id", read, s.getTicketType)

	api.Get("/events", read, s.listEvents)
	api.Post("/events", write, s.jsonBody, idem(s.eventAnswer(http.StatusCreated), s.eventOfRecord), s.createEvent)
	api.Get("/events/:id", read, s.getEvent)
	api.Patch("/events/:id", write, s.jsonBody, idem(s.eventAnswer(http.StatusOK), s.eventOfRecord), s.updateEvent)
	api.Delete("/events/:id", write, s.jsonBody, idem(s.operationAnswer, s.operationOfRecord), s.deleteEvent)
	api.Post("/events/:id/refund", write, s.jsonBody, idem(s.operationAnswer, s.operationOfRecord), s.refundEvent)

	api.Get("/events/:id/orders", read, s.listOrders)
	api.Post("/events/:id/orders", write, s.jsonBody, idem(orderAnswer, s.orderOfRecord), s.createOrder)

	api.Get("/events/:id/operations", read, s.listEventOperations)
	api.Get("/events/:id/operations/:op", read, s.getOperation)
	api.Post("/events/:id/operations/:op/cancel", write, s.jsonBody, idem(s.operationAnswer, s.operationOfRecord), s.cancelOperation)
	api.Post("/events/:id/operations/:op/retry", write, s.jsonBody, idem(s.operationAnswer, s.operationOfRecord), s.retryOperation)
	api.Get("/operations", read, s.listOperations)
	api.Post("/operations/retry", write, s.jsonBody, s.bulkRetry)
	api.Post("/operations/cancel", write, s.jsonBody, s.bulkCancel)

	// Outbound webhooks (web/webhook_endpoints.go). Their writes keep no
	// idempotency record: a create's answer holds a secret shown once.
	api.Get("/webhook_endpoints", read, s.listWebhookEndpoints)
	api.Post("/webhook_endpoints", write, s.jsonBody, s.createWebhookEndpoint)
	api.Get("/webhook_endpoints/:id", read, s.getWebhookEndpoint)
	api.Patch("/webhook_endpoints/:id", write, s.jsonBody, s.updateWebhookEndpoint)
	api.Delete("/webhook_endpoints/:id", write, s.jsonBody, s.deleteWebhookEndpoint)
	api.Post("/webhook_endpoints/:id/rotate_secret", write, s.jsonBody, s.rotateWebhookSecret)
	api.Get("/webhook_endpoints/:id/deliveries", read, s.listEndpointDeliveries)
	api.Post("/webhook_endpoints/:id/deliveries/:delivery/retry", write, s.jsonBody, s.retryDelivery)
	api.Get("/webhook_deliveries", read, s.deliveriesFeed)

	// Deprecated names of the operations routes (DESIGN §3.1).
	api.Get("/events/:id/sync_jobs", read, s.alias(operationsSuccessor), s.listEventOperations)
	api.Get("/events/:id/sync_jobs/:op", read, s.alias(operationSuccessor), s.getOperation)

	// No catch-all: a request that no route above takes runs off the end of
	// the stack, where Fiber answers 405 with Allow when the path exists for
	// other methods (toAPIError: method_not_allowed), else 404.
}

// url makes an absolute link under PublicURL (relative without one).
func (s *Server) url(path string) string { return s.public + path }
