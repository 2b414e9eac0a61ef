package engine_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"eventops/engine"
)

// faultyStore is the real store with failures switched on by the test: a
// delivery that cannot be read (failRead) or whose attempt cannot be
// committed (failRecord). It counts the worker's scans for due deliveries
// so that a test can wait for the worker to have looked again.
type faultyStore struct {
	engine.Store
	failRead, failRecord atomic.Bool
	reads, scans         atomic.Int64
}

type faultyTx struct {
	engine.Tx
	engine.WebhookTx
	s *faultyStore
}

var errInjected = errors.New("injected store failure")

func (t faultyTx) Delivery(id uint64) (*engine.Delivery, error) {
	if t.s.failRead.Load() {
		t.s.reads.Add(1)
		return nil, errInjected
	}
	return t.WebhookTx.Delivery(id)
}

func (t faultyTx) PutDelivery(d *engine.Delivery) error {
	if t.s.failRecord.Load() {
		return errInjected
	}
	return t.WebhookTx.PutDelivery(d)
}

func (t faultyTx) DueDeliveries(now time.Time, limit int) ([]uint64, time.Time, error) {
	t.s.scans.Add(1)
	return t.WebhookTx.DueDeliveries(now, limit)
}

func (s *faultyStore) wrap(tx engine.Tx) engine.Tx {
	return faultyTx{Tx: tx, WebhookTx: tx.(engine.WebhookTx), s: s}
}

func (s *faultyStore) View(fn func(tx engine.Tx) error) error {
	return s.Store.View(func(tx engine.Tx) error { return fn(s.wrap(tx)) })
}

func (s *faultyStore) Update(ctx context.Context, fn func(tx engine.Tx) error) error {
	return s.Store.Update(ctx, func(tx engine.Tx) error { return fn(s.wrap(tx)) })
}

// waitScans waits until the worker has scanned for due deliveries n more
// times.
func waitScans(t *testing.T, s *faultyStore, n int64) {
	t.Helper()
	from := s.scans.Load()
	waitFor(t, "the worker's next scans", func() bool { return s.scans.Load() >= from+n })
}

// A store failure while a delivery is read, or while its attempt is
// committed, leaves the delivery pending and due; the worker holds it back
// instead of trying it again at once in a tight loop (review finding: it
// spun), and sends it once the store works again.
func TestOutboxHoldsADeliveryTheStoreFailedOn(t *testing.T) {
	t.Parallel()
	for _, tc := range []string{"read", "record"} {
		t.Run(tc, func(t *testing.T) {
			t.Parallel()
			keys := t.TempDir()
			b := setup(t, hookConfig(t, keys, nil)) // queued, not sent
			ep := b.seedEndpoint(t, engine.EventOperationCompleted)
			_, op := b.createDate("A", 5)
			b.wait(op.ID)
			stopWithin(t, b.eng, safety)

			var sends atomic.Int64
			fs := &faultyStore{Store: b.db}
			if tc == "read" {
				fs.failRead.Store(true)
			} else {
				fs.failRecord.Store(true)
			}
			cfg := hookConfig(t, keys, sendFunc(func(context.Context, *engine.WebhookMessage) engine.WebhookResult {
				sends.Add(1)
				return engine.WebhookResult{Status: 204}
			}))
			clock := &testClock{now: time.Now().UTC().Add(time.Second)} // still while the store fails
			cfg.Store, cfg.Logger, cfg.Retry, cfg.Clock = fs, quiet, fastRetry, clock.Now
			b.eng = engine.New(cfg)
			if err := b.eng.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			tries := func() int64 {
				if tc == "read" {
					return fs.reads.Load()
				}
				return sends.Load()
			}
			waitFor(t, "the first try", func() bool { return tries() >= 1 })
			// A scan starts its tries before the worker scans again, and a
			// try may end after that next scan began: count from once the
			// first try has ended (the delivery is held then).
			waitScans(t, fs, 1)
			waitFor(t, "the first try to end", func() bool { return b.eng.DeliveriesInFlight() == 0 })
			first := tries()
			waitScans(t, fs, 3)
			if n := tries(); n != first {
				t.Fatalf("%d tries over the worker's next three scans, want none (held back, not retried at once)", n-first)
			}
			fs.failRead.Store(false)
			fs.failRecord.Store(false)
			clock.Add(time.Minute)
			waitFor(t, "the delivery once the store works", func() bool {
				ds, err := b.eng.Deliveries(engine.DeliveryQuery{CompanyID: b.company.ID, EndpointID: ep.ID})
				return err == nil && len(ds) == 1 && ds[0].Status == engine.DeliveryDelivered
			})
		})
	}
}

// A signing secret that cannot be opened (eventops.db restored without its
// sealer.key) is a failed attempt: recorded with the reason, rescheduled by
// the retry schedule, never a tight loop of tries (review finding). Rotating
// the secret is the way out: the new secret signs alone, since the old one
// cannot be opened to sign beside it.
func TestOutboxUnopenableSecretIsAFailedAttempt(t *testing.T) {
	t.Parallel()
	b := setup(t, hookConfig(t, t.TempDir(), nil)) // queued, not sent
	ep := b.seedEndpoint(t, engine.EventOperationCompleted)
	_, op := b.createDate("A", 5)
	b.wait(op.ID)

	var sends atomic.Int64
	secrets := make(chan []engine.Secret, 1)
	clock := &testClock{now: time.Now().UTC().Add(time.Second)}
	cfg := hookConfig(t, t.TempDir(), sendFunc(func(_ context.Context, m *engine.WebhookMessage) engine.WebhookResult {
		sends.Add(1)
		secrets <- m.Secrets
		return engine.WebhookResult{Status: 204}
	})) // another sealer.key: the stored secret cannot be opened
	cfg.WebhookRetryScale, cfg.Clock = 1, clock.Now
	b.restart(cfg)

	delivery := func() *engine.Delivery {
		ds, err := b.eng.Deliveries(engine.DeliveryQuery{CompanyID: b.company.ID, EndpointID: ep.ID})
		if err != nil || len(ds) != 1 {
			t.Fatalf("deliveries: %v %d", err, len(ds))
		}
		return ds[0]
	}
	waitFor(t, "a failed attempt recorded", func() bool { return delivery().Attempts == 1 })
	d := delivery()
	if d.Status != engine.DeliveryPending || !d.NextAttemptAt.After(clock.Now()) ||
		!strings.Contains(d.LastError, "secret") || sends.Load() != 0 {
		t.Fatalf("after the secret could not be opened: %+v, %d sends", d, sends.Load())
	}
	cur, _ := b.eng.WebhookEndpoint(b.company.ID, ep.ID)
	if cur.FailingSince == nil {
		t.Fatal("the endpoint's failing streak did not start")
	}

	if _, secret, err := b.eng.RotateWebhookSecret(context.Background(), b.company.ID, ep.ID); err != nil || secret == "" {
		t.Fatalf("rotate: %v", err)
	}
	clock.Add(time.Hour)
	if _, err := b.eng.RetryDelivery(context.Background(), b.company.ID, ep.ID, d.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-secrets:
		if len(got) != 1 {
			t.Fatalf("signed with %d secrets after the rotation, want the new one alone", len(got))
		}
	case <-time.After(safety):
		t.Fatal("nothing sent after the rotation")
	}
	waitFor(t, "the delivery delivered", func() bool { return delivery().Status == engine.DeliveryDelivered })
}

// Stop cancels webhook sends as it begins, not at its deadline, and its log
// lists the sends it waits for (review finding: it waited for them
// silently until the deadline). The send cut off stays pending, with no
// attempt recorded, and goes again at the next start with its webhook-id.
func TestStopCancelsWebhookSendsAndSaysSo(t *testing.T) {
	t.Parallel()
	keys := t.TempDir()
	started := make(chan *engine.WebhookMessage, 1)
	release := make(chan struct{})
	log := &lockedBuffer{}
	cfg := hookConfig(t, keys, sendFunc(func(ctx context.Context, m *engine.WebhookMessage) engine.WebhookResult {
		started <- m
		<-ctx.Done() // a receiver that never answers
		<-release    // the send is slow to end: Stop's log must name it meanwhile
		return engine.WebhookResult{Err: ctx.Err()}
	}))
	cfg.Logger = slog.New(slog.NewTextHandler(log, nil))
	b := setup(t, cfg)
	ep := b.seedEndpoint(t, engine.EventOperationCompleted)
	_, op := b.createDate("A", 5)
	b.wait(op.ID)
	var m *engine.WebhookMessage
	select {
	case m = <-started:
	case <-time.After(safety):
		t.Fatal("no send started")
	}

	stopped := make(chan struct{})
	go func() { b.eng.Stop(safety); close(stopped) }()
	want := fmt.Sprintf("engine stop: waiting for webhook sends to end\" count=1 deliveries=[%d]", m.Delivery.ID)
	waitFor(t, "Stop's log naming the send", func() bool { return strings.Contains(log.String(), want) })
	close(release)
	select {
	case <-stopped:
	case <-time.After(2 * safety):
		t.Fatal("Stop did not return")
	}
	if strings.Contains(log.String(), "deadline passed") {
		t.Fatalf("the stop reached its deadline:\n%s", log.String())
	}
	b.eng = nil

	sent := make(chan *engine.WebhookMessage, 1)
	b.restart(hookConfig(t, keys, sendFunc(func(_ context.Context, m *engine.WebhookMessage) engine.WebhookResult {
		sent <- m
		return engine.WebhookResult{Status: 204}
	})))
	select {
	case again := <-sent:
		if again.Delivery.MessageID() != m.Delivery.MessageID() || again.Delivery.Attempts != 0 {
			t.Fatalf("after the restart: %s attempts %d, want %s with none recorded",
				again.Delivery.MessageID(), again.Delivery.Attempts, m.Delivery.MessageID())
		}
	case <-time.After(safety):
		t.Fatal("the send cut off was not sent again after the restart")
	}
	waitFor(t, "the delivery delivered", func() bool {
		ds, err := b.eng.Deliveries(engine.DeliveryQuery{CompanyID: b.company.ID, EndpointID: ep.ID})
		return err == nil && len(ds) == 1 && ds[0].Status == engine.DeliveryDelivered && ds[0].Attempts == 1
	})
}

// gatedGuard is a URL guard that, once armed, holds each check until
// released (a slow DNS answer), signalling when a check is held.
type gatedGuard struct {
	armed   atomic.Bool
	held    chan struct{}
	release chan struct{}
}

func (g *gatedGuard) CheckURL(context.Context, string) error {
	if g.armed.Load() {
		g.held <- struct{}{}
		<-g.release
	}
	return nil
}

// An edit of an endpoint that was being checked while the worker disabled
// the endpoint (its receiver answered 410) keeps the disable: the edit's
// fields are applied to the endpoint as it is in the commit (review
// finding: the edit wrote back the copy it read before the check, enabling
// the endpoint again).
func TestEndpointEditKeepsWhatTheWorkerWrote(t *testing.T) {
	t.Parallel()
	guard := &gatedGuard{held: make(chan struct{}, 1), release: make(chan struct{})}
	cfg := hookConfig(t, t.TempDir(), sendFunc(func(context.Context, *engine.WebhookMessage) engine.WebhookResult {
		return engine.WebhookResult{Status: 410, Gone: true}
	}))
	cfg.URLGuard = guard
	b := setup(t, cfg)
	ep := b.seedEndpoint(t, engine.EventOperationCompleted)

	guard.armed.Store(true)
	type result struct {
		ep  *engine.WebhookEndpoint
		err error
	}
	edited := make(chan result, 1)
	desc := "orders to the warehouse"
	go func() {
		got, err := b.eng.UpdateWebhookEndpoint(context.Background(), b.company.ID, ep.ID, engine.WebhookEndpointInput{Description: &desc})
		edited <- result{got, err}
	}()
	select {
	case <-guard.held:
	case <-time.After(safety):
		t.Fatal("the edit's check did not start")
	}
	_, op := b.createDate("A", 5)
	b.wait(op.ID)
	waitFor(t, "the worker disabling the endpoint (410)", func() bool {
		cur, err := b.eng.WebhookEndpoint(b.company.ID, ep.ID)
		return err == nil && !cur.Enabled
	})
	close(guard.release)
	var r result
	select {
	case r = <-edited:
	case <-time.After(safety):
		t.Fatal("the edit did not end")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	cur, err := b.eng.WebhookEndpoint(b.company.ID, ep.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, got := range []*engine.WebhookEndpoint{r.ep, cur} {
		if got.Enabled || got.DisabledReason != "gone" || got.FailingSince == nil || got.Description != desc {
			t.Fatalf("after the edit: enabled %v, reason %q, failing since %v, description %q; want the 410 disable kept and the description changed",
				got.Enabled, got.DisabledReason, got.FailingSince, got.Description)
		}
	}
}

// queueDeliveries writes n pending deliveries of operation opID to
// endpoint ep, due now, straight into the data file (as a burst of
// transitions would).
func (b *bundle) queueDeliveries(t testing.TB, ep *engine.WebhookEndpoint, opID uint64, n int) {
	t.Helper()
	err := b.db.Update(context.Background(), func(tx engine.Tx) error {
		now := time.Now()
		for range n {
			id, err := tx.NextID(engine.SeqDelivery)
			if err != nil {
				return err
			}
			d := &engine.Delivery{ID: id, CompanyID: ep.CompanyID, EndpointID: ep.ID, Type: engine.EventOperationCompleted,
				OperationID: opID, Version: 1, Status: engine.DeliveryPending, NextAttemptAt: now, CreatedAt: now}
			if err := tx.(engine.WebhookTx).PutDelivery(d); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A receiver that never answers holds at most MaxEndpointSends sends; the
// other send slots deliver to another endpoint, even when the slow
// endpoint's backlog comes first in the due order (review finding: one
// slow receiver took all 64 slots and stalled every company's webhooks).
func TestOutboxSlowEndpointDoesNotStallAnother(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var inSlow, maxSlow atomic.Int64
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inSlow.Add(1)
		defer inSlow.Add(-1)
		for m := maxSlow.Load(); n > m && !maxSlow.CompareAndSwap(m, n); m = maxSlow.Load() {
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) })
	fast, got := benchReceiver(t)

	keys := t.TempDir()
	b := setup(t, hookConfig(t, keys, nil)) // queued, not sent
	slowEP := b.seedEndpointURL(t, slow.URL, engine.EventOperationCompleted)
	fastEP := b.seedEndpointURL(t, fast.URL, engine.EventOperationCompleted)
	_, op := b.createDate("A", 5)
	b.wait(op.ID)
	b.queueDeliveries(t, slowEP, op.ID, 100) // ahead of the fast endpoint's in the due order
	b.queueDeliveries(t, fastEP, op.ID, 20)

	cfg := hookConfig(t, keys, benchSender())
	cfg.WebhookWorkers = 8
	b.restart(cfg)
	waitFor(t, "the fast endpoint's deliveries", func() bool { return got.Load() >= 21 })
	waitFor(t, "the fast endpoint's deliveries recorded", func() bool {
		ds, err := b.eng.Deliveries(engine.DeliveryQuery{CompanyID: b.company.ID, EndpointID: fastEP.ID, Limit: 100})
		if err != nil {
			return false
		}
		for _, d := range ds {
			if d.Status != engine.DeliveryDelivered {
				return false
			}
		}
		return len(ds) == 21
	})
	if n := maxSlow.Load(); n < 1 || n > engine.MaxEndpointSends {
		t.Fatalf("%d sends at once to the slow receiver, want 1 to %d", n, engine.MaxEndpointSends)
	}
}

// Replaying a delivery finished long ago makes it pending again, but its
// wait counts from the replay: the oldest-pending age (the
// eventops_webhook_oldest_pending_seconds gauge) does not jump to the
// delivery's creation (review finding).
func TestOutboxReplayAgesFromTheReplay(t *testing.T) {
	t.Parallel()
	keys := t.TempDir()
	clock := &testClock{now: time.Now().UTC().Add(time.Second)}
	cfg := hookConfig(t, keys, sendFunc(func(context.Context, *engine.WebhookMessage) engine.WebhookResult {
		return engine.WebhookResult{Status: 204}
	}))
	cfg.Clock = clock.Now
	b := setup(t, cfg)
	ep := b.seedEndpoint(t, engine.EventOperationCompleted)
	_, op := b.createDate("A", 5)
	b.wait(op.ID)
	var d *engine.Delivery
	waitFor(t, "the delivery delivered", func() bool {
		ds, err := b.eng.Deliveries(engine.DeliveryQuery{CompanyID: b.company.ID, EndpointID: ep.ID})
		if err != nil || len(ds) != 1 || ds[0].Status != engine.DeliveryDelivered {
			return false
		}
		d = ds[0]
		return true
	})

	nosend := hookConfig(t, keys, nil) // the replay stays pending
	nosend.Clock = clock.Now
	b.restart(nosend)
	clock.Add(3 * time.Hour)
	if _, err := b.eng.RetryDelivery(context.Background(), b.company.ID, ep.ID, d.ID); err != nil {
		t.Fatal(err)
	}
	clock.Add(time.Minute)
	age, err := b.eng.OldestPendingDelivery()
	if err != nil || age != time.Minute {
		t.Fatalf("oldest pending a minute after the replay of a 3-hour-old delivery: %v (%v), want 1m0s", age, err)
	}
}
