package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"eventops/engine"
)

// Problem types: short tokens used as relative URI references in the `type`
// member of RFC 9457 problem details (DESIGN §3). Clients branch on them.
const (
	typeUnauthorized          = "unauthorized"
	typeForbidden             = "forbidden"
	typeNotFound              = "not_found"
	typeMethodNotAllowed      = "method_not_allowed"
	typeParameterMissing      = "parameter_missing"
	typeUnpermittedParameters = "unpermitted_parameters"
	typeMalformedJSON         = "malformed_json"
	typeBadRequest            = "bad_request"
	typePayloadTooLarge       = "payload_too_large"
	typeUnsupportedMediaType  = "unsupported_media_type"
	typeValidation            = "validation_error"
	typeIdempotencyReused     = "idempotency_key_reused"
	typeRateLimited           = "rate_limit_exceeded"
	typeConflict              = "conflict"
	typeGone                  = "gone"
	typeTimeout               = "request_timeout"
	typeOverloaded            = "overloaded"
	typeInternal              = "internal_error"
)

// apiError is an error the API answers as a problem. Handlers return it (or
// an engine error, which handleError converts); handleError renders it.
type apiError struct {
	Status    int
	Type      string
	Detail    string
	Fields    []engine.FieldError // 422 only
	Successor string              // 410 only
	// RetryAfter, when positive, is sent as Retry-After (seconds).
	RetryAfter int
}

// overloadedRetryAfter is the Retry-After of a 503 overloaded: long enough
// that refused clients do not come back as a storm, short next to the
// seconds a full backlog takes to drain.
const overloadedRetryAfter = 5

func (e *apiError) Error() string { return e.Type + ": " + e.Detail }

func problemf(status int, typ, detail string) *apiError {
	return &apiError{Status: status, Type: typ, Detail: detail}
}

// invalidParam is a 422 naming one query parameter or header.
func invalidParam(attr, code, msg string) *apiError {
	return &apiError{Status: http.StatusUnprocessableEntity, Type: typeValidation,
		Detail: attr + " " + msg, Fields: []engine.FieldError{{Attribute: attr, Code: code, Message: msg}}}
}

// statusOfKind maps the engine's error kinds to HTTP statuses; it is the one
// place where that mapping lives.
func statusOfKind(k engine.Kind) (int, string) {
	switch k {
	case engine.KindInvalid:
		return http.StatusUnprocessableEntity, typeValidation
	case engine.KindNotFound:
		return http.StatusNotFound, typeNotFound
	case engine.KindConflict:
		return http.StatusConflict, typeConflict
	case engine.KindUnauthorized:
		return http.StatusUnauthorized, typeUnauthorized
	case engine.KindForbidden:
		return http.StatusForbidden, typeForbidden
	case engine.KindOverloaded:
		return http.StatusServiceUnavailable, typeOverloaded
	}
	return http.StatusInternalServerError, typeInternal
}

// problem is the RFC 9457 body. `message` repeats `detail` for clients of
// the old API, which read `message`.
type problem struct {
	Type      string         `json:"type"`
	Title     string         `json:"title"`
	Status    int            `json:"status"`
	Detail    string         `json:"detail"`
	Message   string         `json:"message"`
	Errors    *problemFields `json:"errors,omitempty"`
	Successor string         `json:"successor,omitempty"`
}

type problemFields struct {
	Attributes []engine.FieldError `json:"attributes"`
}

// toAPIError classifies any error a handler or middleware returned.
func toAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	if errors.Is(err, engine.ErrIdempotencyReused) {
		return problemf(http.StatusUnprocessableEntity, typeIdempotencyReused, engine.ErrIdempotencyReused.Message)
	}
	var ee *engine.Error
	if errors.As(err, &ee) && ee.Kind != engine.KindInternal {
		status, typ := statusOfKind(ee.Kind)
		out := &apiError{Status: status, Type: typ, Detail: ee.Message}
		if ee.Kind == engine.KindInvalid {
			out.Fields = ee.Fields
		}
		if ee.Kind == engine.KindOverloaded {
			out.RetryAfter = overloadedRetryAfter
		}
		return out
	}
	var fe *fiber.Error
	if errors.As(err, &fe) {
		switch fe.Code {
		case http.StatusNotFound:
			return problemf(fe.Code, typeNotFound, "no such resource")
		case http.StatusMethodNotAllowed:
			return problemf(fe.Code, typeMethodNotAllowed, "method not allowed on this resource")
		case http.StatusRequestEntityTooLarge:
			return problemf(fe.Code, typePayloadTooLarge, "the request body is larger than 1 MiB")
		case http.StatusRequestTimeout:
			return problemf(fe.Code, typeTimeout, "the request took too long to arrive")
		}
		if fe.Code >= 400 && fe.Code < 500 {
			return problemf(fe.Code, typeBadRequest, fe.Message)
		}
	}
	return nil
}

// handleError is the app's one ErrorHandler: every failure becomes a
// problem+json answer. Anything unclassified is an internal error: logged
// in full, answered as "internal error" only.
func (s *Server) handleError(c *fiber.Ctx, err error) error {
	ae := toAPIError(err)
	if ae == nil {
		s.log.ErrorContext(c.UserContext(), "internal error", "method", c.Method(), "path", c.Path(), "err", err)
		ae = problemf(http.StatusInternalServerError, typeInternal, "internal error")
	}
	return writeProblem(c, ae)
}

func writeProblem(c *fiber.Ctx, ae *apiError) error {
	p := problem{Type: ae.Type, Title: http.StatusText(ae.Status), Status: ae.Status,
		Detail: ae.Detail, Message: ae.Detail, Successor: ae.Successor}
	if ae.Status == http.StatusUnprocessableEntity && ae.Type == typeValidation {
		fields := ae.Fields
		if fields == nil {
			fields = []engine.FieldError{}
		}
		p.Errors = &problemFields{Attributes: fields}
	}
	body, err := json.Marshal(p)
	if err != nil {
		return err
	}
	c.Status(ae.Status)
	c.Set(fiber.HeaderContentType, "application/problem+json")
	if ae.RetryAfter > 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(ae.RetryAfter))
	}
	return c.Send(body)
}
