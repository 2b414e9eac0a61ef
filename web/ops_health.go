package web

import (
	"net/http"

	"github.com/gofiber/fiber/v2"

	"eventops/engine"
)

// mountOps registers the operator's routes (DESIGN §6), outside the API:
// no API key, no rate limit. /metrics answers loopback clients unless
// Config.MetricsPublic; /backup exists only with an admin guard and a data
// file to copy.
func (s *Server) mountOps(app *fiber.App) {
	app.Get("/healthz", s.healthz)
	app.Get("/readyz", s.readyz)
	app.Get("/metrics", s.serveMetrics())
	if s.cfg.AdminGuard != nil && s.cfg.DataFile != nil {
		app.Get("/backup", s.cfg.AdminGuard, s.backup)
	}
}

type healthJSON struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

// healthz is liveness: 200 for as long as the process answers HTTP.
func (s *Server) healthz(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	return sendJSON(c, http.StatusOK, healthJSON{Status: "ok"})
}

// readyz is readiness: 200 when the data file answers a read and the
// engine is running; 503 with the reason otherwise (while starting, once
// shutdown has begun, when the file is closed). A load balancer stops
// sending traffic on 503; a liveness probe must not restart on it.
func (s *Server) readyz(c *fiber.Ctx) error {
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
func (s *Server) notReady(c *fiber.Ctx) string {
	if s.ctx.Err() != nil {
		return "shutting down"
	}
	if !s.eng.Running() {
		return "engine not running"
	}
	if err := s.eng.Store().View(func(engine.Tx) error { return nil }); err != nil {
		s.log.WarnContext(c.UserContext(), "readiness: storage does not answer", "err", err)
		return "storage not answering"
	}
	return ""
}
