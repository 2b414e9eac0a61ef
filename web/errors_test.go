package web

import (
	"strings"
	"testing"
)

func TestValidationProblemShape(t *testing.T) {
	t.Parallel()
	f := setup(t)
	r := f.do("POST", "/api/v2/events", f.keyA, `{"event": {"type": "concert", "starts_at": "2026-12-05T19:00:00Z", "ends_at": "2026-12-05T18:00:00Z"}}`)
	m := r.expectProblem(t, 422, "validation_error")
	got := map[string]string{}
	for _, a := range m.Attributes() {
		if a.Message == "" {
			t.Errorf("attribute without message: %+v", a)
		}
		got[a.Attribute] = a.Code
	}
	for attr, code := range map[string]string{"name": "blank", "type": "invalid", "venue_id": "blank", "ends_at": "invalid"} {
		if got[attr] != code {
			t.Errorf("attribute %s: code %q, want %q (all: %v)", attr, got[attr], code, got)
		}
	}
	if m.Title != "Unprocessable Entity" || m.Detail != m.Message {
		t.Errorf("title/detail/message: %s", r.Body)
	}
}

func TestBadRequestBodies(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for _, tc := range []struct {
		name, body, typ string
		status          int
		mention         string
	}{
		{"empty body", "", "parameter_missing", 400, "event"},
		{"missing envelope", `{"name": "Jazz"}`, "parameter_missing", 400, "event"},
		{"extra top-level member", `{"event": {"name": "Jazz"}, "venue": {}}`, "unpermitted_parameters", 400, "venue"},
		{"null envelope", `{"event": null}`, "parameter_missing", 400, "event"},
		{"empty object", `{}`, "parameter_missing", 400, "event"},
		{"not an object", `[1, 2]`, "parameter_missing", 400, "event"},
		{"unknown attribute", `{"event": {"name": "Jazz", "colour": "blue"}}`, "unpermitted_parameters", 400, "colour"},
		{"unknown nested attribute", `{"event": {"registration_types": [{"name": "GA", "seats": 3}]}}`, "unpermitted_parameters", 400, "seats"},
		{"unknown recurrence attribute", `{"event": {"recurrence": {"frequency": "daily", "every": 2}}}`, "unpermitted_parameters", 400, "every"},
		{"malformed", `{"event": {"name": "Jazz",}}`, "malformed_json", 400, ""},
		{"truncated", `{"event": {"name": "Jazz"`, "malformed_json", 400, ""},
		{"trailing data", `{"event": {"name": "Jazz"}} {}`, "malformed_json", 400, ""},
		{"wrong type", `{"event": {"capacity": "many"}}`, "validation_error", 422, "capacity"},
		{"bad time", `{"event": {"starts_at": "next friday"}}`, "validation_error", 422, "starts_at"},
		{"number as time", `{"event": {"ends_at": 5}}`, "validation_error", 422, "ends_at"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := any(tc.body)
			if tc.body == "" {
				body = nil
			}
			m := f.do("POST", "/api/v2/events", f.keyA, body).expectProblem(t, tc.status, tc.typ)
			if tc.mention != "" && !strings.Contains(m.Detail, tc.mention) {
				t.Errorf("detail %q does not name %q", m.Detail, tc.mention)
			}
		})
	}
}
