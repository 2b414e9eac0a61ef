package web

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"eventops/engine"
	"eventops/storage"
	"eventops/storage/storetest"
)

// healthAnswer is a probe's body. Probes are not part of the API, so
// web/client has no type for them.
type healthAnswer struct {
	Status string `json:"status"` // ok, ready, unavailable
	Reason string `json:"reason"` // why not ready
}

func health(t testing.TB, f *fixture, path string, status int) healthAnswer {
	t.Helper()
	r := f.do("GET", path, "", nil).expect(t, status)
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("%s: Cache-Control %q, want no-store", path, cc)
	}
	return decode[healthAnswer](t, r)
}

func TestReadinessFollowsTheEngine(t *testing.T) {
	t.Parallel()
	// A limit of one request a minute: probes are not API requests and
	// are never limited.
	f := setup(t, withConfig(func(c *Config) { c.RateLimit = 1 }))
	for range 3 {
		if m := health(t, f, "/healthz", 200); m.Status != "ok" {
			t.Fatalf("healthz: %v", m)
		}
		if m := health(t, f, "/readyz", 200); m.Status != "ready" {
			t.Fatalf("readyz: %v", m)
		}
	}
	if r := f.do("GET", "/readyz", "", nil); r.Header.Get("RateLimit-Limit") != "" {
		t.Fatal("a probe is rate limited")
	}

	f.eng.Stop(5 * time.Second)
	m := health(t, f, "/readyz", 503)
	if m.Status != "unavailable" || m.Reason != "engine not running" {
		t.Fatalf("readyz after the engine stopped: %v", m)
	}
	// Liveness is the process answering, not the engine.
	health(t, f, "/healthz", 200)
}

func TestReadinessEndsWhenShutdownBegins(t *testing.T) {
	t.Parallel()
	f := setup(t)
	health(t, f, "/readyz", 200)
	f.srv.cancel() // what Shutdown does first
	if m := health(t, f, "/readyz", 503); m.Reason != "shutting down" {
		t.Fatalf("readyz during shutdown: %v", m)
	}
	health(t, f, "/healthz", 200)
}

func TestReadinessNeedsTheDataFile(t *testing.T) {
	t.Parallel()
	db, err := storetest.Open(t, filepath.Join(t.TempDir(), "eventops.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	eng := engine.New(engine.Config{Store: db, Logger: quietLogger()})
	if err := eng.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := New(Config{Engine: eng, Logger: quietLogger()})
	t.Cleanup(func() { srv.cancel(); srv.ops.close(); eng.Stop(5 * time.Second) })
	f := &fixture{t: t, srv: srv}
	health(t, f, "/readyz", 200)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if m := health(t, f, "/readyz", 503); m.Reason != "storage not answering" {
		t.Fatalf("readyz with the file closed: %v", m)
	}
}
