package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"eventops/engine"
	"eventops/engine/shopify/sandbox"
	"eventops/storage"
	"eventops/web"
)

// callDuringStopWork is phase work that, once the engine's stop has begun,
// makes one call to the built-in sandbox (as a Shopify phase finishing
// its step would) and ends with that call's outcome.
type callDuringStopWork struct {
	eng     func() *engine.Engine
	url     string
	started chan struct{}
	result  chan error
}

func (w callDuringStopWork) Run(ctx context.Context, _ *engine.PhaseRun) error {
	select { // the first attempt tells the test; a retry does not
	case w.started <- struct{}{}:
	default:
	}
	for w.eng().Running() { // wait for the stop to begin
		if !engine.SleepCtx(ctx, 5*time.Millisecond) {
			return ctx.Err()
		}
	}
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resp, err := hc.Get(w.url)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("sandbox answered %s", resp.Status)
		}
	}
	select { // the first call's outcome is the one that counts
	case w.result <- err:
	default:
	}
	return err
}

// TestShutdownStopsTheSandboxLast: the built-in sandbox shares the
// server's listener, so serve's shutdown keeps it answering until the
// engine has stopped: a phase that calls the shop while the engine stops
// reaches it (no "connection refused"), and shutdown still returns.
func TestShutdownStopsTheSandboxLast(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db, err := storage.Open(filepath.Join(dir, dbFile), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sb, err := sandbox.New(sandbox.Options{Path: filepath.Join(dir, sandboxFile), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var eng *engine.Engine
	work := callDuringStopWork{eng: func() *engine.Engine { return eng },
		url:     "http://" + ln.Addr().String() + "/sandbox/shopify/state",
		started: make(chan struct{}, 1), result: make(chan error, 1)}
	eng = engine.New(engine.Config{Store: db, Logger: quiet(), Work: map[string]engine.Work{engine.PhaseTickets: work}})
	if err := eng.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := web.New(web.Config{Engine: eng, Logger: quiet(), DataFile: dataFile{db}, Sandbox: sb.Handler()})
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
	_, op := api.createEvent(dateEvent(api.venueAndTicketType()))
	<-work.started

	shutdown(srv, eng, nil, 5*time.Second, quiet())
	if err := <-work.result; err != nil {
		t.Fatalf("the phase's call to the sandbox while the engine stopped: %v", err)
	}
	// The phase ended well rather than being cut off: its work is kept.
	var got *engine.Operation
	if err := db.View(func(tx engine.Tx) error {
		var err error
		got, err = tx.Operation(op)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if got.Status == engine.StatusFailed {
		t.Fatalf("operation failed during shutdown: %v", got.Error)
	}
}
