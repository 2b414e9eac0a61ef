package ops

import (
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"

	"eventops/web/httperr"
)

// serveMetrics answers GET /metrics: to loopback clients not relayed by a
// proxy, or to anyone with Config.MetricsPublic. Operation counts and
// route latencies describe the business; they are not for the internet.
func (s *routes) serveMetrics() fiber.Handler {
	h := adaptor.HTTPHandler(s.cfg.Metrics.Handler(s.log))
	return func(c *fiber.Ctx) error {
		if !s.cfg.MetricsPublic && !directLoopback(c) {
			return httperr.New(fiber.StatusForbidden, httperr.TypeForbidden,
				"/metrics answers loopback clients only; start the server with --metrics-public to let any client scrape it")
		}
		c.Set(fiber.HeaderCacheControl, "no-store")
		return h(c)
	}
}

// directLoopback reports whether the request comes from this machine and
// not through a reverse proxy on it (which would make every client look
// local).
func directLoopback(c *fiber.Ctx) bool {
	if !c.Context().RemoteIP().IsLoopback() {
		return false
	}
	for _, h := range []string{fiber.HeaderXForwardedFor, "Forwarded", "X-Real-Ip"} {
		if c.Get(h) != "" {
			return false
		}
	}
	return true
}
