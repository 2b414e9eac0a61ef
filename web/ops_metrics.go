package web

import (
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"

	"eventops/web/httperr"
	"eventops/web/metrics"
)

// storageFigures reads the data file's figures for the storage_* series.
func storageFigures(df DataFile) func() (metrics.StorageFigures, error) {
	return func() (metrics.StorageFigures, error) {
		h, err := df.StorageHealth()
		return metrics.StorageFigures{FileSize: h.FileSize, FreePages: h.FreePages,
			OpenReadTxs: h.OpenReadTxs, Commits: h.Commits, Updates: h.Updates}, err
	}
}

// serveMetrics answers GET /metrics: to loopback clients not relayed by a
// proxy, or to anyone with Config.MetricsPublic. Operation counts and
// route latencies describe the business; they are not for the internet.
func (s *Server) serveMetrics() fiber.Handler {
	h := adaptor.HTTPHandler(s.metrics.Handler(s.log))
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
