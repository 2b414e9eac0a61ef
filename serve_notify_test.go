package main

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"eventops/engine"
	"eventops/storage"
	"eventops/storage/pgtest"
	"eventops/web"
)

// A serve node on PostgreSQL follows the transitions another node commits
// on its database: a save made and run by a second node (an engine and
// server in this process) is published by serve, which records its lag in
// eventops_notification_lag_seconds.
func TestServeFollowsAnotherNodesTransitions(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.Database(t)
	bin := buildEventops(t)
	keyFile := filepath.Join(t.TempDir(), "sealer.key")
	raw := make([]byte, 32)
	rand.Read(raw)
	if err := os.WriteFile(keyFile, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	pg := []string{"--database-url", dbURL, "--sealer-key-file", keyFile}
	nodeA := startServeEnv(t, bin, t.TempDir(), nil, pg...)
	cli := func(args ...string) string {
		out, err := exec.Command(bin, append(args, pg...)...).Output()
		if err != nil {
			t.Fatalf("%s: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	company := cli("company", "create", "--name", "Local")
	key := cli("apikey", "create", "--company", company)

	// Node B.
	db, err := storage.OpenPostgres(context.Background(), dbURL, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sealer, err := storage.LoadSealer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng := engine.New(engine.Config{Store: db, SharedStore: true, Notifier: db, Sealer: sealer, Logger: quiet})
	if err := eng.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer eng.Stop(5 * time.Second)
	srv := web.New(web.Config{Engine: eng, Logger: quiet})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.App().Listener(ln)
	defer srv.Shutdown(context.Background())
	nodeB := &apiClient{t: t, base: "http://" + ln.Addr().String(), key: key, http: &http.Client{Timeout: 90 * time.Second}}

	venue, tt := nodeB.venueAndTicketType()
	ev, op := nodeB.createEvent(dateEvent(venue, tt))
	waitAllCompleted(t, nodeB, []evOp{{ev: ev, op: op}})
	for deadline := time.Now().Add(30 * time.Second); lagCount(t, nodeA) == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("serve published none of the other node's transitions in 30 s")
		}
	}
}

// lagCount reads eventops_notification_lag_seconds_count from p's /metrics.
func lagCount(t *testing.T, p *process) float64 {
	t.Helper()
	res, err := http.Get("http://" + p.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, "eventops_notification_lag_seconds_count "); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return n
		}
	}
	t.Fatalf("/metrics has no eventops_notification_lag_seconds:\n%s", body)
	return 0
}
