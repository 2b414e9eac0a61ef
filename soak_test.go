package main

// The crash-and-fault soak (issue 7, `task soak`): the real binary, the
// sandbox shop in its own process with faults switched on, the server
// killed with SIGKILL several times while an integration drives it, and
// then an audit of everything that was acknowledged.
//
// It is a test of package main rather than a program of its own because
// the top level of the repository is fixed (DESIGN §1): a test can build
// the binary, run processes and open the data file with storage.Open
// afterwards, and `go test` gives it a deadline. It is skipped unless
// EVENTOPS_SOAK=1:
//
//	EVENTOPS_SOAK=1 go test -run '^TestSoak$' -timeout 30m -v .
//
// Tuning (environment): EVENTOPS_SOAK_EVENTS (top-level events, default
// 60), EVENTOPS_SOAK_KILLS (default 5), EVENTOPS_SOAK_PARALLEL (events
// driven at once, default 12), EVENTOPS_SOAK_RESTORE_RATE (the sandbox
// shop's cost bucket, points per second, default 300), EVENTOPS_SOAK_SEED
// (the random seed; printed), EVENTOPS_SOAK_KEEP=1 keeps the temporary
// folder (data files and logs; it is always kept when the soak fails).
//
// The integration keeps its own small retrying writer instead of
// web/client's: every write carries an Idempotency-Key, and a write whose
// answer was lost (connection refused or reset while the server was being
// killed, a 5xx, a 409 for a key still in flight) is sent again with the
// same key and the same body until it is answered, however many restarts
// that takes. Reads and operation waits go through web/client.
//
// What it checks once everything has settled (faults cleared, every
// webhook delivered, every operation terminal):
//   - every operation the API acknowledged (X-Event-Operation-ID) exists
//     and is terminal; none failed with OPERATION_INTERRUPTED;
//   - no duplicates: one event per acknowledged create, one box-office
//     order per acknowledged sale, one eventops order per shop order, and
//     no operation that no request started (engine-started inventory-only
//     saves aside);
//   - nothing lost: every acknowledged event, order and operation, and
//     every shop order of a live event, is there;
//   - the shop holds exactly the products of the live events (one per
//     date event or occurrence, one per registration type with
//     split_products) and none of the deleted ones;
//   - each mirrored variant's inventory at the app's fulfillment location
//     equals what is left to sell (the API's `available`, DESIGN §2);
//   - the server stops cleanly on SIGTERM and the data file passes bbolt's
//     consistency check with no operation left active.
//
// It prints one summary line,
//
//	soak: acknowledged=N completed=N failed=N (CODE=n ...) duplicates=N lost=N
//
// and a line of details, and fails on any loss, duplicate, interrupted or
// unfinished operation, or mismatch between the shop and the API.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"eventops/engine"
	"eventops/engine/shopify/sandbox"
	"eventops/storage"
	"eventops/web/client"
)

type soakConfig struct {
	events      int
	kills       int
	parallel    int
	restoreRate float64
	seed        uint64
	keep        bool
}

func soakConfigFromEnv(t *testing.T) soakConfig {
	t.Helper()
	cfg := soakConfig{events: 60, kills: 5, parallel: 12, restoreRate: 300, seed: uint64(time.Now().UnixNano())}
	num := func(name string, dst *int) {
		if v := os.Getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				t.Fatalf("%s=%q: want a whole number", name, v)
			}
			*dst = n
		}
	}
	num("EVENTOPS_SOAK_EVENTS", &cfg.events)
	num("EVENTOPS_SOAK_KILLS", &cfg.kills)
	num("EVENTOPS_SOAK_PARALLEL", &cfg.parallel)
	cfg.parallel = max(cfg.parallel, 1)
	if v := os.Getenv("EVENTOPS_SOAK_RESTORE_RATE"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 {
			t.Fatalf("EVENTOPS_SOAK_RESTORE_RATE=%q", v)
		}
		cfg.restoreRate = f
	}
	if v := os.Getenv("EVENTOPS_SOAK_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("EVENTOPS_SOAK_SEED=%q", v)
		}
		cfg.seed = n
	}
	cfg.keep = os.Getenv("EVENTOPS_SOAK_KEEP") == "1"
	return cfg
}

func TestSoak(t *testing.T) {
	if os.Getenv("EVENTOPS_SOAK") != "1" {
		t.Skip("the crash-and-fault soak runs only with EVENTOPS_SOAK=1 (task soak); it takes minutes")
	}
	s := newSoak(t, soakConfigFromEnv(t))
	ctx, cancel := context.WithTimeout(context.Background(), s.budget())
	defer cancel()
	started := time.Now()

	s.build()
	s.startSandbox()
	s.connectCompany()
	s.startServer()
	s.setUpCatalog(ctx)

	t.Logf("soak: seed=%d events=%d kills=%d parallel=%d restore_rate=%v dir=%s",
		s.cfg.seed, s.cfg.events, s.cfg.kills, s.cfg.parallel, s.cfg.restoreRate, s.dir)
	s.drive(ctx)
	s.settle(ctx)
	r := s.audit(ctx)
	s.stopServer()
	s.checkDataFile(&r)
	s.stopSandbox()
	r.duration = time.Since(started)
	s.report(r)
}

// ---- the installation ----

type soak struct {
	t   *testing.T
	cfg soakConfig
	dir string // kept when the soak fails
	bin string

	data       string // eventops' data folder
	serverAddr string // 127.0.0.1:port, the same across restarts
	serverURL  string

	sandboxURL string
	shop       soakShop
	key        string
	api        *client.Client
	hc         *http.Client

	venue       uint64
	ticketTypes [2]uint64

	rngMu sync.Mutex
	rng   *rand.Rand

	procMu      sync.Mutex
	server      *soakProc
	sandbox     *soakProc
	serverStart int

	keySeq  atomic.Uint64
	retried atomic.Int64 // write attempts sent again after a failure
	reread  atomic.Int64 // reads web/client retried (lost connections, 5xx)
	writing atomic.Int64 // writes in flight now
	replays atomic.Int64 // answers replayed for a repeated Idempotency-Key

	mu         sync.Mutex
	acked      map[uint64]soakAck  // operation id → the request that started it
	events     map[string]uint64   // created top-level events by name
	deleted    map[uint64][]string // deleted event → the shop products it had
	boxOrders  map[uint64]int      // event → acknowledged box-office orders
	shopOrders map[string]uint64   // shop order gid → the event it sold
	refused    map[string]int      // expected refusals (sold out, not deletable) by kind
	unexpected []string            // answers the soak did not expect
	faults     int                 // fault rules switched on
	kills      int                 // SIGKILLs
	counts     map[string]int      // writes acknowledged, by kind
}

type soakShop struct{ name, url, token, secret string }

type soakAck struct {
	event uint64
	what  string
}

func newSoak(t *testing.T, cfg soakConfig) *soak {
	dir, err := os.MkdirTemp("", "eventops-soak-")
	if err != nil {
		t.Fatal(err)
	}
	s := &soak{
		t: t, cfg: cfg, dir: dir, data: filepath.Join(dir, "data"),
		rng:   rand.New(rand.NewPCG(cfg.seed, cfg.seed^0x9e3779b97f4a7c15)),
		hc:    &http.Client{Timeout: 30 * time.Second},
		acked: map[uint64]soakAck{}, events: map[string]uint64{}, deleted: map[uint64][]string{},
		boxOrders: map[uint64]int{}, shopOrders: map[string]uint64{}, refused: map[string]int{},
		counts: map[string]int{},
	}
	t.Cleanup(func() {
		s.procMu.Lock()
		for _, p := range []*soakProc{s.server, s.sandbox} {
			if p != nil {
				p.kill()
			}
		}
		s.procMu.Unlock()
		if t.Failed() {
			for _, name := range []string{"serve.log", "sandbox.log"} {
				t.Logf("---- last lines of %s ----\n%s", name, soakTail(filepath.Join(dir, name), 60))
			}
			t.Logf("soak: kept %s (data files and logs)", dir)
			return
		}
		if !cfg.keep {
			os.RemoveAll(dir)
		}
	})
	return s
}

// budget is how long the soak may take: what the test's deadline leaves,
// less a minute for reporting, at most 25 minutes.
func (s *soak) budget() time.Duration {
	d := 25 * time.Minute
	if dl, ok := s.t.Deadline(); ok {
		d = min(d, time.Until(dl)-time.Minute)
	}
	if d < 2*time.Minute {
		s.t.Fatalf("the test deadline leaves %v: run with -timeout 30m", d)
	}
	return d
}

func (s *soak) intn(n int) int {
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	return s.rng.IntN(n)
}

func (s *soak) jitter(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(s.intn(int(hi-lo)+1))
}

func (s *soak) build() {
	s.t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		goCmd = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	s.bin = filepath.Join(s.dir, "eventops")
	if out, err := exec.Command(goCmd, "build", "-o", s.bin, ".").CombinedOutput(); err != nil {
		s.t.Fatalf("go build: %v\n%s", err, out)
	}
}

// env is the environment of the processes: without EVENTOPS_* settings
// (every flag reads one), plus extra.
func soakEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "EVENTOPS_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// freePort picks a loopback port for the server, which keeps it across
// restarts (the sandbox's webhook URL names it).
func soakFreePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (s *soak) startSandbox() {
	s.t.Helper()
	s.serverAddr = soakFreePort(s.t)
	s.serverURL = "http://" + s.serverAddr
	logf, err := os.OpenFile(filepath.Join(s.dir, "sandbox.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		s.t.Fatal(err)
	}
	cmd := exec.Command(s.bin, "sandbox", "--addr", "127.0.0.1:0", "--data", filepath.Join(s.dir, "shop"),
		"--webhook-url", s.serverURL+"/webhooks/shopify", "--control",
		"--restore-rate", strconv.FormatFloat(s.cfg.restoreRate, 'f', -1, 64), "--shop", "soak")
	cmd.Env = soakEnv()
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	p := soakStartProc(s.t, "sandbox", cmd, logf)
	s.procMu.Lock()
	s.sandbox = p
	s.procMu.Unlock()

	lines := make(chan string, 8)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	timeout := time.After(30 * time.Second)
	for s.sandboxURL == "" || s.shop.token == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				s.t.Fatalf("eventops sandbox exited: %v\n%s", p.wait(time.Second), soakTail(filepath.Join(s.dir, "sandbox.log"), 30))
			}
			f := strings.Fields(l)
			switch {
			case len(f) == 2 && f[0] == "listening":
				s.sandboxURL = f[1]
			case len(f) == 8 && f[0] == "shop":
				s.shop = soakShop{name: f[1], url: f[3], token: f[5], secret: f[7]}
			}
		case <-timeout:
			s.t.Fatal("eventops sandbox printed no shop within 30 s")
		}
	}
	go func() { // keep the pipe drained
		for range lines {
		}
	}()
}

// connectCompany creates the company connected to the sandbox's shop by
// its URL, as a real shop is (token and secret from the environment), and
// an API key.
func (s *soak) connectCompany() {
	s.t.Helper()
	out := s.cli(soakEnv("EVENTOPS_SHOPIFY_TOKEN="+s.shop.token, "EVENTOPS_SHOPIFY_WEBHOOK_SECRET="+s.shop.secret),
		"company", "create", "--data", s.data, "--name", "Soak", "--shopify-shop", s.shop.url)
	company := strings.TrimSpace(out)
	s.key = strings.TrimSpace(s.cli(soakEnv(), "apikey", "create", "--data", s.data, "--company", company,
		"--scopes", "read,write", "--name", "soak"))
	var err error
	s.api, err = client.New(s.serverURL, s.key, client.WithTimeout(40*time.Second),
		client.WithRetry(client.RetryPolicy{Attempts: 60, Base: 100 * time.Millisecond, Max: time.Second}),
		client.OnRetry(func(client.RetryEvent) { s.reread.Add(1) }))
	if err != nil {
		s.t.Fatal(err)
	}
}

func (s *soak) cli(env []string, args ...string) string {
	s.t.Helper()
	cmd := exec.Command(s.bin, args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		s.t.Fatalf("eventops %s: %v\n%s", strings.Join(args[:2], " "), err, errb.String())
	}
	return out.String()
}

func (s *soak) startServer() {
	s.t.Helper()
	logf, err := os.OpenFile(filepath.Join(s.dir, "serve.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		s.t.Fatal(err)
	}
	s.serverStart++
	fmt.Fprintf(logf, "==== start %d at %s\n", s.serverStart, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(s.bin, "serve", "--addr", s.serverAddr, "--data", s.data, "--rate-limit", "0",
		"--public-url", s.serverURL, "--log-level", "info")
	cmd.Env = soakEnv()
	cmd.Stdout, cmd.Stderr = logf, logf
	p := soakStartProc(s.t, "serve", cmd, logf)
	s.procMu.Lock()
	s.server = p
	s.procMu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			s.t.Fatalf("eventops serve exited at start %d: %v\n%s", s.serverStart, p.err, soakTail(filepath.Join(s.dir, "serve.log"), 40))
		default:
		}
		res, err := s.hc.Get(s.serverURL + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	s.t.Fatalf("eventops serve not ready within 30 s of start %d", s.serverStart)
}

func (s *soak) stopServer() {
	s.t.Helper()
	s.procMu.Lock()
	p := s.server
	s.procMu.Unlock()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		s.t.Fatal(err)
	}
	if err := p.wait(60 * time.Second); err != nil {
		s.t.Errorf("eventops serve after SIGTERM: %v", err)
	}
}

func (s *soak) stopSandbox() {
	s.t.Helper()
	s.procMu.Lock()
	p := s.sandbox
	s.procMu.Unlock()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		s.t.Fatal(err)
	}
	if err := p.wait(30 * time.Second); err != nil {
		s.t.Errorf("eventops sandbox after SIGTERM: %v", err)
	}
}

// soakProc is a child process.
type soakProc struct {
	name   string
	cmd    *exec.Cmd
	log    *os.File
	exited chan struct{}
	err    error
}

func soakStartProc(t *testing.T, name string, cmd *exec.Cmd, log *os.File) *soakProc {
	t.Helper()
	p := &soakProc{name: name, cmd: cmd, log: log, exited: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		log.Close()
		close(p.exited)
	}()
	return p
}

// wait waits for the process to exit; an error unless it exited 0.
func (p *soakProc) wait(within time.Duration) error {
	select {
	case <-p.exited:
		return p.err
	case <-time.After(within):
		p.kill()
		return fmt.Errorf("%s did not exit within %v", p.name, within)
	}
}

func (p *soakProc) kill() {
	select {
	case <-p.exited:
	default:
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

func soakTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	// Access-log lines of answered requests are noise here.
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if strings.Contains(l, `"msg":"request"`) && !strings.Contains(l, `"status":4`) && !strings.Contains(l, `"status":5`) {
			continue
		}
		lines = append(lines, l)
	}
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// ---- talking to the API and the shop ----

type soakAnswer struct {
	status int
	header http.Header
	body   []byte
	op     uint64 // X-Event-Operation-ID, 0 when none
}

// write sends one write with a fresh Idempotency-Key and sends it again,
// with the same key and body, until it gets an answer that is not a
// failure of the moment (a lost connection, a 5xx, a 429, or a 409 for the
// key still being handled). It gives up only when ctx ends.
func (s *soak) write(ctx context.Context, method, path string, body any) (*soakAnswer, error) {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return nil, err
		}
	}
	key := fmt.Sprintf("soak-%d-%d", s.cfg.seed, s.keySeq.Add(1))
	for attempt := 1; ; attempt++ {
		if attempt > soakMaxAttempts {
			return nil, fmt.Errorf("%s %s: no answer in %d attempts", method, path, soakMaxAttempts)
		}
		if attempt > 1 {
			s.retried.Add(1)
			if err := soakSleep(ctx, s.jitter(50*time.Millisecond, min(time.Duration(attempt)*100*time.Millisecond, time.Second))); err != nil {
				return nil, fmt.Errorf("%s %s: gave up after %d attempts: %w", method, path, attempt-1, err)
			}
		}
		s.writing.Add(1)
		a, err := s.send(ctx, method, s.serverURL+"/api/v2"+path, key, raw)
		s.writing.Add(-1)
		if err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			continue // the server is being killed or restarted
		}
		switch {
		case a.status >= 500, a.status == http.StatusTooManyRequests:
			continue
		case a.status == http.StatusConflict && bytes.Contains(a.body, []byte("Idempotency-Key")):
			continue
		}
		if a.header.Get("Idempotent-Replayed") == "true" {
			s.replays.Add(1)
		}
		if v := a.header.Get(client.HeaderOperationID); v != "" {
			if a.op, err = strconv.ParseUint(v, 10, 64); err != nil {
				return nil, fmt.Errorf("%s %s: operation header %q", method, path, v)
			}
		}
		return a, nil
	}
}

func (s *soak) send(ctx context.Context, method, url, idemKey string, body []byte) (*soakAnswer, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	if strings.HasPrefix(url, s.serverURL) {
		req.Header.Set("Authorization", "Token "+s.key)
	}
	res, err := s.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	return &soakAnswer{status: res.StatusCode, header: res.Header, body: b}, nil
}

// soakMaxAttempts bounds the tries of one request (with the waits between
// them, several minutes: far more than a restart takes).
const soakMaxAttempts = 600

// get reads JSON from the API or the sandbox, retrying failures of the
// moment until ctx ends.
func (s *soak) get(ctx context.Context, url string, out any) error {
	for attempt := 1; ; attempt++ {
		if attempt > soakMaxAttempts {
			return fmt.Errorf("GET %s: no answer in %d attempts", url, soakMaxAttempts)
		}
		if attempt > 1 {
			if err := soakSleep(ctx, s.jitter(50*time.Millisecond, 500*time.Millisecond)); err != nil {
				return fmt.Errorf("GET %s: %w", url, err)
			}
		}
		a, err := s.send(ctx, http.MethodGet, url, "", nil)
		if err != nil || a.status >= 500 || a.status == http.StatusTooManyRequests {
			continue
		}
		if a.status != http.StatusOK {
			return &soakStatusError{url: url, status: a.status, body: a.body}
		}
		return json.Unmarshal(a.body, out)
	}
}

type soakStatusError struct {
	url    string
	status int
	body   []byte
}

func (e *soakStatusError) Error() string {
	return fmt.Sprintf("GET %s: %d %s", e.url, e.status, bytes.TrimSpace(e.body[:min(len(e.body), 300)]))
}

// shopControl calls a control route of the sandbox's shop.
func (s *soak) shopControl(ctx context.Context, method, path string, body any) (*soakAnswer, error) {
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
	}
	return s.send(ctx, method, s.sandboxURL+sandbox.Prefix+s.shop.name+path, "", raw)
}

func soakSleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (s *soak) ack(a *soakAnswer, event uint64, what string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts[what]++
	if a.op != 0 {
		s.acked[a.op] = soakAck{event: event, what: what}
	}
}

func (s *soak) note(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unexpected = append(s.unexpected, fmt.Sprintf(format, args...))
}

func (s *soak) refusal(kind string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refused[kind]++
}

// waitOp follows an operation until it is terminal, across restarts.
func (s *soak) waitOp(ctx context.Context, event, op uint64) *client.Operation {
	for range soakMaxAttempts {
		if ctx.Err() != nil {
			break
		}
		o, err := s.api.Wait(ctx, event, op, client.Finished, client.Hold(20*time.Second))
		if err == nil {
			return o
		}
		if e, ok := client.AsError(err); ok && e.StatusCode == http.StatusNotFound {
			s.note("operation %d of event %d: 404 while waiting", op, event)
			return nil
		}
		_ = soakSleep(ctx, 200*time.Millisecond)
	}
	return nil
}

// event reads an event, across restarts; nil when it is gone.
func (s *soak) event(ctx context.Context, id uint64) *client.Event {
	for range soakMaxAttempts {
		if ctx.Err() != nil {
			break
		}
		ev, err := s.api.Event(ctx, id)
		if err == nil {
			return ev
		}
		if e, ok := client.AsError(err); ok && e.StatusCode == http.StatusNotFound {
			return nil
		}
		_ = soakSleep(ctx, 200*time.Millisecond)
	}
	return nil
}

func (s *soak) occurrences(ctx context.Context, parent uint64) []client.Event {
	for range soakMaxAttempts {
		if ctx.Err() != nil {
			break
		}
		evs, err := s.api.AllEvents(ctx, client.EventListOptions{ParentEventID: &parent, Sort: "starts_at"})
		if err == nil {
			return evs
		}
		_ = soakSleep(ctx, 200*time.Millisecond)
	}
	return nil
}

type soakOrder struct {
	ID             uint64  `json:"id"`
	EventID        uint64  `json:"event_id"`
	Quantity       int     `json:"quantity"`
	Status         string  `json:"status"`
	ShopifyOrderID *string `json:"shopify_order_id"`
}

func (s *soak) orders(ctx context.Context, event uint64) ([]soakOrder, error) {
	var all []soakOrder
	cursor := ""
	for range 100 {
		u := fmt.Sprintf("%s/api/v2/events/%d/orders?page[size]=100", s.serverURL, event)
		if cursor != "" {
			u += "&page[cursor]=" + cursor
		}
		var page struct {
			Data []soakOrder `json:"data"`
			Meta client.ListMeta
		}
		if err := s.get(ctx, u, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Data...)
		if page.Meta.Page.Last || page.Meta.Page.NextCursor == nil || *page.Meta.Page.NextCursor == "" {
			return all, nil
		}
		cursor = *page.Meta.Page.NextCursor
	}
	return nil, fmt.Errorf("orders of event %d: too many pages", event)
}

func (s *soak) shopState(ctx context.Context) (*sandbox.ShopState, error) {
	var st sandbox.ShopState
	err := s.get(ctx, s.sandboxURL+sandbox.Prefix+s.shop.name+"/state", &st)
	return &st, err
}

// ---- the workload ----

func (s *soak) setUpCatalog(ctx context.Context) {
	s.t.Helper()
	a, err := s.write(ctx, http.MethodPost, "/venues", map[string]any{"venue": map[string]any{"name": "Soak Hall", "time_zone": "America/Chicago"}})
	if err != nil || a.status != http.StatusCreated {
		s.t.Fatalf("create venue: %v %+v", err, a)
	}
	s.venue = soakID(s.t, a.body)
	for i, n := range []string{"General admission", "VIP"} {
		a, err := s.write(ctx, http.MethodPost, "/ticket_types", map[string]any{"ticket_type": map[string]any{"name": n}})
		if err != nil || a.status != http.StatusCreated {
			s.t.Fatalf("create ticket type: %v %+v", err, a)
		}
		s.ticketTypes[i] = soakID(s.t, a.body)
	}
}

func soakID(t *testing.T, body []byte) uint64 {
	var v struct {
		ID uint64 `json:"id"`
	}
	if err := json.Unmarshal(body, &v); err != nil || v.ID == 0 {
		t.Fatalf("no id in %s", body)
	}
	return v.ID
}

// drive runs the events' scripts, the fault injector and the killer
// together, and returns when all three are done.
func (s *soak) drive(ctx context.Context) {
	workCtx, stopFaults := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.injectFaults(workCtx) }()
	killed := make(chan struct{})
	go func() { defer wg.Done(); defer close(killed); s.killer(ctx) }()

	progress := time.NewTicker(15 * time.Second)
	defer progress.Stop()
	sem := make(chan struct{}, s.cfg.parallel)
	var events sync.WaitGroup
	done := make(chan struct{})
	go func() {
		for i := range s.cfg.events {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			events.Add(1)
			go func() {
				defer events.Done()
				defer func() { <-sem }()
				s.runEvent(ctx, i)
			}()
		}
		events.Wait()
		close(done)
	}()
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		case <-ctx.Done():
			s.t.Fatalf("the workload did not finish in time: %v", ctx.Err())
		case <-progress.C:
			s.mu.Lock()
			s.t.Logf("soak: %d operations acknowledged, %d kills, %d faults, %d retried writes",
				len(s.acked), s.kills, s.faults, s.retried.Load())
			s.mu.Unlock()
		}
	}
	<-killed // all the kills happen while there is work, or right after
	stopFaults()
	wg.Wait()
}

// runEvent is one integration's script for one event: create, update,
// sell at the box office and in the shop, update while webhooks arrive,
// and for some events refund and delete.
func (s *soak) runEvent(ctx context.Context, i int) {
	kind := i % 10
	recurring := kind >= 8
	name := fmt.Sprintf("soak-%03d", i)
	body := s.eventBody(name, kind, i)
	a, err := s.write(ctx, http.MethodPost, "/events", map[string]any{"event": body})
	if err != nil {
		s.note("%s: create: %v", name, err)
		return
	}
	if a.status != http.StatusCreated {
		s.note("%s: create answered %d %s", name, a.status, a.body)
		return
	}
	id := soakID(s.t, a.body)
	s.mu.Lock()
	s.events[name] = id
	s.mu.Unlock()
	s.ack(a, id, "create")
	// The operations started so far; an event's (and its occurrences')
	// operations run in creation order, so waiting for all is cheap.
	started := [][2]uint64{{id, a.op}}
	waitStarted := func() {
		for _, p := range started {
			s.waitOp(ctx, p[0], p[1])
		}
	}
	if op := s.waitOp(ctx, id, a.op); op == nil || op.Status != client.StatusCompleted {
		s.note("%s: the create's save did not complete: %s", name, soakOpSummary(op))
	}

	// The event whose tickets are sold: the date event, or the recurring
	// event's first occurrence.
	target := id
	if recurring {
		occ := s.occurrences(ctx, id)
		if len(occ) == 0 {
			s.note("%s: no occurrences", name)
			return
		}
		target = occ[0].ID
	}

	patch := func(what string, change map[string]any) {
		a, err := s.write(ctx, http.MethodPatch, fmt.Sprintf("/events/%d", id), map[string]any{"event": change})
		switch {
		case err != nil:
			s.note("%s: %s: %v", name, what, err)
		case a.status != http.StatusOK:
			s.note("%s: %s answered %d %s", name, what, a.status, a.body)
		default:
			s.ack(a, id, what)
			started = append(started, [2]uint64{id, a.op})
		}
	}
	patch("rename", map[string]any{"name": name + " (renamed)"})
	if ev := s.event(ctx, id); ev != nil {
		rts := make([]map[string]any, 0, len(ev.RegistrationTypes))
		for _, rt := range ev.RegistrationTypes {
			m := map[string]any{"id": rt.ID, "name": rt.Name, "ticket_type_id": rt.TicketTypeID,
				"price": map[string]any{"amount": rt.Price.Amount + 100, "currency": rt.Price.Currency}}
			if rt.Quantity != nil {
				m["quantity"] = *rt.Quantity + 5
			}
			rts = append(rts, m)
		}
		patch("reprice", map[string]any{"registration_types": rts})
	}

	sells := kind != 9 // kind 9: a recurring event deleted without sales
	if sells {
		if ev := s.event(ctx, target); ev != nil && len(ev.RegistrationTypes) > 0 {
			for range 2 {
				rt := ev.RegistrationTypes[s.intn(len(ev.RegistrationTypes))]
				a, err := s.write(ctx, http.MethodPost, fmt.Sprintf("/events/%d/orders", target),
					map[string]any{"order": map[string]any{"registration_type_id": rt.ID, "quantity": 1 + s.intn(2)}})
				switch {
				case err != nil:
					s.note("%s: box-office order: %v", name, err)
				case a.status == http.StatusCreated:
					s.ack(a, target, "box-office order")
					s.mu.Lock()
					s.boxOrders[target]++
					s.mu.Unlock()
					if a.op != 0 {
						started = append(started, [2]uint64{target, a.op})
					}
				case a.status == http.StatusUnprocessableEntity:
					s.refusal("box-office sold out")
				default:
					s.note("%s: box-office order answered %d %s", name, a.status, a.body)
				}
			}
		}
		// Variant ids are there once the saves before have run.
		waitStarted()
		placed := s.placeShopOrders(ctx, name, target, 2)
		if kind == 1 && len(placed) > 0 {
			s.adminRefund(ctx, name, placed[0])
		}
	}
	patch("publish", map[string]any{"published_at": time.Now().UTC().Add(-time.Minute).Format(time.RFC3339)})

	switch {
	case kind == 9:
		waitStarted()
		s.deleteEvent(ctx, name, id, recurring)
	case !recurring && i%4 == 0:
		waitStarted()
		s.awaitShopOrders(ctx, name, target)
		s.refund(ctx, name, id)
		if i%8 == 0 {
			s.deleteEvent(ctx, name, id, recurring)
		}
	}
}

func (s *soak) eventBody(name string, kind, i int) map[string]any {
	start := time.Date(2027, 1, 4, 19, 0, 0, 0, time.UTC).Add(time.Duration(i) * 24 * time.Hour)
	price := func(amount int) map[string]any { return map[string]any{"amount": amount, "currency": "USD"} }
	body := map[string]any{
		"name": name, "type": "date", "venue_id": s.venue,
		"starts_at": start.Format(time.RFC3339), "ends_at": start.Add(3 * time.Hour).Format(time.RFC3339),
		"capacity": 45,
		"registration_types": []map[string]any{
			{"name": "General admission", "ticket_type_id": s.ticketTypes[0], "price": price(2500), "quantity": 40},
			{"name": "VIP", "ticket_type_id": s.ticketTypes[1], "price": price(9000), "quantity": 10},
		},
	}
	switch {
	case kind == 6 || kind == 7:
		body["split_products"] = true
		body["capacity"] = 30
	case kind >= 8:
		body["type"] = "recurring"
		body["capacity"] = 20
		body["recurrence"] = map[string]any{"frequency": "weekly", "interval": 1, "count": 3}
		body["registration_types"] = []map[string]any{
			{"name": "General admission", "ticket_type_id": s.ticketTypes[0], "price": price(1500), "quantity": 20},
		}
	}
	return body
}

// placeShopOrders places n buyer orders in the shop on the mirrored variants
// of event target; the orders/create webhooks follow.
func (s *soak) placeShopOrders(ctx context.Context, name string, target uint64, n int) []string {
	ev := s.event(ctx, target)
	if ev == nil {
		return nil
	}
	var variants []string
	for _, rt := range ev.RegistrationTypes {
		if rt.ShopifyVariantID != nil && *rt.ShopifyVariantID != "" {
			variants = append(variants, *rt.ShopifyVariantID)
		}
	}
	if len(variants) == 0 {
		s.note("%s: event %d has no mirrored variant to sell in the shop", name, target)
		return nil
	}
	var placed []string
	for range n {
		v := variants[s.intn(len(variants))]
		var a *soakAnswer
		var err error
		for attempt := 0; attempt < 50 && ctx.Err() == nil; attempt++ {
			if a, err = s.shopControl(ctx, http.MethodPost, "/orders", map[string]any{"variant_id": v, "quantity": 1 + s.intn(2)}); err == nil {
				break
			}
			_ = soakSleep(ctx, 100*time.Millisecond)
		}
		switch {
		case err != nil:
			s.note("%s: shop order: %v", name, err)
		case a.status == http.StatusCreated:
			var out struct{ Order sandbox.OrderState }
			_ = json.Unmarshal(a.body, &out)
			s.mu.Lock()
			s.shopOrders[out.Order.ID] = target
			s.counts["shop order"]++
			s.mu.Unlock()
			placed = append(placed, out.Order.ID)
		case a.status == http.StatusUnprocessableEntity:
			s.refusal("shop sold out")
		default:
			s.note("%s: shop order answered %d %s", name, a.status, a.body)
		}
	}
	return placed
}

// adminRefund refunds a shop order in the Shopify admin, as merchants do:
// refunds/create follows.
func (s *soak) adminRefund(ctx context.Context, name, order string) {
	num := order[strings.LastIndex(order, "/")+1:]
	a, err := s.shopControl(ctx, http.MethodPost, "/orders/"+num+"/refund", nil)
	switch {
	case err != nil:
		s.note("%s: admin refund: %v", name, err)
	case a.status == http.StatusCreated || a.status == http.StatusOK:
		s.mu.Lock()
		s.counts["admin refund"]++
		s.mu.Unlock()
	default:
		s.note("%s: admin refund answered %d %s", name, a.status, a.body)
	}
}

// awaitShopOrders waits until eventops has recorded the shop orders placed
// for target (their webhooks arrived), so that a refund covers them.
func (s *soak) awaitShopOrders(ctx context.Context, name string, target uint64) {
	s.mu.Lock()
	var want []string
	for o, ev := range s.shopOrders {
		if ev == target {
			want = append(want, o)
		}
	}
	s.mu.Unlock()
	deadline := time.Now().Add(90 * time.Second)
	for n := 0; n < 400 && time.Now().Before(deadline) && ctx.Err() == nil; n++ {
		got, err := s.orders(ctx, target)
		if err == nil {
			have := map[string]bool{}
			for _, o := range got {
				if o.ShopifyOrderID != nil {
					have[*o.ShopifyOrderID] = true
				}
			}
			missing := 0
			for _, o := range want {
				if !have[o] {
					missing++
				}
			}
			if missing == 0 {
				return
			}
		}
		_ = soakSleep(ctx, 250*time.Millisecond)
	}
	s.note("%s: the shop orders of event %d were not all recorded within 90 s", name, target)
}

func (s *soak) refund(ctx context.Context, name string, id uint64) {
	a, err := s.write(ctx, http.MethodPost, fmt.Sprintf("/events/%d/refund", id), nil)
	switch {
	case err != nil:
		s.note("%s: refund: %v", name, err)
	case a.status != http.StatusAccepted:
		s.note("%s: refund answered %d %s", name, a.status, a.body)
	default:
		s.ack(a, id, "refund")
		if op := s.waitOp(ctx, id, a.op); op == nil || op.Status != client.StatusCompleted {
			s.note("%s: refund did not complete: %s", name, soakOpSummary(op))
		}
	}
}

// deleteEvent deletes an event (refunding first when a sale raced in, at
// most three times) and remembers its shop products.
func (s *soak) deleteEvent(ctx context.Context, name string, id uint64, recurring bool) {
	var products []string
	collect := func(ev *client.Event) {
		products = append(products, ev.ShopifyProductIDs...)
		for _, rt := range ev.RegistrationTypes {
			if rt.ShopifyProductID != nil {
				products = append(products, *rt.ShopifyProductID)
			}
		}
	}
	if ev := s.event(ctx, id); ev != nil {
		collect(ev)
	}
	if recurring {
		for _, o := range s.occurrences(ctx, id) {
			collect(&o)
		}
	}
	for round := range 3 {
		a, err := s.write(ctx, http.MethodDelete, fmt.Sprintf("/events/%d", id), nil)
		switch {
		case err != nil:
			s.note("%s: delete: %v", name, err)
			return
		case a.status == http.StatusConflict && round < 2:
			s.refusal("delete before refund")
			s.refund(ctx, name, id)
			continue
		case a.status != http.StatusAccepted:
			s.note("%s: delete answered %d %s", name, a.status, a.body)
			return
		}
		s.ack(a, id, "delete")
		slices.Sort(products)
		s.mu.Lock()
		s.deleted[id] = slices.Compact(products)
		s.mu.Unlock()
		if op := s.waitOp(ctx, id, a.op); op == nil || op.Status != client.StatusCompleted {
			s.note("%s: delete did not complete: %s", name, soakOpSummary(op))
		}
		return
	}
}

func soakOpSummary(op *client.Operation) string {
	if op == nil {
		return "not found or not terminal"
	}
	if op.Error != nil {
		return fmt.Sprintf("operation %d %s %s: %s", op.ID, op.Status, op.Error.Code, op.Error.Message)
	}
	return fmt.Sprintf("operation %d %s", op.ID, op.Status)
}

// injectFaults switches a random fault rule on in the shop every second or
// three, each for a bounded number of calls, until ctx ends (at most 120).
func (s *soak) injectFaults(ctx context.Context) {
	rules := []sandbox.FaultRule{
		{Operation: "*", Fault: sandbox.FaultThrottled, Times: 3},
		{Operation: "productSet", Fault: sandbox.FaultHTTP500, Times: 2},
		{Operation: "*", Fault: sandbox.FaultHTTP503, Times: 2},
		{Operation: "*", Fault: sandbox.FaultHTTP429, Times: 1},
		{Operation: "productSet", Fault: sandbox.FaultApplyThenDrop, Times: 1},
		{Operation: "inventorySetQuantities", Fault: sandbox.FaultApplyThenDrop, Times: 1},
		{Operation: "metafieldsSet", Fault: sandbox.FaultApplyThenDrop, Times: 1},
		{Operation: "refundCreate", Fault: sandbox.FaultApplyThenDrop, Times: 1},
		{Operation: "publishablePublish", Fault: sandbox.FaultApplyThenDrop, Times: 1},
		{Operation: "inventorySetQuantities", Fault: sandbox.FaultSellBetween, Times: 1, Units: 1},
	}
	for n := 0; n < 120; n++ {
		if soakSleep(ctx, s.jitter(time.Second, 3*time.Second)) != nil {
			return
		}
		r := rules[s.intn(len(rules))]
		r.Times = 1 + s.intn(r.Times)
		a, err := s.shopControl(ctx, http.MethodPost, "/faults", map[string]any{"rules": []sandbox.FaultRule{r}})
		if err != nil || a.status != http.StatusOK {
			if ctx.Err() == nil {
				s.note("add fault %+v: %v %+v", r, err, a)
			}
			continue
		}
		s.mu.Lock()
		s.faults++
		s.mu.Unlock()
	}
}

// killer kills the server with SIGKILL at random moments (preferably
// with a write in flight) and restarts it.
func (s *soak) killer(ctx context.Context) {
	for k := 0; k < s.cfg.kills; k++ {
		wait := s.jitter(4*time.Second, 10*time.Second)
		if k == 0 {
			wait = s.jitter(3*time.Second, 6*time.Second)
		}
		if soakSleep(ctx, wait) != nil {
			return
		}
		// Most moments find the server between writes (a write takes
		// milliseconds): wait a little for one in flight, so that kills
		// also cut writes whose answer is lost after, or before, their
		// commit.
		for end := time.Now().Add(2 * time.Second); s.writing.Load() == 0 && time.Now().Before(end); {
			time.Sleep(time.Millisecond)
		}
		s.procMu.Lock()
		p := s.server
		s.procMu.Unlock()
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.exited
		s.mu.Lock()
		s.kills++
		acked := len(s.acked)
		s.mu.Unlock()
		s.t.Logf("soak: kill %d (SIGKILL) with %d operations acknowledged", k+1, acked)
		if soakSleep(ctx, s.jitter(0, 700*time.Millisecond)) != nil {
			return
		}
		s.startServer()
	}
}

// settle clears the faults and waits until every webhook is delivered and
// every operation is terminal, twice in a row.
func (s *soak) settle(ctx context.Context) {
	s.t.Helper()
	if a, err := s.shopControl(ctx, http.MethodDelete, "/faults", nil); err != nil || a.status != http.StatusOK {
		s.t.Fatalf("clear faults: %v %+v", err, a)
	}
	deadline := time.Now().Add(5 * time.Minute)
	quiet := 0
	for quiet < 2 {
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.t.Logf("soak: not settled within 5 minutes")
			return
		}
		var d struct{ Deliveries []sandbox.Delivery }
		pending := 0
		if a, err := s.shopControl(ctx, http.MethodGet, "/deliveries", nil); err == nil && a.status == http.StatusOK {
			_ = json.Unmarshal(a.body, &d)
			for _, x := range d.Deliveries {
				if x.Status == "pending" {
					pending++
				}
			}
		} else {
			pending = -1
		}
		ops, err := s.api.AllOperations(ctx, client.OperationListOptions{})
		active := 0
		for _, o := range ops {
			if !o.Terminal() {
				active++
			}
		}
		if err == nil && pending == 0 && active == 0 {
			quiet++
		} else {
			quiet = 0
		}
		_ = soakSleep(ctx, time.Second)
	}
}

// ---- the audit ----

type soakResult struct {
	acknowledged, completed, failed int
	codes                           map[string]int
	duplicates, lost                int
	interrupted, unfinished         int
	engineOps                       int
	problems                        []string // each one fails the soak
	duration                        time.Duration
}

func (r *soakResult) problem(format string, args ...any) {
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

func (s *soak) audit(ctx context.Context) soakResult {
	s.t.Helper()
	r := soakResult{codes: map[string]int{}}
	s.mu.Lock()
	acked := maps.Clone(s.acked)
	events := maps.Clone(s.events)
	deleted := maps.Clone(s.deleted)
	boxOrders := maps.Clone(s.boxOrders)
	s.mu.Unlock()
	r.acknowledged = len(acked)

	// Every acknowledged operation exists and is terminal.
	for id, a := range acked {
		var op client.Operation
		err := s.get(ctx, fmt.Sprintf("%s/api/v2/events/%d/operations/%d", s.serverURL, a.event, id), &op)
		var se *soakStatusError
		switch {
		case errors.As(err, &se) && se.status == http.StatusNotFound:
			r.lost++
			r.problem("operation %d (%s of event %d) was acknowledged but does not exist", id, a.what, a.event)
			continue
		case err != nil:
			s.t.Fatalf("read operation %d: %v", id, err)
		}
		switch op.Status {
		case client.StatusCompleted:
			r.completed++
		case client.StatusFailed:
			r.failed++
			code := "?"
			if op.Error != nil {
				code = op.Error.Code
			}
			r.codes[code]++
		default:
			r.unfinished++
			r.problem("operation %d (%s of event %d) is still %s", id, a.what, a.event, op.Status)
		}
	}

	// Operations nobody asked for: engine-started inventory-only saves are
	// expected; anything else is a duplicate of a repeated request.
	ops, err := s.api.AllOperations(ctx, client.OperationListOptions{})
	if err != nil {
		s.t.Fatalf("list operations: %v", err)
	}
	for _, op := range ops {
		if op.Error != nil && op.Error.Code == string(engine.CodeOperationInterrupted) {
			r.interrupted++
			r.problem("operation %d failed with OPERATION_INTERRUPTED", op.ID)
		}
		if _, ok := acked[op.ID]; ok {
			continue
		}
		if !op.Terminal() {
			r.unfinished++
			r.problem("operation %d (%s, engine-started) is still %s", op.ID, op.Action, op.Status)
		}
		if op.Action == "save" && len(op.Phases) == 1 && op.Phases[0].Name == "inventory" {
			r.engineOps++
			if op.Status == client.StatusFailed && op.Error != nil {
				r.codes["engine:"+op.Error.Code]++
			}
			continue
		}
		r.duplicates++
		r.problem("operation %d (%s of event %d) was started by no acknowledged request", op.ID, op.Action, op.EventID)
	}

	// Events: one per acknowledged create; deleted ones gone.
	all, err := s.api.AllEvents(ctx, client.EventListOptions{})
	if err != nil {
		s.t.Fatalf("list events: %v", err)
	}
	byName := map[string][]uint64{}
	live := map[uint64]client.Event{}
	for _, ev := range all {
		live[ev.ID] = ev
		if ev.ParentEventID == nil {
			n, _, _ := strings.Cut(ev.Name, " ")
			byName[n] = append(byName[n], ev.ID)
		}
	}
	for name, id := range events {
		_, gone := deleted[id]
		switch got := byName[name]; {
		case len(got) > 1:
			r.duplicates += len(got) - 1
			r.problem("event %s exists %d times: %v", name, len(got), got)
		case len(got) == 0 && !gone:
			r.lost++
			r.problem("event %s (%d) was created but is not listed", name, id)
		case len(got) == 1 && gone:
			r.problem("event %s (%d) was deleted but is still listed", name, id)
		}
	}
	for name, ids := range byName {
		if _, ok := events[name]; !ok {
			r.duplicates += len(ids)
			r.problem("event %s %v was created by no acknowledged request", name, ids)
		}
	}

	// Orders: box-office ones as acknowledged; each shop order of a live
	// event recorded once, refunded in eventops when refunded in the shop.
	st, err := s.shopState(ctx)
	if err != nil {
		s.t.Fatalf("shop state: %v", err)
	}
	variantEvent := map[string]uint64{}
	for id, ev := range live {
		for _, rt := range ev.RegistrationTypes {
			if rt.ShopifyVariantID != nil {
				variantEvent[*rt.ShopifyVariantID] = id
			}
		}
	}
	recorded := map[string][]soakOrder{}
	eventsWithOrders := map[uint64]bool{}
	for id := range boxOrders {
		eventsWithOrders[id] = true
	}
	for _, o := range st.Orders {
		for _, li := range o.LineItems {
			if ev, ok := variantEvent[li.VariantID]; ok {
				eventsWithOrders[ev] = true
			}
		}
	}
	for id := range eventsWithOrders {
		if _, ok := live[id]; !ok {
			continue
		}
		orders, err := s.orders(ctx, id)
		if err != nil {
			s.t.Fatalf("orders of event %d: %v", id, err)
		}
		box := 0
		for _, o := range orders {
			if o.ShopifyOrderID == nil {
				box++
				continue
			}
			recorded[*o.ShopifyOrderID] = append(recorded[*o.ShopifyOrderID], o)
		}
		switch want := boxOrders[id]; {
		case box > want:
			r.duplicates += box - want
			r.problem("event %d holds %d box-office orders, %d acknowledged", id, box, want)
		case box < want:
			r.lost += want - box
			r.problem("event %d holds %d box-office orders, %d acknowledged", id, box, want)
		}
	}
	shopOrdersLive := 0
	for _, o := range st.Orders {
		if len(o.LineItems) == 0 {
			continue
		}
		if _, ok := live[variantEvent[o.LineItems[0].VariantID]]; !ok {
			continue // an order of a deleted event
		}
		shopOrdersLive++
		got := recorded[o.ID]
		switch {
		case len(got) == 0:
			r.lost++
			r.problem("shop order %s is not recorded in eventops", o.ID)
		case len(got) > 1:
			r.duplicates += len(got) - 1
			r.problem("shop order %s is recorded %d times", o.ID, len(got))
		case o.FinancialStatus == "refunded" && got[0].Status != "refunded":
			r.problem("shop order %s is refunded in the shop but %s in eventops", o.ID, got[0].Status)
		}
	}

	// Products: exactly those of the live date events and occurrences.
	inShop := map[string]sandbox.ProductState{}
	for _, p := range st.Products {
		inShop[p.ID] = p
	}
	expected := map[string]uint64{}
	for id, ev := range live {
		if ev.Type != client.EventDate {
			continue
		}
		want := 1
		if ev.SplitProducts {
			want = len(ev.RegistrationTypes)
		}
		if len(ev.ShopifyProductIDs) != want {
			r.problem("event %d (%s) has %d shop products, want %d", id, ev.Name, len(ev.ShopifyProductIDs), want)
		}
		for _, p := range ev.ShopifyProductIDs {
			if prev, dup := expected[p]; dup {
				r.problem("product %s belongs to events %d and %d", p, prev, id)
			}
			expected[p] = id
			if _, ok := inShop[p]; !ok {
				r.problem("product %s of event %d is not in the shop", p, id)
			}
		}
	}
	for id, products := range deleted {
		for _, p := range products {
			if _, ok := inShop[p]; ok {
				r.problem("product %s of deleted event %d is still in the shop", p, id)
			}
		}
	}
	for p, ps := range inShop {
		if _, ok := expected[p]; !ok {
			r.problem("product %s (%q) in the shop belongs to no live event", p, ps.Handle)
		}
	}

	// Inventory: each mirrored variant at the app's location holds what is
	// left to sell.
	appLocation := ""
	for _, fs := range st.FulfillmentServices {
		appLocation = fs.LocationID
	}
	itemOf := map[string]string{}
	for _, v := range st.Variants {
		itemOf[v.ID] = v.InventoryItemID
	}
	levels := map[string]map[string]int64{} // item → location → available
	for _, l := range st.InventoryLevels {
		if levels[l.InventoryItemID] == nil {
			levels[l.InventoryItemID] = map[string]int64{}
		}
		levels[l.InventoryItemID][l.LocationID] = l.Available
	}
	variants := 0
	for id, ev := range live {
		if ev.Type != client.EventDate {
			continue
		}
		for _, rt := range ev.RegistrationTypes {
			if rt.ShopifyVariantID == nil {
				continue
			}
			variants++
			want := int64(1_000_000) // shopify.UnlimitedQuantity: no limit at all
			if rt.Available != nil {
				want = int64(*rt.Available)
			}
			lv := levels[itemOf[*rt.ShopifyVariantID]]
			got, ok := lv[appLocation]
			if !ok || got != want {
				r.problem("event %d %q: variant %s has %d available at the app's location %s (levels %v), what is left to sell is %d",
					id, rt.Name, *rt.ShopifyVariantID, got, appLocation, lv, want)
			}
		}
	}

	s.t.Logf("soak: audited %d operations (%d engine-started), %d live events, %d shop products, %d variants, %d shop orders of live events",
		len(ops), r.engineOps, len(live), len(st.Products), variants, shopOrdersLive)
	return r
}

// checkDataFile opens the stopped server's data file: bbolt's consistency
// check passes and no operation is left active.
func (s *soak) checkDataFile(r *soakResult) {
	s.t.Helper()
	db, err := storage.Open(filepath.Join(s.data, dbFile), storage.Options{Timeout: 5 * time.Second})
	if err != nil {
		s.t.Fatalf("open the data file after the soak: %v", err)
	}
	defer db.Close()
	if err := db.Check(); err != nil {
		r.problem("the data file fails the consistency check: %v", err)
	}
	var active []*engine.Operation
	if err := db.View(func(tx engine.Tx) error {
		var err error
		active, err = tx.ActiveOperations()
		return err
	}); err != nil {
		s.t.Fatal(err)
	}
	for _, op := range active {
		r.problem("operation %d is %s in the data file after a clean stop", op.ID, op.Status)
	}
}

func (s *soak) report(r soakResult) {
	codes := make([]string, 0, len(r.codes))
	for c, n := range r.codes {
		codes = append(codes, fmt.Sprintf("%s=%d", c, n))
	}
	sort.Strings(codes)
	failed := "none"
	if len(codes) > 0 {
		failed = strings.Join(codes, " ")
	}
	s.mu.Lock()
	counts := make([]string, 0, len(s.counts))
	for k, n := range s.counts {
		counts = append(counts, fmt.Sprintf("%s=%d", strings.ReplaceAll(k, " ", "_"), n))
	}
	sort.Strings(counts)
	refused := make([]string, 0, len(s.refused))
	for k, n := range s.refused {
		refused = append(refused, fmt.Sprintf("%s=%d", strings.ReplaceAll(k, " ", "_"), n))
	}
	sort.Strings(refused)
	unexpected := slices.Clone(s.unexpected)
	kills, faults := s.kills, s.faults
	s.mu.Unlock()

	summary := fmt.Sprintf("soak: acknowledged=%d completed=%d failed=%d (%s) duplicates=%d lost=%d",
		r.acknowledged, r.completed, r.failed, failed, r.duplicates, r.lost)
	details := fmt.Sprintf("soak: kills=%d faults=%d retried_writes=%d retried_reads=%d replayed=%d engine_operations=%d interrupted=%d unfinished=%d writes[%s] refused[%s] duration=%s seed=%d",
		kills, faults, s.retried.Load(), s.reread.Load(), s.replays.Load(), r.engineOps, r.interrupted, r.unfinished,
		strings.Join(counts, " "), strings.Join(refused, " "), r.duration.Round(time.Second), s.cfg.seed)
	fmt.Println(summary)
	fmt.Println(details)
	for _, u := range unexpected {
		s.t.Logf("soak: unexpected: %s", u)
	}
	for _, p := range r.problems {
		s.t.Errorf("soak: %s", p)
	}
	if kills < s.cfg.kills {
		s.t.Errorf("soak: %d kills of %d", kills, s.cfg.kills)
	}
	if len(unexpected) > 0 {
		s.t.Errorf("soak: %d unexpected answers (above)", len(unexpected))
	}
}
