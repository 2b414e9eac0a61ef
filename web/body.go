package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"eventops/engine"
	"eventops/web/httperr"
)

// jsonBody refuses a write whose body is not JSON (415). An empty body is
// fine where none is needed (DELETE, refund, cancel, retry); routes that need
// one answer 400 parameter_missing.
func (s *Server) jsonBody(c *fiber.Ctx) error {
	if len(bytes.TrimSpace(c.Body())) == 0 {
		return c.Next()
	}
	mt, _, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	if err != nil || !(mt == "application/json" || strings.HasSuffix(mt, "+json")) {
		return httperr.New(http.StatusUnsupportedMediaType, httperr.TypeUnsupportedMediaType,
			"send the body as application/json")
	}
	return c.Next()
}

// decodeEnvelope decodes a write's body {"<name>": {...}} into dst, strictly:
// a missing envelope is 400 parameter_missing, an attribute dst does not
// have (or another top-level member) 400 unpermitted_parameters, bad JSON
// 400 malformed_json, and a value of the wrong type 422.
func decodeEnvelope(body []byte, name string, dst any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return httperr.New(http.StatusBadRequest, httperr.TypeParameterMissing,
			fmt.Sprintf("the body must be a JSON object {%q: {...}}", name))
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) { // valid JSON, not an object
			return httperr.New(http.StatusBadRequest, httperr.TypeParameterMissing,
				fmt.Sprintf("the body must be a JSON object {%q: {...}}", name))
		}
		return malformed(err)
	}
	raw, ok := top[name]
	if !ok || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return httperr.New(http.StatusBadRequest, httperr.TypeParameterMissing,
			fmt.Sprintf("param is missing or the value is empty: %s (send {%q: {...}})", name, name))
	}
	for k := range top {
		if k != name {
			return httperr.New(http.StatusBadRequest, httperr.TypeUnpermittedParameters,
				fmt.Sprintf("unpermitted parameter %q: the body holds only %q", k, name))
		}
	}
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
		return httperr.New(http.StatusBadRequest, httperr.TypeParameterMissing,
			fmt.Sprintf("%s must be a JSON object", name))
	}
	return decodeStrict(raw, name, dst)
}

// decodeStrict decodes one JSON object into dst, refusing unknown members.
func decodeStrict(raw []byte, path string, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil {
		if _, err := dec.Token(); err != io.EOF {
			return httperr.New(http.StatusBadRequest, httperr.TypeMalformedJSON, "unexpected data after the JSON value")
		}
		return nil
	}
	if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return httperr.New(http.StatusBadRequest, httperr.TypeUnpermittedParameters,
			fmt.Sprintf("unpermitted parameter %s in %s", field, path))
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		attr := te.Field
		if attr == "" {
			attr = path
		}
		return httperr.InvalidParam(attr, "invalid", "must be a "+jsonTypeName(te.Type.Kind().String()))
	}
	var pe *time.ParseError
	if errors.As(err, &pe) {
		// encoding/json does not say which member failed; the caller's
		// checkTimes names it first for the members it knows.
		return httperr.InvalidParam(path, "invalid", "holds a time that is not RFC 3339 (2026-12-05T19:00:00Z)")
	}
	var se *json.SyntaxError
	if errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF) {
		return malformed(err)
	}
	return httperr.InvalidParam(path, "invalid", "is not valid: "+err.Error())
}

func malformed(err error) error {
	return httperr.New(http.StatusBadRequest, httperr.TypeMalformedJSON, "the body is not valid JSON: "+
		strings.TrimPrefix(err.Error(), "json: "))
}

func jsonTypeName(kind string) string {
	switch kind {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "whole number"
	case "float32", "float64":
		return "number"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "list"
	case "struct", "map", "ptr":
		return "object"
	}
	return kind
}

// checkTimes names the first member of obj (a JSON object) among names whose
// value is a string that is not an RFC 3339 time: encoding/json reports a bad
// time without saying where.
func checkTimes(obj []byte, names ...string) error {
	var m map[string]json.RawMessage
	if json.Unmarshal(obj, &m) != nil {
		return nil
	}
	for _, n := range names {
		raw, ok := m[n]
		if !ok {
			continue
		}
		if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			continue
		}
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return httperr.InvalidParam(n, "invalid", "must be an RFC 3339 time string such as 2026-12-05T19:00:00Z")
		}
		if _, err := time.Parse(time.RFC3339, s); err != nil {
			return httperr.InvalidParam(n, "invalid", "must be an RFC 3339 time such as 2026-12-05T19:00:00Z")
		}
	}
	return nil
}

// envelope returns the resource member of a body already checked by
// decodeEnvelope.
func envelope(body []byte, name string) []byte {
	var top map[string]json.RawMessage
	_ = json.Unmarshal(body, &top)
	return top[name]
}

// decodeEvent decodes {"event": {...}} into an EventInput, including the
// nested recurrence object, which engine.Nullable decodes leniently.
func decodeEvent(body []byte) (engine.EventInput, error) {
	var in engine.EventInput
	if err := decodeEnvelope(body, "event", &in); err != nil {
		var ae *httperr.Problem
		if errors.As(err, &ae) && ae.Status == http.StatusUnprocessableEntity {
			if terr := checkTimes(envelope(body, "event"), "starts_at", "ends_at", "published_at"); terr != nil {
				return in, terr
			}
		}
		return in, err
	}
	var m map[string]json.RawMessage
	_ = json.Unmarshal(envelope(body, "event"), &m)
	if err := checkEventJSON(m); err != nil {
		return in, err
	}
	if raw, ok := m["recurrence"]; ok && !bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		var r engine.Recurrence
		if err := decodeStrict(raw, "recurrence", &r); err != nil {
			return in, err
		}
	}
	return in, nil
}
