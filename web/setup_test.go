package web

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"eventops/engine"
	"eventops/storage"
	"eventops/storage/storetest"
	"eventops/web/client"
)

// fixture is a fresh installation per test: its own data file, a started
// engine, two companies with keys, and the server.
type fixture struct {
	t      testing.TB
	db     *storage.DB
	eng    *engine.Engine
	srv    *Server
	a, b   *engine.Company
	keyA   string // read and write, company A
	keyRO  string // read only, company A
	keyWO  string // write only, company A
	keyB   string // read and write, company B
	keyAID uint64
	keyBID uint64

	network bool // send requests through a real listener (see net)
	ln      *listener
}

// in returns the fixture of the same installation reporting to t, a
// subtest's: a table's row fails its own subtest.
func (f *fixture) in(t testing.TB) *fixture {
	g := *f
	g.t = t
	return &g
}

type listener struct {
	once sync.Once
	addr string
}

// net returns a fixture of the same installation whose requests go through
// a real 127.0.0.1 listener: app.Test cannot show answers that fasthttp
// makes before routing, such as 413.
func (f *fixture) net() *fixture {
	g := *f
	g.network = true
	return &g
}

// listen starts serving the app on 127.0.0.1:0 once and returns its address.
func (f *fixture) listen() string {
	f.ln.once.Do(func() {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			f.t.Fatal(err)
		}
		go f.srv.App().Listener(ln)
		f.t.Cleanup(func() { _ = f.srv.Shutdown(context.Background()) })
		f.ln.addr = ln.Addr().String()
	})
	return f.ln.addr
}

// roundTrip writes the request on a fresh connection and reads the answer
// without waiting for the server to read the whole body, so that an early
// answer (413) is seen rather than a reset.
func (f *fixture) roundTrip(req *http.Request) (*http.Response, error) {
	conn, err := net.Dial("tcp", f.listen())
	if err != nil {
		return nil, err
	}
	f.t.Cleanup(func() { conn.Close() })
	req.URL.Scheme, req.URL.Host, req.RequestURI = "http", f.ln.addr, ""
	go func() { _ = req.Write(conn) }()
	return http.ReadResponse(bufio.NewReader(conn), req)
}

type options struct {
	cfg        Config
	work       map[string]engine.Work
	refund     engine.RefundWork
	maxPending int
	store      func(engine.Store) engine.Store
	engine     []func(*engine.Config)
}

type option func(*options)

func withConfig(fn func(*Config)) option { return func(o *options) { fn(&o.cfg) } }

func withWork(name string, w engine.Work) option {
	return func(o *options) {
		if o.work == nil {
			o.work = map[string]engine.Work{}
		}
		o.work[name] = w
	}
}

func withRefund(w engine.RefundWork) option { return func(o *options) { o.refund = w } }

// withMaxPending bounds the engine's unfinished operations (engine.Config.MaxPending).
func withMaxPending(n int) option { return func(o *options) { o.maxPending = n } }

// withStore puts wrap between the engine and its data file.
func withStore(wrap func(engine.Store) engine.Store) option {
	return func(o *options) { o.store = wrap }
}

// withEngine changes the engine's configuration (webhooks' sender, guard).
func withEngine(fn func(*engine.Config)) option {
	return func(o *options) { o.engine = append(o.engine, fn) }
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func setup(t testing.TB, opts ...option) *fixture {
	t.Helper()
	var o options
	for _, fn := range opts {
		fn(&o)
	}
	db, err := storetest.Open(t, filepath.Join(t.TempDir(), "eventops.db"), storage.Options{})
	if err != nil {
		t.Fatalf("open storage: %v", err)
	}
	var store engine.Store = db
	if o.store != nil {
		store = o.store(db)
	}
	sealer, err := storage.LoadSealer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ecfg := engine.Config{Store: store, SharedStore: storetest.Postgres(), Work: o.work, Refund: o.refund, Logger: quietLogger(), MaxPending: o.maxPending,
		Retry: engine.RetryPolicy{Base: time.Millisecond, Max: 5 * time.Millisecond, Attempts: 2}, Sealer: sealer}
	if storetest.Postgres() {
		ecfg.Leases = db // a node, as serve runs it on PostgreSQL
	}
	for _, fn := range o.engine {
		fn(&ecfg)
	}
	eng := engine.New(ecfg)
	if err := eng.Start(context.Background()); err != nil {
		t.Fatalf("start engine: %v", err)
	}
	cfg := o.cfg
	cfg.Engine = eng
	if db.Postgres() && cfg.RateBudget == nil { // as serve wires it
		cfg.RateBudget = db
	}
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	srv := New(cfg)
	f := &fixture{t: t, db: db, eng: eng, srv: srv, ln: &listener{}}
	t.Cleanup(func() {
		srv.cancel()
		srv.ops.close()
		eng.Stop(5 * time.Second)
		if err := db.Check(); err != nil {
			t.Errorf("check: %v", err)
		}
		if err := db.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	ctx := context.Background()
	if f.a, err = eng.CreateCompany(ctx, "Company A", nil); err != nil {
		t.Fatal(err)
	}
	if f.b, err = eng.CreateCompany(ctx, "Company B", nil); err != nil {
		t.Fatal(err)
	}
	key := func(c *engine.Company, scopes ...engine.Scope) (string, uint64) {
		k, plain, err := eng.CreateAPIKey(ctx, c.ID, "test", scopes)
		if err != nil {
			t.Fatal(err)
		}
		return plain.Reveal(), k.ID
	}
	f.keyA, f.keyAID = key(f.a, engine.ScopeRead, engine.ScopeWrite)
	f.keyRO, _ = key(f.a, engine.ScopeRead)
	f.keyWO, _ = key(f.a, engine.ScopeWrite)
	f.keyB, f.keyBID = key(f.b, engine.ScopeRead, engine.ScopeWrite)
	return f
}

// resp is an answer read in full.
type resp struct {
	Status int
	Header http.Header
	Body   []byte
	req    *http.Request
}

// json reads the answer as a generic object. Tests read the API through
// decode and web/client's types; this is for answers that have none.
func (r *resp) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("%s %s: body is not a JSON object: %v\n%s", r.req.Method, r.req.URL, err, r.Body)
	}
	return m
}

// decode reads the answer as T, one of web/client's types: a test asserts
// what a client of the API reads, not the shape of a generic map.
func decode[T any](t testing.TB, r *resp) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatalf("%s %s: body is not a %T: %v\n%s", r.req.Method, r.req.URL, v, err, r.Body)
	}
	return v
}

func (r *resp) expect(t testing.TB, status int) *resp {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s %s: status %d, want %d\n%s", r.req.Method, r.req.URL, r.Status, status, r.Body)
	}
	return r
}

// problemType returns the problem's type, failing unless the answer is
// problem+json with the status in its body and every member a client
// relies on present (client.Problem cannot tell an empty member from a
// missing one, hence the pointers).
func (r *resp) problemType(t testing.TB) string {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("%s %s: content type %q, want application/problem+json", r.req.Method, r.req.URL, ct)
	}
	p := decode[struct {
		Status                       int
		Type, Title, Detail, Message *string
	}](t, r)
	if p.Status != r.Status {
		t.Fatalf("problem status %v, answer %d", p.Status, r.Status)
	}
	for k, v := range map[string]*string{"type": p.Type, "title": p.Title, "detail": p.Detail, "message": p.Message} {
		if v == nil {
			t.Fatalf("problem lacks %q: %s", k, r.Body)
		}
	}
	return *p.Type
}

// expectProblem checks the status and the problem's type and returns the
// problem as web/client reads it.
func (r *resp) expectProblem(t testing.TB, status int, typ string) client.Problem {
	t.Helper()
	r.expect(t, status)
	if got := r.problemType(t); got != typ {
		t.Fatalf("%s %s: problem type %q, want %q\n%s", r.req.Method, r.req.URL, got, typ, r.Body)
	}
	return decode[client.Problem](t, r)
}

// count is the number of items a list holds (its meta.count), read with
// key.
func (f *fixture) count(path, key string) int {
	f.t.Helper()
	return decode[client.Page[json.RawMessage]](f.t, f.do("GET", path, key, nil).expect(f.t, 200)).Meta.Count
}

// hdr is a request header.
type hdr struct{ k, v string }

// do sends a request through app.Test. body may be nil, a string (sent as
// JSON) or any value (marshalled).
func (f *fixture) do(method, path, key string, body any, headers ...hdr) *resp {
	f.t.Helper()
	var rd io.Reader
	isJSON := false
	switch b := body.(type) {
	case nil:
	case string:
		rd, isJSON = strings.NewReader(b), true
	case []byte:
		rd, isJSON = bytes.NewReader(b), true
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			f.t.Fatal(err)
		}
		rd, isJSON = bytes.NewReader(raw), true
	}
	req := httptest.NewRequest(method, path, rd)
	if isJSON {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Token "+key)
	}
	for _, h := range headers {
		if h.v == "" {
			req.Header.Del(h.k)
		} else {
			req.Header.Set(h.k, h.v)
		}
	}
	var res *http.Response
	var err error
	if f.network {
		res, err = f.roundTrip(req)
	} else {
		res, err = f.srv.App().Test(req, -1)
	}
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	if v := res.Header.Get("Content-Length"); v == "" && len(b) > 0 {
		f.t.Fatalf("%s %s: no Content-Length", method, path)
	}
	r := &resp{Status: res.StatusCode, Header: res.Header, Body: b, req: req}
	checkOpenAPI(f.t, r)
	return r
}

// venue, ticketType and event create resources of the key's company.
func (f *fixture) venue(key string) uint64 {
	f.t.Helper()
	r := f.do("POST", "/api/v2/venues", key, `{"venue": {"name": "Blue Room", "time_zone": "America/Chicago"}}`)
	return decode[client.Venue](f.t, r.expect(f.t, 201)).ID
}

func (f *fixture) ticketType(key string) uint64 {
	f.t.Helper()
	r := f.do("POST", "/api/v2/ticket_types", key, `{"ticket_type": {"name": "General admission"}}`)
	return decode[client.TicketType](f.t, r.expect(f.t, 201)).ID
}

// eventBody is a valid date event of DESIGN §3.0.
func eventBody(venueID, ticketTypeID uint64) string {
	return fmt.Sprintf(`{"event": {
  "name": "Jazz Night", "type": "date", "venue_id": %d,
  "starts_at": "2026-12-05T19:00:00Z", "ends_at": "2026-12-05T23:00:00Z",
  "capacity": 200, "published_at": "2026-11-26T10:00:00Z", "split_products": false,
  "registration_types": [
    {"name": "General admission", "ticket_type_id": %d, "price": {"amount": 2500, "currency": "USD"}, "quantity": 150},
    {"name": "VIP", "ticket_type_id": %d, "price": {"amount": 9000, "currency": "USD"}, "quantity": 50}
  ]}}`, venueID, ticketTypeID, ticketTypeID)
}

// created is an event made through the API with its first operation.
type created struct {
	EventID, OpID uint64
	Event         client.Event
	Resp          *resp
}

func (f *fixture) event(key string) created {
	f.t.Helper()
	v, tt := f.venue(key), f.ticketType(key)
	r := f.do("POST", "/api/v2/events", key, eventBody(v, tt)).expect(f.t, 201)
	ev := decode[client.Event](f.t, r)
	return created{EventID: ev.ID, OpID: opHeader(f.t, r), Event: ev, Resp: r}
}

func opHeader(t testing.TB, r *resp) uint64 {
	t.Helper()
	op := r.Header.Get(HeaderOperationID)
	if op == "" {
		t.Fatalf("%s %s: no %s", r.req.Method, r.req.URL, HeaderOperationID)
	}
	var id uint64
	fmt.Sscan(op, &id)
	return id
}

func opPath(ev, op uint64) string { return fmt.Sprintf("/api/v2/events/%d/operations/%d", ev, op) }

// waitTerminal polls an operation with long-polls until it is terminal.
func (f *fixture) waitTerminal(ev, op uint64, key ...string) client.Operation {
	f.t.Helper()
	k := f.keyA
	if len(key) > 0 {
		k = key[0]
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		o := decode[client.Operation](f.t, f.do("GET", opPath(ev, op)+"?wait=5", k, nil).expect(f.t, 200))
		if o.Terminal() {
			return o
		}
	}
	f.t.Fatalf("operation %d did not end", op)
	return client.Operation{}
}

// gate is phase or refund work that holds until released, then does the
// real work.
type gate struct {
	started chan struct{} // receives once per attempt that starts
	release chan struct{} // closed to let every attempt go on
	once    sync.Once
	next    engine.Work
	refund  engine.RefundWork
}

func newGate(next engine.Work) *gate {
	return &gate{started: make(chan struct{}, 16), release: make(chan struct{}), next: next}
}

func (g *gate) open() { g.once.Do(func() { close(g.release) }) }

func (g *gate) hold(ctx context.Context) error {
	g.started <- struct{}{}
	select {
	case <-g.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *gate) Run(ctx context.Context, r *engine.PhaseRun) error {
	if err := g.hold(ctx); err != nil {
		return err
	}
	return g.next.Run(ctx, r)
}

func (g *gate) Refund(ctx context.Context, r *engine.PhaseRun) error {
	if err := g.hold(ctx); err != nil {
		return err
	}
	return g.refund.Refund(ctx, r)
}

// failing is phase work that fails for good with a code.
type failing struct{}

func (failing) Run(context.Context, *engine.PhaseRun) error {
	return engine.Errorf(engine.CodeTicketsStructureEmpty, "nothing to sell")
}

func waitStarted(t testing.TB, g *gate) {
	t.Helper()
	select {
	case <-g.started:
	case <-time.After(10 * time.Second):
		t.Fatal("held work did not start")
	}
}
