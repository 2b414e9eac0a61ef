package web

import (
	"errors"
	"github.com/gofiber/fiber/v2"

	"eventops/web/httperr"
)

// handleError is the app's one ErrorHandler: every failure becomes a
// problem+json answer (web/httperr classifies it, and maps an engine error's
// kind to its status). Anything unclassified is an internal error: logged
// in full, answered as "internal error" only.
func (s *Server) handleError(c *fiber.Ctx, err error) error {
	// A browser's GET of a path no route has (Fiber's own 404, at the end
	// of the stack) is the dashboard's not-found page; the API and the
	// other machine paths keep problem+json.
	var fe *fiber.Error
	if errors.As(err, &fe) && fe.Code == fiber.StatusNotFound && s.dash.NotFoundPage(c) {
		return s.dash.NotFound(c)
	}
	p := httperr.From(err)
	if p == nil {
		s.log.ErrorContext(c.UserContext(), "internal error", "method", c.Method(), "path", c.Path(), "err", err)
		p = httperr.Internal()
	}
	return httperr.Write(c, p)
}
