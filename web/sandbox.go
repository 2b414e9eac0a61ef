package web

import (
	"net/http"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
)

// mountSandbox serves the built-in Shopify sandbox (a plain http.Handler that
// expects the full /sandbox/shopify/... path) when one is configured. It is
// outside the API: shops authenticate with their own access tokens, and its
// control routes authorise themselves (loopback, or AdminRequest).
func (s *Server) mountSandbox(app *fiber.App) {
	if s.cfg.Sandbox == nil {
		return
	}
	h := adaptor.HTTPHandler(s.cfg.Sandbox)
	app.All("/sandbox/shopify", h)
	app.All("/sandbox/shopify/*", h)
}

// AdminRequest reports whether r carries the session cookie of a signed-in
// admin: the sandbox's control routes accept such requests from anywhere.
func (s *Server) AdminRequest(r *http.Request) bool { return s.dash.AdminRequest(r) }
