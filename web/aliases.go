package web

import (
	"net/http"

	"github.com/gofiber/fiber/v2"

	"eventops/web/httperr"
)

// deprecationDate is the aliases' deprecation (RFC 9745 form: @ and Unix
// seconds): 2026-06-06T00:00:00Z.
const deprecationDate = "@1780704000"

// successorFunc names the path that replaces an alias path.
type successorFunc func(c *fiber.Ctx) string

func operationsSuccessor(c *fiber.Ctx) string {
	return "/api/v2/events/" + c.Params("id") + "/operations"
}

func operationSuccessor(c *fiber.Ctx) string {
	return "/api/v2/events/" + c.Params("id") + "/operations/" + c.Params("op")
}

// sunsetEnforced reports whether the aliases are gone: enforcement is on and
// the sunset date has passed.
func (s *Server) sunsetEnforced() bool {
	return s.cfg.EnforceSunset && !s.now().Before(s.cfg.AliasSunset)
}

// setAliasHeader sets X-Event-Sync-Job-ID beside X-Event-Operation-ID until
// the aliases are gone.
func (s *Server) setAliasHeader(c *fiber.Ctx, opID string) {
	if !s.sunsetEnforced() {
		c.Set(HeaderSyncJobID, opID)
	}
}

// alias serves a deprecated sync-job path (DESIGN §3.1) with the handler of
// its successor, byte for byte, adding Deprecation, Sunset and a Link to the
// successor; once the sunset is enforced it answers 410 gone. Every use is
// counted per API key in memory; main flushes the counters in batches.
func (s *Server) alias(successor successorFunc) fiber.Handler {
	return func(c *fiber.Ctx) error {
		s.eng.RecordAliasUse(apiKey(c).ID, c.Path())
		path := successor(c)
		c.Locals(canonicalPathLocal{}, path)
		next := s.url(path)
		c.Set(fiber.HeaderLink, "<"+next+`>; rel="successor-version"`)
		if s.sunsetEnforced() {
			return &httperr.Problem{Status: http.StatusGone, Type: httperr.TypeGone, Successor: next,
				Detail: "the sync_jobs paths were retired on " + s.cfg.AliasSunset.UTC().Format("2006-01-02") +
					"; use " + next + " (same body)"}
		}
		c.Set("Deprecation", deprecationDate)
		c.Set("Sunset", s.cfg.AliasSunset.UTC().Format(http.TimeFormat))
		return c.Next()
	}
}
