package main

// The serve tests of the real binary, run as a process: signals, logs,
// flags, and the data file it leaves.

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	"eventops/web/client"
)

// buildEventops builds the eventops binary into a temporary folder, or
// skips the test when the go command is not available.
func buildEventops(t testing.TB) string {
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
	t      testing.TB
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
func startServe(t testing.TB, bin, data string, args ...string) *process {
	t.Helper()
	return startServeEnv(t, bin, data, nil, args...)
}

// startServeEnv is startServe with more environment variables.
func startServeEnv(t testing.TB, bin, data string, env []string, args ...string) *process {
	t.Helper()
	p := &process{t: t, exited: make(chan struct{})}
	all := append([]string{"serve", "--addr", "127.0.0.1:0", "--data", data, "--rate-limit", "0"}, args...)
	p.cmd = exec.Command(bin, all...)
	p.cmd.Env = append(cleanEnv(), env...)
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
	var l map[string]any
	if !pollUntil(within, 10*time.Millisecond, func() bool { l = p.line(msg); return l != nil }) {
		p.t.Fatalf("no %q line within %v:\n%s", msg, within, p.stderr.String())
	}
	return l
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
			o := getJSON[client.Operation](api, opURL(e)+"?wait=5", 200)
			if o.Status == client.StatusCompleted {
				break
			}
			if o.Status == client.StatusFailed {
				t.Fatalf("operation %d failed: %+v", e.op, o.Error)
			}
			if time.Now().After(deadline) {
				t.Fatalf("operation %d still %s", e.op, o.Status)
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
		getJSON[json.RawMessage](api, "/readyz", 200)

		// One worker and a queue of heavy saves: the last one waits.
		ops := queueRecurring(t, api, 40, 500)
		last := ops[len(ops)-1]
		if o := getJSON[client.Operation](api, opURL(last), 200); o.Status != client.StatusPending {
			t.Skipf("the queue drained before a long-poll could be held (last operation %s)", o.Status)
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
		polled := make(chan *client.Operation, 1)
		go func() {
			res, b, err := poll.request("GET", opURL(last)+"?wait=60", "")
			var o *client.Operation
			if err == nil && res.StatusCode == 200 && json.Unmarshal(b, &o) != nil {
				o = nil
			}
			polled <- o
		}()
		<-dialed
		getJSON[json.RawMessage](p.client(""), "/healthz", 200)

		p.signal(syscall.SIGTERM)
		signalled := time.Now()
		got := <-polled
		if got == nil {
			t.Fatal("the held long-poll was not answered with 200")
		}
		// Answered by the shutdown, with the state at that moment: still
		// queued behind the others.
		if got.Status != client.StatusPending {
			t.Fatalf("held long-poll answered %s, want pending (answered at shutdown)", got.Status)
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
		getJSON[json.RawMessage](p.client(""), "/healthz", 200)

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
		// They are observed after the commit the client may see first.
		var exp string
		waitFor(t, 10*time.Second, "the resumed operations counted", func() bool {
			exp = scrapeMetrics(t, q)
			return strings.Contains(exp, `eventops_operations_active{action="save"} 0`)
		})
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
