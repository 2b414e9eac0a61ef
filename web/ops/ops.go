// Package ops holds the operator's routes (DESIGN §6), outside the API: no
// API key, no rate limit. GET /healthz (liveness), GET /readyz (readiness),
// GET /metrics (the Prometheus exposition of web/metrics, loopback clients
// only unless MetricsPublic) and GET /backup (a consistent copy of the data
// file, behind an admin guard).
//
// It imports engine, web/httperr and web/metrics. Package web mounts it
// (web.New) and gives it the data file and the dashboard's admin guard; ops
// must never import web or web/dash.
package ops

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"eventops/engine"
	"eventops/web/metrics"
)

// Backuper copies the data file; main adapts *storage.DB (ops does not
// import storage).
type Backuper interface {
	// Backup writes a consistent snapshot of the file to w while writers
	// go on, and returns the bytes written.
	Backup(w io.Writer) (int64, error)
}

// Config wires the operator's routes. Engine and Context are required.
type Config struct {
	Engine *engine.Engine
	Logger *slog.Logger
	// Clock names backups (default time.Now).
	Clock func() time.Time
	// Context ends when the server's shutdown begins: /readyz answers 503
	// from then on, so that a load balancer stops sending traffic.
	Context context.Context
	// Metrics is served at /metrics (nil serves an empty exposition).
	Metrics *metrics.Metrics
	// MetricsPublic lets any client read /metrics; by default only
	// loopback clients not relayed by a proxy may (see static/docs/operating.md, "Metrics").
	MetricsPublic bool
	// DataFile is copied by GET /backup; AdminGuard admits who may ask.
	// /backup is mounted only with both.
	DataFile   Backuper
	AdminGuard fiber.Handler
}

// routes is the state the handlers share.
type routes struct {
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
	backupMu sync.Mutex
}

// Mount registers the operator's routes on app.
func Mount(app *fiber.App, cfg Config) {
	r := &routes{cfg: cfg, log: cfg.Logger, now: cfg.Clock}
	if r.log == nil {
		r.log = slog.Default()
	}
	if r.now == nil {
		r.now = time.Now
	}
	app.Get("/healthz", r.healthz)
	app.Get("/readyz", r.readyz)
	app.Get("/metrics", r.serveMetrics())
	if cfg.AdminGuard != nil && cfg.DataFile != nil {
		app.Get("/backup", cfg.AdminGuard, r.backup)
	}
}

// QuietRoutes are scraped and probed every few seconds: the server logs
// their access lines at debug, not info.
var QuietRoutes = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// sendJSON answers v as application/json.
func sendJSON(c *fiber.Ctx, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	c.Status(status)
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(body)
}

type healthJSON struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

// healthz is liveness: 200 for as long as the process answers HTTP.
func (s *routes) healthz(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	return sendJSON(c, http.StatusOK, healthJSON{Status: "ok"})
}

// readyz is readiness: 200 when the data file answers a read and the
// engine is running; 503 with the reason otherwise (while starting, once
// shutdown has begun, when the file is closed). A load balancer stops
// sending traffic on 503; a liveness probe must not restart on it.
func (s *routes) readyz(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	if reason := s.notReady(c); reason != "" {
		c.Set(fiber.HeaderRetryAfter, "5")
		return sendJSON(c, http.StatusServiceUnavailable, healthJSON{Status: "unavailable", Reason: reason})
	}
	return sendJSON(c, http.StatusOK, healthJSON{Status: "ready"})
}

// notReady says why the server should not take traffic, "" when it
// should. The reason is public: it names the part, never an error's text
// (which may hold paths); the error goes to the log.
func (s *routes) notReady(c *fiber.Ctx) string {
	if s.cfg.Context.Err() != nil {
		return "shutting down"
	}
	if !s.cfg.Engine.Running() {
		return "engine not running"
	}
	if err := s.cfg.Engine.Store().View(func(engine.Tx) error { return nil }); err != nil {
		s.log.WarnContext(c.UserContext(), "readiness: storage does not answer", "err", err)
		return "storage not answering"
	}
	return ""
}
