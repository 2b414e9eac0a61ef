package web

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// logBuffer captures JSON log lines from any goroutine.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines returns the captured lines whose msg is msg.
func (b *logBuffer) lines(t testing.TB, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", l)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func debugLogger(b *logBuffer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func TestRequestIDs(t *testing.T) {
	t.Parallel()
	f := setup(t)
	long := strings.Repeat("a", maxRequestID+1)
	cases := []struct {
		name, sent string
		honoured   bool
	}{
		{"absent", "", false},
		{"uuid", "0f8fad5b-d9cb-469f-a165-70867728950e", true},
		{"trace header", "Root=1-67891233-abcdef012345678912345678", true},
		{"base64", "aGVsbG8+d29ybGQ/Zm9v/Kw==", true},
		{"longest", strings.Repeat("b", maxRequestID), true},
		{"too long", long, false},
		{"spaces", "id with spaces", false},
		{"quotes", `x"y`, false},
		{"markup", "<script>", false},
		{"an API key", "eo_" + strings.Repeat("k", 40), false},
	}
	seen := map[string]bool{}
	for _, c := range cases {
		r := f.do("GET", "/healthz", "", nil, hdr{HeaderRequestID, c.sent})
		got := r.Header.Get(HeaderRequestID)
		switch {
		case c.honoured && got != c.sent:
			t.Errorf("%s: X-Request-ID %q came back as %q", c.name, c.sent, got)
		case !c.honoured && (got == c.sent || len(got) != 26):
			t.Errorf("%s: X-Request-ID %q came back as %q, want a fresh 26-character id", c.name, c.sent, got)
		}
		if !c.honoured {
			if seen[got] {
				t.Errorf("%s: generated id %q repeats", c.name, got)
			}
			seen[got] = true
		}
	}
}

func TestEveryAnswerCarriesARequestID(t *testing.T) {
	t.Parallel()
	f := setup(t).net()
	ev := f.event(f.keyA)
	for _, r := range []*resp{
		ev.Resp,                                // a write
		f.do("GET", "/api/v2/events", "", nil), // 401 from the group's middleware
		f.do("GET", "/api/v2/nothing", f.keyA, nil),                     // 404 from the API
		f.do("GET", "/nothing", "", nil),                                // no route at all
		f.do("POST", "/api/v2/events", f.keyA, "{"),                     // 400 malformed
		f.do("GET", opPath(ev.EventID, ev.OpID)+"?wait=1", f.keyA, nil), // a long-poll
		// A body over the limit is refused by fasthttp before routing.
		f.do("POST", "/api/v2/venues", f.keyA, `{"venue": {"name": "`+string(repeat('x', BodyLimit))+`"}}`),
	} {
		if id := r.Header.Get(HeaderRequestID); len(id) != 26 {
			t.Errorf("%s %s → %d: X-Request-ID %q", r.req.Method, r.req.URL, r.Status, id)
		}
	}
}

func TestAccessLogAndRequestLines(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	f := setup(t, withConfig(func(c *Config) { c.Logger = debugLogger(&logs) }))
	f.srv.App().Get("/boom", func(*fiber.Ctx) error { panic("boom") })

	ev := f.event(f.keyA)
	r := f.do("PATCH", "/api/v2/events/"+itoa(ev.EventID), f.keyA, `{"event": {"name": "Late Jazz"}}`,
		hdr{HeaderRequestID, "req-patch-1"}).expect(t, 200)
	op := r.Header.Get(HeaderOperationID)
	f.do("GET", "/api/v2/events", "eo_not_a_real_key", nil, hdr{HeaderRequestID, "req-401"}).expect(t, 401)
	f.do("GET", "/boom", "", nil, hdr{HeaderRequestID, "req-boom"}).expect(t, 500)
	f.do("GET", "/readyz", "", nil, hdr{HeaderRequestID, "req-probe"}).expect(t, 200)

	byID := map[string]map[string]any{}
	for _, l := range logs.lines(t, "request") {
		id, _ := l["request_id"].(string)
		byID[id] = l
	}
	want := func(id string, kv map[string]any) {
		t.Helper()
		l := byID[id]
		if l == nil {
			t.Fatalf("no access line for %s:\n%s", id, logs.String())
		}
		for k, v := range kv {
			if l[k] != v {
				t.Errorf("access line %s: %s = %v, want %v (%v)", id, k, l[k], v, l)
			}
		}
		if _, ok := l["duration_ms"].(float64); !ok {
			t.Errorf("access line %s has no duration: %v", id, l)
		}
	}
	want("req-patch-1", map[string]any{"level": "INFO", "method": "PATCH", "route": "/api/v2/events/:id",
		"path": "/api/v2/events/" + itoa(ev.EventID), "status": float64(200), "key_id": float64(f.keyAID), "op": op})
	want("req-401", map[string]any{"status": float64(401), "route": "/api/v2/*"})
	want("req-boom", map[string]any{"level": "WARN", "status": float64(500), "route": "/boom"})
	want("req-probe", map[string]any{"level": "DEBUG", "route": "/readyz"})
	if _, ok := byID["req-401"]["key_id"]; ok {
		t.Error("a refused key got a key id")
	}

	// The request's own lines carry its id.
	for _, msg := range []string{"panic in handler", "internal error"} {
		ls := logs.lines(t, msg)
		if len(ls) != 1 || ls[0]["request_id"] != "req-boom" {
			t.Errorf("%q lines: %v, want one with request_id req-boom", msg, ls)
		}
	}
	if out := logs.String(); strings.Contains(out, f.keyA) || strings.Contains(out, "eo_not_a_real_key") {
		t.Fatal("an API key reached the log")
	}
}

// TestEngineLinesCarryRequestID: the engine logs the operations a request
// starts with the request's context (and main builds its logger on
// LogRequestIDs), so its "operation queued" line names the request.
func TestEngineLinesCarryRequestID(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	f, _ := opsSetup(t, opsOptions{log: debugLogger(&logs)})
	v, tt := f.venue(f.keyA), f.ticketType(f.keyA)
	r := f.do("POST", "/api/v2/events", f.keyA, eventBody(v, tt), hdr{HeaderRequestID, "req-create-7"},
		hdr{HeaderIdempotencyKey, "create-7"}).expect(t, 201)
	op := opHeader(t, r)
	var queued map[string]any
	for _, l := range logs.lines(t, "operation queued") {
		if l["op"] == float64(op) {
			queued = l
		}
	}
	if queued == nil {
		t.Fatalf("no operation queued line for %d:\n%s", op, logs.String())
	}
	if queued["request_id"] != "req-create-7" {
		t.Errorf("the engine's operation queued line does not carry the request id: %v", queued)
	}
}

func TestLogRequestIDsWrapsOnce(t *testing.T) {
	t.Parallel()
	var b logBuffer
	h := LogRequestIDs(LogRequestIDs(slog.NewJSONHandler(&b, nil)))
	log := slog.New(h).With("component", "x")
	log.InfoContext(WithRequestID(t.Context(), "abc"), "hello")
	log.Info("no context")
	ls := b.lines(t, "hello")
	if len(ls) != 1 || ls[0]["request_id"] != "abc" || ls[0]["component"] != "x" {
		t.Fatalf("lines: %s", b.String())
	}
	if strings.Count(b.String(), "request_id") != 1 {
		t.Fatalf("request_id repeated or on a line without it:\n%s", b.String())
	}
}
