package web

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"eventops/engine"
)

// answer is a write's answer whole: what its first request was sent and
// what a replay of its Idempotency-Key sends again, byte for byte.
type answer struct {
	status int
	header []headerField // Content-Type, Location, X-Event-Operation-ID
	body   []byte
}

type headerField struct{ name, value string }

// renderFunc makes a write route's answer from what the write made. With
// an Idempotency-Key it runs inside the write's transaction (as the key's
// engine.RenderFunc), so it is pure: it reads r and the server's fixed
// configuration, nothing else.
type renderFunc func(r engine.WriteResult) (*answer, error)

// jsonAnswer is status with v as JSON, encoded as sendJSON does.
func jsonAnswer(status int, v any, header ...headerField) (*answer, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("render answer: %w", err)
	}
	h := append([]headerField{{fiber.HeaderContentType, fiber.MIMEApplicationJSON}}, header...)
	return &answer{status: status, header: h, body: body}, nil
}

// operationHeader names the operation a write started (or cancelled).
func operationHeader(opID uint64) headerField {
	return headerField{HeaderOperationID, strconv.FormatUint(opID, 10)}
}

// send writes a onto c. The deprecated alias of the operation header is
// not part of an answer: it follows the operation header as long as the
// server still sends it (DESIGN §3.1), on a replay as on the first answer.
func (s *Server) send(c *fiber.Ctx, a *answer) error {
	for _, h := range a.header {
		c.Set(h.name, h.value)
		if h.name == HeaderOperationID {
			s.setAliasHeader(c, h.value)
		}
	}
	c.Status(a.status)
	return c.Send(a.body)
}

// answerFormat is the first byte of an encoded answer, the version of its
// layout: the byte, the status, the number of header fields, each field's
// name and value, all as uvarint lengths (or numbers) and bytes, then the
// body up to the end. It is web's own: the engine stores it unread.
const answerFormat = 1

func (a *answer) encode() []byte {
	n := 1 + 3*binary.MaxVarintLen64 + len(a.body)
	for _, h := range a.header {
		n += 2*binary.MaxVarintLen64 + len(h.name) + len(h.value)
	}
	b := make([]byte, 0, n)
	b = append(b, answerFormat)
	b = binary.AppendUvarint(b, uint64(a.status))
	b = binary.AppendUvarint(b, uint64(len(a.header)))
	for _, h := range a.header {
		b = appendString(b, h.name)
		b = appendString(b, h.value)
	}
	return append(b, a.body...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errAnswerFormat = errors.New("stored idempotent answer: not in a known format")

func decodeAnswer(b []byte) (*answer, error) {
	if len(b) == 0 || b[0] != answerFormat {
		return nil, errAnswerFormat
	}
	b = b[1:]
	next := func() (uint64, bool) {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, false
		}
		b = b[n:]
		return v, true
	}
	str := func() (string, bool) {
		l, ok := next()
		if !ok || l > uint64(len(b)) {
			return "", false
		}
		s := string(b[:l])
		b = b[l:]
		return s, true
	}
	status, ok := next()
	if !ok || status < 100 || status > 999 {
		return nil, errAnswerFormat
	}
	count, ok := next()
	if !ok || count > uint64(len(b)) {
		return nil, errAnswerFormat
	}
	a := &answer{status: int(status), header: make([]headerField, 0, count)}
	for i := uint64(0); i < count; i++ {
		name, ok1 := str()
		value, ok2 := str()
		if !ok1 || !ok2 {
			return nil, errAnswerFormat
		}
		a.header = append(a.header, headerField{name, value})
	}
	a.body = append([]byte{}, b...)
	return a, nil
}

// legacyAnswer reads an answer as the previous version stored it (a JSON
// object, in a commit after the write's).
func legacyAnswer(raw json.RawMessage) (*answer, error) {
	var r struct {
		Status int               `json:"status"`
		Header map[string]string `json:"header"`
		Body   []byte            `json:"body"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("stored idempotent answer of the previous version: %w", err)
	}
	a := &answer{status: r.Status, body: r.Body}
	for _, name := range replayHeaders {
		if v, ok := r.Header[name]; ok {
			a.header = append(a.header, headerField{name, v})
		}
	}
	return a, nil
}

// replayHeaders are the headers the previous version kept with an answer.
var replayHeaders = []string{fiber.HeaderContentType, fiber.HeaderLocation, HeaderOperationID}
