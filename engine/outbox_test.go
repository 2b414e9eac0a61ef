package engine_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"eventops/engine"
	"eventops/storage"
)

// sendFunc is a WebhookSender made of a function.
type sendFunc func(ctx context.Context, m *engine.WebhookMessage) engine.WebhookResult

func (f sendFunc) Send(ctx context.Context, m *engine.WebhookMessage) engine.WebhookResult {
	return f(ctx, m)
}

// hookConfig is cfg with a sealer in dir and the sender.
func hookConfig(t testing.TB, dir string, s engine.WebhookSender) engine.Config {
	t.Helper()
	sealer, err := storage.LoadSealer(dir)
	if err != nil {
		t.Fatal(err)
	}
	return engine.Config{Sealer: sealer, Webhooks: s, WebhookRetryScale: 0.0001}
}

// A crash between the commit of an operation's end and the send of its
// webhook loses nothing: the delivery was written with the transition, so
// the engine started on the file the crash left sends it, with the webhook
// id of the attempt the crash cut off.
func TestOutboxDeliveryOutlivesACrash(t *testing.T) {
	t.Parallel()
	keys := t.TempDir()
	cut := make(chan *engine.WebhookMessage, 1)
	// The first process dies while its first send is in flight.
	b := setup(t, hookConfig(t, keys, sendFunc(func(ctx context.Context, m *engine.WebhookMessage) engine.WebhookResult {
		select {
		case cut <- m:
		default:
		}
		<-ctx.Done()
		return engine.WebhookResult{Err: ctx.Err()}
	})))
	b.seedEndpoint(t, engine.EventOperationCompleted, engine.EventOrderCreated)
	ev, op := b.createDate("A", 5)
	b.wait(op.ID)
	var first *engine.WebhookMessage
	select {
	case first = <-cut:
	case <-time.After(safety):
		t.Fatal("no send started")
	}

	old := b.eng
	b.eng = nil
	b.crashStore()
	stopWithin(t, old, 0)

	var mu sync.Mutex
	var got []*engine.WebhookMessage
	done := make(chan struct{})
	b.reopen(hookConfig(t, keys, sendFunc(func(ctx context.Context, m *engine.WebhookMessage) engine.WebhookResult {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, m)
		if len(got) == 1 {
			close(done)
		}
		return engine.WebhookResult{Status: 204}
	})))
	select {
	case <-done:
	case <-time.After(safety):
		t.Fatal("the delivery was not sent after the restart")
	}
	mu.Lock()
	m := got[0]
	mu.Unlock()
	if m.Delivery.MessageID() != first.Delivery.MessageID() || m.Delivery.Type != engine.EventOperationCompleted ||
		m.Operation == nil || m.Operation.ID != op.ID || m.Operation.Status != engine.StatusCompleted || m.Operation.EventID != ev.ID {
		t.Fatalf("after the restart sent %s %s, want %s of operation %d", m.Delivery.MessageID(), m.Delivery.Type, first.Delivery.MessageID(), op.ID)
	}
	if len(m.Secrets) != 1 || m.Secrets[0] == "" {
		t.Fatalf("signing secrets after the restart: %d", len(m.Secrets))
	}
	// The delivery is recorded as delivered, once.
	waitFor(t, "the delivery recorded", func() bool {
		ds, err := b.eng.Deliveries(engine.DeliveryQuery{CompanyID: b.company.ID, EndpointID: m.Endpoint.ID})
		return err == nil && len(ds) == 1 && ds[0].Status == engine.DeliveryDelivered && ds[0].Attempts == 1
	})
}

// An order's creation and its refund are each queued in the commit that
// makes them, with the order's version, and an operation's top-level
// phases are queued as they complete when the endpoint asks for them
// (narrowed by its phases filter).
func TestOutboxQueuesOrdersAndPhases(t *testing.T) {
	t.Parallel()
	b := setup(t, hookConfig(t, t.TempDir(), nil)) // queued, never sent
	ep := b.seedEndpoint(t, engine.EventOrderCreated, engine.EventOrderRefunded, engine.EventOperationPhaseCompleted, engine.EventOperationCompleted)
	phases := []string{engine.PhaseTickets}
	if _, err := b.eng.UpdateWebhookEndpoint(context.Background(), b.company.ID, ep.ID, engine.WebhookEndpointInput{Phases: &phases}); err != nil {
		t.Fatal(err)
	}
	ev, op := b.createEvent(b.recurringInput("Weekly", time.Date(2026, 10, 23, 19, 0, 0, 0, chicago(t)), weekly(2)))
	b.wait(op.ID)
	var occ []*engine.Event
	b.view(func(tx engine.Tx) error {
		var err error
		occ, err = tx.ChildEvents(ev.ID)
		return err
	})
	if len(occ) == 0 {
		t.Fatal("no occurrences")
	}
	o, _, err := b.eng.CreateOrder(context.Background(), b.company.ID, occ[0].ID, engine.OrderInput{RegistrationTypeID: occ[0].RegistrationTypes[0].ID, Quantity: 1})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := b.eng.RefundEvent(context.Background(), b.company.ID, occ[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	b.wait(ref.ID)
	ds, err := b.eng.Deliveries(engine.DeliveryQuery{CompanyID: b.company.ID, EndpointID: ep.ID, Ascending: true, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, d := range ds {
		types = append(types, d.Type+"/"+d.PhaseName)
		if d.OrderID != 0 && d.OrderID != o.ID {
			t.Errorf("delivery of order %d, want %d", d.OrderID, o.ID)
		}
	}
	want := []string{"operation.phase_completed/tickets", "operation.completed/", "order.created/", "order.refunded/", "operation.completed/"}
	if got, _ := json.Marshal(types); string(got) != mustJSON(want) {
		t.Fatalf("queued %s, want %s (the recurrence phase filtered out; the refund operation ends last)", got, mustJSON(want))
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func (b *bundle) seedEndpoint(t testing.TB, events ...string) *engine.WebhookEndpoint {
	t.Helper()
	url := "https://hooks.example/in"
	ep, secret, err := b.eng.CreateWebhookEndpoint(context.Background(), b.company.ID, engine.WebhookEndpointInput{URL: &url, Events: &events})
	if err != nil {
		t.Fatalf("create endpoint: %v", err)
	}
	if len(secret) < 40 || string(ep.Secret) == secret.Reveal() {
		t.Fatalf("the secret is stored in clear or too short")
	}
	return ep
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(safety)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// testClock is a clock the test moves.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// An endpoint whose attempts fail for 5 days without a success is disabled,
// its delivery given up; retention then prunes the finished delivery with
// the operations of its time.
func TestOutboxDisablesAnEndpointFailingForFiveDays(t *testing.T) {
	t.Parallel()
	clock := &testClock{now: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	cfg := hookConfig(t, t.TempDir(), sendFunc(func(context.Context, *engine.WebhookMessage) engine.WebhookResult {
		return engine.WebhookResult{Status: 500, Body: "down"}
	}))
	cfg.WebhookRetryScale = 1 // the real schedule, on the test's clock
	cfg.Clock = clock.Now
	b := setup(t, cfg)
	ep := b.seedEndpoint(t, engine.EventOperationCompleted)
	_, op := b.createDate("A", 5)
	b.wait(op.ID)
	delivery := func() *engine.Delivery {
		ds, err := b.eng.Deliveries(engine.DeliveryQuery{CompanyID: b.company.ID, EndpointID: ep.ID})
		if err != nil || len(ds) != 1 {
			t.Fatalf("deliveries: %v %d", err, len(ds))
		}
		return ds[0]
	}
	waitFor(t, "the first failed attempt", func() bool { return delivery().Attempts == 1 })
	d := delivery()
	if d.Status != engine.DeliveryPending || d.LastStatus != 500 || d.LastResponse != "down" ||
		!d.NextAttemptAt.After(clock.Now()) || d.NextAttemptAt.After(clock.Now().Add(6*time.Second)) {
		t.Fatalf("after one failure: %+v", d)
	}
	cur, _ := b.eng.WebhookEndpoint(b.company.ID, ep.ID)
	if !cur.Enabled || cur.FailingSince == nil || !cur.FailingSince.Equal(clock.Now()) {
		t.Fatalf("endpoint after one failure: %+v", cur)
	}

	clock.Add(5*24*time.Hour + time.Minute)
	waitFor(t, "the second attempt", func() bool { return delivery().Attempts == 2 })
	d = delivery()
	cur, _ = b.eng.WebhookEndpoint(b.company.ID, ep.ID)
	if cur.Enabled || cur.DisabledReason != "failing" || d.Status != engine.DeliveryFailed {
		t.Fatalf("after 5 days of failures: endpoint %+v, delivery %s", cur, d.Status)
	}
	age, err := b.eng.OldestPendingDelivery()
	if err != nil || age != 0 {
		t.Fatalf("oldest pending: %v %v", age, err)
	}
	// Nothing more is queued for the disabled endpoint.
	_, op2 := b.createDate("B", 6)
	b.wait(op2.ID)
	if ds, _ := b.eng.Deliveries(engine.DeliveryQuery{CompanyID: b.company.ID, EndpointID: ep.ID}); len(ds) != 1 {
		t.Fatalf("%d deliveries after the endpoint was disabled, want 1", len(ds))
	}

	if _, err := b.eng.Prune(context.Background(), clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if ds, _ := b.eng.Deliveries(engine.DeliveryQuery{CompanyID: b.company.ID, EndpointID: ep.ID}); len(ds) != 0 {
		t.Fatalf("retention left %d finished deliveries", len(ds))
	}
}
