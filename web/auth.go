package web

import (
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"

	"eventops/engine"
	"eventops/web/docs"
	"eventops/web/httperr"
)

type apiKeyLocal struct{}

// authenticate reads `Authorization: Token <key>` or `Bearer <key>` and
// resolves the key through the engine, which caches keys and batches their
// last-use writes: no hashing beyond one SHA-256, no write per request.
func (s *Server) authenticate(c *fiber.Ctx) error {
	scheme, token, _ := strings.Cut(strings.TrimSpace(c.Get(fiber.HeaderAuthorization)), " ")
	token = strings.TrimSpace(token)
	if token == "" || !(strings.EqualFold(scheme, "Token") || strings.EqualFold(scheme, "Bearer")) {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="eventops", Token realm="eventops"`)
		return httperr.New(http.StatusUnauthorized, httperr.TypeUnauthorized,
			"send an API key as `Authorization: Token <key>` or `Authorization: Bearer <key>`")
	}
	key, err := s.eng.Authenticate(token)
	if err != nil {
		if engine.ErrorKind(err) == engine.KindUnauthorized {
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="eventops", Token realm="eventops"`)
		}
		return err
	}
	c.Locals(apiKeyLocal{}, key)
	return c.Next()
}

// operatorGuard admits, on the operator routes (GET /backup), a script
// sending an installation admin token (`Authorization: Bearer <token>`,
// from `eventops admintoken create`), else whoever Config.AdminGuard
// admits (a signed-in admin). A request that sends a token is judged by
// the token alone: a wrong one is 401, never a sign-in redirect.
func (s *Server) operatorGuard(c *fiber.Ctx) error {
	auth := strings.TrimSpace(c.Get(fiber.HeaderAuthorization))
	if auth == "" {
		return s.cfg.AdminGuard(c)
	}
	scheme, token, _ := strings.Cut(auth, " ")
	if !strings.EqualFold(scheme, "Bearer") && !strings.EqualFold(scheme, "Token") {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="eventops operator"`)
		return httperr.New(http.StatusUnauthorized, httperr.TypeUnauthorized, "send an admin token as `Authorization: Bearer <token>`")
	}
	if _, err := s.eng.AuthenticateAdminToken(strings.TrimSpace(token)); err != nil {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="eventops operator"`)
		return err
	}
	return c.Next()
}

// apiKey is the authenticated key of the request.
func apiKey(c *fiber.Ctx) *engine.APIKey {
	k, _ := c.Locals(apiKeyLocal{}).(*engine.APIKey)
	return k
}

// companyID is the company of the request's key: every read and write is
// confined to it, and another company's ids answer 404.
func companyID(c *fiber.Ctx) uint64 { return apiKey(c).CompanyID }

// requireScope refuses a key without scope with 403.
func (s *Server) requireScope(scope engine.Scope) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if !apiKey(c).Can(scope) {
			return httperr.New(http.StatusForbidden, httperr.TypeForbidden,
				"this API key lacks the "+string(scope)+" scope")
		}
		return c.Next()
	}
}

// getCompany answers GET /api/v2: who the key belongs to.
func (s *Server) getCompany(c *fiber.Ctx) error {
	co, err := s.eng.Company(companyID(c))
	if err != nil {
		return err
	}
	return sendJSON(c, http.StatusOK, companyJSON{ID: co.ID, Name: co.Name, Links: companyLinks{
		Docs:    s.url(docs.Prefix + "api"),
		OpenAPI: s.url("/api/v2/openapi.json"),
	}})
}

type companyJSON struct {
	ID    uint64       `json:"id"`
	Name  string       `json:"name"`
	Links companyLinks `json:"links"`
}

// companyLinks point a newcomer exploring the API root at its reference:
// the documents this server serves (web/docs) and the OpenAPI document.
type companyLinks struct {
	Docs    string `json:"docs"`
	OpenAPI string `json:"openapi"`
}
