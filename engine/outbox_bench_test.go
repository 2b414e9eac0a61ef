package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"eventops/engine"
	"eventops/engine/outbound"
)

// benchReceiver is a local http receiver answering 204 and counting.
func benchReceiver(b testing.TB) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(srv.Close)
	return srv, &n
}

// benchSender sends to local receivers (private addresses allowed), with
// a body of the operation's JSON.
func benchSender() engine.WebhookSender {
	return outbound.New(outbound.Options{Guard: &outbound.Guard{AllowPrivate: true},
		Render: func(m *engine.WebhookMessage) ([]byte, error) {
			var data any = m.Order
			if m.Operation != nil {
				data = m.Operation
			}
			return json.Marshal(map[string]any{"type": m.Delivery.Type, "data": data})
		}})
}

// BenchmarkWebhookDeliveries: deliveries per second from the outbox to a
// local receiver, through the real worker, signer, HTTP client and data
// file (each attempt's end is a commit). b.N deliveries of one completed
// operation are queued first, spread over 16 endpoints of the receiver
// (16 × MaxEndpointSends = the 64 send slots); the clock runs from the
// engine's start to the last delivery recorded as delivered.
func BenchmarkWebhookDeliveries(b *testing.B) { benchDeliveries(b, 16) }

// BenchmarkWebhookDeliveriesOneEndpoint: the same to one endpoint, which
// has at most MaxEndpointSends sends in flight.
func BenchmarkWebhookDeliveriesOneEndpoint(b *testing.B) { benchDeliveries(b, 1) }

func benchDeliveries(b *testing.B, endpoints int) {
	rcv, got := benchReceiver(b)
	keys := b.TempDir()
	bb := setup(b, hookConfig(b, keys, nil))
	var eps []*engine.WebhookEndpoint
	for range endpoints {
		eps = append(eps, bb.seedEndpointURL(b, rcv.URL, engine.EventOperationCompleted))
	}
	_, op := bb.createDate("Bench", 5)
	bb.wait(op.ID)
	// The save queued one delivery per endpoint; queue the rest beside them.
	err := bb.db.Update(context.Background(), func(tx engine.Tx) error {
		wtx := tx.(engine.WebhookTx)
		now := time.Now()
		for i := range b.N - endpoints {
			id, err := tx.NextID(engine.SeqDelivery)
			if err != nil {
				return err
			}
			d := &engine.Delivery{ID: id, CompanyID: bb.company.ID, EndpointID: eps[i%endpoints].ID, Type: engine.EventOperationCompleted,
				OperationID: op.ID, Version: 1, Status: engine.DeliveryPending, NextAttemptAt: now, CreatedAt: now}
			if err := wtx.PutDelivery(d); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	bb.shutdown()
	cfg := hookConfig(b, keys, benchSender())
	cfg.WebhookWorkers = 64
	b.ResetTimer()
	bb.open(cfg, true)
	for bb.eng.DeliveryCounts().Delivered < uint64(max(b.N, endpoints)) {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	if n := got.Load(); n < int64(b.N) {
		b.Fatalf("the receiver got %d of %d", n, b.N)
	}
	b.ReportMetric(float64(max(b.N, endpoints))/b.Elapsed().Seconds(), "deliveries/s")
}

// BenchmarkSaveRateWithWebhooks: the save rate the engine sustains at a
// fixed offered load (saves started at a steady pace, open loop, as many
// in flight as the pace makes), without an endpoint and with one endpoint
// receiving operation.completed from a local receiver. Reports completed
// saves/s and the p50/p99 time from create to completion.
func BenchmarkSaveRateWithWebhooks(b *testing.B) {
	for _, rate := range []int{500, 1000} {
		for _, hooks := range []bool{false, true} {
			b.Run(fmt.Sprintf("offered=%d/s,endpoint=%v", rate, hooks), func(b *testing.B) { benchOffered(b, rate, hooks) })
		}
	}
}

func benchOffered(b *testing.B, rate int, hooks bool) {
	rcv, got := benchReceiver(b)
	cfg := hookConfig(b, b.TempDir(), benchSender())
	cfg.Workers = 256
	bb := setup(b, cfg)
	if hooks {
		bb.seedEndpointURL(b, rcv.URL, engine.EventOperationCompleted)
	}
	in := bb.dateInput("Offered", 5)
	comp := newCompletions(bb.eng)
	ctx := context.Background()
	interval := time.Second / time.Duration(rate)
	var mu sync.Mutex
	lat := make([]time.Duration, 0, b.N)
	var wg sync.WaitGroup
	b.ResetTimer()
	next := time.Now()
	for range b.N {
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
		next = next.Add(interval)
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			_, op, err := bb.eng.CreateEvent(ctx, bb.company.ID, in)
			if err != nil {
				b.Errorf("create: %v", err)
				return
			}
			comp.wait(op.ID)
			mu.Lock()
			lat = append(lat, time.Since(start))
			mu.Unlock()
		}()
	}
	wg.Wait()
	b.StopTimer()
	comp.close(b)
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / float64(time.Millisecond) }
	b.ReportMetric(float64(len(lat))/b.Elapsed().Seconds(), "saves/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	if hooks {
		deadline := time.Now().Add(safety)
		for got.Load() < int64(len(lat)) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		b.ReportMetric(float64(got.Load())/float64(len(lat)), "deliveries/save")
	}
}

func (b *bundle) seedEndpointURL(t testing.TB, url string, events ...string) *engine.WebhookEndpoint {
	t.Helper()
	ep, _, err := b.eng.CreateWebhookEndpoint(context.Background(), b.company.ID, engine.WebhookEndpointInput{URL: &url, Events: &events})
	if err != nil {
		t.Fatalf("create endpoint: %v", err)
	}
	return ep
}
