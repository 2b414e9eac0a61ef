package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"eventops/storage"
	"eventops/storage/pgtest"
)

// serve and the scripting commands on a PostgreSQL database: the flags'
// rules, commands working while the server runs, one node per database, and
// /readyz following the database's availability.
func TestServeOnPostgres(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.Database(t)
	bin := buildEventops(t)
	data := t.TempDir()
	keyFile := filepath.Join(t.TempDir(), "sealer.key")
	raw := make([]byte, 32)
	rand.Read(raw)
	if err := os.WriteFile(keyFile, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(env []string, args ...string) (string, string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(cleanEnv(), env...)
		var out, errOut strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		return strings.TrimSpace(out.String()), errOut.String(), err
	}
	pg := []string{"--data", data, "--database-url", dbURL, "--sealer-key-file", keyFile}

	// A password in the flag is refused, and not echoed.
	_, stderr, err := run(nil, "company", "create", "--database-url", "postgres://u:s3cr3t@db.example/x",
		"--sealer-key-file", keyFile, "--name", "X")
	if err == nil || !strings.Contains(stderr, "EVENTOPS_DATABASE_URL") || strings.Contains(stderr, "s3cr3t") {
		t.Errorf("password in the flag: err %v, stderr %q", err, stderr)
	}
	// The sealing key file is required.
	if _, stderr, err := run(nil, "company", "create", "--database-url", dbURL, "--name", "X"); err == nil ||
		!strings.Contains(stderr, "--sealer-key-file") {
		t.Errorf("no key file: err %v, stderr %q", err, stderr)
	}

	p := startServeEnv(t, bin, data, nil, append(pg[2:], "--rate-limit", "1000")...)

	// The scripting commands work while the server runs (no file lock),
	// one of them through the environment's URL.
	id, stderr, err := run([]string{"EVENTOPS_DATABASE_URL=" + dbURL, "EVENTOPS_SEALER_KEY_FILE=" + keyFile},
		"company", "create", "--name", "Local")
	if err != nil {
		t.Fatalf("company create while serving: %v\n%s", err, stderr)
	}
	key, stderr, err := run(nil, append([]string{"apikey", "create", "--company", id}, pg...)...)
	if err != nil {
		t.Fatalf("apikey create while serving: %v\n%s", err, stderr)
	}
	api := p.client(key)
	getJSON[json.RawMessage](api, "/readyz", 200)
	venue, tt := api.venueAndTicketType()
	ev, op := api.createEvent(dateEvent(venue, tt))
	waitAllCompleted(t, api, []evOp{{ev: ev, op: op}})

	// The rate limit's budget is the database's, shared with any other
	// node: the requests so far reserved blocks of it.
	res, _, err := api.request("GET", "/api/v2", "")
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Header.Get("RateLimit-Limit"); got != "1000" {
		t.Fatalf("GET /api/v2: RateLimit-Limit %q, want 1000", got)
	}
	var reserved int64
	func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, dbURL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if err := conn.QueryRow(ctx, `select coalesce(sum(used), 0) from rate_budget`).Scan(&reserved); err != nil {
			t.Fatal(err)
		}
	}()
	if reserved == 0 {
		t.Error("serve on PostgreSQL reserved nothing of the shared rate budget: the limit is counted in memory")
	}

	// The database goes away: /readyz says so, then recovers by itself.
	u, _ := url.Parse(dbURL)
	name := strings.TrimPrefix(u.Path, "/")
	admin := func(sql string) {
		t.Helper()
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, pgtest.Server(t))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	admin(`alter database ` + name + ` allow_connections false`)
	admin(`select pg_terminate_backend(pid) from pg_stat_activity where datname = '` + name + `'`)
	if !pollUntil(30*time.Second, 50*time.Millisecond, func() bool {
		res, _, err := api.request("GET", "/readyz", "")
		return err == nil && res.StatusCode == 503
	}) {
		t.Fatal("/readyz did not fail while the database was unreachable")
	}
	admin(`alter database ` + name + ` allow_connections true`)
	if !pollUntil(30*time.Second, 50*time.Millisecond, func() bool {
		res, _, err := api.request("GET", "/readyz", "")
		return err == nil && res.StatusCode == 200
	}) {
		t.Fatal("/readyz did not recover once the database was back")
	}
	ev, op = api.createEvent(dateEvent(venue, tt))
	waitAllCompleted(t, api, []evOp{{ev: ev, op: op}})

	// An admin token revoked by a command while the server runs is refused
	// at the next request (the server does not answer from a cache).
	tok, stderr, err := run(nil, append([]string{"admintoken", "create", "--name", "ops"}, pg...)...)
	if err != nil {
		t.Fatalf("admintoken create: %v\n%s", err, stderr)
	}
	backup := func() int {
		t.Helper()
		res, b, err := p.client("").request("GET", "/backup", "", "Authorization", "Bearer "+tok)
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode == 404 && !strings.Contains(string(b), "pg_dump") {
			t.Errorf("GET /backup on PostgreSQL: %s", b)
		}
		return res.StatusCode
	}
	if code := backup(); code != 404 { // past the guard: no file to copy
		t.Fatalf("GET /backup with a live admin token: %d", code)
	}
	list, _, _ := run(nil, append([]string{"admintoken", "list"}, pg...)...)
	tokID := strings.Fields(list)[0]
	if _, stderr, err := run(nil, append([]string{"admintoken", "revoke", "--id", tokID}, pg...)...); err != nil {
		t.Fatalf("admintoken revoke: %v\n%s", err, stderr)
	}
	if code := backup(); code != 401 {
		t.Errorf("GET /backup with the revoked admin token: %d, want 401", code)
	}

	// A second node starts beside the first (several nodes per database:
	// claims by lease) and stops cleanly.
	second := exec.Command(bin, "serve", "--addr", "127.0.0.1:0",
		"--data", t.TempDir(), "--database-url", dbURL, "--sealer-key-file", keyFile)
	second.Env = cleanEnv()
	var secondErr strings.Builder
	second.Stderr = &secondErr
	if err := second.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- second.Wait() }()
	select {
	case err := <-exited:
		t.Fatalf("second node exited: %v\n%s", err, secondErr.String())
	case <-time.After(3 * time.Second):
	}
	second.Process.Signal(syscall.SIGTERM)
	if err := <-exited; err != nil {
		t.Errorf("second node stopped with %v\n%s", err, secondErr.String())
	}
	if !strings.Contains(secondErr.String(), "eventops serving") {
		t.Errorf("second node never served:\n%s", secondErr.String())
	}
}

// An installation moves from bbolt to PostgreSQL with store copy: what the
// API showed before shows after, with the same installation id, the same
// API key and sequences that go on where they were.
func TestStoreCopyMovesAnInstallation(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.Database(t)
	bin := buildEventops(t)
	data := t.TempDir()
	key := localCompanyKey(t, bin, data)
	p := startServe(t, bin, data)
	api := p.client(key)
	venue, tt := api.venueAndTicketType()
	var ops []evOp
	for range 3 {
		ev, op := api.createEvent(dateEvent(venue, tt))
		ops = append(ops, evOp{ev: ev, op: op})
	}
	waitAllCompleted(t, api, ops)
	before := make([]string, len(ops))
	for i, o := range ops {
		_, b := api.do("GET", opURL(o), "", 200)
		before[i] = string(b)
	}
	inst, _ := p.line("eventops serving")["installation"].(string)
	p.signal(syscall.SIGTERM)
	if code := p.wait(30 * time.Second); code != 0 {
		t.Fatalf("serve exited with %d", code)
	}

	copyCmd := func(to string) (string, string, error) {
		cmd := exec.Command(bin, "store", "copy", "--data", data, "--to-database-url", to)
		cmd.Env = cleanEnv()
		var out, errOut strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		return out.String(), errOut.String(), err
	}
	out, stderr, err := copyCmd(dbURL)
	if err != nil {
		t.Fatalf("store copy: %v\n%s", err, stderr)
	}
	if !strings.Contains(out, "copied and checked") || !strings.Contains(out, inst) {
		t.Errorf("store copy printed:\n%s", out)
	}
	if _, stderr, err := copyCmd(dbURL); err == nil || !strings.Contains(stderr, "empty") {
		t.Errorf("second copy into the same database: err %v, stderr %q", err, stderr)
	}

	q := startServe(t, bin, t.TempDir(), "--database-url", dbURL,
		"--sealer-key-file", filepath.Join(data, storage.SealerKeyFile))
	if got, _ := q.line("eventops serving")["installation"].(string); got != inst || inst == "" {
		t.Errorf("installation %q on PostgreSQL, %q on bbolt", got, inst)
	}
	api = q.client(key)
	for i, o := range ops {
		if _, b := api.do("GET", opURL(o), "", 200); string(b) != before[i] {
			t.Errorf("operation %d after the copy:\n%s\nbefore:\n%s", o.op, b, before[i])
		}
	}
	ev, op := api.createEvent(dateEvent(venue, tt))
	if op <= ops[len(ops)-1].op || ev <= ops[len(ops)-1].ev {
		t.Errorf("new event %d / operation %d reuse ids of the copy", ev, op)
	}
	waitAllCompleted(t, api, []evOp{{ev: ev, op: op}})
}
