package web

import (
	"context"
	"crypto/rand"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"eventops/web/ops"
)

// HeaderRequestID carries a request's id, on the request (honoured when
// sane) and on every answer.
const HeaderRequestID = "X-Request-ID"

// maxRequestID bounds an honoured X-Request-ID.
const maxRequestID = 128

type requestIDCtxKey struct{}

type requestIDLocal struct{}

// WithRequestID returns ctx carrying a request id; log lines written with
// ctx (slog's *Context methods, through a logger built on LogRequestIDs)
// carry it as request_id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDCtxKey{}, id)
}

// RequestID is the request id ctx carries, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDCtxKey{}).(string)
	return id
}

// LogRequestIDs wraps h so that every record logged with a context that
// carries a request id gets a request_id attribute. The server wraps its
// own logger; main wraps the engine's too, so that the engine lines a
// request causes (logged with the request's context) carry its id.
// Wrapping twice is the same as wrapping once.
func LogRequestIDs(h slog.Handler) slog.Handler {
	if _, ok := h.(requestIDHandler); ok {
		return h
	}
	return requestIDHandler{h}
}

type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if ctx != nil {
		if id := RequestID(ctx); id != "" {
			r.AddAttrs(slog.String("request_id", id))
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(as)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}

// saneRequestID accepts what tracing systems send (UUIDs, hex, base64,
// "Root=1-..." style) and refuses anything that could forge or break a log
// line: at most 128 bytes of letters, digits and - _ . : + / =. A value
// that looks like one of our API keys is refused too: a client that puts
// its key in the wrong header must not get it logged.
func saneRequestID(v string) bool {
	if v == "" || len(v) > maxRequestID || (len(v) >= 3 && strings.EqualFold(v[:3], "eo_")) {
		return false
	}
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-_.:+/=", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// newRequestID is 128 random bits as 26 base32 characters.
func newRequestID() string { return rand.Text() }

// observeRequests is the outermost middleware: it gives the request its
// id (X-Request-ID honoured when sane, else generated), puts the id into
// the request's context for every log line written with it, answers
// errors through the app's error handler so that the final status is
// known, then sets X-Request-ID on the answer, counts it in the metrics
// and writes one access log line.
func (s *Server) observeRequests(c *fiber.Ctx) error {
	start := time.Now()
	id := s.beginRequest(c)
	if err := c.Next(); err != nil {
		if herr := c.App().ErrorHandler(c, err); herr != nil {
			_ = c.SendStatus(fiber.StatusInternalServerError)
		}
	}
	s.finishRequest(c, id, start)
	return nil
}

// beginRequest assigns the request id.
func (s *Server) beginRequest(c *fiber.Ctx) string {
	id := c.Get(HeaderRequestID)
	if !saneRequestID(id) {
		id = s.newReqID()
	}
	c.Locals(requestIDLocal{}, id)
	c.SetUserContext(WithRequestID(c.UserContext(), id))
	return id
}

// finishRequest stamps, counts and logs an answered request.
func (s *Server) finishRequest(c *fiber.Ctx, id string, start time.Time) {
	d := time.Since(start)
	c.Set(HeaderRequestID, id)
	status := c.Response().StatusCode()
	route := s.routes.label(c)
	method := c.Method()
	s.metrics.ObserveHTTP(method, route, status, d)
	s.accessLog(c, method, route, status, d)
}

// onError is the app's ErrorHandler. Requests that went through
// observeRequests are answered by handleError; an error that fasthttp met
// before routing (a body over the limit, a header too large, a read
// timeout) reaches here alone, and is given an id, counted and logged too.
func (s *Server) onError(c *fiber.Ctx, err error) error {
	if c.Locals(requestIDLocal{}) != nil {
		return s.handleError(c, err)
	}
	start := time.Now()
	id := s.beginRequest(c)
	herr := s.handleError(c, err)
	s.finishRequest(c, id, start)
	return herr
}

// accessLog writes one line per answered request: method, route pattern,
// path (never the query, never a header), status, duration, the API key's
// id when one authenticated, the operation started, and (from the
// context) the request id. 5xx answers log at warn.
func (s *Server) accessLog(c *fiber.Ctx, method, route string, status int, d time.Duration) {
	level := slog.LevelInfo
	switch {
	case status >= 500:
		level = slog.LevelWarn
	case ops.QuietRoutes[route]:
		level = slog.LevelDebug
	}
	ctx := c.UserContext()
	if !s.log.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 9)
	attrs = append(attrs,
		slog.String("method", method),
		slog.String("route", route),
		slog.String("path", c.Path()),
		slog.Int("status", status),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000),
		slog.String("ip", c.IP()),
	)
	if k := apiKeyID(c); k != 0 {
		attrs = append(attrs, slog.Uint64("key_id", k))
	}
	if op := c.GetRespHeader(HeaderOperationID); op != "" {
		attrs = append(attrs, slog.String("op", op))
	}
	s.log.LogAttrs(ctx, level, "request", attrs...)
}

// apiKeyID is the id of the request's API key, 0 when none authenticated.
func apiKeyID(c *fiber.Ctx) uint64 {
	if k := apiKey(c); k != nil {
		return k.ID
	}
	return 0
}

// routeSet tells endpoints (routes registered with a method) from
// middleware prefixes, so that a metric's route label is the pattern a
// request was answered by: "/api/v2/events/:id" for an endpoint,
// "/api/v2/*" for a request that a group's middleware answered (an
// authentication failure, an unknown API path) and "unmatched" for one
// that no route took. It is rebuilt when routes are added.
type routeSet struct {
	mu        sync.RWMutex
	handlers  uint32
	endpoints map[*fiber.Handler]bool
}

func (rs *routeSet) label(c *fiber.Ctx) string {
	r := c.Route()
	if len(r.Handlers) == 0 {
		return "unmatched" // fasthttp answered before routing
	}
	if rs.endpoint(c.App(), &r.Handlers[0]) {
		return r.Path
	}
	if p := strings.TrimRight(r.Path, "/"); p != "" {
		return p + "/*"
	}
	return "unmatched"
}

// endpoint reports whether h is the first handler of an endpoint. A
// route's handler slice is shared between the stack and GetRoutes' copies,
// so the address of its first element identifies the route.
func (rs *routeSet) endpoint(app *fiber.App, h *fiber.Handler) bool {
	n := app.HandlersCount()
	rs.mu.RLock()
	if rs.endpoints != nil && rs.handlers == n {
		ok := rs.endpoints[h]
		rs.mu.RUnlock()
		return ok
	}
	rs.mu.RUnlock()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.endpoints == nil || rs.handlers != n {
		rs.endpoints = map[*fiber.Handler]bool{}
		for _, r := range app.GetRoutes(true) {
			if len(r.Handlers) > 0 {
				rs.endpoints[&r.Handlers[0]] = true
			}
		}
		rs.handlers = n
	}
	return rs.endpoints[h]
}
