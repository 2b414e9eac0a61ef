package web

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"eventops/engine"
	"eventops/web/httperr"
)

// Headers of every answer to a call that starts (or cancels) an operation.
const (
	HeaderOperationID = "X-Event-Operation-ID"
	HeaderSyncJobID   = "X-Event-Sync-Job-ID" // deprecated alias (DESIGN §3.1)
)

// maxWait caps ?wait= (seconds); larger values are treated as 60.
const maxWait = 60

// operationJSON is an operation exactly as DESIGN §4 shows it: the engine's
// bookkeeping (company, queue, version, dependencies, failure order) stays
// out of the API.
type operationJSON struct {
	ID         uint64           `json:"id"`
	Action     engine.Action    `json:"action"`
	EventID    uint64           `json:"event_id"`
	Status     engine.Status    `json:"status"`
	Progress   *engine.Progress `json:"progress"`
	Error      *opErrorJSON     `json:"error"`
	CreatedAt  timestamp        `json:"created_at"`
	UpdatedAt  timestamp        `json:"updated_at"`
	StartedAt  *timestamp       `json:"started_at"`
	FinishedAt *timestamp       `json:"finished_at"`
	Phases     []phaseJSON      `json:"phases"`
	// Version is the number behind the ETag (DESIGN §8): it orders the
	// states a poller or webhook receiver sees.
	Version uint64 `json:"version"`
	// PhasesTruncated is set on a webhook's copy whose phase children
	// were cut (web/webhook_endpoints.go); never in the API.
	PhasesTruncated bool `json:"phases_truncated,omitempty"`
}

type phaseJSON struct {
	ID         uint64           `json:"id"`
	Name       string           `json:"name"`
	Status     engine.Status    `json:"status"`
	Progress   *engine.Progress `json:"progress"`
	Error      *opErrorJSON     `json:"error"`
	StartedAt  *timestamp       `json:"started_at"`
	FinishedAt *timestamp       `json:"finished_at"`
	Attempts   int              `json:"attempts"`
	LastError  *opErrorJSON     `json:"last_error"`
	Phases     []phaseJSON      `json:"phases"`
}

type opErrorJSON struct {
	Code    engine.Code `json:"code"`
	Message string      `json:"message"`
	Phase   *string     `json:"phase"`
	PhaseID *uint64     `json:"phase_id"`
	Stack   string      `json:"stack,omitempty"` // OPERATION_WORK_PANICKED only
}

func operation(op *engine.Operation) operationJSON {
	return operationJSON{
		ID: op.ID, Action: op.Action, EventID: op.EventID, Status: op.Status,
		Progress: op.Progress, Error: opError(op.Error),
		CreatedAt: ts(op.CreatedAt), UpdatedAt: ts(op.UpdatedAt),
		StartedAt: tsPtr(op.StartedAt), FinishedAt: tsPtr(op.FinishedAt),
		Phases: phases(op.Phases), Version: op.Version,
	}
}

func phases(ps []*engine.Phase) []phaseJSON {
	out := make([]phaseJSON, len(ps))
	for i, p := range ps {
		out[i] = phaseJSON{
			ID: p.ID, Name: p.Name, Status: p.Status, Progress: p.Progress, Error: opError(p.Error),
			StartedAt: tsPtr(p.StartedAt), FinishedAt: tsPtr(p.FinishedAt),
			Attempts: p.Attempts, LastError: opError(p.LastError), Phases: phases(p.Phases),
		}
	}
	return out
}

func opError(e *engine.OpError) *opErrorJSON {
	if e == nil {
		return nil
	}
	return &opErrorJSON{Code: e.Code, Message: e.Message, Phase: e.Phase, PhaseID: e.PhaseID, Stack: e.Stack}
}

// etag is the operation's strong entity tag: its id and the version that
// every persisted transition raises.
func etag(op *engine.Operation) string {
	return `"op` + strconv.FormatUint(op.ID, 10) + `.v` + strconv.FormatUint(op.Version, 10) + `"`
}

// etagMatches applies If-None-Match (a list of tags or *), comparing weakly
// as RFC 9110 requires for that header.
func etagMatches(ifNoneMatch, tag string) bool {
	for _, t := range strings.Split(ifNoneMatch, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == tag {
			return true
		}
	}
	return false
}

// operationURL is the canonical path of an operation.
func (s *Server) operationURL(op *engine.Operation) string {
	return s.url("/api/v2/events/" + strconv.FormatUint(op.EventID, 10) + "/operations/" + strconv.FormatUint(op.ID, 10))
}

// operationAnswer answers a write whose result is an operation: 202, the
// operation as body, its URL in Location.
func (s *Server) operationAnswer(r engine.WriteResult) (*answer, error) {
	return jsonAnswer(http.StatusAccepted, operation(r.Operation),
		operationHeader(r.Operation.ID), headerField{fiber.HeaderLocation, s.operationURL(r.Operation)})
}

func (s *Server) operationOfRecord(c *fiber.Ctx, rec *engine.IdempotencyRecord) (engine.WriteResult, error) {
	op, err := s.eng.Operation(companyID(c), rec.OperationID)
	return engine.WriteResult{Operation: op}, err
}

// eventOperation reads operation :op of event :id of the key's company; an
// operation of another event is 404, like one of another company.
func (s *Server) eventOperation(c *fiber.Ctx) (*engine.Operation, error) {
	evID, err := pathID(c, "id")
	if err != nil {
		return nil, err
	}
	opID, err := pathID(c, "op")
	if err != nil {
		return nil, err
	}
	op, err := s.eng.Operation(companyID(c), opID)
	if err != nil {
		return nil, err
	}
	if op.EventID != evID {
		return nil, engine.NotFound("operation %d not found", opID)
	}
	return op, nil
}

// getOperation answers GET /events/{id}/operations/{op} (DESIGN §3 polling
// help): a strong ETag, 304 for a matching If-None-Match, Retry-After: 1
// while not terminal, and ?wait=N long-polling. With If-None-Match, wait
// holds only while the client's tag is current, and answers 304 when N
// passes without a change; without it, wait holds until the first change
// after the request arrived and then (or at N) answers 200. Held requests
// answer at once when the server shuts down, by the same rule.
func (s *Server) getOperation(c *fiber.Ctx) error {
	evID, err := pathID(c, "id")
	if err != nil {
		return err
	}
	opID, err := pathID(c, "op")
	if err != nil {
		return err
	}
	cid := companyID(c)
	e, err := s.cachedOperation(cid, opID)
	if err != nil {
		return err
	}
	if e.op.EventID != evID {
		return engine.NotFound("operation %d not found", opID)
	}
	wait, err := waitParam(c)
	if err != nil {
		return err
	}
	inm := c.Get(fiber.HeaderIfNoneMatch)
	if wait > 0 && !e.op.Status.Terminal() && (inm == "" || etagMatches(inm, e.etag)) {
		_, gen := s.ops.get(opID)
		s.heldPolls.Add(1)
		op, err := s.eng.Wait(s.ctx, cid, opID, e.op.Version, wait)
		s.heldPolls.Add(-1)
		if err != nil {
			return err
		}
		e = s.ops.offer(op, gen)
	}
	c.Set(fiber.HeaderETag, e.etag)
	c.Set(fiber.HeaderCacheControl, "no-cache")
	if !e.op.Status.Terminal() {
		c.Set(fiber.HeaderRetryAfter, "1")
	}
	if inm != "" && etagMatches(inm, e.etag) {
		return c.SendStatus(http.StatusNotModified)
	}
	body, err := e.json()
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Status(http.StatusOK).Send(body)
}

func waitParam(c *fiber.Ctx) (time.Duration, error) {
	v := c.Query("wait")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, httperr.InvalidParam("wait", "invalid", "must be a whole number of seconds from 0 to 60")
	}
	return time.Duration(min(n, maxWait)) * time.Second, nil
}

var codePattern = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

// operationQuery reads the filters of an operation list. Cursors are the id
// to continue below, as an opaque string.
func operationQuery(c *fiber.Ctx, p pageParams) (engine.OperationQuery, error) {
	q := engine.OperationQuery{CompanyID: companyID(c), Limit: p.Size}
	if v := c.Query("filter[status]"); v != "" {
		if q.Status = engine.Status(v); !q.Status.Valid() {
			return q, httperr.InvalidParam("filter[status]", "invalid", "must be pending, running, completed or failed")
		}
		q.Status = engine.Status(v)
	}
	if v := c.Query("filter[action]"); v != "" {
		if q.Action = engine.Action(v); !q.Action.Valid() {
			return q, httperr.InvalidParam("filter[action]", "invalid", "must be save, delete or refund")
		}
		q.Action = engine.Action(v)
	}
	if v := c.Query("filter[code]"); v != "" {
		if !codePattern.MatchString(v) {
			return q, httperr.InvalidParam("filter[code]", "invalid", "must be an error code such as TICKETS_STRUCTURE_EMPTY")
		}
		q.Code = engine.Code(v)
	}
	if p.Cursor != "" {
		before, err := strconv.ParseUint(p.Cursor, 10, 64)
		if err != nil || before == 0 {
			return q, httperr.InvalidParam("page[cursor]", "invalid", "is not a cursor of this list (it must come from the same query)")
		}
		q.Before = before
	}
	return q, nil
}

// operationFilters are the company-wide list's filters, which the bulk
// routes take too.
var operationFilters = []string{"filter[status]", "filter[action]", "filter[event_id]", "filter[code]",
	"filter[created_at][from]", "filter[created_at][to]"}

// listOperations answers GET /operations: the company's operations, newest
// first, with filter[status], filter[action], filter[event_id], filter[code]
// and filter[created_at][from|to].
func (s *Server) listOperations(c *fiber.Ctx) error {
	p, err := listParams(c, operationFilters...)
	if err != nil {
		return err
	}
	q, err := companyOperationQuery(c, p)
	if err != nil {
		return err
	}
	return s.sendOperations(c, p, q)
}

// companyOperationQuery reads operationFilters.
func companyOperationQuery(c *fiber.Ctx, p pageParams) (engine.OperationQuery, error) {
	q, err := operationQuery(c, p)
	if err != nil {
		return q, err
	}
	if v := c.Query("filter[event_id]"); v != "" {
		if q.EventID, err = strconv.ParseUint(v, 10, 64); err != nil || q.EventID == 0 {
			return q, httperr.InvalidParam("filter[event_id]", "invalid", "must be an event id")
		}
	}
	for _, b := range []struct {
		name string
		to   *time.Time
	}{{"filter[created_at][from]", &q.CreatedFrom}, {"filter[created_at][to]", &q.CreatedTo}} {
		if v := c.Query(b.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return q, httperr.InvalidParam(b.name, "invalid", "must be an RFC 3339 time such as 2026-12-05T10:00:00Z")
			}
			*b.to = t
		}
	}
	if !q.CreatedFrom.IsZero() && !q.CreatedTo.IsZero() && !q.CreatedFrom.Before(q.CreatedTo) {
		return q, httperr.InvalidParam("filter[created_at][to]", "invalid", "must be after filter[created_at][from]")
	}
	return q, nil
}

// listEventOperations answers GET /events/{id}/operations (and its alias):
// the event's operations, newest first, deleted event or not.
func (s *Server) listEventOperations(c *fiber.Ctx) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	if _, err := s.eng.EventOfCompany(companyID(c), id); err != nil {
		return err
	}
	p, err := listParams(c, "filter[status]", "filter[action]", "filter[code]")
	if err != nil {
		return err
	}
	q, err := operationQuery(c, p)
	if err != nil {
		return err
	}
	q.EventID = id
	return s.sendOperations(c, p, q)
}

func (s *Server) sendOperations(c *fiber.Ctx, p pageParams, q engine.OperationQuery) error {
	ops, before, err := s.eng.Operations(q)
	if err != nil {
		return err
	}
	out := make([]operationJSON, len(ops))
	for i, op := range ops {
		out[i] = operation(op)
	}
	next := ""
	if before != 0 {
		next = strconv.FormatUint(before, 10)
	}
	return s.sendList(c, p, out, len(out), next)
}

// cancelOperation answers POST .../operations/{op}/cancel: 202 with the
// operation, which ends failed with OPERATION_CANCELED at its next safe
// point; a terminal operation is 409.
func (s *Server) cancelOperation(c *fiber.Ctx) error {
	if err := noParameters(c.Body()); err != nil {
		return err
	}
	op, err := s.eventOperation(c)
	if err != nil {
		return err
	}
	if op, err = s.eng.CancelOperation(c.UserContext(), companyID(c), op.ID); err != nil {
		return err
	}
	return s.answer(c, made(engine.WriteResult{Operation: op}))
}

// retryOperation answers POST .../operations/{op}/retry: 202 with a new
// operation of the same action; only a failed operation can be retried
// (409 otherwise).
func (s *Server) retryOperation(c *fiber.Ctx) error {
	if err := noParameters(c.Body()); err != nil {
		return err
	}
	op, err := s.eventOperation(c)
	if err != nil {
		return err
	}
	if op, err = s.eng.RetryOperation(c.UserContext(), companyID(c), op.ID); err != nil {
		return err
	}
	return s.answer(c, made(engine.WriteResult{Operation: op}))
}
