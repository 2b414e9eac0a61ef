package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
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

// recordResult reads again what a record of the previous version names
// (it kept ids only when the server stopped before storing its answer).
type recordResult func(c *fiber.Ctx, rec *engine.IdempotencyRecord) (engine.WriteResult, error)

// pendingAnswer is a write route's way to its answer, kept in the
// request's locals by idempotent for the handler's answer call.
type pendingAnswer struct {
	render renderFunc
	stored *answer // rendered in the write's commit, with its record
}

type pendingAnswerLocal struct{}

// idempotent makes a write honour Idempotency-Key (DESIGN §3): scoped to the
// API key, method and path; a repeat with the same body answers the first
// response without doing the work again; the same key with another body is
// 422 idempotency_key_reused; a repeat while the first is in flight is 409
// with Retry-After. "The same body" is the same JSON value (see
// requestFingerprint).
//
// render is the route's answer. With a key, the engine calls it inside the
// write's transaction and stores its bytes with the key's record, in the
// write's own commit: the answer sent is those bytes, and a replay sends
// them again, however the resources change later and whether or not the
// server stopped just after the commit. Only successful writes store a
// record, so a failed request may be retried with its key. Without the
// header the write runs as usual and render answers it after its commit.
// reread serves records of the previous version (see replay).
func (s *Server) idempotent(render renderFunc, reread recordResult) fiber.Handler {
	return func(c *fiber.Ctx) error {
		// A write outlives a client that hangs up; the request's values
		// (its request id, for the engine's log lines) go along.
		ctx := context.WithoutCancel(c.UserContext())
		p := &pendingAnswer{render: render}
		c.Locals(pendingAnswerLocal{}, p)
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
			// Routes match paths ignoring case and a trailing slash: so
			// does the scope, or one write spelled two ways would run twice.
			Scope:       fmt.Sprintf("%d %s %s", apiKey(c).ID, c.Method(), strings.TrimRight(strings.ToLower(c.Path()), "/")),
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
		ctx = engine.WithIdempotency(ctx, k, func(r engine.WriteResult) ([]byte, error) {
			a, err := render(r)
			if err != nil {
				return nil, err
			}
			// The transaction may run again: the last run is the one
			// committed, and the engine returns only after it.
			p.stored = a
			return a.encode(), nil
		})
		c.SetUserContext(ctx)

		err := s.eng.CheckIdempotency(ctx)
		if err == nil {
			err = c.Next()
		}
		if rec, ok := engine.AsReplay(err); ok {
			return s.replay(c, rec, render, reread)
		}
		return err
	}
}

// answer ends a write route: it sends the answer stored with the request's
// idempotency record when the engine rendered one in the write's commit,
// else renders the route's answer now from result (read only then).
func (s *Server) answer(c *fiber.Ctx, result func() (engine.WriteResult, error)) error {
	p, ok := c.Locals(pendingAnswerLocal{}).(*pendingAnswer)
	if !ok {
		return errors.New("web: a write route without the idempotent middleware")
	}
	a := p.stored
	if a == nil {
		r, err := result()
		if err != nil {
			return err
		}
		if a, err = p.render(r); err != nil {
			return err
		}
	}
	return s.send(c, a)
}

// made is a result already at hand.
func made(r engine.WriteResult) func() (engine.WriteResult, error) {
	return func() (engine.WriteResult, error) { return r, nil }
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
//
// Records of the previous version (kept 24 h, so met only in the first day
// after an upgrade) stored the answer in a commit after the write's: one
// that has it is answered with it, as before; one that lacks it (the
// server stopped in between) is answered by rendering what it names as it
// reads now, as the previous version did; only such records can answer
// anything but the first response.
func (s *Server) replay(c *fiber.Ctx, rec *engine.IdempotencyRecord, render renderFunc, reread recordResult) error {
	var a *answer
	var err error
	switch {
	case rec.Answer != nil:
		a, err = decodeAnswer(rec.Answer)
	case rec.LegacyAnswer != nil:
		a, err = legacyAnswer(rec.LegacyAnswer)
	default:
		var r engine.WriteResult
		if r, err = reread(c, rec); err == nil {
			a, err = render(r)
		}
	}
	if err != nil {
		return err
	}
	c.Set(headerReplayed, "true")
	return s.send(c, a)
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
