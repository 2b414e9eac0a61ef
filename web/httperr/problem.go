// Package httperr is how eventops answers a refusal over HTTP: the one
// table from an engine error kind to a status (Of), and the RFC 9457
// problem details of the JSON API (Problem, Write).
//
// It imports only engine and Fiber. Package web (the API and the operator
// routes) and web/dash (the dashboard's HTML error pages) import it; it
// must never import either.
package httperr

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
	TypeUnauthorized          = "unauthorized"
	TypeForbidden             = "forbidden"
	TypeNotFound              = "not_found"
	TypeMethodNotAllowed      = "method_not_allowed"
	TypeParameterMissing      = "parameter_missing"
	TypeUnpermittedParameters = "unpermitted_parameters"
	TypeMalformedJSON         = "malformed_json"
	TypeBadRequest            = "bad_request"
	TypePayloadTooLarge       = "payload_too_large"
	TypeUnsupportedMediaType  = "unsupported_media_type"
	TypeValidation            = "validation_error"
	TypeIdempotencyReused     = "idempotency_key_reused"
	TypeRateLimited           = "rate_limit_exceeded"
	TypeConflict              = "conflict"
	TypeGone                  = "gone"
	TypeTimeout               = "request_timeout"
	TypeOverloaded            = "overloaded"
	TypeShopUnavailable       = "shop_unavailable"
	TypeInternal              = "internal_error"
)

// Problem is an error the API answers as problem+json. Handlers return it
// (or an engine error, which From converts); Write renders it.
type Problem struct {
	Status    int
	Type      string
	Detail    string
	Fields    []engine.FieldError // 422 only
	Successor string              // 410 only
	// Code is the engine's error code when the refusal has one
	// (ORDER_SHOP_UNAVAILABLE), sent as `code`.
	Code string
	// RetryAfter, when positive, is sent as Retry-After (seconds).
	RetryAfter int
}

// OverloadedRetryAfter is the Retry-After of a 503 overloaded: long enough
// that refused clients do not come back as a storm, short next to the
// seconds a full backlog takes to drain.
const OverloadedRetryAfter = 5

func (e *Problem) Error() string { return e.Type + ": " + e.Detail }

// New is a problem with a status, a type and a detail.
func New(status int, typ, detail string) *Problem {
	return &Problem{Status: status, Type: typ, Detail: detail}
}

// InvalidParam is a 422 naming one query parameter or header.
func InvalidParam(attr, code, msg string) *Problem {
	return &Problem{Status: http.StatusUnprocessableEntity, Type: TypeValidation,
		Detail: attr + " " + msg, Fields: []engine.FieldError{{Attribute: attr, Code: code, Message: msg}}}
}

// From classifies any error a handler or middleware returned; nil means
// it is an internal error, which the caller logs and answers as such.
func From(err error) *Problem {
	var p *Problem
	if errors.As(err, &p) {
		return p
	}
	if errors.Is(err, engine.ErrIdempotencyReused) {
		return New(http.StatusUnprocessableEntity, TypeIdempotencyReused, engine.ErrIdempotencyReused.Message)
	}
	var ee *engine.Error
	if errors.As(err, &ee) && ee.Kind != engine.KindInternal {
		class := Of(ee.Kind)
		out := &Problem{Status: class.Status, Type: class.Type, Detail: ee.Message, Code: string(ee.Code)}
		if ee.Kind == engine.KindInvalid {
			out.Fields = ee.Fields
		}
		if ee.Kind == engine.KindOverloaded || ee.Kind == engine.KindUnavailable {
			out.RetryAfter = OverloadedRetryAfter
		}
		return out
	}
	var fe *fiber.Error
	if errors.As(err, &fe) {
		switch fe.Code {
		case http.StatusNotFound:
			return New(fe.Code, TypeNotFound, "no such resource")
		case http.StatusMethodNotAllowed:
			return New(fe.Code, TypeMethodNotAllowed, "method not allowed on this resource")
		case http.StatusRequestEntityTooLarge:
			return New(fe.Code, TypePayloadTooLarge, "the request body is larger than 1 MiB")
		case http.StatusRequestTimeout:
			return New(fe.Code, TypeTimeout, "the request took too long to arrive")
		}
		if fe.Code >= 400 && fe.Code < 500 {
			return New(fe.Code, TypeBadRequest, fe.Message)
		}
	}
	return nil
}

// Internal is the answer to an unclassified error: its text stays in the
// log, never in the answer.
func Internal() *Problem {
	return New(http.StatusInternalServerError, TypeInternal, "internal error")
}

// body is the RFC 9457 body. `message` repeats `detail` for clients of
// the old API, which read `message`.
type body struct {
	Type      string  `json:"type"`
	Title     string  `json:"title"`
	Status    int     `json:"status"`
	Detail    string  `json:"detail"`
	Message   string  `json:"message"`
	Errors    *fields `json:"errors,omitempty"`
	Successor string  `json:"successor,omitempty"`
	Code      string  `json:"code,omitempty"`
}

type fields struct {
	Attributes []engine.FieldError `json:"attributes"`
}

// Write answers p as application/problem+json.
func Write(c *fiber.Ctx, p *Problem) error {
	b := body{Type: p.Type, Title: http.StatusText(p.Status), Status: p.Status,
		Detail: p.Detail, Message: p.Detail, Successor: p.Successor, Code: p.Code}
	if p.Status == http.StatusUnprocessableEntity && p.Type == TypeValidation {
		fs := p.Fields
		if fs == nil {
			fs = []engine.FieldError{}
		}
		b.Errors = &fields{Attributes: fs}
	}
	raw, err := json.Marshal(b)
	if err != nil {
		return err
	}
	c.Status(p.Status)
	c.Set(fiber.HeaderContentType, "application/problem+json")
	if p.RetryAfter > 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(p.RetryAfter))
	}
	return c.Send(raw)
}
