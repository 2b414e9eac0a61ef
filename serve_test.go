package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"eventops/engine"
	"eventops/storage"
	"eventops/web"
	"eventops/web/client"
	"eventops/web/metrics"
)

// ---- in process: the shutdown order and retention, as serve wires them ----

// holdWork is phase work that runs until its context ends: a phase that
// is still running when the server shuts down.
// holdWork holds its phase until the engine cancels it (hard stop) or,
// when release is set, until release closes (then it fails transiently and
// the phase waits to retry, which a soft stop ends). canceled, when set, is
// closed if the engine cancelled it.
type holdWork struct {
	started  chan struct{}
	release  chan struct{}
	canceled chan struct{}
}

func (h holdWork) Run(ctx context.Context, _ *engine.PhaseRun) error {
	h.started <- struct{}{}
	select {
	case <-ctx.Done():
		if h.canceled != nil {
			close(h.canceled)
		}
		return ctx.Err()
	case <-h.release:
		return engine.Transientf(engine.CodeShopifyUnavailable, "held, then released")
	}
}

// metricValue reads one series from a Metrics' registry (0 when absent).
func metricValue(t testing.TB, m *metrics.Metrics, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, s := range mf.GetMetric() {
			for _, lp := range s.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue next
				}
			}
			switch {
			case s.GetCounter() != nil:
				return s.GetCounter().GetValue()
			case s.GetGauge() != nil:
				return s.GetGauge().GetValue()
			}
		}
	}
	return 0
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestShutdownAnswersHeldLongPollsAndResumes: serve's shutdown answers a
// held long-poll with the current state while a phase is still running,
// stops the engine without failing that phase, and the next start resumes
// the operation to completion.
func TestShutdownAnswersHeldLongPollsAndResumes(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), dbFile)
	db, err := storage.Open(path, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hold := holdWork{started: make(chan struct{}, 4), release: make(chan struct{}), canceled: make(chan struct{})}
	meter := metrics.New()
	eng := engine.New(engine.Config{Store: db, Logger: quiet(), Observer: meter,
		Work: map[string]engine.Work{engine.PhaseTickets: hold}})
	if err := eng.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := web.New(web.Config{Engine: eng, Logger: quiet(), Metrics: meter, DataFile: dataFile{db}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.App().Listener(ln)
	ctx := context.Background()
	co, err := eng.CreateCompany(ctx, "A", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, key, err := eng.CreateAPIKey(ctx, co.ID, "k", []engine.Scope{engine.ScopeRead, engine.ScopeWrite})
	if err != nil {
		t.Fatal(err)
	}
	api := &apiClient{t: t, base: "http://" + ln.Addr().String(), key: key.Reveal(),
		http: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Minute}}
	ev, op := api.createEvent(dateEvent(api.venueAndTicketType()))
	<-hold.started

	// Every setup connection is closed; the long-poll's is then the only one.
	waitFor(t, 10*time.Second, "setup connections closed", func() bool { return srv.App().Server().GetOpenConnectionsCount() == 0 })
	polled := make(chan client.Operation, 1)
	go func() {
		polled <- getJSON[client.Operation](api, fmt.Sprintf("/api/v2/events/%d/operations/%d?wait=60", ev, op), 200)
	}()
	waitFor(t, 10*time.Second, "the long-poll connected", func() bool { return srv.App().Server().GetOpenConnectionsCount() >= 1 })

	// The held long-poll is answered when the shutdown begins (the
	// engine's soft stop answers it), while the engine still waits for the
	// running phase: not only once its deadline has cancelled the phase.
	stopped := make(chan struct{})
	go func() { shutdown(srv, eng, nil, 30*time.Second, quiet()); close(stopped) }()
	var got client.Operation
	select {
	case got = <-polled:
	case <-hold.canceled:
		t.Fatal("the held long-poll was not answered before the engine's stop cancelled the phase")
	}
	if got.Status != client.StatusRunning {
		t.Fatalf("held long-poll answered %s, want the current state (running)", got.Status)
	}
	close(hold.release) // the phase fails transiently; the stop ends its retry wait
	<-stopped
	if err := db.Check(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// The next start resumes the operation: nothing failed, nothing lost.
	db, err = storage.Open(path, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	meter = metrics.New()
	if err := meter.SeedActive(db); err != nil {
		t.Fatal(err)
	}
	if n := metricValue(t, meter, "eventops_operations_active", map[string]string{"action": "save"}); n != 1 {
		t.Fatalf("operations_active after restart = %v, want 1", n)
	}
	eng = engine.New(engine.Config{Store: db, Logger: quiet(), Observer: meter})
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer eng.Stop(5 * time.Second)
	final := waitTerminal(t, eng, co.ID, op)
	if final.Status != engine.StatusCompleted {
		t.Fatalf("resumed operation ended %s (%v)", final.Status, final.Error)
	}
	// The engine tells the metrics after the commit that a reader may see
	// first: wait for the counters, then check they are exact.
	finished := func() float64 {
		return metricValue(t, meter, "eventops_operations_finished_total",
			map[string]string{"action": "save", "status": "completed"})
	}
	active := func() float64 {
		return metricValue(t, meter, "eventops_operations_active", map[string]string{"action": "save"})
	}
	waitFor(t, 10*time.Second, "the finished operation counted", func() bool { return finished() >= 1 && active() <= 0 })
	if n := finished(); n != 1 {
		t.Fatalf("operations_finished_total{save,completed} = %v, want 1", n)
	}
	if n := active(); n != 0 {
		t.Fatalf("operations_active after the resumed operation ended = %v, want 0", n)
	}
}

func waitTerminal(t testing.TB, eng *engine.Engine, companyID, op uint64) *engine.Operation {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		cur, err := eng.Operation(companyID, op)
		if err != nil {
			t.Fatal(err)
		}
		if cur.Status.Terminal() {
			return cur
		}
		if _, err := eng.Wait(context.Background(), companyID, op, cur.Version, 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatalf("operation %d did not end", op)
	return nil
}

// TestPruneIsCountedInMetrics: retention deletes terminal operations past
// the period and eventops_operations_pruned_total shows how many.
func TestPruneIsCountedInMetrics(t *testing.T) {
	t.Parallel()
	db, err := storage.Open(filepath.Join(t.TempDir(), dbFile), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mu sync.Mutex
	now := time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	meter := metrics.New()
	eng := engine.New(engine.Config{Store: db, Logger: quiet(), Observer: meter, Clock: clock})
	ctx := context.Background()
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer eng.Stop(5 * time.Second)
	co, err := eng.CreateCompany(ctx, "A", nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := eng.CreateVenue(ctx, co.ID, engine.VenueInput{Name: "Hall", TimeZone: "UTC"})
	if err != nil {
		t.Fatal(err)
	}
	tt, err := eng.CreateTicketType(ctx, co.ID, engine.TicketTypeInput{Name: "Seat"})
	if err != nil {
		t.Fatal(err)
	}
	var in struct {
		Event engine.EventInput `json:"event"`
	}
	if err := json.Unmarshal([]byte(dateEvent(v.ID, tt.ID)), &in); err != nil {
		t.Fatal(err)
	}
	const n = 7
	for range n {
		_, op, err := eng.CreateEvent(ctx, co.ID, in.Event)
		if err != nil {
			t.Fatal(err)
		}
		waitTerminal(t, eng, co.ID, op.ID)
	}

	retention := 90 * 24 * time.Hour
	pruneOnce(ctx, eng, retention, meter, quiet())
	if got := metricValue(t, meter, "eventops_operations_pruned_total", nil); got != 0 {
		t.Fatalf("pruned %v operations younger than the retention", got)
	}
	mu.Lock()
	now = now.Add(retention + 24*time.Hour)
	mu.Unlock()
	pruneOnce(ctx, eng, retention, meter, quiet())
	if got := metricValue(t, meter, "eventops_operations_pruned_total", nil); got != n {
		t.Fatalf("eventops_operations_pruned_total = %v, want %d", got, n)
	}
	ops, _, err := eng.Operations(engine.OperationQuery{CompanyID: co.ID, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) != 0 {
		t.Fatalf("%d operations left after pruning", len(ops))
	}
	pruneOnce(ctx, eng, retention, meter, quiet())
	if got := metricValue(t, meter, "eventops_operations_pruned_total", nil); got != n {
		t.Fatalf("a second round counted again: %v", got)
	}
}
