package web

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"eventops/engine"
)

// sendJSON answers v as application/json.
func sendJSON(c *fiber.Ctx, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	c.Status(status)
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(body)
}

// timestamp renders a time in UTC, RFC 3339 with a `Z` (fractional seconds
// only when there are any).
type timestamp time.Time

func (t timestamp) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 32)
	b = append(b, '"')
	b = time.Time(t).UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), nil
}

func ts(t time.Time) timestamp { return timestamp(t) }

func tsPtr(t *time.Time) *timestamp {
	if t == nil {
		return nil
	}
	v := timestamp(*t)
	return &v
}

// pathID parses a numeric path parameter; anything else is a 404, as an id
// that cannot exist.
func pathID(c *fiber.Ctx, name string) (uint64, error) {
	id, err := strconv.ParseUint(c.Params(name), 10, 64)
	if err != nil || id == 0 {
		return 0, engine.NotFound("no such resource")
	}
	return id, nil
}
