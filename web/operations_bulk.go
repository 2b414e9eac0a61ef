package web

import (
	"context"

	"net/http"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"eventops/engine"
	"eventops/web/httperr"
)

// POST /api/v2/operations/retry and /cancel: bulk retry and cancel of the
// key's own company's operations that the list route's filters select
// (query parameters, as on GET /operations, which previews the set). The
// engine does the work; at most engine.MaxBulk operations per call, and a
// failure already retried or an operation already asked to cancel is
// skipped, so calling again carries on and never repeats. When meta.more
// is true, meta.next is the "before" to call again with: only ids below
// it, so a call goes on past a long run of skipped ones instead of
// reading them again.

// bulkMeta is the meta of a bulk answer.
type bulkMeta struct {
	Count   int  `json:"count"`
	Skipped int  `json:"skipped"`
	More    bool `json:"more"`
	// Next is set with More: the "before" parameter of the next call.
	Next uint64 `json:"next,omitempty"`
}

func (s *Server) bulkRetry(c *fiber.Ctx) error {
	return s.bulkOperations(c, s.eng.BulkRetry)
}

func (s *Server) bulkCancel(c *fiber.Ctx) error {
	return s.bulkOperations(c, s.eng.BulkCancel)
}

func (s *Server) bulkOperations(c *fiber.Ctx, act func(context.Context, engine.OperationQuery) (engine.BulkResult, error)) error {
	if err := noParameters(c.Body()); err != nil {
		return err
	}
	p, err := listParams(c, operationFilters...)
	if err != nil {
		return err
	}
	if c.Query("page[size]") != "" || c.Query("page[cursor]") != "" {
		return httperr.New(http.StatusBadRequest, httperr.TypeUnpermittedParameters,
			"a bulk call takes no page parameters: it acts on up to 1000 operations and says in meta.more whether more remain")
	}
	q, err := companyOperationQuery(c, p)
	if err != nil {
		return err
	}
	q.Limit = engine.MaxBulk
	if v := c.Query("before"); v != "" {
		if q.Before, err = strconv.ParseUint(v, 10, 64); err != nil || q.Before == 0 {
			return httperr.InvalidParam("before", "invalid", "must be an operation id: the meta.next of the call before")
		}
	}
	res, err := act(c.UserContext(), q)
	if err != nil {
		return err
	}
	out := make([]operationJSON, len(res.Operations))
	for i, op := range res.Operations {
		out[i] = operation(op)
	}
	return sendJSON(c, http.StatusAccepted, struct {
		Data []operationJSON `json:"data"`
		Meta bulkMeta        `json:"meta"`
	}{out, bulkMeta{Count: len(out), Skipped: res.Skipped, More: res.More, Next: res.Next}})
}
