package engine

import (
	"errors"
	"fmt"
)

// Code is a stable, machine-readable error code. Phase failure codes follow
// <PHASE>_<SUBJECT>_<OUTCOME> (DESIGN §4.2); clients branch on them, so a code
// once shipped never changes meaning.
type Code string

// Phase and operation failure codes. This is the one list of them; the API
// document's table (static/docs/api.md) is generated from the same names.
const (
	CodeRecurrenceRuleInvalid     Code = "RECURRENCE_RULE_INVALID"
	CodeRecurrenceLimitExceeded   Code = "RECURRENCE_LIMIT_EXCEEDED"
	CodeRecurrenceOccurrenceSold  Code = "RECURRENCE_OCCURRENCE_SOLD"
	CodeTicketsStructureEmpty     Code = "TICKETS_STRUCTURE_EMPTY"
	CodeCatalogUpsertRejected     Code = "CATALOG_UPSERT_REJECTED"
	CodeCatalogProductVanished    Code = "CATALOG_PRODUCT_VANISHED"
	CodeInventoryStale            Code = "INVENTORY_STALE"
	CodeInventoryReconcileRaised  Code = "INVENTORY_RECONCILE_RAISED"
	CodeInventoryValueRejected    Code = "INVENTORY_VALUE_REJECTED"
	CodeMetafieldsValueRejected   Code = "METAFIELDS_VALUE_REJECTED"
	CodeDeliveryServiceMissing    Code = "DELIVERY_SERVICE_MISSING"
	CodePublishChannelNotFound    Code = "PUBLISH_CHANNEL_NOT_FOUND"
	CodeRefundRejected            Code = "REFUND_REJECTED"
	CodeRefundScopeMissing        Code = "REFUND_SCOPE_MISSING"
	CodeShopifyAuthRejected       Code = "SHOPIFY_AUTH_REJECTED"
	CodeShopifyThrottledExhausted Code = "SHOPIFY_THROTTLED_EXHAUSTED"
	CodeShopifyUnavailable        Code = "SHOPIFY_UNAVAILABLE"
	CodeShopifyCurrencyMismatch   Code = "SHOPIFY_CURRENCY_MISMATCH"
	CodeOperationCanceled         Code = "OPERATION_CANCELED"
	CodeOperationInterrupted      Code = "OPERATION_INTERRUPTED"
	CodeOperationWorkPanicked     Code = "OPERATION_WORK_PANICKED"
	CodeOperationWorkMissing      Code = "OPERATION_WORK_MISSING"
	CodeOperationWorkFailed       Code = "OPERATION_WORK_FAILED"
	CodeOperationStorageFailed    Code = "OPERATION_STORAGE_FAILED"
	CodeOrderShopUnavailable      Code = "ORDER_SHOP_UNAVAILABLE"
)

// PhaseCodes lists every phase/operation failure code with what it means, in
// the order the API document presents them.
var PhaseCodes = []struct {
	Code    Code
	Meaning string
}{
	{CodeRecurrenceRuleInvalid, "the recurrence rule cannot be expanded (bad frequency, weekday, interval or bounds)"},
	{CodeRecurrenceLimitExceeded, "the rule yields more than 500 occurrences"},
	{CodeRecurrenceOccurrenceSold, "kept for clients: no save fails with it now (a change dropping a sold occurrence is refused with 422 occurrence_sold, and one sold after that check is kept in kept_occurrence_ids)"},
	{CodeTicketsStructureEmpty, "the event has no registration types, so there is nothing to sell"},
	{CodeCatalogUpsertRejected, "the shop refused the product (userErrors on productSet)"},
	{CodeCatalogProductVanished, "a product of ours was deleted in the shop: catalog could not recreate it, or another phase (inventory, metafields, delivery, publish) found it gone; the next save recreates it"},
	{CodeInventoryStale, "a sale raced the inventory write (transient: retried)"},
	{CodeInventoryReconcileRaised, "inventory still disagrees after every reconcile attempt"},
	{CodeInventoryValueRejected, "the shop refused an inventory quantity"},
	{CodeMetafieldsValueRejected, "the shop refused a metafield"},
	{CodeDeliveryServiceMissing, "the shop's fulfillment service or its location is gone"},
	{CodePublishChannelNotFound, "the shop has no online store publication"},
	{CodeRefundRejected, "the shop refused a refund"},
	{CodeRefundScopeMissing, "an order to refund is older than 60 days and the shop shows it only to apps granted the `read_all_orders` scope: grant it, then refund again"},
	{CodeShopifyAuthRejected, "the shop's access token was refused or revoked"},
	{CodeShopifyThrottledExhausted, "the shop kept throttling past the retry deadline"},
	{CodeShopifyUnavailable, "the shop kept failing (5xx, timeouts) past the retry deadline"},
	{CodeShopifyScopesMissing, "connecting a shop was refused: the app lacks access scopes eventops needs (each one is named; a granted `write_X` counts as `read_X`)"},
	{CodeShopifySandboxMissing, "connecting a company to the sandbox was refused: the server has no sandbox (on PostgreSQL the nodes share one `eventops sandbox` process, named by `serve --sandbox-url`); nothing was stored"},
	{CodeShopifyPublicURLInsecure, "a real shop's webhooks cannot be subscribed: the server's `--public-url` is not https (loopback http is allowed for development); set it, then save again or reconnect"},
	{CodeShopifyCurrencyMismatch, "the event's prices are in another currency than the shop's: change them to the shop's currency"},
	{CodeOperationCanceled, "the operation was canceled"},
	{CodeOperationInterrupted, "never expected: a crash resumes operations instead"},
	{CodeOperationWorkPanicked, "the phase's work panicked; its stack is in the error's `stack` and in the log"},
	{CodeOperationWorkMissing, "this build has no work for the phase (e.g. Shopify phases before the Shopify client exists)"},
	{CodeOperationWorkFailed, "the phase's work kept failing with an unexpected error; details in the log"},
	{CodeOperationStorageFailed, "the data file could not be written"},
	{CodeOrderShopUnavailable, "not a phase's: a box-office order (`POST /events/{id}/orders`) of a Shopify company answers 503 `shop_unavailable` with this code when the shop could not be asked to take the seats off its offer first; nothing was sold, send the order again"},
}

// Kind classifies domain errors for callers (the HTTP layer maps each kind to
// a status in exactly one place).
type Kind int

const (
	KindInternal     Kind = iota
	KindInvalid           // input fails validation (422)
	KindNotFound          // absent or belongs to another company (404)
	KindConflict          // the state forbids it now (409)
	KindUnauthorized      // unknown or revoked credentials (401)
	KindForbidden         // known, but not allowed (403)
	KindOverloaded        // too much work pending: nothing done, retry later (503)
	KindUnavailable       // an outside service (the shop) did not answer: nothing done, retry (503)
)

// FieldError is one invalid attribute of an input.
type FieldError struct {
	Attribute string `json:"attribute"`
	Code      string `json:"code"` // blank, invalid, too_long, out_of_range, taken, ...
	Message   string `json:"message"`
}

// Error is the engine's error type. Phase work returns it with a Code; domain
// calls return it with a Kind.
type Error struct {
	Kind      Kind
	Code      Code   // phase/operation code, when there is one
	Message   string // safe to show to the client
	Transient bool   // phase work: retry with backoff instead of failing
	Fields    []FieldError
	Stack     string // a panic's stack (OPERATION_WORK_PANICKED), kept in OpError.Stack
}

func (e *Error) Error() string {
	if e.Code != "" {
		return string(e.Code) + ": " + e.Message
	}
	return e.Message
}

// Errorf builds a permanent phase error with a code.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Transientf builds a phase error that the runner retries with backoff.
func Transientf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Transient: true}
}

// NotFound, Conflict, Invalid, ... build domain errors of a kind.
func NotFound(format string, args ...any) *Error {
	return &Error{Kind: KindNotFound, Message: fmt.Sprintf(format, args...)}
}

func Conflict(format string, args ...any) *Error {
	return &Error{Kind: KindConflict, Message: fmt.Sprintf(format, args...)}
}

func Unauthorized(format string, args ...any) *Error {
	return &Error{Kind: KindUnauthorized, Message: fmt.Sprintf(format, args...)}
}

func Forbidden(format string, args ...any) *Error {
	return &Error{Kind: KindForbidden, Message: fmt.Sprintf(format, args...)}
}

// Invalid builds a validation error from one or more field errors.
func Invalid(fields ...FieldError) *Error {
	msg := "validation failed"
	if len(fields) > 0 {
		msg = fields[0].Attribute + " " + fields[0].Message
	}
	return &Error{Kind: KindInvalid, Message: msg, Fields: fields}
}

// ErrorKind reports the kind of err, KindInternal for foreign errors.
func ErrorKind(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// ErrorCode reports the code of err, "" when it has none.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// ErrOverloaded refuses a command that would start an operation while the
// engine already holds Config.MaxPending unfinished ones. Nothing was stored:
// the same request may simply be sent again later.
var ErrOverloaded = &Error{Kind: KindOverloaded,
	Message: "too many operations are waiting to run; nothing was changed, retry later"}
