package web

import (
	_ "embed"

	"github.com/gofiber/fiber/v2"
)

// openAPIDocument is the OpenAPI 3.1 description of the whole API. It is
// kept true by TestOpenAPI, which validates real answers of every route
// against it.
//
//go:embed openapi.json
var openAPIDocument []byte

// openAPI answers GET /api/v2/openapi.json. It needs no API key: the
// document describes the API, not a company's data.
func (s *Server) openAPI(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	c.Set(fiber.HeaderCacheControl, "public, max-age=300")
	return c.Send(openAPIDocument)
}
