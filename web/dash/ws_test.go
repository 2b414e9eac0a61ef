package dash

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"eventops/engine"
)

// dial opens the websocket of a page as b's browser would.
func (f *dashFixture) dial(b *browser, page string, origin ...string) (*websocket.Conn, *http.Response, error) {
	h := http.Header{}
	h.Set("Origin", f.base)
	if len(origin) > 0 {
		h.Set("Origin", origin[0])
	}
	if s := b.cookies[sessionCookie]; s != "" {
		h.Set("Cookie", sessionCookie+"="+s)
	}
	u := "ws" + strings.TrimPrefix(f.base, "http") + "/ws?page=" + url.QueryEscape(page)
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	return d.Dial(u, h)
}

func (f *dashFixture) mustDial(b *browser, page string) *websocket.Conn {
	f.t.Helper()
	conn, res, err := f.dial(b, page)
	if err != nil {
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		f.t.Fatalf("dial %s: %v (status %d)", page, err, status)
	}
	f.t.Cleanup(func() { conn.Close() })
	return conn
}

// readUntil reads messages until one contains every part, and returns it.
func readUntil(t testing.TB, conn *websocket.Conn, parts ...string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var seen []string
	for {
		_ = conn.SetReadDeadline(deadline)
		_, msg, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("waiting for a message with %q: %v\nseen:\n%s", parts, err, strings.Join(seen, "\n----\n"))
		}
		m := string(msg)
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(m, p)
		}
		if ok {
			return m
		}
		seen = append(seen, m)
	}
}

func TestDashboardSocketGuard(t *testing.T) {
	t.Parallel()
	f := setupDash(t, dashListen())
	admin := f.admin()
	cases := []struct {
		name   string
		b      *browser
		page   string
		origin string
		status int
	}{
		{"signed out", f.browser(), "/", f.base, http.StatusUnauthorized},
		{"foreign origin", admin, "/", "https://evil.example", http.StatusForbidden},
		{"no origin", admin, "/", " ", http.StatusForbidden},
		{"not a live page", admin, "/companies", f.base, http.StatusBadRequest},
		{"bad filter", admin, "/operations?status=bogus", f.base, http.StatusBadRequest},
	}
	for _, tc := range cases {
		_, res, err := f.dial(tc.b, tc.page, tc.origin)
		if err == nil || res == nil || res.StatusCode != tc.status {
			got := 0
			if res != nil {
				got = res.StatusCode
			}
			t.Fatalf("%s: err %v, status %d, want %d", tc.name, err, got, tc.status)
		}
	}
	res, err := http.Get(f.base + "/ws?page=/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUpgradeRequired {
		t.Fatalf("plain GET /ws: %d", res.StatusCode)
	}
}

// The operation page gets the current state on connect, then every change,
// as the same fragments the page is made of.
func TestDashboardSocketOperationPage(t *testing.T) {
	t.Parallel()
	gate := newDashGate(engine.TicketsWork{})
	f := setupDash(t, dashListen(), dashWork(engine.PhaseTickets, gate))
	_, op := f.createEvent("Live Night")
	gate.waitStarted(t)
	running := f.waitOp(op.ID, func(o *engine.Operation) bool {
		return o.Progress != nil && o.FindPhase(o.Phases[0].ID).Progress != nil
	})

	conn := f.mustDial(f.viewer(), opPage(op.ID))
	first := readUntil(t, conn, `id="op-summary"`)
	for _, want := range []string{
		`hx-swap-oob="true"`, `class="summary st-running"`, fmt.Sprintf(`data-version="%d"`, running.Version),
		`id="op-tree"`, `id="op-timeline"`, `id="op-json"`, "1 of 3", `title="1 / 3 (33 %)"`,
	} {
		if !strings.Contains(first, want) {
			t.Fatalf("first message lacks %q:\n%s", want, first)
		}
	}
	if strings.Contains(first, "op-actions") || strings.Contains(first, "_csrf") {
		t.Fatalf("a pushed fragment carries forms:\n%s", first)
	}
	gate.open()
	done := readUntil(t, conn, `class="summary st-completed"`)
	if !strings.Contains(done, `<span class="status status-completed">completed</span>`) || !strings.Contains(done, "100%") {
		t.Fatalf("final message:\n%s", done)
	}
}

// A table gets its rows on connect, new operations at the top, and changes
// in place; a filtered table only what matches.
func TestDashboardSocketOperationsList(t *testing.T) {
	t.Parallel()
	gate := newDashGate(engine.TicketsWork{})
	f := setupDash(t, dashListen(), dashWork(engine.PhaseTickets, gate))
	_, old := f.createEvent("Before")
	gate.waitStarted(t)
	b := f.admin()
	all := f.mustDial(b, "/operations")
	failedOnly := f.mustDial(b, "/operations?status=failed")
	readUntil(t, all, `id="counts"`)
	rows := readUntil(t, all, `<tbody id="op-rows" hx-swap-oob="true"`)
	if !strings.Contains(rows, fmt.Sprintf(`id="op-row-%d"`, old.ID)) {
		t.Fatalf("rows on connect lack the existing operation:\n%s", rows)
	}
	empty := readUntil(t, failedOnly, `<tbody id="op-rows" hx-swap-oob="true"`)
	if strings.Contains(empty, "op-row-") {
		t.Fatalf("the failed-only table shows rows:\n%s", empty)
	}

	_, op := f.createEvent("After")
	ins := readUntil(t, all, fmt.Sprintf(`id="op-row-%d"`, op.ID))
	if !strings.HasPrefix(ins, `<tbody hx-swap-oob="afterbegin:#op-rows">`) {
		t.Fatalf("a new row is not inserted at the top:\n%s", ins)
	}
	gate.open()
	upd := readUntil(t, all, fmt.Sprintf(`<tr id="op-row-%d" class="st-completed"`, old.ID))
	if !strings.Contains(upd, `hx-swap-oob="true"`) {
		t.Fatalf("a changed row is not swapped in place:\n%s", upd)
	}
	readUntil(t, all, `id="counts"`, "completed")

	// The failed-only table got counts and nothing else.
	_ = failedOnly.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	for {
		_, msg, err := failedOnly.ReadMessage()
		if err != nil {
			break
		}
		if strings.Contains(string(msg), "op-row-") {
			t.Fatalf("the failed-only table got a row:\n%s", msg)
		}
	}
}

func TestDashboardSocketOverviewAndEventPage(t *testing.T) {
	t.Parallel()
	f := setupDash(t, dashListen(), dashWork(engine.PhaseTickets, failingWork{}))
	b := f.admin()
	ev, op := f.createEvent("Doomed")
	f.waitOp(op.ID, func(o *engine.Operation) bool { return o.Status.Terminal() })
	overview := f.mustDial(b, "/")
	readUntil(t, overview, `<dl id="counts"`)
	first := readUntil(t, overview, `id="failures"`)
	if !strings.Contains(first, string(engine.CodeTicketsStructureEmpty)) || !strings.Contains(first, `id="chart"`) {
		t.Fatalf("overview on connect:\n%s", first)
	}
	event := f.mustDial(b, fmt.Sprintf("/events/%d", ev.ID))
	readUntil(t, event, `id="event-live"`, "Not built yet")
	readUntil(t, event, fmt.Sprintf(`id="op-row-%d"`, op.ID))

	// A retry fails again: the overview's failures and the event's history
	// follow.
	retry, err := f.eng.RetryOperation(t.Context(), 0, op.ID)
	if err != nil {
		t.Fatal(err)
	}
	readUntil(t, overview, `id="failures"`, fmt.Sprintf(`href="/operations/%d"`, retry.ID))
	readUntil(t, event, fmt.Sprintf(`id="op-row-%d"`, retry.ID), "afterbegin")
	readUntil(t, event, `id="event-live"`)
}

type failingWork struct{}

func (failingWork) Run(context.Context, *engine.PhaseRun) error {
	return engine.Errorf(engine.CodeTicketsStructureEmpty, "nothing to sell")
}

func TestDashboardSocketClosing(t *testing.T) {
	t.Parallel()
	var pings atomic.Int32
	f := setupDash(t, dashListen(), dashOpts(func(o *Options) { o.PingEvery = 20 * time.Millisecond }))
	b := f.admin()
	conn := f.mustDial(b, "/")
	var counting atomic.Bool
	conn.SetPingHandler(func(string) error {
		// The second ping seen while counting ends the read below at once.
		if pings.Add(1) >= 2 && counting.Load() {
			_ = conn.SetReadDeadline(time.Now())
		}
		return conn.WriteControl(websocket.PongMessage, nil, time.Now().Add(time.Second))
	})
	readUntil(t, conn, `id="counts"`)
	readUntil(t, conn, `id="failures"`)
	// Reading processes the pings; a quiet page stays open meanwhile. The
	// read ends at the second ping, or fails the test after 10 s (a fixed
	// 200 ms window flaked on a loaded machine).
	pings.Store(0)
	counting.Store(true)
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for pings.Load() < 2 {
		if _, _, err := conn.ReadMessage(); err != nil {
			break
		}
	}
	if pings.Load() < 2 {
		t.Fatalf("%d pings in 10 s at a 20ms period", pings.Load())
	}

	// Signing out closes the session's sockets for good (1008: no
	// reconnect).
	other := f.mustDial(b, "/operations")
	b.post("/logout", url.Values{"_csrf": {b.token("/")}})
	expectClose(t, other, websocket.ClosePolicyViolation)

	// Shutdown closes the others with 1012, so that pages reconnect to the
	// next server, and refuses new ones.
	c2 := f.admin()
	conn2 := f.mustDial(c2, "/")
	readUntil(t, conn2, `id="counts"`)
	f.dash.CloseSockets()
	expectClose(t, conn2, websocket.CloseServiceRestart)
	if n := f.dash.hub.connected(); n != 0 {
		t.Fatalf("%d sockets left after shutdown", n)
	}
	if late, _, err := f.dial(c2, "/"); err == nil {
		expectClose(t, late, websocket.CloseServiceRestart)
	}
	f.dash.CloseSockets() // a second call is harmless
}

func expectClose(t testing.TB, conn *websocket.Conn, code int) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, _, err := conn.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != code {
			t.Fatalf("socket ended with %v, want close code %d", err, code)
		}
		return
	}
}

// A client whose queue is full is disconnected with 1013 (it reconnects and
// gets the current state), and the hub never waits for it.
func TestDashboardSlowClientIsDropped(t *testing.T) {
	t.Parallel()
	c := newWSClient(pageView{kind: pageOverview}, nil, 2)
	pm := textFrame([]byte("<div id=x></div>"))
	c.offer(pm)
	c.offer(pm)
	select {
	case <-c.quit:
		t.Fatal("closed within its queue")
	default:
	}
	c.offer(pm)
	select {
	case <-c.quit:
	default:
		t.Fatal("a full queue did not close the client")
	}
	if c.code != websocket.CloseTryAgainLater {
		t.Fatalf("close code %d", c.code)
	}
}

// A server drop (1012) makes a page reconnect; the new socket starts with
// the current state, including what changed while it was away.
func TestDashboardSocketReconnectGetsCurrentState(t *testing.T) {
	t.Parallel()
	gate := newDashGate(engine.TicketsWork{})
	f := setupDash(t, dashListen(), dashWork(engine.PhaseTickets, gate))
	_, op := f.createEvent("Dropped")
	gate.waitStarted(t)
	b := f.admin()
	conn := f.mustDial(b, opPage(op.ID))
	readUntil(t, conn, `st-running`)
	f.dash.hub.dropAll(websocket.CloseServiceRestart, "test")
	expectClose(t, conn, websocket.CloseServiceRestart)
	gate.open()
	f.waitOp(op.ID, func(o *engine.Operation) bool { return o.Status.Terminal() })
	again := f.mustDial(b, opPage(op.ID))
	readUntil(t, again, `class="summary st-completed"`)
}
