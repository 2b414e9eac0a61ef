package main

// The soak's outbound webhooks: a local receiver that verifies every
// delivery, an endpoint of the soak's company subscribed to operations'
// ends, and the audit that every operation that completed or failed was
// delivered at least once (webhooks_missing=0), counting duplicates
// (webhook_duplicates=N: the same webhook-id received again, expected
// after a kill cut a send off).

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"eventops/web/client"
)

type soakHooks struct {
	srv      *httptest.Server
	mu       sync.Mutex
	verifier *client.Verifier
	ops      map[uint64]int // operation id → deliveries of its end received
	ids      map[string]int // webhook-id → times received
	bad      int            // deliveries whose signature did not verify
}

// startHookReceiver starts the receiver; deliveries that come before the
// endpoint's secret is known are answered 503 (sent again later).
func (s *soak) startHookReceiver() {
	h := &soakHooks{ops: map[uint64]int{}, ids: map[string]int{}}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
		h.mu.Lock()
		defer h.mu.Unlock()
		if err != nil || h.verifier == nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if err := h.verifier.Verify(r.Header, body); err != nil {
			h.bad++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var ev client.WebhookEvent
		if err := json.Unmarshal(body, &ev); err != nil {
			h.bad++
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		h.ids[r.Header.Get("webhook-id")]++
		if op, err := ev.Operation(); err == nil && op.ID != 0 {
			h.ops[op.ID]++
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	s.t.Cleanup(h.srv.Close)
	s.hooks = h
}

// serveHookFlags let the server reach the local receiver and retry fast.
func soakHookFlags() []string {
	return []string{"--webhooks-allow-private", "--webhooks-retry-scale", "0.001"}
}

// createHookEndpoint subscribes the receiver to every operation's end.
func (s *soak) createHookEndpoint(ctx context.Context) {
	s.t.Helper()
	url, events := s.hooks.srv.URL+"/eventops", []string{"operation.completed", "operation.failed", "operation.canceled"}
	ep, err := s.api.CreateWebhookEndpoint(ctx, client.WebhookEndpointInput{URL: &url, Events: &events})
	if err != nil {
		s.t.Fatalf("create webhook endpoint: %v", err)
	}
	v, err := client.NewVerifier(ep.Secret)
	if err != nil {
		s.t.Fatal(err)
	}
	s.hooks.mu.Lock()
	s.hooks.verifier = v
	s.hooks.mu.Unlock()
}

// auditWebhooks waits (up to 2 minutes: retries run on the scaled
// schedule) until every terminal operation's end was received, then
// records what is missing and how many deliveries came twice.
func (s *soak) auditWebhooks(ops []client.Operation, r *soakResult) {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		missing := 0
		s.hooks.mu.Lock()
		for _, op := range ops {
			if op.Terminal() && s.hooks.ops[op.ID] == 0 {
				missing++
			}
		}
		dups := 0
		for _, n := range s.hooks.ids {
			dups += n - 1
		}
		bad := s.hooks.bad
		s.hooks.mu.Unlock()
		if missing == 0 || time.Now().After(deadline) {
			r.webhooksMissing, r.webhookDuplicates = missing, dups
			if missing > 0 {
				r.problem("%d terminal operations were never delivered to the webhook endpoint", missing)
			}
			if bad > 0 {
				r.problem("%d webhook deliveries did not verify", bad)
			}
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}
