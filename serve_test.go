package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"eventops/engine"
	"eventops/storage"
	"eventops/web"
	"eventops/web/metrics"
)

// ---- in process: the shutdown order and retention, as serve wires them ----

// holdWork is phase work that runs until its context ends: a phase that
// is still running when the server shuts down.
type holdWork struct{ started chan struct{} }

func (h holdWork) Run(ctx context.Context, _ *engine.PhaseRun) error {
	h.started <- struct{}{}
	<-ctx.Done()
	return ctx.Err()
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
	hold := holdWork{started: make(chan struct{}, 4)}
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
	for srv.App().Server().GetOpenConnectionsCount() > 0 {
		time.Sleep(5 * time.Millisecond)
	}
	polled := make(chan map[string]any, 1)
	go func() { polled <- api.getJSON(fmt.Sprintf("/api/v2/events/%d/operations/%d?wait=60", ev, op), 200) }()
	for srv.App().Server().GetOpenConnectionsCount() < 1 {
		time.Sleep(5 * time.Millisecond)
	}

	shutdown(srv, eng, time.Second, quiet())
	got := <-polled
	if got["status"] != "running" {
		t.Fatalf("held long-poll answered %v, want the current state (running)", got["status"])
	}
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
	if n := metricValue(t, meter, "eventops_operations_finished_total",
		map[string]string{"action": "save", "status": "completed"}); n != 1 {
		t.Fatalf("operations_finished_total{save,completed} = %v, want 1", n)
	}
	if n := metricValue(t, meter, "eventops_operations_active", map[string]string{"action": "save"}); n != 0 {
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

// ---- a client of the JSON API, for both the in-process server and the binary ----

type apiClient struct {
	t    testing.TB
	base string
	key  string
	http *http.Client
}

func (a *apiClient) request(method, path, body string, headers ...string) (*http.Response, []byte, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, a.base+path, rd)
	if err != nil {
		return nil, nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.key != "" {
		req.Header.Set("Authorization", "Token "+a.key)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := a.http.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res, b, err
}

// do sends a request and fails the test unless it is answered with want.
func (a *apiClient) do(method, path, body string, want int, headers ...string) (*http.Response, []byte) {
	a.t.Helper()
	res, b, err := a.request(method, path, body, headers...)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	if res.StatusCode != want {
		a.t.Fatalf("%s %s: %d, want %d: %s", method, path, res.StatusCode, want, b)
	}
	return res, b
}

func (a *apiClient) getJSON(path string, want int) map[string]any {
	a.t.Helper()
	_, b := a.do("GET", path, "", want)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		a.t.Fatalf("GET %s: %v: %s", path, err, b)
	}
	return m
}

func (a *apiClient) venueAndTicketType() (venue, ticketType uint64) {
	a.t.Helper()
	_, b := a.do("POST", "/api/v2/venues", `{"venue": {"name": "Blue Room", "time_zone": "America/Chicago"}}`, 201)
	venue = idOf(a.t, b)
	_, b = a.do("POST", "/api/v2/ticket_types", `{"ticket_type": {"name": "General admission"}}`, 201)
	return venue, idOf(a.t, b)
}

// createEvent posts an event and returns its id and its operation's.
func (a *apiClient) createEvent(body string) (event, op uint64) {
	a.t.Helper()
	res, b := a.do("POST", "/api/v2/events", body, 201)
	op, err := strconv.ParseUint(res.Header.Get(web.HeaderOperationID), 10, 64)
	if err != nil {
		a.t.Fatalf("no operation id: %v", res.Header)
	}
	return idOf(a.t, b), op
}

func idOf(t testing.TB, body []byte) uint64 {
	t.Helper()
	var m struct {
		ID uint64 `json:"id"`
	}
	if err := json.Unmarshal(body, &m); err != nil || m.ID == 0 {
		t.Fatalf("no id in %s (%v)", body, err)
	}
	return m.ID
}

func dateEvent(venue, ticketType uint64) string {
	return fmt.Sprintf(`{"event": {"name": "Jazz Night", "type": "date", "venue_id": %d,
  "starts_at": "2026-12-05T19:00:00Z", "ends_at": "2026-12-05T23:00:00Z", "capacity": 200,
  "registration_types": [{"name": "GA", "ticket_type_id": %d, "price": {"amount": 2500, "currency": "USD"}, "quantity": 150}]}}`,
		venue, ticketType)
}

// recurringEvent has count daily occurrences: its save does measurable
// work (hundreds of child events and their ticket structures).
func recurringEvent(venue, ticketType uint64, count int) string {
	return fmt.Sprintf(`{"event": {"name": "Residency", "type": "recurring", "venue_id": %d,
  "starts_at": "2027-01-01T19:00:00Z", "ends_at": "2027-01-01T22:00:00Z", "capacity": 100,
  "recurrence": {"frequency": "daily", "interval": 1, "count": %d},
  "registration_types": [{"name": "GA", "ticket_type_id": %d, "price": {"amount": 1000, "currency": "USD"}, "quantity": 100}]}}`,
		venue, count, ticketType)
}

// ---- the real binary, as a process ----

// buildEventops builds the eventops binary into a temporary folder, or
// skips the test when the go command is not available.
func buildEventops(t *testing.T) string {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		goCmd = filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(goCmd); err != nil {
			t.Skip("go build is unavailable (no go command): the process tests need the binary")
		}
	}
	bin := filepath.Join(t.TempDir(), "eventops")
	if out, err := exec.Command(goCmd, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// syncBuffer collects a process's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// process is `eventops serve` running on a data folder.
type process struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdout syncBuffer
	stderr syncBuffer
	addr   string
	exited chan struct{}
	err    error // set once exited is closed
}

// cleanEnv is the environment without EVENTOPS_* settings.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "EVENTOPS_") {
			env = append(env, kv)
		}
	}
	return env
}

// localCompanyKey creates, before the first start, a company without a shop
// and returns an API key of it. These tests are about the engine resuming,
// not about the Shopify mirroring that the demo company's saves do.
func localCompanyKey(t *testing.T, bin, data string) string {
	t.Helper()
	run := func(args ...string) string {
		cmd := exec.Command(bin, args...)
		cmd.Env = cleanEnv()
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("eventops %s: %v", strings.Join(args, " "), err)
		}
		return strings.TrimSpace(string(out))
	}
	id := run("company", "create", "--data", data, "--name", "Local")
	return run("apikey", "create", "--data", data, "--company", id, "--scopes", "read,write")
}

// startServe starts the binary on data and waits until it listens.
func startServe(t *testing.T, bin, data string, args ...string) *process {
	t.Helper()
	p := &process{t: t, exited: make(chan struct{})}
	all := append([]string{"serve", "--addr", "127.0.0.1:0", "--data", data, "--rate-limit", "0"}, args...)
	p.cmd = exec.Command(bin, all...)
	p.cmd.Env = cleanEnv()
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("eventops stderr:\n%s", p.stderr.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if l := p.line("eventops serving"); l != nil {
			p.addr, _ = l["addr"].(string)
			return p
		}
		select {
		case <-p.exited:
			t.Fatalf("eventops serve exited: %v\n%s", p.err, p.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("eventops serve did not listen within 30 s:\n%s", p.stderr.String())
	return nil
}

// lines are the JSON log lines whose msg is msg.
func (p *process) lines(msg string) []map[string]any {
	var out []map[string]any
	for _, l := range strings.Split(p.stderr.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func (p *process) line(msg string) map[string]any {
	if ls := p.lines(msg); len(ls) > 0 {
		return ls[0]
	}
	return nil
}

// waitLine waits for a log line.
func (p *process) waitLine(msg string, within time.Duration) map[string]any {
	p.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if l := p.line(msg); l != nil {
			return l
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.t.Fatalf("no %q line within %v:\n%s", msg, within, p.stderr.String())
	return nil
}

func (p *process) signal(s os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(s); err != nil {
		p.t.Fatalf("signal %v: %v", s, err)
	}
}

// wait waits for the process to exit and returns its exit code.
func (p *process) wait(within time.Duration) int {
	p.t.Helper()
	select {
	case <-p.exited:
	case <-time.After(within):
		p.t.Fatalf("eventops did not exit within %v:\n%s", within, p.stderr.String())
	}
	var ee *exec.ExitError
	switch {
	case p.err == nil:
		return 0
	case errors.As(p.err, &ee):
		return ee.ExitCode()
	}
	p.t.Fatalf("wait: %v", p.err)
	return -1
}

func (p *process) client(key string) *apiClient {
	return &apiClient{t: p.t, base: "http://" + p.addr, key: key, http: &http.Client{Timeout: 90 * time.Second}}
}

// checkDataFile opens the data file of a stopped server, runs the
// consistency check and returns its active (pending or running) operations.
func checkDataFile(t *testing.T, data string) []*engine.Operation {
	t.Helper()
	db, err := storage.Open(filepath.Join(data, dbFile), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Check(); err != nil {
		t.Fatalf("data file fails the consistency check: %v", err)
	}
	var active []*engine.Operation
	if err := db.View(func(tx engine.Tx) error {
		var err error
		active, err = tx.ActiveOperations()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return active
}

// evOp is an event and the operation its creation started.
type evOp struct{ ev, op uint64 }

// queueRecurring creates n recurring events of count occurrences at once
// and returns them with their operations, in the order of the operations.
func queueRecurring(t *testing.T, api *apiClient, n, count int) []evOp {
	t.Helper()
	v, tt := api.venueAndTicketType()
	body := recurringEvent(v, tt, count)
	out := make([]evOp, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failure error
	sem := make(chan struct{}, 8)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			res, b, err := api.request("POST", "/api/v2/events", body)
			if err == nil && res.StatusCode != 201 {
				err = fmt.Errorf("status %d: %s", res.StatusCode, b)
			}
			var m struct {
				ID uint64 `json:"id"`
			}
			if err == nil {
				err = json.Unmarshal(b, &m)
			}
			if err == nil {
				out[i].ev = m.ID
				out[i].op, err = strconv.ParseUint(res.Header.Get(web.HeaderOperationID), 10, 64)
			}
			if err != nil {
				mu.Lock()
				failure = err
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if failure != nil {
		t.Fatalf("create: %v", failure)
	}
	slices.SortFunc(out, func(a, b evOp) int { return cmp.Compare(a.op, b.op) })
	return out
}

func opURL(e evOp) string { return fmt.Sprintf("/api/v2/events/%d/operations/%d", e.ev, e.op) }

// waitAllCompleted long-polls every operation until it is terminal and
// fails unless each exists and completed.
func waitAllCompleted(t *testing.T, api *apiClient, ops []evOp) {
	t.Helper()
	for _, e := range ops {
		deadline := time.Now().Add(60 * time.Second)
		for {
			o := api.getJSON(opURL(e)+"?wait=5", 200)
			if o["status"] == "completed" {
				break
			}
			if o["status"] == "failed" {
				t.Fatalf("operation %d failed: %v", e.op, o["error"])
			}
			if time.Now().After(deadline) {
				t.Fatalf("operation %d still %v", e.op, o["status"])
			}
		}
	}
}

// scrapeMetrics reads the process's /metrics (a loopback client may).
func scrapeMetrics(t *testing.T, p *process) string {
	t.Helper()
	_, b := p.client("").do("GET", "/metrics", "", 200)
	return string(b)
}

// TestServeProcess runs the real binary: signals, shutdown and restarts.
func TestServeProcess(t *testing.T) {
	t.Parallel()
	bin := buildEventops(t)

	t.Run("SIGTERM answers held long-polls, exits cleanly, restart resumes", func(t *testing.T) {
		t.Parallel()
		data := t.TempDir()
		key := localCompanyKey(t, bin, data)
		p := startServe(t, bin, data, "--workers", "1")
		api := p.client(key)
		api.getJSON("/readyz", 200)

		// One worker and a queue of heavy saves: the last one waits.
		ops := queueRecurring(t, api, 40, 500)
		last := ops[len(ops)-1]
		if m := api.getJSON(opURL(last), 200); m["status"] != "pending" {
			t.Skipf("the queue drained before a long-poll could be held (last operation %v)", m["status"])
		}
		// The long-poll gets a connection of its own; a request dialled
		// after it is answered only once the server has accepted it
		// (connections are accepted in order).
		dialed := make(chan struct{})
		var once sync.Once
		tr := &http.Transport{DisableKeepAlives: true,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
				once.Do(func() { close(dialed) })
				return c, err
			}}
		poll := &apiClient{t: t, base: api.base, key: api.key, http: &http.Client{Timeout: 90 * time.Second, Transport: tr}}
		polled := make(chan map[string]any, 1)
		go func() {
			res, b, err := poll.request("GET", opURL(last)+"?wait=60", "")
			var m map[string]any
			if err == nil && res.StatusCode == 200 {
				_ = json.Unmarshal(b, &m)
			}
			polled <- m
		}()
		<-dialed
		p.client("").getJSON("/healthz", 200)

		p.signal(syscall.SIGTERM)
		signalled := time.Now()
		got := <-polled
		if got == nil {
			t.Fatal("the held long-poll was not answered with 200")
		}
		// Answered by the shutdown, with the state at that moment: still
		// queued behind the others.
		if got["status"] != "pending" {
			t.Fatalf("held long-poll answered %v, want pending (answered at shutdown)", got["status"])
		}
		if waited := time.Since(signalled); waited > 10*time.Second {
			t.Fatalf("the held long-poll was answered %v after SIGTERM", waited)
		}
		if code := p.wait(30 * time.Second); code != 0 {
			t.Fatalf("exit code %d after SIGTERM", code)
		}
		p.waitLine("stopped", time.Second)
		active := checkDataFile(t, data)

		// The restart resumes what was pending, and every acknowledged
		// save completes.
		q := startServe(t, bin, data)
		if len(active) > 0 {
			l := q.waitLine("resuming operations", 5*time.Second)
			if int(l["count"].(float64)) != len(active) {
				t.Fatalf("resumed %v operations, the file held %d active", l["count"], len(active))
			}
		}
		waitAllCompleted(t, q.client(api.key), ops)
		q.signal(syscall.SIGTERM)
		if code := q.wait(30 * time.Second); code != 0 {
			t.Fatalf("exit code %d after SIGTERM", code)
		}
	})

	t.Run("a second signal exits at once", func(t *testing.T) {
		t.Parallel()
		data := t.TempDir()
		p := startServe(t, bin, data, "--shutdown-timeout", "2m")
		// A request whose body never finishes keeps the graceful shutdown
		// waiting (up to --shutdown-timeout).
		conn, err := net.Dial("tcp", p.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST /api/v2/venues HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"venue\":")
		p.client("").getJSON("/healthz", 200)

		p.signal(syscall.SIGTERM)
		p.waitLine("shutting down", 10*time.Second)
		select {
		case <-p.exited:
			t.Fatalf("exited before the second signal (%v): the held request did not hold the shutdown", p.err)
		case <-time.After(300 * time.Millisecond):
		}
		p.signal(syscall.SIGINT)
		start := time.Now()
		if code := p.wait(5 * time.Second); code != 1 {
			t.Fatalf("exit code %d after a second signal, want 1", code)
		}
		p.waitLine("second signal: exiting at once", time.Second)
		t.Logf("exited %v after the second signal", time.Since(start).Round(time.Millisecond))
		checkDataFile(t, data)
	})

	t.Run("SIGKILL loses no acknowledged operation", func(t *testing.T) {
		t.Parallel()
		data := t.TempDir()
		key := localCompanyKey(t, bin, data)
		p := startServe(t, bin, data, "--workers", "4")
		api := p.client(key)
		ops := queueRecurring(t, api, 30, 300)
		p.signal(syscall.SIGKILL)
		p.wait(10 * time.Second)

		active := checkDataFile(t, data)
		t.Logf("%d of %d acknowledged operations were pending or running at the kill", len(active), len(ops))
		q := startServe(t, bin, data)
		if len(active) > 0 {
			l := q.waitLine("resuming operations", 5*time.Second)
			if int(l["count"].(float64)) != len(active) {
				t.Fatalf("resumed %v operations, the file held %d active", l["count"], len(active))
			}
		}
		waitAllCompleted(t, q.client(api.key), ops)
		// The restarted process's metrics saw the resumed operations end
		// and count none as still active.
		exp := scrapeMetrics(t, q)
		for _, want := range []string{
			fmt.Sprintf(`eventops_operations_finished_total{action="save",status="completed"} %d`, len(active)),
			`eventops_operations_active{action="save"} 0`,
			`eventops_http_requests_total{method="GET",route="/api/v2/events/:id/operations/:op",status="200"}`,
		} {
			if !strings.Contains(exp, want) {
				t.Errorf("/metrics lacks %q", want)
			}
		}
		q.signal(syscall.SIGTERM)
		if code := q.wait(30 * time.Second); code != 0 {
			t.Fatalf("exit code %d after SIGTERM", code)
		}
	})
}
