package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"eventops/engine"
	"eventops/storage"
	"eventops/web"
	"eventops/web/client"
)

// `webhooks listen` forwards the company's deliveries from the feed to a
// local receiver, signed with the secret it printed at start, keeping the
// delivery's webhook-id.
func TestWebhooksListenForwardsSignedDeliveries(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db, err := storage.Open(filepath.Join(dir, dbFile), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := storage.LoadSealer(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Deliveries are queued for the endpoint but never sent to it: the
	// listener reads them from the feed.
	eng := engine.New(engine.Config{Store: db, Logger: quiet(), Sealer: sealer})
	if err := eng.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := web.New(web.Config{Engine: eng, Logger: quiet()})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.App().Listener(ln)
	t.Cleanup(func() {
		shutdown(srv, eng, nil, 5*time.Second, quiet())
		db.Close()
	})
	ctx := context.Background()
	co, err := eng.CreateCompany(ctx, "A", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, key, err := eng.CreateAPIKey(ctx, co.ID, "k", []engine.Scope{engine.ScopeRead, engine.ScopeWrite})
	if err != nil {
		t.Fatal(err)
	}
	hookURL, events := "https://hooks.example/in", []string{engine.EventOperationCompleted}
	if _, _, err := eng.CreateWebhookEndpoint(ctx, co.ID, engine.WebhookEndpointInput{URL: &hookURL, Events: &events}); err != nil {
		t.Fatal(err)
	}

	type got struct {
		header http.Header
		body   []byte
	}
	var mu sync.Mutex
	var received []got
	local := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		received = append(received, got{r.Header.Clone(), b})
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(local.Close)

	base := "http://" + ln.Addr().String()
	c, err := client.New(base, key.Reveal())
	if err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	lctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	errs := &syncBuffer{}
	go func() { done <- listen(lctx, c, 0, local.URL+"/hooks", out, errs) }()
	t.Cleanup(func() { t.Log(out.String(), errs.String()) })
	t.Cleanup(func() { stop(); <-done })
	secretRE := regexp.MustCompile(`whsec_[A-Za-z0-9+/=]+`)
	waitFor(t, 10*time.Second, "the listener's secret", func() bool { return secretRE.MatchString(out.String()) })
	verifier, err := client.NewVerifier(secretRE.FindString(out.String()))
	if err != nil {
		t.Fatal(err)
	}

	api := &apiClient{t: t, base: base, key: key.Reveal(), http: &http.Client{Timeout: time.Minute}}
	_, op := api.createEvent(dateEvent(api.venueAndTicketType()))
	waitFor(t, 20*time.Second, "a forwarded delivery", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(received) > 0
	})
	mu.Lock()
	r := received[0]
	mu.Unlock()
	if err := verifier.Verify(r.header, r.body); err != nil {
		t.Fatalf("the forwarded delivery does not verify with the printed secret: %v", err)
	}
	var ev client.WebhookEvent
	if err := json.Unmarshal(r.body, &ev); err != nil {
		t.Fatal(err)
	}
	o, err := ev.Operation()
	if err != nil || ev.Type != engine.EventOperationCompleted || o.ID != op {
		t.Fatalf("forwarded %s of operation %d, want operation.completed of %d", ev.Type, o.ID, op)
	}
	inst, err := eng.InstallationID()
	if err != nil {
		t.Fatal(err)
	}
	if want := "msg_" + inst + "_1"; r.header.Get("webhook-id") != want {
		t.Errorf("webhook-id %q, want the delivery's %s", r.header.Get("webhook-id"), want)
	}
}
