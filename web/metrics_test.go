package web

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"eventops/engine"
	"eventops/storage"
	"eventops/storage/storetest"
	"eventops/web/client"
	"eventops/web/dash"
	"eventops/web/metrics"
)

// dataFile adapts *storage.DB as main does.
type dataFile struct{ *storage.DB }

func (d dataFile) StorageHealth() (dash.StorageHealth, error) {
	st, err := d.Stats()
	return dash.StorageHealth{Path: d.Path(), FileSize: st.FileSize, FreePages: st.FreePages,
		OpenReadTxs: st.OpenReadTxs, Commits: st.Commits, Updates: st.Updates}, err
}

// opsOptions tune opsSetup.
type opsOptions struct {
	cfg  Config
	work map[string]engine.Work
	log  *slog.Logger
}

// opsSetup is setup's installation wired as serve wires it: one Metrics
// observing the engine and serving /metrics, the data file as DataFile,
// loggers on LogRequestIDs. It fills a fixture, so the fixture's helpers
// work on it.
func opsSetup(t testing.TB, o opsOptions) (*fixture, *metrics.Metrics) {
	t.Helper()
	db, err := storetest.Open(t, filepath.Join(t.TempDir(), "eventops.db"), storage.Options{})
	if err != nil {
		t.Fatalf("open storage: %v", err)
	}
	log := o.log
	if log == nil {
		log = quietLogger()
	}
	log = slog.New(LogRequestIDs(log.Handler()))
	m := metrics.New()
	if err := m.SeedActive(db); err != nil {
		t.Fatal(err)
	}
	eng := engine.New(engine.Config{Store: db, Work: o.work, Logger: log, Observer: m,
		Retry: engine.RetryPolicy{Base: time.Millisecond, Max: 5 * time.Millisecond, Attempts: 3}})
	if err := eng.Start(context.Background()); err != nil {
		t.Fatalf("start engine: %v", err)
	}
	cfg := o.cfg
	cfg.Engine, cfg.Logger, cfg.Metrics = eng, log, m
	if cfg.DataFile == nil {
		cfg.DataFile = dataFile{db}
	}
	srv := New(cfg)
	f := &fixture{t: t, db: db, eng: eng, srv: srv, ln: &listener{}}
	t.Cleanup(func() {
		srv.cancel()
		srv.ops.close()
		eng.Stop(5 * time.Second)
		if err := db.Check(); err != nil && !errors.Is(err, storage.ErrClosed) {
			t.Errorf("check: %v", err)
		}
		_ = db.Close()
	})
	ctx := context.Background()
	if f.a, err = eng.CreateCompany(ctx, "Company A", nil); err != nil {
		t.Fatal(err)
	}
	k, plain, err := eng.CreateAPIKey(ctx, f.a.ID, "test", []engine.Scope{engine.ScopeRead, engine.ScopeWrite})
	if err != nil {
		t.Fatal(err)
	}
	f.keyA, f.keyAID = plain.Reveal(), k.ID
	return f, m
}

// series reads a text exposition into "name{labels}" → value.
func series(t testing.TB, body []byte) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			t.Fatalf("exposition line without a value: %q", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("exposition line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// scrape reads /metrics as a loopback scraper would (MetricsPublic stands
// in for loopback: app.Test's client address is 0.0.0.0).
func scrape(t testing.TB, f *fixture) map[string]float64 {
	t.Helper()
	r := f.do("GET", "/metrics", "", nil).expect(t, 200)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("content type %q, want the text format", ct)
	}
	return series(t, r.Body)
}

func wantSeries(t testing.TB, got map[string]float64, name string, want float64) {
	t.Helper()
	v, ok := got[name]
	if !ok {
		t.Fatalf("series %s is missing", name)
	}
	if v != want {
		t.Fatalf("%s = %v, want %v", name, v, want)
	}
}

// flaky fails its first attempt transiently; the next attempt waits for
// release, so that the retrying state is committed (and observed) on its
// own, then does the real work.
type flaky struct {
	once    sync.Once
	release chan struct{}
	next    engine.Work
}

func (w *flaky) Run(ctx context.Context, r *engine.PhaseRun) error {
	failed := false
	w.once.Do(func() { failed = true })
	if failed {
		return engine.Transientf(engine.CodeShopifyUnavailable, "the shop answered 503")
	}
	select {
	case <-w.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return w.next.Run(ctx, r)
}

func TestMetricsSeriesExistAndMove(t *testing.T) {
	t.Parallel()
	work := &flaky{next: engine.TicketsWork{}, release: make(chan struct{})}
	f, m := opsSetup(t, opsOptions{
		cfg:  Config{MetricsPublic: true},
		work: map[string]engine.Work{engine.PhaseTickets: work},
	})
	t.Cleanup(func() {
		select {
		case <-work.release:
		default:
			close(work.release)
		}
	})

	before := scrape(t, f)
	for _, a := range engine.Actions {
		wantSeries(t, before, `eventops_operations_started_total{action="`+string(a)+`"}`, 0)
		wantSeries(t, before, `eventops_operations_active{action="`+string(a)+`"}`, 0)
		wantSeries(t, before, `eventops_operations_finished_total{action="`+string(a)+`",status="failed"}`, 0)
	}
	wantSeries(t, before, "eventops_operations_pruned_total", 0)
	wantSeries(t, before, "eventops_shopify_throttled_total", 0)
	wantSeries(t, before, "eventops_websocket_clients", 0)
	wantSeries(t, before, "eventops_websocket_dropped_total", 0)
	for _, name := range []string{"eventops_storage_file_size_bytes", "eventops_storage_free_pages",
		"eventops_storage_open_read_transactions", "eventops_storage_commits_total",
		"eventops_storage_updates_total", "go_goroutines", "process_resident_memory_bytes"} {
		if _, ok := before[name]; !ok {
			t.Fatalf("series %s is missing", name)
		}
	}
	if before["eventops_storage_file_size_bytes"] <= 0 || before["eventops_storage_commits_total"] <= 0 {
		t.Fatalf("storage series do not read the file: %v bytes, %v commits",
			before["eventops_storage_file_size_bytes"], before["eventops_storage_commits_total"])
	}

	c := f.event(f.keyA)
	// The phase shows its retry (last_error) before it may go on.
	for deadline := time.Now().Add(20 * time.Second); ; {
		r := f.do("GET", opPath(c.EventID, c.OpID), f.keyA, nil).expect(t, 200)
		op := decode[client.Operation](t, r)
		if op.Phases[0].LastError != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the tickets phase never showed its retry: %+v", op)
		}
		f.do("GET", opPath(c.EventID, c.OpID)+"?wait=5", f.keyA, nil, hdr{"If-None-Match", r.Header.Get("ETag")})
	}
	close(work.release)
	if op := f.waitTerminal(c.EventID, c.OpID); op.Status != "completed" {
		t.Fatalf("save ended %v", op.Status)
	}
	f.do("GET", "/api/v2/events/"+itoa(c.EventID), "wrong-key", nil).expect(t, 401)
	f.do("GET", "/no/such/page", "", nil).expect(t, 404)

	// The engine tells the metrics after the commit that waitTerminal may
	// see first: wait until the end is counted, then check every series.
	var after map[string]float64
	waitUntil(t, "the finished save counted", func() bool {
		after = scrape(t, f)
		return after[`eventops_operations_finished_total{action="save",status="completed"}`] >= 1 &&
			after[`eventops_operations_active{action="save"}`] <= 0
	})
	wantSeries(t, after, `eventops_operations_started_total{action="save"}`, 1)
	wantSeries(t, after, `eventops_operations_finished_total{action="save",status="completed"}`, 1)
	wantSeries(t, after, `eventops_operations_active{action="save"}`, 0)
	wantSeries(t, after, `eventops_operation_duration_seconds_count{action="save",status="completed"}`, 1)
	wantSeries(t, after, `eventops_phase_duration_seconds_count{phase="tickets",status="completed"}`, 1)
	wantSeries(t, after, `eventops_phase_retries_total{code="SHOPIFY_UNAVAILABLE",phase="tickets"}`, 1)
	// Routes are patterns, never raw paths; what no endpoint answered is
	// counted under its middleware's prefix or as unmatched.
	wantSeries(t, after, `eventops_http_requests_total{method="POST",route="/api/v2/events",status="201"}`, 1)
	wantSeries(t, after, `eventops_http_request_duration_seconds_count{method="POST",route="/api/v2/events"}`, 1)
	wantSeries(t, after, `eventops_http_requests_total{method="GET",route="/api/v2/*",status="401"}`, 1)
	wantSeries(t, after, `eventops_http_requests_total{method="GET",route="unmatched",status="404"}`, 1)
	wantSeries(t, after, `eventops_http_requests_total{method="GET",route="/metrics",status="200"}`, 1)
	if n := after[`eventops_http_requests_total{method="GET",route="/api/v2/events/:id/operations/:op",status="200"}`]; n < 1 {
		t.Fatalf("the long-polls are not counted under their pattern")
	}
	for name := range after {
		if strings.Contains(name, "/api/v2/events/"+itoa(c.EventID)) {
			t.Fatalf("a raw path became a label: %s", name)
		}
	}
	if after["eventops_storage_commits_total"] <= before["eventops_storage_commits_total"] {
		t.Fatal("storage commits did not move after a save")
	}

	// The hooks for retention, the Shopify client and the dashboard hub.
	m.OperationsPruned(3)
	m.IdempotencyPruned(2)
	sh := m.Shopify()
	sh.CallDone("ProductSet", "ok", 12.5)
	sh.CallDone("ProductSet", "throttled", 0)
	sh.CallDone("not a name!", "ok", 1)
	sh.Throttled()
	m.WatchWebsocketClients(func() int { return 3 })
	m.WebsocketDropped()
	hooks := scrape(t, f)
	wantSeries(t, hooks, "eventops_operations_pruned_total", 3)
	wantSeries(t, hooks, "eventops_idempotency_records_pruned_total", 2)
	wantSeries(t, hooks, `eventops_shopify_calls_total{operation="ProductSet",status="ok"}`, 1)
	wantSeries(t, hooks, `eventops_shopify_calls_total{operation="ProductSet",status="throttled"}`, 1)
	wantSeries(t, hooks, `eventops_shopify_calls_total{operation="other",status="ok"}`, 1)
	wantSeries(t, hooks, `eventops_shopify_cost_points_total{operation="ProductSet"}`, 12.5)
	wantSeries(t, hooks, "eventops_shopify_throttled_total", 1)
	wantSeries(t, hooks, "eventops_websocket_clients", 3)
	wantSeries(t, hooks, "eventops_websocket_dropped_total", 1)
}

func TestMetricsActiveCountsResumedOperations(t *testing.T) {
	t.Parallel()
	g := newGate(engine.TicketsWork{})
	f, _ := opsSetup(t, opsOptions{cfg: Config{MetricsPublic: true},
		work: map[string]engine.Work{engine.PhaseTickets: g}})
	c := f.event(f.keyA)
	waitStarted(t, g)
	wantSeries(t, scrape(t, f), `eventops_operations_active{action="save"}`, 1)

	// What a restart sees: a fresh Metrics seeded from the store counts
	// the operation that the engine is about to resume.
	m2 := metrics.New()
	if err := m2.SeedActive(f.db); err != nil {
		t.Fatal(err)
	}
	srv2 := New(Config{Engine: f.eng, Logger: quietLogger(), Metrics: m2, MetricsPublic: true})
	t.Cleanup(func() { srv2.cancel(); srv2.ops.close() })
	g2 := &fixture{t: t, srv: srv2}
	wantSeries(t, scrape(t, g2), `eventops_operations_active{action="save"}`, 1)

	g.open()
	f.waitTerminal(c.EventID, c.OpID)
	// Observed after the commit that waitTerminal may see first.
	waitUntil(t, "the ended save no longer active", func() bool {
		return scrape(t, f)[`eventops_operations_active{action="save"}`] == 0
	})
}

func TestMetricsAreLoopbackOnlyByDefault(t *testing.T) {
	t.Parallel()
	f, _ := opsSetup(t, opsOptions{})
	// app.Test's client is 0.0.0.0: not loopback.
	f.do("GET", "/metrics", "", nil).expectProblem(t, 403, "forbidden")

	// Over a real loopback connection it answers, unless a proxy relayed
	// the request.
	n := f.net()
	r := n.do("GET", "/metrics", "", nil).expect(t, 200)
	if !bytes.Contains(r.Body, []byte("eventops_http_requests_total")) {
		t.Fatalf("no exposition:\n%s", r.Body)
	}
	n.do("GET", "/metrics", "", nil, hdr{"X-Forwarded-For", "203.0.113.9"}).expectProblem(t, 403, "forbidden")
	n.do("GET", "/metrics", "", nil, hdr{"Forwarded", "for=203.0.113.9"}).expectProblem(t, 403, "forbidden")
}
