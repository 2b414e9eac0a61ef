package main

// Several serve nodes on one PostgreSQL database (issue 19): the soak's
// processes when soakConfig.nodes > 0. The nodes share the database and one
// sealing key file, each has its own --data folder and port, and a load
// balancer of the test's own (soakLB) stands in front of them at the
// address the API clients and the sandbox's webhooks use, as nginx or
// haproxy would in production (static/docs/postgres.md, "Three nodes
// behind a load balancer").

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"eventops/engine"
	"eventops/storage"
)

// soakNode is one serve node of a multi-node soak.
type soakNode struct {
	i      int
	addr   string // 127.0.0.1:port, kept across restarts
	data   string
	log    string
	proc   *soakProc
	starts int
}

func (n *soakNode) url() string { return "http://" + n.addr }

// multi reports whether the soak runs several nodes on PostgreSQL.
func (s *soak) multi() bool { return s.cfg.nodes > 0 }

// setUpNodes picks the nodes' ports and folders, the sealing key file and
// starts the load balancer in front of them; it sets serverAddr to the
// balancer's address.
func (s *soak) setUpNodes() {
	s.t.Helper()
	raw := make([]byte, 32)
	rand.Read(raw)
	s.keyFile = filepath.Join(s.dir, "sealer.key")
	if err := os.WriteFile(s.keyFile, raw, 0o600); err != nil {
		s.t.Fatal(err)
	}
	var backends []string
	for i := range s.cfg.nodes {
		n := &soakNode{i: i, addr: soakFreePort(s.t), data: filepath.Join(s.dir, fmt.Sprintf("data-%d", i)),
			log: filepath.Join(s.dir, fmt.Sprintf("serve-%d.log", i))}
		if err := os.MkdirAll(n.data, 0o700); err != nil {
			s.t.Fatal(err)
		}
		s.nodes = append(s.nodes, n)
		backends = append(backends, n.addr)
	}
	s.lb = startSoakLB(s.t, backends)
	s.serverAddr = s.lb.addr
	s.serverURL = "http://" + s.lb.addr
}

// storeArgs are the flags that name the store of a command.
func (s *soak) storeArgs() []string {
	if !s.multi() {
		return []string{"--data", s.data}
	}
	args := []string{"--sealer-key-file", s.keyFile}
	if u, err := url.Parse(s.cfg.dbURL); err == nil {
		if _, has := u.User.Password(); has {
			return args // the URL goes in the environment (storeEnv)
		}
	}
	return append(args, "--database-url", s.cfg.dbURL)
}

// storeEnv is the environment of a command: a URL with a password is never
// a flag (a process list shows flags), it rides in EVENTOPS_DATABASE_URL.
func (s *soak) storeEnv(extra ...string) []string {
	if s.multi() {
		if u, err := url.Parse(s.cfg.dbURL); err == nil {
			if _, has := u.User.Password(); has {
				extra = append(extra, "EVENTOPS_DATABASE_URL="+s.cfg.dbURL)
			}
		}
	}
	return soakEnv(extra...)
}

// startNode starts node i and waits until its /readyz answers 200.
func (s *soak) startNode(n *soakNode) {
	s.t.Helper()
	logf, err := os.OpenFile(n.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		s.t.Fatal(err)
	}
	n.starts++
	fmt.Fprintf(logf, "==== start %d at %s\n", n.starts, time.Now().Format(time.RFC3339Nano))
	args := append([]string{"serve", "--addr", n.addr, "--data", n.data, "--rate-limit", "0",
		"--public-url", s.serverURL, "--log-level", "info", "--sandbox-url", s.sandboxURL}, s.storeArgs()...)
	args = append(append(args, soakHookFlags()...), s.cfg.serveArgs...)
	cmd := exec.Command(s.bin, args...)
	cmd.Env = s.storeEnv()
	cmd.Stdout, cmd.Stderr = logf, logf
	p := soakStartProc(s.t, fmt.Sprintf("serve-%d", n.i), cmd, logf)
	s.procMu.Lock()
	n.proc = p
	s.procMu.Unlock()
	exited := false
	ready := pollUntil(30*time.Second, 25*time.Millisecond, func() bool {
		select {
		case <-p.exited:
			exited = true
			return true
		default:
		}
		res, err := s.hc.Get(n.url() + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	if exited {
		s.t.Fatalf("node %d exited at start %d: %v\n%s", n.i, n.starts, p.err, soakTail(n.log, 40))
	}
	if !ready {
		s.t.Fatalf("node %d not ready within 30 s of start %d", n.i, n.starts)
	}
}

// startNodes starts every node that is not running, at once.
func (s *soak) startNodes() {
	s.t.Helper()
	var wg sync.WaitGroup
	for _, n := range s.nodes {
		if n.running() {
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); s.startNode(n) }()
	}
	wg.Wait()
	if s.t.Failed() {
		s.t.FailNow()
	}
}

func (n *soakNode) running() bool {
	if n.proc == nil {
		return false
	}
	select {
	case <-n.proc.exited:
		return false
	default:
		return true
	}
}

// killNode SIGKILLs node n and waits until it is gone.
func (s *soak) killNode(n *soakNode) {
	s.procMu.Lock()
	p := n.proc
	s.procMu.Unlock()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// stopNodes stops every running node with SIGTERM.
func (s *soak) stopNodes() {
	s.t.Helper()
	for _, n := range s.nodes {
		if !n.running() {
			continue
		}
		if err := n.proc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			s.t.Fatal(err)
		}
	}
	for _, n := range s.nodes {
		if n.proc == nil {
			continue
		}
		if err := n.proc.wait(60 * time.Second); err != nil && !strings.Contains(err.Error(), "killed") {
			s.t.Errorf("node %d after SIGTERM: %v", n.i, err)
		}
	}
}

// checkDatabase is checkDataFile on PostgreSQL: no operation is left
// active once every node stopped cleanly.
func (s *soak) checkDatabase(r *soakResult) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := storage.OpenPostgres(ctx, s.cfg.dbURL, storage.Options{})
	if err != nil {
		s.t.Fatalf("open the database after the soak: %v", err)
	}
	defer db.Close()
	var active []*engine.Operation
	if err := db.View(func(tx engine.Tx) error {
		var err error
		active, err = tx.ActiveOperations()
		return err
	}); err != nil {
		s.t.Fatal(err)
	}
	for _, op := range active {
		r.problem("operation %d is %s in the database after a clean stop", op.ID, op.Status)
	}
}

// storedOperation reads operation id from the database itself, past every
// node's cache.
func (s *soak) storedOperation(id uint64) *engine.Operation {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := storage.OpenPostgres(ctx, s.cfg.dbURL, storage.Options{})
	if err != nil {
		s.t.Fatal(err)
	}
	defer db.Close()
	var op *engine.Operation
	if err := db.View(func(tx engine.Tx) error {
		op, err = tx.Operation(id)
		return err
	}); err != nil {
		s.t.Fatal(err)
	}
	return op
}

// nodeMetric reads one sample of node n's /metrics (a loopback client may):
// the value of the line that starts with series, and whether there is one.
func (s *soak) nodeMetric(n *soakNode, series string) (float64, bool) {
	res, err := s.hc.Get(n.url() + "/metrics")
	if err != nil {
		return 0, false
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v, err == nil
		}
	}
	return 0, false
}

// soakLB is a round-robin HTTP load balancer over the nodes: it checks
// each node's /readyz every 250 ms and sends nothing to a node that fails
// it, and a request whose connection to a node is refused goes to the next
// one (nginx's proxy_next_upstream error). A node that dies with a request
// in flight leaves that request answered 502, as a real balancer would;
// the clients send it again with the same Idempotency-Key. Websockets go
// through (httputil.ReverseProxy).
type soakLB struct {
	addr     string
	backends []string
	up       []atomic.Bool
	next     atomic.Uint64
	srv      *http.Server
	stop     chan struct{}
}

func startSoakLB(t testing.TB, backends []string) *soakLB {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lb := &soakLB{addr: ln.Addr().String(), backends: backends, up: make([]atomic.Bool, len(backends)), stop: make(chan struct{})}
	lb.srv = &http.Server{Handler: lb, ReadHeaderTimeout: 10 * time.Second}
	go lb.srv.Serve(ln)
	go lb.check()
	t.Cleanup(func() { close(lb.stop); lb.srv.Close() })
	return lb
}

func (lb *soakLB) check() {
	hc := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		var wg sync.WaitGroup
		for i, b := range lb.backends {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := hc.Get("http://" + b + "/readyz")
				ok := err == nil && res.StatusCode == http.StatusOK
				if err == nil {
					res.Body.Close()
				}
				lb.up[i].Store(ok)
			}()
		}
		wg.Wait()
		select {
		case <-lb.stop:
			return
		case <-tick.C:
		}
	}
}

// order is the backends to try for one request: the healthy ones from the
// next in turn, then the others (a check may lag behind a restart).
func (lb *soakLB) order() []int {
	n := len(lb.backends)
	start := int(lb.next.Add(1) % uint64(n))
	var healthy, rest []int
	for k := range n {
		i := (start + k) % n
		if lb.up[i].Load() {
			healthy = append(healthy, i)
		} else {
			rest = append(rest, i)
		}
	}
	return append(healthy, rest...)
}

func (lb *soakLB) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<20))
	if err != nil {
		http.Error(w, "request body: "+err.Error(), http.StatusBadRequest)
		return
	}
	for _, i := range lb.order() {
		refused := false
		rp := &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(&url.URL{Scheme: "http", Host: lb.backends[i]})
				pr.Out.Host = pr.In.Host
			},
			ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
				var op *net.OpError
				if errors.As(err, &op) && op.Op == "dial" {
					refused = true
					return
				}
				w.WriteHeader(http.StatusBadGateway)
			},
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		rp.ServeHTTP(w, r)
		if !refused {
			return
		}
	}
	http.Error(w, "no node answers", http.StatusBadGateway)
}
