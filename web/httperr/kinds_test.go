package httperr

import (
	"errors"
	"fmt"
	"testing"

	"eventops/engine"
)

// Every kind the engine has maps to one status, and both renderers read
// the same table: the API's problem (From) and the dashboard's page (Of).
func TestKindsMapToStatuses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		kind   engine.Kind
		status int
		typ    string
		title  string
	}{
		{engine.KindInvalid, 422, "validation_error", "Invalid input"},
		{engine.KindNotFound, 404, "not_found", "Not found"},
		{engine.KindConflict, 409, "conflict", "Not possible now"},
		{engine.KindUnauthorized, 401, "unauthorized", "Not signed in"},
		{engine.KindForbidden, 403, "forbidden", "Not allowed"},
		{engine.KindOverloaded, 503, "overloaded", "Too busy now"},
		{engine.KindUnavailable, 503, "shop_unavailable", "Shop unreachable"},
		{engine.KindInternal, 500, "internal_error", "Internal error"},
		{engine.Kind(99), 500, "internal_error", "Internal error"},
	} {
		if got := Of(tc.kind); got.Status != tc.status || got.Type != tc.typ || got.Title != tc.title {
			t.Errorf("kind %d → %+v, want %d %s %q", tc.kind, got, tc.status, tc.typ, tc.title)
		}
	}
}

func TestFromClassifiesErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err        error
		status     int
		typ        string
		retryAfter int
	}{
		{engine.Invalid(engine.FieldError{Attribute: "name", Code: "blank", Message: "can't be blank"}), 422, "validation_error", 0},
		{engine.NotFound("event 1 not found"), 404, "not_found", 0},
		{fmt.Errorf("wrapped: %w", engine.Conflict("busy")), 409, "conflict", 0},
		{engine.Unauthorized("no"), 401, "unauthorized", 0},
		{engine.Forbidden("no"), 403, "forbidden", 0},
		{engine.ErrOverloaded, 503, "overloaded", OverloadedRetryAfter},
		{engine.ErrIdempotencyReused, 422, "idempotency_key_reused", 0},
		{New(410, TypeGone, "gone"), 410, "gone", 0},
	} {
		p := From(tc.err)
		if p == nil || p.Status != tc.status || p.Type != tc.typ || p.RetryAfter != tc.retryAfter {
			t.Errorf("%v → %+v, want %d %s (Retry-After %d)", tc.err, p, tc.status, tc.typ, tc.retryAfter)
		}
	}
	for _, err := range []error{errors.New("disk on fire"), engine.Errorf(engine.CodeOperationStorageFailed, "x")} {
		if p := From(err); p != nil {
			t.Errorf("%v → %+v, want internal (nil)", err, p)
		}
	}
}
