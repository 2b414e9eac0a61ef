package main

// The soak's installation: building the binary, the sandbox shop and the
// server in processes of their own, started, killed and stopped.

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"eventops/storage/pgtest"
	"eventops/web/client"
)

type soak struct {
	t   testing.TB
	cfg soakConfig
	dir string // kept when the soak fails
	bin string

	data       string // eventops' data folder (one node on bbolt)
	serverAddr string // 127.0.0.1:port, the same across restarts
	serverURL  string

	sandboxURL string
	shop       soakShop
	key        string
	api        *client.Client // reads and operation waits
	writer     *client.Client // writes, retried across restarts (soakWriteRetry)
	hc         *http.Client   // the sandbox's control routes and /readyz

	venue       uint64
	ticketTypes [2]uint64

	nodes   []*soakNode // several nodes on PostgreSQL (soak_nodes_test.go)
	lb      *soakLB
	keyFile string // their sealing key

	hooks  *soakHooks  // soak_webhooks_test.go
	buyers *soakBuyers // soak_buyers_test.go

	rngMu sync.Mutex
	rng   *rand.Rand

	procMu      sync.Mutex
	server      *soakProc
	sandbox     *soakProc
	serverStart int

	keySeq  atomic.Uint64
	retried atomic.Int64 // write attempts sent again after a failure
	reread  atomic.Int64 // reads web/client retried (lost connections, 5xx)
	writing atomic.Int64 // write requests on the wire now
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

func newSoak(t testing.TB, cfg soakConfig) *soak {
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
		counts: map[string]int{}, buyers: newSoakBuyers(),
	}
	if cfg.nodes > 0 && cfg.dbURL == "" {
		// Before the cleanup below, which kills the nodes first.
		s.cfg.dbURL = pgtest.Database(t)
	}
	t.Cleanup(func() {
		s.procMu.Lock()
		procs := []*soakProc{s.server, s.sandbox}
		for _, n := range s.nodes {
			procs = append(procs, n.proc)
		}
		for _, p := range procs {
			if p != nil {
				p.kill()
			}
		}
		s.procMu.Unlock()
		if t.Failed() {
			names := []string{"serve.log", "sandbox.log"}
			for _, n := range s.nodes {
				names = append(names, filepath.Base(n.log))
			}
			for _, name := range names {
				if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
					continue
				}
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
	if t, ok := s.t.(interface{ Deadline() (time.Time, bool) }); ok { // a test's, not a benchmark's
		if dl, ok := t.Deadline(); ok {
			d = min(d, time.Until(dl)-time.Minute)
		}
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
	if s.bin != "" {
		return // built by the caller
	}
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

// soakFreePort picks a loopback port for a server, which keeps it across
// restarts (the sandbox's webhook URL names it). It is picked below the
// system's ephemeral range (32768 and up on Linux), from which every
// listener on port 0 (the sandbox, the load balancer, other tests) is
// served: a port closed here and bound by the server a moment later can
// then not be handed to one of them meanwhile.
func soakFreePort(t testing.TB) string {
	for range 1000 {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(20000+rand.IntN(12000)))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue // taken
		}
		ln.Close()
		return addr
	}
	t.Fatal("no free loopback port between 20000 and 32000")
	return ""
}

func (s *soak) startSandbox() {
	s.t.Helper()
	if s.multi() {
		s.setUpNodes()
	} else {
		s.serverAddr = soakFreePort(s.t)
		s.serverURL = "http://" + s.serverAddr
	}
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
			case len(f) >= 8 && f[0] == "shop": // then "currency CODE", and maybe more
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

// connectCompany creates the company connected to the sandbox's shop, and
// an API key. One node connects it by its URL, as a real shop is (token
// and secret from the environment); several nodes on PostgreSQL share the
// sandbox process as their sandbox (--sandbox-url), and the company is
// connected to it as a sandbox shop, provisioned there (the shop the
// sandbox made with --shop, reinstalled with a new token).
func (s *soak) connectCompany() {
	s.t.Helper()
	var out string
	if s.multi() {
		out = s.cli(s.storeEnv(), append([]string{"company", "create", "--name", "Soak", "--shopify", "sandbox",
			"--sandbox-url", s.sandboxURL}, s.storeArgs()...)...)
	} else {
		out = s.cli(s.storeEnv("EVENTOPS_SHOPIFY_TOKEN="+s.shop.token, "EVENTOPS_SHOPIFY_WEBHOOK_SECRET="+s.shop.secret),
			append([]string{"company", "create", "--name", "Soak", "--shopify-shop", s.shop.url}, s.storeArgs()...)...)
	}
	company := strings.TrimSpace(out)
	s.key = strings.TrimSpace(s.cli(s.storeEnv(), append([]string{"apikey", "create", "--company", company,
		"--scopes", "read,write", "--name", "soak"}, s.storeArgs()...)...))
	var err error
	s.api, err = client.New(s.serverURL, s.key, client.WithTimeout(40*time.Second),
		client.WithRetry(client.RetryPolicy{Attempts: 60, Base: 100 * time.Millisecond, Max: time.Second}),
		client.OnRetry(func(client.RetryEvent) { s.reread.Add(1) }))
	if err != nil {
		s.t.Fatal(err)
	}
	// The writer's requests are counted on the wire, so that the killer
	// can cut one in flight.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	s.writer, err = client.New(s.serverURL, s.key, client.WithTimeout(30*time.Second),
		client.WithHTTPClient(&http.Client{Transport: soakCounted{tr, &s.writing}}),
		client.WithRetry(soakWriteRetry),
		client.OnRetry(func(client.RetryEvent) { s.retried.Add(1) }))
	if err != nil {
		s.t.Fatal(err)
	}
}

// soakWriteRetry outlasts every restart: up to 600 tries a second or less
// apart (several minutes), and as many 429s.
var soakWriteRetry = client.RetryPolicy{Attempts: 600, Base: 100 * time.Millisecond, Max: time.Second, RateLimited: 600}

// soakCounted counts the requests in flight through it.
type soakCounted struct {
	rt http.RoundTripper
	n  *atomic.Int64
}

func (c soakCounted) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	defer c.n.Add(-1)
	return c.rt.RoundTrip(r)
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
	if s.multi() {
		s.startNodes()
		return
	}
	logf, err := os.OpenFile(filepath.Join(s.dir, "serve.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		s.t.Fatal(err)
	}
	s.serverStart++
	fmt.Fprintf(logf, "==== start %d at %s\n", s.serverStart, time.Now().Format(time.RFC3339Nano))
	args := append([]string{"serve", "--addr", s.serverAddr, "--data", s.data, "--rate-limit", "0",
		"--public-url", s.serverURL, "--log-level", "info"}, soakHookFlags()...)
	cmd := exec.Command(s.bin, args...)
	cmd.Env = soakEnv()
	cmd.Stdout, cmd.Stderr = logf, logf
	p := soakStartProc(s.t, "serve", cmd, logf)
	s.procMu.Lock()
	s.server = p
	s.procMu.Unlock()
	exited := false
	ready := pollUntil(30*time.Second, 25*time.Millisecond, func() bool {
		select {
		case <-p.exited:
			exited = true
			return true
		default:
		}
		res, err := s.hc.Get(s.serverURL + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	if exited {
		s.t.Fatalf("eventops serve exited at start %d: %v\n%s", s.serverStart, p.err, soakTail(filepath.Join(s.dir, "serve.log"), 40))
	}
	if ready {
		return
	}
	s.t.Fatalf("eventops serve not ready within 30 s of start %d", s.serverStart)
}

func (s *soak) stopServer() {
	s.t.Helper()
	if s.multi() {
		s.stopNodes()
		return
	}
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

func soakStartProc(t testing.TB, name string, cmd *exec.Cmd, log *os.File) *soakProc {
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
