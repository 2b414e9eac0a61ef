package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"

	"eventops/engine"
	"eventops/web/httperr"
)

// Checks of what a body spells that the decoded Go values cannot show:
// JSON null where a pointer only tells "absent", 0 where the zero value
// means "default", and members of a body that takes none.

// eventNotNullable are the event attributes a write may leave out but not
// send as null: null would read as "unchanged" and silently do nothing.
// (published_at, capacity and recurrence are nullable: null clears them.)
var eventNotNullable = []string{"name", "slug", "type", "venue_id", "starts_at", "ends_at",
	"split_products", "registration_types"}

// checkEventJSON refuses, in the event object obj (already decoded into its
// members), a non-nullable attribute sent as null (422 blank) and a
// recurrence interval of 0 (422 out_of_range, like -1: the engine reads a
// Go zero as "every 1", but a client that writes 0 means something else).
func checkEventJSON(obj map[string]json.RawMessage) error {
	var fields []engine.FieldError
	for _, name := range eventNotNullable {
		if raw, ok := obj[name]; ok && isNull(raw) {
			fields = append(fields, engine.FieldError{Attribute: name, Code: "blank",
				Message: "can't be null (leave it out to keep it as it is)"})
		}
	}
	if raw, ok := obj["recurrence"]; ok && !isNull(raw) {
		var r struct {
			Interval *json.Number `json:"interval"`
		}
		if json.Unmarshal(raw, &r) == nil && r.Interval != nil {
			if n, err := r.Interval.Int64(); err == nil && n == 0 {
				fields = append(fields, engine.FieldError{Attribute: "recurrence.interval", Code: "out_of_range",
					Message: "must be at least 1"})
			}
		}
	}
	if len(fields) > 0 {
		return engine.Invalid(fields...)
	}
	return nil
}

// refuseEmptyPatch refuses a PATCH whose event object has no members: an
// integration sending {"event": {}} surely meant to send something. (The
// engine's UpdateEvent takes an empty input as "save again as it is".)
func refuseEmptyPatch(body []byte) error {
	var m map[string]json.RawMessage
	if json.Unmarshal(envelope(body, "event"), &m) == nil && len(m) == 0 {
		return engine.Invalid(engine.FieldError{Attribute: "event", Code: "blank",
			Message: "has no attributes to change"})
	}
	return nil
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

// noParameters checks the body of a write that takes no parameters
// (DELETE of an event, refund, cancel, retry): none, or an empty object.
// Anything else is refused as everywhere: members are 400
// unpermitted_parameters, bad JSON 400 malformed_json.
func noParameters(body []byte) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		var te *json.UnmarshalTypeError
		if !errors.As(err, &te) {
			return malformed(err)
		}
		return httperr.New(http.StatusBadRequest, httperr.TypeUnpermittedParameters,
			"this request takes no parameters: send no body, or {}")
	}
	for k := range top {
		return httperr.New(http.StatusBadRequest, httperr.TypeUnpermittedParameters,
			"unpermitted parameter \""+k+"\": this request takes no parameters (send no body, or {})")
	}
	return nil
}
