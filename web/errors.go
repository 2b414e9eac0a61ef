package web

import (
	"github.com/gofiber/fiber/v2"

	"eventops/web/httperr"
)

// handleError is the app's one ErrorHandler: every failure becomes a
// problem+json answer (web/httperr classifies it, and maps an engine error's
// kind to its status). Anything unclassified is an internal error: logged
// in full, answered as "internal error" only.
func (s *Server) handleError(c *fiber.Ctx, err error) error {
	p := httperr.From(err)
	if p == nil {
		s.log.ErrorContext(c.UserContext(), "internal error", "method", c.Method(), "path", c.Path(), "err", err)
		p = httperr.Internal()
	}
	return httperr.Write(c, p)
}
