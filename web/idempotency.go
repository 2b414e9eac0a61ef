package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/gofiber/fiber/v2"

	"eventops/engine"
	"eventops/web/httperr"
)

// HeaderIdempotencyKey is the request header of DESIGN §3.
const HeaderIdempotencyKey = "Idempotency-Key"

// headerReplayed marks an answer replayed from an earlier request.
const headerReplayed = "Idempotent-Replayed"

// maxIdempotencyKey bounds the header's length.
const maxIdempotencyKey = 255

// replayHeaders are the headers of a write's answer that a replay repeats
// (the alias header follows the operation header at replay time).
var replayHeaders = []string{fiber.HeaderContentType, fiber.HeaderLocation, HeaderOperationID}

// rerenderFunc answers a replay whose stored response is missing (the server
// stopped between the write's commit and storing its answer) from the ids
// the record names.
type rerenderFunc func(c *fiber.Ctx, rec *engine.IdempotencyRecord) error

// idempotent makes a write honour Idempotency-Key (DESIGN §3): scoped to the
// API key, method and path; a repeat with the same body answers the first
// response without doing the work again; the same key with another body is
// 422 idempotency_key_reused; a repeat while the first is in flight is 409
// with Retry-After. "The same body" is the same JSON value (see
// requestFingerprint).
// The engine inserts the record in the write's own commit; only 2xx answers
// are completed with their response, so a failed request may be retried
// with its key. Without the header the write runs as usual.
func (s *Server) idempotent(rerender rerenderFunc) fiber.Handler {
	return func(c *fiber.Ctx) error {
		// A write outlives a client that hangs up; the request's values
		// (its request id, for the engine's log lines) go along.
		ctx := context.WithoutCancel(c.UserContext())
		raw := c.Get(HeaderIdempotencyKey)
		if raw == "" {
			c.SetUserContext(ctx)
			return c.Next()
		}
		if len(raw) > maxIdempotencyKey {
			return httperr.InvalidParam(HeaderIdempotencyKey, "too_long",
				fmt.Sprintf("is too long (maximum is %d characters)", maxIdempotencyKey))
		}
		k := engine.IdempotencyKey{
			Scope:       fmt.Sprintf("%d %s %s", apiKey(c).ID, c.Method(), c.Path()),
			Key:         raw,
			RequestHash: requestFingerprint(c.Body()),
		}
		id := k.Scope + "\x00" + k.Key
		if !s.inflight.add(id) {
			// The first request is answered soon: writes are short, and
			// long work runs as an operation after the answer.
			c.Set(fiber.HeaderRetryAfter, "1")
			return httperr.New(http.StatusConflict, httperr.TypeConflict,
				"a request with this Idempotency-Key is still being handled; retry once it has been answered")
		}
		defer s.inflight.remove(id)
		ctx = engine.WithIdempotency(ctx, k)
		c.SetUserContext(ctx)

		err := s.eng.CheckIdempotency(ctx)
		if err == nil {
			err = c.Next()
		}
		if rec, ok := engine.AsReplay(err); ok {
			return s.replay(c, rec, rerender)
		}
		if err != nil {
			return err
		}
		status := c.Response().StatusCode()
		if status < 200 || status > 299 {
			return nil
		}
		resp := engine.Response{Status: status, Header: map[string]string{},
			// The response buffer is fasthttp's: Immutable covers only what
			// is read from the request.
			Body: bytes.Clone(c.Response().Body())}
		for _, h := range replayHeaders {
			if v := c.GetRespHeader(h); v != "" {
				resp.Header[h] = v
			}
		}
		if err := s.eng.CompleteIdempotency(ctx, resp); err != nil {
			// The record holds the ids already: a replay re-renders them.
			s.log.Warn("store idempotent response", "scope", k.Scope, "err", err)
		}
		return nil
	}
}

// requestFingerprint is what tells a repeat from another request under the
// same key: the SHA-256 of the body as canonical JSON when it is one JSON
// value (members sorted, no insignificant whitespace, strings re-escaped
// alike, so "\u00e9" and "é" agree), else of the bytes as they are.
// Numbers keep their text: 2 and 2.0 differ, as they do to the API, which
// refuses 2.0 where it wants a whole number.
func requestFingerprint(body []byte) []byte {
	if canon, ok := canonicalJSON(body); ok {
		body = canon
	}
	sum := sha256.Sum256(body)
	return sum[:]
}

func canonicalJSON(body []byte) ([]byte, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false // more than one value
	}
	canon, err := json.Marshal(v) // map members come out sorted
	return canon, err == nil
}

// replay answers a repeated request with the first one's answer.
func (s *Server) replay(c *fiber.Ctx, rec *engine.IdempotencyRecord, rerender rerenderFunc) error {
	c.Set(headerReplayed, "true")
	if rec.Response == nil {
		return rerender(c, rec)
	}
	r := rec.Response
	for h, v := range r.Header {
		c.Set(h, v)
	}
	if op := r.Header[HeaderOperationID]; op != "" {
		s.setAliasHeader(c, op)
	}
	c.Status(r.Status)
	return c.Send(r.Body)
}

// inflightKeys are the idempotency keys of requests being handled.
type inflightKeys struct {
	mu sync.Mutex
	m  map[string]struct{}
}

func newInflightKeys() *inflightKeys { return &inflightKeys{m: map[string]struct{}{}} }

func (k *inflightKeys) add(id string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, busy := k.m[id]; busy {
		return false
	}
	k.m[id] = struct{}{}
	return true
}

func (k *inflightKeys) remove(id string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.m, id)
}
