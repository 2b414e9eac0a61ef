package outbound_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"eventops/engine"
	"eventops/engine/outbound"
)

func message(url string) *engine.WebhookMessage {
	return &engine.WebhookMessage{
		Delivery: &engine.Delivery{ID: 7, Type: engine.EventOrderCreated},
		Endpoint: &engine.WebhookEndpoint{ID: 1, URL: url},
		Secrets:  []engine.Secret{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
		At:       time.Now(),
	}
}

func sender(guard *outbound.Guard) *outbound.Sender {
	return outbound.New(outbound.Options{Guard: guard,
		Render: func(*engine.WebhookMessage) ([]byte, error) { return []byte(`{"type":"order.created"}`), nil }})
}

// A redirect is the answer, not followed; only the start of a long answer
// is kept.
func TestSendFollowsNoRedirectAndCapsTheAnswer(t *testing.T) {
	t.Parallel()
	var followed atomic.Bool
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { followed.Store(true) }))
	defer target.Close()
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/long" {
			w.Write([]byte(strings.Repeat("x", 64<<10)))
			return
		}
		http.Redirect(w, r, target.URL, http.StatusFound)
	}))
	defer rcv.Close()
	s := sender(&outbound.Guard{AllowPrivate: true})
	res := s.Send(context.Background(), message(rcv.URL+"/moved"))
	if res.Status != http.StatusFound || res.OK() || followed.Load() {
		t.Fatalf("redirect: status %d, ok %v, followed %v", res.Status, res.OK(), followed.Load())
	}
	res = s.Send(context.Background(), message(rcv.URL+"/long"))
	if !res.OK() || len(res.Body) != engine.MaxDeliveryResponse {
		t.Fatalf("long answer: ok %v, kept %d bytes, want %d", res.OK(), len(res.Body), engine.MaxDeliveryResponse)
	}
}

// Without --webhooks-allow-private the sender neither sends over http nor
// connects to a loopback address, whatever the URL says; the refusal
// happens before any connection.
func TestSendRefusesLoopbackAtConnect(t *testing.T) {
	t.Parallel()
	var hit atomic.Bool
	rcv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hit.Store(true) }))
	defer rcv.Close()
	s := sender(&outbound.Guard{})
	for _, url := range []string{rcv.URL, strings.Replace(rcv.URL, "https", "http", 1)} {
		res := s.Send(context.Background(), message(url))
		if res.Err == nil || res.OK() {
			t.Fatalf("%s: sent (%d)", url, res.Status)
		}
	}
	if hit.Load() {
		t.Fatal("the receiver on loopback was reached")
	}
}
