package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"eventops/engine"
	"eventops/storage"
	"eventops/storage/pgtest"
	"eventops/web/client"
	"eventops/web/metrics"
)

// Live updates across nodes: two engines, each with its own storage.DB on
// one PostgreSQL database and its own server on a real port, as two serve
// nodes are. Operations run on the node that created them (until leases),
// so a save created through node B runs on B.

// deafNotifier is a node's real notifier (storage.DB) whose deliveries can
// be dropped for a while, as a listener whose connection is away loses
// them; it remembers the payloads it dropped.
type deafNotifier struct {
	*storage.DB
	deaf    atomic.Bool
	mu      sync.Mutex
	dropped []string
}

func (n *deafNotifier) Listen(ctx context.Context, channels ...string) *engine.Listener {
	l := n.DB.Listen(ctx, channels...)
	c := make(chan engine.Notification)
	go func() {
		defer close(c)
		for x := range l.C {
			if n.deaf.Load() && !x.Resync {
				n.mu.Lock()
				n.dropped = append(n.dropped, x.Payload)
				n.mu.Unlock()
				continue
			}
			c <- x
		}
	}()
	return &engine.Listener{C: c, Ready: l.Ready}
}

// droppedEntry reports whether an announcement of op at version was dropped.
func (n *deafNotifier) droppedEntry(op, version uint64) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	want := fmt.Sprintf(":%d:%d", op, version)
	for _, p := range n.dropped {
		for _, e := range strings.Fields(p) {
			if strings.HasSuffix(e, want) {
				return true
			}
		}
	}
	return false
}

// crossNode is one node of a pair.
type crossNode struct {
	*fixture
	notifier *deafNotifier
	url      string // the database's
}

// twoCrossNodes starts nodes A and B on one fresh database; work, if any, runs
// B's tickets phase. Both share the companies and keys made through A.
func twoCrossNodes(t testing.TB, work engine.Work) (a, b *crossNode) {
	t.Helper()
	url := pgtest.Database(t)
	sealer, err := storage.LoadSealer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	node := func(name string, work engine.Work) *crossNode {
		db, err := storage.OpenPostgres(context.Background(), url, storage.Options{})
		if err != nil {
			t.Fatalf("open node %s: %v", name, err)
		}
		n := &deafNotifier{DB: db}
		m := metrics.New()
		works := map[string]engine.Work{}
		if work != nil {
			works[engine.PhaseTickets] = work
		}
		eng := engine.New(engine.Config{Store: db, SharedStore: true, Leases: db, Notifier: n, NodeID: name,
			Work: works, Logger: quietLogger(), Sealer: sealer, Observer: m,
			Retry: engine.RetryPolicy{Base: time.Millisecond, Max: 5 * time.Millisecond, Attempts: 2}})
		if err := eng.Start(context.Background()); err != nil {
			t.Fatalf("start node %s: %v", name, err)
		}
		srv := New(Config{Engine: eng, Logger: quietLogger(), Metrics: m})
		f := &fixture{t: t, db: db, eng: eng, srv: srv, ln: &listener{}}
		t.Cleanup(func() {
			srv.cancel()
			srv.ops.close()
			eng.Stop(5 * time.Second)
			db.Close()
		})
		select {
		case <-eng.Listening():
		case <-time.After(30 * time.Second):
			t.Fatalf("node %s does not listen", name)
		}
		return &crossNode{fixture: f.net(), notifier: n, url: url}
	}
	a, b = node("a", nil), node("b", work)
	ctx := context.Background()
	if a.a, err = a.eng.CreateCompany(ctx, "Company A", nil); err != nil {
		t.Fatal(err)
	}
	k, plain, err := a.eng.CreateAPIKey(ctx, a.a.ID, "test", []engine.Scope{engine.ScopeRead, engine.ScopeWrite})
	if err != nil {
		t.Fatal(err)
	}
	a.keyA, a.keyAID = plain.Reveal(), k.ID
	b.a, b.keyA, b.keyAID = a.a, a.keyA, a.keyAID
	return a, b
}

// viewerSocket signs a viewer in on n and opens the websocket of page.
func (n *crossNode) viewerSocket(email, page string) *websocket.Conn {
	n.t.Helper()
	s := n.signInStaff(email, engine.RoleViewer)
	return n.socket(s, page)
}

func (n *crossNode) socket(s *staff, page string) *websocket.Conn {
	n.t.Helper()
	h := http.Header{}
	h.Set("Origin", s.base)
	h.Set("Cookie", s.cookieHeader())
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	conn, _, err := d.Dial("ws"+strings.TrimPrefix(s.base, "http")+"/ws?page="+url.QueryEscape(page), h)
	if err != nil {
		n.t.Fatalf("dial %s: %v", page, err)
	}
	n.t.Cleanup(func() { conn.Close() })
	return conn
}

// readFrame reads websocket messages until one holds every part.
func readFrame(t testing.TB, conn *websocket.Conn, parts ...string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_ = conn.SetReadDeadline(deadline)
		_, msg, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("waiting for a message with %q: %v", parts, err)
		}
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(string(msg), p)
		}
		if ok {
			return string(msg)
		}
	}
}

// A save created through node B runs there; node A's clients see it live:
// a websocket on the operation's page gets the completed state pushed, a
// long-poll held on A answers the new state, A's broker never publishes a
// version older than one it published, and A measures the lag.
func TestCrossNodeTransitionsReachClientsOfTheOtherNode(t *testing.T) {
	t.Parallel()
	g := newGate(engine.TicketsWork{})
	a, b := twoCrossNodes(t, g)
	sub := a.eng.Broker().Subscribe(4096)
	defer sub.Close()

	c := b.event(b.keyA)
	waitStarted(t, g)
	r := a.do("GET", opPath(c.EventID, c.OpID), a.keyA, nil).expect(t, 200)
	if op := decode[client.Operation](t, r); op.Status != "running" {
		t.Fatalf("node A answers %s, node B runs it", op.Status)
	}
	poll := make(chan *resp, 1)
	go func() {
		poll <- a.do("GET", opPath(c.EventID, c.OpID)+"?wait=30", a.keyA, nil, hdr{"If-None-Match", r.Header.Get("ETag")})
	}()
	waitHeld(t, a.fixture, 1)
	conn := a.viewerSocket("viewer@example.com", fmt.Sprintf("/operations/%d", c.OpID))
	readFrame(t, conn, `id="op-summary"`, `st-running`)

	g.open()
	readFrame(t, conn, `st-completed`)
	select {
	case res := <-poll:
		res.expect(t, 200)
		if op := decode[client.Operation](t, res); op.Version <= decode[client.Operation](t, r).Version {
			t.Fatalf("the long-poll on A answered version %d, not newer than %d", op.Version, decode[client.Operation](t, r).Version)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the long-poll held on A did not answer B's transition")
	}
	if a.eng.RemoteTransitions() == 0 {
		t.Fatal("node A counted no transition of node B")
	}
	waitUntil(t, "eventops_notification_lag_seconds to record on A", func() bool {
		return scrape(t, a.fixture)["eventops_notification_lag_seconds_count"] > 0
	})

	seen := map[uint64]uint64{}
	for {
		select {
		case op, ok := <-sub.C:
			if !ok {
				t.Fatal("A's subscription was dropped")
			}
			if op.Version <= seen[op.ID] {
				t.Fatalf("A published operation %d at version %d after %d", op.ID, op.Version, seen[op.ID])
			}
			seen[op.ID] = op.Version
			continue
		default:
		}
		break
	}
	if seen[c.OpID] == 0 {
		t.Fatal("A's broker published nothing of B's save")
	}
}

// Notifications node A missed (its listener away) are made good: its API
// answers B's newer state at once anyway (the operation cache reads the
// store for what is not terminal), and once its listener's connection is
// lost and back (pg_terminate_backend), its websocket pages resync and show
// the state they missed.
func TestCrossNodeLostNotificationsResync(t *testing.T) {
	t.Parallel()
	g := newGate(engine.TicketsWork{})
	a, b := twoCrossNodes(t, g)
	c := b.event(b.keyA)
	waitStarted(t, g)
	conn := a.viewerSocket("viewer@example.com", fmt.Sprintf("/operations/%d", c.OpID))
	readFrame(t, conn, `id="op-summary"`, `st-running`)
	// A caches the running state.
	if op := decode[client.Operation](t, a.do("GET", opPath(c.EventID, c.OpID), a.keyA, nil).expect(t, 200)); op.Status != "running" {
		t.Fatalf("A answers %s", op.Status)
	}

	a.notifier.deaf.Store(true)
	g.open()
	done := b.waitTerminal(c.EventID, c.OpID)
	waitUntil(t, "A's listener to miss the completion", func() bool { return a.notifier.droppedEntry(c.OpID, done.Version) })
	got := decode[client.Operation](t, a.do("GET", opPath(c.EventID, c.OpID), a.keyA, nil).expect(t, 200))
	if got.Version != done.Version || got.Status != "completed" {
		t.Fatalf("after B answered version %d (%s), A answered version %d (%s)", done.Version, done.Status, got.Version, got.Status)
	}

	a.notifier.deaf.Store(false)
	// Each node listens twice: announcements and lease wake-ups.
	if n := pgtest.Terminate(t, a.url, storage.ListenerApplicationName); n != 4 {
		t.Fatalf("terminated %d listener connections, want A's and B's two each", n)
	}
	readFrame(t, conn, `st-completed`)
}
