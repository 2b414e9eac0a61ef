package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"eventops/engine"
)

// A date event's save through the real engine: one tickets phase, ids from
// one sequence, the ticket structure written by that phase.
func TestSaveDateEvent(t *testing.T) {
	t.Parallel()
	b := setup(t, engine.Config{})
	ev, op := b.createDate("Jazz Night", 5)
	if op.Status != engine.StatusPending || op.Progress != nil || op.Action != engine.ActionSave || op.EventID != ev.ID {
		t.Fatalf("new operation = %+v, want a pending save of event %d with null progress", op, ev.ID)
	}
	done := b.wait(op.ID)
	if done.Status != engine.StatusCompleted {
		t.Fatalf("status = %s (error %+v), want completed", done.Status, done.Error)
	}
	if got := planOf(done); got != "tickets" {
		t.Fatalf("phases = %s, want tickets", got)
	}
	tickets := done.Phases[0]
	if tickets.ID != op.ID+1 {
		t.Errorf("tickets phase id = %d, want %d (operation and phase ids share one sequence)", tickets.ID, op.ID+1)
	}
	if tickets.Status != engine.StatusCompleted || tickets.Attempts != 1 || tickets.LastError != nil ||
		tickets.StartedAt == nil || tickets.FinishedAt == nil {
		t.Errorf("tickets phase = %+v, want completed after one attempt with both times", *tickets)
	}
	want := engine.Progress{Percent: 100, Completed: 1, Total: 1}
	if done.Progress == nil || *done.Progress != want || tickets.Progress == nil || *tickets.Progress != want {
		t.Errorf("progress = %v / tickets %v, want %+v", done.Progress, tickets.Progress, want)
	}
	if done.StartedAt == nil || done.FinishedAt == nil || done.FinishedAt.Before(*done.StartedAt) {
		t.Errorf("started_at %v, finished_at %v", done.StartedAt, done.FinishedAt)
	}
	s, err := b.eng.TicketStructure(b.company.ID, ev.ID)
	if err != nil || s == nil {
		t.Fatalf("ticket structure = %v, %v", s, err)
	}
	if s.UpdatedBy != tickets.ID || len(s.Types) != 2 || len(s.Products) != 1 || len(s.Products[0].Variants) != 2 {
		t.Errorf("ticket structure = %+v, want two types in one product, written by phase %d", s, tickets.ID)
	}
}

func planOf(op *engine.Operation) string {
	names := make([]string, len(op.Phases))
	for i, p := range op.Phases {
		names[i] = p.Name
	}
	return strings.Join(names, ",")
}

// The planner's output as the engine stores it, for every row of §4.1 that
// the engine starts: names in order, dependencies, and ids that follow the
// operation's id.
func TestEnginePlansEveryAction(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		shopify bool
		run     func(b *bundle) *engine.Operation
		want    string
	}{
		{"save, no Shopify, recurring", false, func(b *bundle) *engine.Operation {
			_, op := b.createEvent(b.recurringInput("Weekly", time.Date(2026, 12, 4, 19, 0, 0, 0, chicago(b.t)), weekly(3)))
			return op
		}, "recurrence,tickets"},
		{"save, Shopify, date", true, func(b *bundle) *engine.Operation {
			_, op := b.createDate("Gala", 5)
			return op
		}, "tickets,catalog,inventory,metafields,delivery,publish"},
		{"save, Shopify, recurring", true, func(b *bundle) *engine.Operation {
			_, op := b.createEvent(b.recurringInput("Weekly", time.Date(2026, 12, 4, 19, 0, 0, 0, chicago(b.t)), weekly(3)))
			return op
		}, "recurrence,tickets,catalog,inventory,metafields,delivery,publish"},
		{"delete, no Shopify, date", false, func(b *bundle) *engine.Operation {
			ev, _ := b.createDate("Gone", 5)
			return b.delete(ev.ID)
		}, "tickets"},
		{"delete, Shopify, recurring", true, func(b *bundle) *engine.Operation {
			ev, _ := b.createEvent(b.recurringInput("Weekly", time.Date(2026, 12, 4, 19, 0, 0, 0, chicago(b.t)), weekly(3)))
			return b.delete(ev.ID)
		}, "publish,catalog,tickets,recurrence"},
		{"save after a sale, Shopify", true, func(b *bundle) *engine.Operation {
			ev, _ := b.createDate("Sold", 5)
			_, op, err := b.eng.CreateOrder(context.Background(), b.company.ID, ev.ID,
				engine.OrderInput{RegistrationTypeID: ev.RegistrationTypes[0].ID, Quantity: 2})
			if err != nil || op == nil {
				b.t.Fatalf("create order: %v (operation %v)", err, op)
			}
			if !op.InventoryOnly {
				b.t.Errorf("operation after a sale is not marked inventory-only")
			}
			return op
		}, "inventory"},
		{"refund", false, func(b *bundle) *engine.Operation {
			ev, _ := b.createDate("Refunded", 5)
			op, err := b.eng.RefundEvent(context.Background(), b.company.ID, ev.ID)
			if err != nil {
				b.t.Fatalf("refund: %v", err)
			}
			return op
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// A worker-less engine keeps every operation as planned.
			b := setupIdle(t)
			if tt.shopify {
				b.seed(&engine.ShopInput{Sandbox: true, Domain: "blue-note"})
			}
			op := tt.run(b)
			stored := b.stored(op.ID)
			if got := planOf(stored); got != tt.want {
				t.Fatalf("phases = %q, want %q", got, tt.want)
			}
			want := engine.Plan(stored.Action, tt.shopify, &engine.Event{Type: eventType(b, stored.EventID)}, stored.InventoryOnly)
			for i, p := range stored.Phases {
				if p.ID != op.ID+uint64(i)+1 {
					t.Errorf("phase %s id = %d, want %d", p.Name, p.ID, op.ID+uint64(i)+1)
				}
				if !slices.Equal(p.DependsOn, want[i].DependsOn) {
					t.Errorf("phase %s depends on %v, want %v", p.Name, p.DependsOn, want[i].DependsOn)
				}
			}
			js, _ := json.Marshal(stored)
			var raw map[string]json.RawMessage
			_ = json.Unmarshal(js, &raw)
			if tt.want == "" && string(raw["phases"]) != "[]" {
				t.Errorf("phases JSON = %s, want []", raw["phases"])
			}
		})
	}
}

// setupIdle is setup with an engine that is never started: operations stay
// exactly as they were planned.
func setupIdle(t *testing.T) *bundle {
	t.Helper()
	b := &bundle{t: t, path: filepath.Join(t.TempDir(), "eventops.db")}
	b.open(engine.Config{}, false)
	t.Cleanup(b.shutdown)
	b.seed(nil)
	return b
}

func eventType(b *bundle, id uint64) engine.EventType {
	var typ engine.EventType
	b.view(func(tx engine.Tx) error {
		ev, err := tx.Event(id)
		if ev != nil {
			typ = ev.Type
		}
		return err
	})
	return typ
}

func weekly(count int) engine.Recurrence {
	return engine.Recurrence{Frequency: engine.FrequencyWeekly, Interval: 1, Count: count}
}

func (b *bundle) delete(id uint64) *engine.Operation {
	b.t.Helper()
	op, err := b.eng.DeleteEvent(context.Background(), b.company.ID, id)
	if err != nil {
		b.t.Fatalf("delete event %d: %v", id, err)
	}
	return op
}

// Until the Shopify work exists, a Shopify company's save runs its local
// phases and then fails on catalog with a clear code rather than pretend.
func TestShopifyPhasesWithoutWorkFailClearly(t *testing.T) {
	t.Parallel()
	b := setup(t, engine.Config{})
	b.seed(&engine.ShopInput{Sandbox: true, Domain: "blue-note"})
	_, op := b.createDate("Gala", 5)
	done := b.wait(op.ID)
	if done.Status != engine.StatusFailed || done.Error == nil || done.Error.Code != engine.CodeOperationWorkMissing {
		t.Fatalf("operation = %s, error %+v; want failed with %s", done.Status, done.Error, engine.CodeOperationWorkMissing)
	}
	catalog := phaseNamed(t, done, engine.PhaseCatalog)
	if *done.Error.Phase != engine.PhaseCatalog || *done.Error.PhaseID != catalog.ID {
		t.Errorf("root cause = %s/%d, want catalog/%d", *done.Error.Phase, *done.Error.PhaseID, catalog.ID)
	}
	if s := phaseNamed(t, done, engine.PhaseTickets).Status; s != engine.StatusCompleted {
		t.Errorf("tickets = %s, want completed", s)
	}
	for _, name := range []string{engine.PhaseInventory, engine.PhaseMetafields, engine.PhaseDelivery, engine.PhasePublish} {
		if p := phaseNamed(t, done, name); p.Status != engine.StatusPending || p.StartedAt != nil || p.Progress != nil {
			t.Errorf("%s = %s (started %v, progress %v), want pending, never started", name, p.Status, p.StartedAt, p.Progress)
		}
	}
}

// A completion that writes nothing and ends nothing is persisted with the
// operation's next transition, but never later than a few tens of
// milliseconds: with metafields still running, inventory and delivery are
// soon seen completed, in the store and by subscribers, and publish still
// waits.
func TestDeferredTransitionsAreSoonVisible(t *testing.T) {
	t.Parallel()
	held := newGate()
	ok := workFunc(func(ctx context.Context, r *engine.PhaseRun) error { return nil })
	obs := &finishCounter{}
	b := setup(t, engine.Config{Observer: obs, Work: map[string]engine.Work{
		engine.PhaseCatalog: ok, engine.PhaseInventory: ok, engine.PhaseDelivery: ok, engine.PhasePublish: ok,
		engine.PhaseMetafields: held.wrap(nil),
	}})
	b.seed(&engine.ShopInput{Sandbox: true, Domain: "blue-note"})
	sub := b.eng.Broker().Subscribe(1024)
	defer sub.Close()
	_, op := b.createDate("Gala", 5)
	held.await(t, 1)
	seen := subscribeUntil(t, sub, func(o *engine.Operation) bool {
		return o.ID == op.ID && phaseNamed(t, o, engine.PhaseInventory).Status == engine.StatusCompleted &&
			phaseNamed(t, o, engine.PhaseDelivery).Status == engine.StatusCompleted
	})
	if p := phaseNamed(t, seen, engine.PhaseMetafields); p.Status != engine.StatusRunning {
		t.Errorf("metafields = %s, want running", p.Status)
	}
	if p := phaseNamed(t, seen, engine.PhasePublish); p.Status != engine.StatusPending {
		t.Errorf("publish = %s, want pending behind metafields", p.Status)
	}
	if stored := b.stored(op.ID); phaseNamed(t, stored, engine.PhaseInventory).Status != engine.StatusCompleted {
		t.Errorf("published before it was stored: inventory is %s in the store", phaseNamed(t, stored, engine.PhaseInventory).Status)
	}
	held.open()
	if done := b.wait(op.ID); done.Status != engine.StatusCompleted {
		t.Errorf("operation = %s, want completed", done.Status)
	}
	// Metrics count every phase's end once, deferred or not.
	obs.mu.Lock()
	defer obs.mu.Unlock()
	for _, name := range []string{engine.PhaseTickets, engine.PhaseCatalog, engine.PhaseInventory, engine.PhaseMetafields, engine.PhaseDelivery, engine.PhasePublish} {
		if obs.finished[name] != 1 {
			t.Errorf("metrics saw %s finish %d times, want once (all: %v)", name, obs.finished[name], obs.finished)
		}
	}
}

// finishCounter counts PhaseFinished and PhaseRetried by phase name.
type finishCounter struct {
	mu       sync.Mutex
	finished map[string]int
	retried  map[string]int
}

func (c *finishCounter) OperationStarted(engine.Action)                                {}
func (c *finishCounter) OperationFinished(engine.Action, engine.Status, time.Duration) {}
func (c *finishCounter) PhaseRetried(phase string, _ engine.Code) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.retried == nil {
		c.retried = map[string]int{}
	}
	c.retried[phase]++
}
func (c *finishCounter) PhaseFinished(phase string, _ engine.Status, _ time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.finished == nil {
		c.finished = map[string]int{}
	}
	c.finished[phase]++
}

// A phase whose start was not persisted on its own (publish, started as
// the phases before it completed) has its retries counted all the same.
func TestRetriesOfADeferredStartAreCounted(t *testing.T) {
	t.Parallel()
	var failed atomic.Bool
	ok := workFunc(func(ctx context.Context, r *engine.PhaseRun) error { return nil })
	obs := &finishCounter{}
	b := setup(t, engine.Config{Observer: obs, Work: map[string]engine.Work{
		engine.PhaseCatalog: ok, engine.PhaseInventory: ok, engine.PhaseMetafields: ok, engine.PhaseDelivery: ok,
		engine.PhasePublish: workFunc(func(ctx context.Context, r *engine.PhaseRun) error {
			if failed.CompareAndSwap(false, true) {
				return engine.Transientf(engine.CodeShopifyUnavailable, "shop busy")
			}
			return nil
		}),
	}})
	b.seed(&engine.ShopInput{Sandbox: true, Domain: "blue-note"})
	_, op := b.createDate("Gala", 5)
	done := b.wait(op.ID)
	if p := phaseNamed(t, done, engine.PhasePublish); done.Status != engine.StatusCompleted || p.Attempts != 2 {
		t.Fatalf("operation %s, publish attempts %d; want completed after 2", done.Status, p.Attempts)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.retried[engine.PhasePublish] != 1 || len(obs.retried) != 1 {
		t.Errorf("retries counted %v, want publish once", obs.retried)
	}
}

// DESIGN §4 through the runner: inventory fails while metafields and
// delivery still run; the operation stays running until they finish, then
// fails with inventory as its root cause, and publish never starts.
func TestFailureLetsIndependentSiblingsFinish(t *testing.T) {
	t.Parallel()
	siblings := newGate()
	published := make(chan uint64, 1)
	b := setup(t, engine.Config{Work: map[string]engine.Work{
		engine.PhaseCatalog: workFunc(func(ctx context.Context, r *engine.PhaseRun) error { return nil }),
		engine.PhaseInventory: workFunc(func(ctx context.Context, r *engine.PhaseRun) error {
			return engine.Errorf(engine.CodeInventoryValueRejected, "quantity refused")
		}),
		engine.PhaseMetafields: siblings.wrap(nil),
		engine.PhaseDelivery:   siblings.wrap(nil),
		engine.PhasePublish: workFunc(func(ctx context.Context, r *engine.PhaseRun) error {
			published <- r.Phase.ID
			return nil
		}),
	}})
	b.seed(&engine.ShopInput{Sandbox: true, Domain: "blue-note"})
	sub := b.eng.Broker().Subscribe(1024)
	defer sub.Close()
	_, op := b.createDate("Gala", 5)

	siblings.await(t, 2)
	mid := subscribeUntil(t, sub, func(o *engine.Operation) bool {
		return o.ID == op.ID && phaseNamed(t, o, engine.PhaseInventory).Status == engine.StatusFailed
	})
	if mid.Status != engine.StatusRunning || mid.Error != nil || mid.FinishedAt != nil {
		t.Fatalf("with inventory failed and siblings running: status %s error %+v, want running without error", mid.Status, mid.Error)
	}
	for _, name := range []string{engine.PhaseMetafields, engine.PhaseDelivery} {
		if p := phaseNamed(t, mid, name); p.Status != engine.StatusRunning || p.Progress != nil {
			t.Errorf("%s = %s progress %v, want running with null progress (units unknown)", name, p.Status, p.Progress)
		}
	}
	siblings.open()

	done := b.wait(op.ID)
	if done.Status != engine.StatusFailed {
		t.Fatalf("status = %s, want failed", done.Status)
	}
	inv := phaseNamed(t, done, engine.PhaseInventory)
	e := done.Error
	if e == nil || e.Code != engine.CodeInventoryValueRejected || e.Phase == nil || *e.Phase != engine.PhaseInventory ||
		e.PhaseID == nil || *e.PhaseID != inv.ID || e.Message != "quantity refused" {
		t.Fatalf("error = %+v, want inventory's own code, name and id (%d)", e, inv.ID)
	}
	for _, name := range []string{engine.PhaseTickets, engine.PhaseCatalog, engine.PhaseMetafields, engine.PhaseDelivery} {
		if s := phaseNamed(t, done, name).Status; s != engine.StatusCompleted {
			t.Errorf("%s = %s, want completed", name, s)
		}
	}
	if p := phaseNamed(t, done, engine.PhasePublish); p.Status != engine.StatusPending || p.StartedAt != nil {
		t.Errorf("publish = %s, want pending (it depends on the failed inventory)", p.Status)
	}
	if want := (engine.Progress{Percent: 66, Completed: 4, Total: 6}); done.Progress == nil || *done.Progress != want {
		t.Errorf("progress = %v, want %+v", done.Progress, want)
	}
	select {
	case id := <-published:
		t.Errorf("publish (phase %d) ran after a phase it depends on failed", id)
	default:
	}
}

// A leaf that knows its unit count is 0 but is still running is not done:
// DESIGN §4 gives a total of 0 100 % only once done.
func TestZeroUnitsIsNotDoneWhileRunning(t *testing.T) {
	t.Parallel()
	g := newGate()
	b := setup(t, engine.Config{Work: map[string]engine.Work{
		engine.PhaseTickets: workFunc(func(ctx context.Context, r *engine.PhaseRun) error {
			r.Progress(0, 0)
			return g.hold(ctx, r)
		}),
	}})
	sub := b.eng.Broker().Subscribe(1024)
	defer sub.Close()
	_, op := b.createDate("Empty", 5)
	running := subscribeUntil(t, sub, func(o *engine.Operation) bool {
		return o.ID == op.ID && o.Phases[0].Progress != nil
	})
	g.open()
	if p := running.Phases[0]; p.Status != engine.StatusRunning || p.Progress.Percent != 0 {
		t.Errorf("running leaf with 0 units: status %s progress %+v, want running at 0 %%", p.Status, *p.Progress)
	}
	done := b.wait(op.ID)
	if p := done.Phases[0].Progress; p == nil || *p != (engine.Progress{Percent: 100}) {
		t.Errorf("completed leaf with 0 units: progress %v, want 100 %% of 0", p)
	}
}

// A refund is a leaf: never reported running, progress null until it ends,
// then orders refunded of all.
func TestRefundNeverReportedRunning(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		fail     bool
		status   engine.Status
		progress *engine.Progress
		code     engine.Code
	}{
		{"completed", false, engine.StatusCompleted, &engine.Progress{Percent: 100, Completed: 2, Total: 2}, ""},
		{"failed", true, engine.StatusFailed, nil, engine.CodeRefundRejected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := newGate()
			b := setup(t, engine.Config{Refund: refundFunc(func(ctx context.Context, r *engine.PhaseRun) error {
				if err := g.hold(ctx, r); err != nil {
					return err
				}
				if tt.fail {
					return engine.Errorf(engine.CodeRefundRejected, "the card network refused")
				}
				return engine.LocalRefund{}.Refund(ctx, r)
			})})
			ev, save := b.createDate("Rained out", 5)
			b.wait(save.ID)
			for _, q := range []int{2, 3} {
				if _, _, err := b.eng.CreateOrder(context.Background(), b.company.ID, ev.ID,
					engine.OrderInput{RegistrationTypeID: ev.RegistrationTypes[0].ID, Quantity: q}); err != nil {
					t.Fatalf("order: %v", err)
				}
			}
			c := collect(b.eng, nil)
			op, err := b.eng.RefundEvent(context.Background(), b.company.ID, ev.ID)
			if err != nil {
				t.Fatalf("refund: %v", err)
			}
			g.await(t, 1)
			if mid := b.stored(op.ID); mid.Status != engine.StatusPending || mid.Progress != nil || mid.StartedAt != nil {
				t.Errorf("refund in flight = %s progress %v started %v, want pending with null progress", mid.Status, mid.Progress, mid.StartedAt)
			}
			g.open()
			done := b.wait(op.ID)
			stopWithin(t, b.eng, safety)
			seen := of(c.stop(t), op.ID)
			if len(seen) < 2 {
				t.Fatalf("%d states of the refund published, want at least created and finished", len(seen))
			}
			for _, s := range seen {
				if s.Status == engine.StatusRunning {
					t.Errorf("refund published as running (version %d)", s.Version)
				}
				if !s.Status.Terminal() && s.Progress != nil {
					t.Errorf("non-terminal refund published with progress %+v", *s.Progress)
				}
				if len(s.Phases) != 0 {
					t.Errorf("refund published with phases %v", s.Phases)
				}
			}
			if done.Status != tt.status {
				t.Fatalf("status = %s, want %s", done.Status, tt.status)
			}
			checkProgress(t, done.Progress, tt.progress)
			if tt.code == "" {
				if done.Error != nil {
					t.Errorf("error = %+v, want null", done.Error)
				}
			} else if done.Error == nil || done.Error.Code != tt.code || done.Error.Phase != nil || done.Error.PhaseID != nil {
				t.Errorf("error = %+v, want %s with null phase and phase_id", done.Error, tt.code)
			}
			if done.StartedAt == nil || done.FinishedAt == nil {
				t.Errorf("started_at %v finished_at %v, want both set", done.StartedAt, done.FinishedAt)
			}
			var paid int
			b.view(func(tx engine.Tx) error {
				orders, err := tx.Orders(ev.ID)
				for _, o := range orders {
					if o.Status == engine.OrderPaid {
						paid++
					}
				}
				return err
			})
			if want := map[bool]int{false: 0, true: 2}[tt.fail]; paid != want {
				t.Errorf("%d orders still paid, want %d", paid, want)
			}
		})
	}
}

func checkProgress(t *testing.T, got, want *engine.Progress) {
	t.Helper()
	switch {
	case want == nil && got != nil:
		t.Errorf("progress = %+v, want null", *got)
	case want != nil && (got == nil || *got != *want):
		t.Errorf("progress = %v, want %+v", got, *want)
	}
}

// A weekly event at 19:00 in Chicago keeps 19:00 local across the end of
// daylight saving time (1 November 2026); shortening its rule removes only
// the dropped occurrences and keeps the others' ids.
func TestRecurrenceAcrossDSTAndShortening(t *testing.T) {
	t.Parallel()
	b := setup(t, engine.Config{})
	loc := chicago(t)
	first := time.Date(2026, 10, 23, 19, 0, 0, 0, loc)
	ev, op := b.createEvent(b.recurringInput("Friday Jazz", first, weekly(4)))
	if done := b.wait(op.ID); done.Status != engine.StatusCompleted {
		t.Fatalf("save = %s %+v, want completed", done.Status, done.Error)
	}
	want := []string{ // 19:00 CDT (UTC-5), then 19:00 CST (UTC-6)
		"2026-10-24T00:00:00Z", "2026-10-31T00:00:00Z", "2026-11-07T01:00:00Z", "2026-11-14T01:00:00Z",
	}
	children := b.children(ev.ID)
	if got := startsUTC(children); !slices.Equal(got, want) {
		t.Fatalf("occurrences start at %v, want %v", got, want)
	}
	for _, c := range children {
		local := c.StartsAt.In(loc)
		if local.Hour() != 19 || local.Minute() != 0 || c.EndsAt.Sub(c.StartsAt) != 3*time.Hour {
			t.Errorf("occurrence %d: %v–%v, want 19:00–22:00 local", c.ID, local, c.EndsAt.In(loc))
		}
		if c.Type != engine.EventDate || c.ParentID != ev.ID || c.QueueID() != ev.ID {
			t.Errorf("occurrence %d: type %s parent %d", c.ID, c.Type, c.ParentID)
		}
		if s := b.structure(c.ID); s == nil || len(s.Types) != 2 {
			t.Errorf("occurrence %d has ticket structure %+v, want one with two types", c.ID, s)
		}
	}

	r := weekly(2)
	_, op2, err := b.eng.UpdateEvent(context.Background(), b.company.ID, ev.ID,
		engine.EventInput{Recurrence: engine.Nullable[engine.Recurrence]{Set: true, Value: &r}})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if done := b.wait(op2.ID); done.Status != engine.StatusCompleted {
		t.Fatalf("update = %s %+v, want completed", done.Status, done.Error)
	}
	after := b.children(ev.ID)
	if got := startsUTC(after); !slices.Equal(got, want[:2]) {
		t.Fatalf("after shortening, occurrences start at %v, want %v", got, want[:2])
	}
	for i, c := range after {
		if c.ID != children[i].ID {
			t.Errorf("occurrence on %s changed id %d → %d", want[i], children[i].ID, c.ID)
		}
	}
	for _, gone := range children[2:] {
		if _, err := b.eng.Event(b.company.ID, gone.ID); errorKind(err) != engine.KindNotFound {
			t.Errorf("dropped occurrence %d: err %v, want not found", gone.ID, err)
		}
		if s := b.structure(gone.ID); s != nil {
			t.Errorf("dropped occurrence %d still has a ticket structure", gone.ID)
		}
	}
}

func (b *bundle) children(parent uint64) []*engine.Event {
	b.t.Helper()
	var out []*engine.Event
	b.view(func(tx engine.Tx) error {
		var err error
		out, err = tx.ChildEvents(parent)
		return err
	})
	return out
}

func (b *bundle) structure(eventID uint64) *engine.TicketStructure {
	b.t.Helper()
	var s *engine.TicketStructure
	b.view(func(tx engine.Tx) error {
		var err error
		s, err = tx.TicketStructure(eventID)
		return err
	})
	return s
}

func startsUTC(evs []*engine.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.StartsAt.UTC().Format(time.RFC3339)
	}
	return out
}

// Phase failures: transient ones are retried with backoff (attempts rising,
// last_error visible), permanent ones fail at once with their own code, and a
// panic is recorded, not fatal.
func TestPhaseFailures(t *testing.T) {
	t.Parallel()
	stale := engine.Transientf(engine.CodeInventoryStale, "a sale raced the write")
	tests := []struct {
		name      string
		work      func(ctx context.Context, r *engine.PhaseRun) error
		status    engine.Status
		code      engine.Code // operation error code
		attempts  int
		lastError engine.Code
		// holdRetry holds the second attempt until the test has seen the
		// first failure published (the phase visibly retrying).
		holdRetry bool
	}{
		{"transient twice, then success", func(ctx context.Context, r *engine.PhaseRun) error {
			if r.Attempt <= 2 {
				return stale
			}
			return engine.TicketsWork{}.Run(ctx, r)
		}, engine.StatusCompleted, "", 3, engine.CodeInventoryStale, true},
		{"transient until attempts run out", func(ctx context.Context, r *engine.PhaseRun) error {
			return stale
		}, engine.StatusFailed, engine.CodeInventoryStale, fastRetry.Attempts, engine.CodeInventoryStale, false},
		{"permanent fails at once", func(ctx context.Context, r *engine.PhaseRun) error {
			return engine.Errorf(engine.CodeTicketsStructureEmpty, "nothing to sell")
		}, engine.StatusFailed, engine.CodeTicketsStructureEmpty, 1, "", false},
		{"panic becomes a failure", func(ctx context.Context, r *engine.PhaseRun) error {
			panic("boom")
		}, engine.StatusFailed, engine.CodeOperationWorkPanicked, 1, "", false},
		{"uncoded errors are retried, then fail as work failed", func(ctx context.Context, r *engine.PhaseRun) error {
			return errors.New("connection reset")
		}, engine.StatusFailed, engine.CodeOperationWorkFailed, fastRetry.Attempts, engine.CodeOperationWorkFailed, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := newGate()
			b := setup(t, engine.Config{Work: map[string]engine.Work{engine.PhaseTickets: workFunc(func(ctx context.Context, r *engine.PhaseRun) error {
				if tt.holdRetry && r.Attempt == 2 {
					if err := g.hold(ctx, r); err != nil {
						return err
					}
				}
				return tt.work(ctx, r)
			})}})
			sub := b.eng.Broker().Subscribe(1024)
			defer sub.Close()
			_, op := b.createDate("Flaky", 5)
			if tt.holdRetry {
				// Retrying is visible while it happens.
				retrying := subscribeUntil(t, sub, func(o *engine.Operation) bool {
					return o.ID == op.ID && o.Phases[0].LastError != nil
				})
				if q := retrying.Phases[0]; q.Status != engine.StatusRunning || q.Attempts != 2 || q.LastError.Code != tt.lastError || retrying.Status != engine.StatusRunning {
					t.Errorf("while retrying: operation %s, phase %s attempts %d last_error %+v; want running, running, 2, %s",
						retrying.Status, q.Status, q.Attempts, q.LastError, tt.lastError)
				}
				g.open()
			}
			done := b.wait(op.ID)

			if done.Status != tt.status {
				t.Fatalf("status = %s (error %+v), want %s", done.Status, done.Error, tt.status)
			}
			p := done.Phases[0]
			if p.Attempts != tt.attempts {
				t.Errorf("attempts = %d, want %d", p.Attempts, tt.attempts)
			}
			if tt.lastError == "" {
				if p.LastError != nil {
					t.Errorf("last_error = %+v, want null", p.LastError)
				}
			} else if p.LastError == nil || p.LastError.Code != tt.lastError || p.LastError.PhaseID == nil || *p.LastError.PhaseID != p.ID {
				t.Errorf("last_error = %+v, want %s of phase %d", p.LastError, tt.lastError, p.ID)
			}
			if tt.code == "" {
				if done.Error != nil || p.Error != nil {
					t.Errorf("error = %+v / phase %+v, want null", done.Error, p.Error)
				}
			} else {
				e := done.Error
				if e == nil || e.Code != tt.code || e.Phase == nil || *e.Phase != p.Name || e.PhaseID == nil || *e.PhaseID != p.ID {
					t.Errorf("error = %+v, want %s from phase %s/%d", e, tt.code, p.Name, p.ID)
				}
				if p.Error == nil || p.Error.Code != tt.code {
					t.Errorf("phase error = %+v, want %s", p.Error, tt.code)
				}
			}
			// A panic keeps its stack with the failure, down to the
			// frame that panicked; other failures have none.
			wantStack := tt.code == engine.CodeOperationWorkPanicked
			for _, e := range []*engine.OpError{done.Error, p.Error} {
				if e == nil {
					continue
				}
				if got := strings.Contains(e.Stack, "TestPhaseFailures"); got != wantStack || (!wantStack && e.Stack != "") {
					t.Errorf("error %s keeps stack %q; want one naming the panicking work: %v", e.Code, e.Stack, wantStack)
				}
			}
		})
	}
}

// Cancel: a pending operation queued behind another ends at once; a
// running one ends at its next safe point; a terminal one is a conflict.
func TestCancel(t *testing.T) {
	t.Parallel()

	t.Run("pending behind another ends at once and never runs", func(t *testing.T) {
		t.Parallel()
		g := newGate()
		b := setup(t, engine.Config{Work: map[string]engine.Work{engine.PhaseTickets: g.wrap(engine.TicketsWork{})}})
		ev, op1 := b.createDate("Busy", 5)
		g.await(t, 1)
		op2 := b.rename(ev.ID, "Busier")
		got, err := b.eng.CancelOperation(context.Background(), b.company.ID, op2.ID)
		if err != nil {
			t.Fatalf("cancel: %v", err)
		}
		checkCanceled(t, got)
		checkCanceled(t, b.stored(op2.ID))
		if p := got.Phases[0]; p.Status != engine.StatusPending || p.StartedAt != nil {
			t.Errorf("phase of the canceled pending operation = %s, want pending", p.Status)
		}
		g.open()
		if done := b.wait(op1.ID); done.Status != engine.StatusCompleted {
			t.Fatalf("operation ahead = %s, want completed", done.Status)
		}
		op3 := b.rename(ev.ID, "Busiest")
		if done := b.wait(op3.ID); done.Status != engine.StatusCompleted {
			t.Fatalf("operation after = %s, want completed", done.Status)
		}
		for _, r := range drain(g.entered) {
			if r.Op.ID == op2.ID {
				t.Errorf("the canceled operation ran")
			}
		}
		if _, err := b.eng.CancelOperation(context.Background(), b.company.ID, op2.ID); !isConflict(err) {
			t.Errorf("cancel of a canceled operation: %v, want conflict", err)
		}
	})

	t.Run("pending at the head of its queue ends when a worker reaches it", func(t *testing.T) {
		t.Parallel()
		g := newGate()
		b := setup(t, engine.Config{Workers: 1, Work: map[string]engine.Work{engine.PhaseTickets: g.wrap(engine.TicketsWork{})}})
		_, busy := b.createDate("Busy", 5)
		g.await(t, 1) // the only worker is held
		_, op := b.createDate("Waiting", 6)
		got, err := b.eng.CancelOperation(context.Background(), b.company.ID, op.ID)
		if err != nil {
			t.Fatalf("cancel: %v", err)
		}
		if got.Status.Terminal() || !got.CancelAsked {
			t.Errorf("cancel answered %s cancel_requested=%v, want a durable request on a pending operation", got.Status, got.CancelAsked)
		}
		g.open()
		b.wait(busy.ID)
		done := b.wait(op.ID)
		checkCanceled(t, done)
		for _, r := range drain(g.entered) {
			if r.Op.ID == op.ID {
				t.Errorf("the canceled operation ran")
			}
		}
	})

	t.Run("running ends at the next safe point", func(t *testing.T) {
		t.Parallel()
		g := newGate()
		b := setup(t, engine.Config{Work: map[string]engine.Work{engine.PhaseTickets: g.wrap(engine.TicketsWork{})}})
		ev, op := b.createDate("Running", 5)
		g.await(t, 1)
		got, err := b.eng.CancelOperation(context.Background(), b.company.ID, op.ID)
		if err != nil {
			t.Fatalf("cancel: %v", err)
		}
		if !got.CancelAsked {
			t.Errorf("cancel answer does not carry the request: %+v", got)
		}
		done := b.wait(op.ID)
		checkCanceled(t, done)
		p := done.Phases[0]
		if p.Status != engine.StatusFailed || p.Error == nil || p.Error.Code != engine.CodeOperationCanceled {
			t.Errorf("running phase after cancel = %s %+v, want failed %s", p.Status, p.Error, engine.CodeOperationCanceled)
		}
		if s := b.structure(ev.ID); s != nil {
			t.Errorf("the canceled phase's staged writes were committed")
		}
		if _, err := b.eng.CancelOperation(context.Background(), b.company.ID, op.ID); !isConflict(err) {
			t.Errorf("cancel of a terminal operation: %v, want conflict", err)
		}
	})

	t.Run("refund in flight", func(t *testing.T) {
		t.Parallel()
		g := newGate()
		b := setup(t, engine.Config{Refund: refundFunc(func(ctx context.Context, r *engine.PhaseRun) error {
			if err := g.hold(ctx, r); err != nil {
				return err
			}
			return engine.LocalRefund{}.Refund(ctx, r)
		})})
		ev, _ := b.createDate("Refund", 5)
		op, err := b.eng.RefundEvent(context.Background(), b.company.ID, ev.ID)
		if err != nil {
			t.Fatal(err)
		}
		g.await(t, 1)
		if _, err := b.eng.CancelOperation(context.Background(), b.company.ID, op.ID); err != nil {
			t.Fatalf("cancel: %v", err)
		}
		checkCanceled(t, b.wait(op.ID))
	})

	t.Run("a completion racing the cancel leaves one terminal state", func(t *testing.T) {
		t.Parallel()
		// Work that ignores its context (as TicketsWork does) finishes
		// after the cancel was accepted; the operation may end either
		// way, but a terminal state must never change again.
		release := make(chan struct{})
		entered := make(chan struct{}, 1)
		b := setup(t, engine.Config{Work: map[string]engine.Work{engine.PhaseTickets: workFunc(func(ctx context.Context, r *engine.PhaseRun) error {
			entered <- struct{}{}
			<-release
			return engine.TicketsWork{}.Run(ctx, r)
		})}})
		c := collect(b.eng, nil)
		_, op := b.createDate("Racing", 5)
		<-entered
		if _, err := b.eng.CancelOperation(context.Background(), b.company.ID, op.ID); err != nil {
			t.Fatalf("cancel: %v", err)
		}
		close(release)
		b.wait(op.ID)
		stopWithin(t, b.eng, safety)
		seen := of(c.stop(t), op.ID)
		final := b.stored(op.ID)
		var terminal []*engine.Operation
		for _, s := range seen {
			if s.Status.Terminal() {
				terminal = append(terminal, s)
			}
		}
		if len(terminal) != 1 {
			var states []string
			for _, s := range terminal {
				states = append(states, string(s.Status)+"/"+codeOf(s))
			}
			t.Fatalf("%d terminal states published (%v), want exactly one", len(terminal), states)
		}
		if terminal[0].Version != final.Version || terminal[0].Status != final.Status {
			t.Errorf("published terminal v%d %s, stored v%d %s", terminal[0].Version, terminal[0].Status, final.Version, final.Status)
		}
	})
}

func codeOf(op *engine.Operation) string {
	if op.Error == nil {
		return "-"
	}
	return string(op.Error.Code)
}

func checkCanceled(t *testing.T, op *engine.Operation) {
	t.Helper()
	if op.Status != engine.StatusFailed || op.Error == nil || op.Error.Code != engine.CodeOperationCanceled {
		t.Fatalf("operation %d = %s error %+v, want failed %s", op.ID, op.Status, op.Error, engine.CodeOperationCanceled)
	}
	if op.Error.Phase != nil || op.Error.PhaseID != nil {
		t.Errorf("cancel error names phase %v/%v, want null", op.Error.Phase, op.Error.PhaseID)
	}
	if op.FinishedAt == nil {
		t.Errorf("canceled operation has no finished_at")
	}
}

func drain[T any](c chan T) []T {
	var out []T
	for {
		select {
		case v := <-c:
			out = append(out, v)
		default:
			return out
		}
	}
}

// Retry: a failed operation is retried as a new operation of the same
// action; anything else is a conflict.
func TestRetry(t *testing.T) {
	t.Parallel()
	// The first run of every operation fails; retries succeed.
	failFirst := workFunc(func(ctx context.Context, r *engine.PhaseRun) error {
		if r.Op.RetryOf == 0 {
			return engine.Errorf(engine.CodeTicketsStructureEmpty, "first run fails")
		}
		return engine.TicketsWork{}.Run(ctx, r)
	})

	t.Run("save", func(t *testing.T) {
		t.Parallel()
		b := setup(t, engine.Config{Work: map[string]engine.Work{engine.PhaseTickets: failFirst}})
		ev, op := b.createDate("Retry me", 5)
		if failed := b.wait(op.ID); failed.Status != engine.StatusFailed {
			t.Fatalf("first run = %s, want failed", failed.Status)
		}
		retry, err := b.eng.RetryOperation(context.Background(), b.company.ID, op.ID)
		if err != nil {
			t.Fatalf("retry: %v", err)
		}
		if retry.ID == op.ID || retry.Action != engine.ActionSave || retry.RetryOf != op.ID || retry.EventID != ev.ID {
			t.Fatalf("retry = id %d action %s retry_of %d, want a new save of event %d retrying %d", retry.ID, retry.Action, retry.RetryOf, ev.ID, op.ID)
		}
		if done := b.wait(retry.ID); done.Status != engine.StatusCompleted {
			t.Fatalf("retry = %s %+v, want completed", done.Status, done.Error)
		}
		if old := b.stored(op.ID); old.Status != engine.StatusFailed {
			t.Errorf("the retried operation was reopened: %s", old.Status)
		}
		if _, err := b.eng.RetryOperation(context.Background(), b.company.ID, retry.ID); !isConflict(err) {
			t.Errorf("retry of a completed operation: %v, want conflict", err)
		}
	})

	t.Run("delete", func(t *testing.T) {
		t.Parallel()
		b := setup(t, engine.Config{Work: map[string]engine.Work{engine.PhaseTickets: failFirst}})
		ev, save := b.createDate("Delete me", 5)
		b.wait(save.ID)
		del := b.delete(ev.ID)
		if failed := b.wait(del.ID); failed.Status != engine.StatusFailed {
			t.Fatalf("delete = %s, want failed", failed.Status)
		}
		if _, err := b.eng.RetryOperation(context.Background(), b.company.ID, save.ID); !isConflict(err) {
			t.Errorf("retry of a save of a deleted event: %v, want conflict", err)
		}
		retry, err := b.eng.RetryOperation(context.Background(), b.company.ID, del.ID)
		if err != nil {
			t.Fatalf("retry delete: %v", err)
		}
		if retry.Action != engine.ActionDelete || retry.ID == del.ID {
			t.Fatalf("retry = %s %d, want a new delete", retry.Action, retry.ID)
		}
		if done := b.wait(retry.ID); done.Status != engine.StatusCompleted {
			t.Fatalf("retried delete = %s %+v, want completed", done.Status, done.Error)
		}
	})

	t.Run("running or pending", func(t *testing.T) {
		t.Parallel()
		g := newGate()
		b := setup(t, engine.Config{Work: map[string]engine.Work{engine.PhaseTickets: g.wrap(nil)}})
		ev, running := b.createDate("Busy", 5)
		g.await(t, 1)
		pending := b.rename(ev.ID, "Queued")
		for _, id := range []uint64{running.ID, pending.ID} {
			if _, err := b.eng.RetryOperation(context.Background(), b.company.ID, id); !isConflict(err) {
				t.Errorf("retry of a non-failed operation %d: %v, want conflict", id, err)
			}
		}
		g.open()
		b.wait(pending.ID)
	})
}

// expandingWork splits its phase into one child per occurrence of the
// event (DESIGN §4: Shopify phases of a recurring event have one child per
// occurrence) and runs run for each child.
type expandingWork struct {
	run func(ctx context.Context, r *engine.PhaseRun) error
}

func (w expandingWork) Expand(ctx context.Context, r *engine.PhaseRun) ([]*engine.Phase, error) {
	var kids []*engine.Phase
	err := r.View(func(tx engine.Tx) error {
		children, err := tx.ChildEvents(r.Op.EventID)
		for _, c := range children {
			kids = append(kids, &engine.Phase{Name: r.Phase.Name + " " + c.StartsAt.Format("2006-01-02"), Subject: c.ID})
		}
		return err
	})
	return kids, err
}

func (w expandingWork) Run(ctx context.Context, r *engine.PhaseRun) error { return w.run(ctx, r) }

// A phase tree through the runner: catalog becomes an aggregate of one child
// per occurrence; a child's failure waits for its running sibling, then
// fails catalog and the operation with that child as the root cause, and
// the phases after catalog never start.
func TestNestedPhasesThroughTheRunner(t *testing.T) {
	t.Parallel()
	g := newGate()
	var failSubject atomic.Uint64
	var holdSubject atomic.Uint64
	ok := workFunc(func(ctx context.Context, r *engine.PhaseRun) error { return nil })
	b := setup(t, engine.Config{Work: map[string]engine.Work{
		engine.PhaseCatalog: expandingWork{run: func(ctx context.Context, r *engine.PhaseRun) error {
			switch r.Phase.Subject {
			case failSubject.Load():
				return engine.Errorf(engine.CodeCatalogUpsertRejected, "title too long")
			case holdSubject.Load():
				return g.hold(ctx, r)
			}
			return nil
		}},
		engine.PhaseInventory: ok, engine.PhaseMetafields: ok, engine.PhaseDelivery: ok, engine.PhasePublish: ok,
	}})
	b.seed(&engine.ShopInput{Sandbox: true, Domain: "blue-note"})
	// The occurrences exist before the Shopify save that expands over them.
	in := b.recurringInput("Weekly", startAt(chicago(t), 2026, 10, 23), weekly(3))
	// The first save's catalog expands over the occurrences its own
	// recurrence phase created; a second save then fails on a known one.
	ev, op := b.createEvent(in)
	sub := b.eng.Broker().Subscribe(4096)
	defer sub.Close()
	if first := b.wait(op.ID); first.Status != engine.StatusCompleted {
		t.Errorf("first save = %s %+v, want completed (every catalog child succeeds)", first.Status, first.Error)
	}
	occ := b.children(ev.ID)
	if len(occ) != 3 {
		t.Fatalf("%d occurrences, want 3", len(occ))
	}
	failSubject.Store(occ[1].ID)
	holdSubject.Store(occ[2].ID)
	op2 := b.rename(ev.ID, "Weekly, renamed")

	g.await(t, 1)
	mid := subscribeUntil(t, sub, func(o *engine.Operation) bool {
		if o.ID != op2.ID {
			return false
		}
		cat := phaseNamed(t, o, engine.PhaseCatalog)
		return len(cat.Phases) == 3 && cat.Phases[1].Status == engine.StatusFailed
	})
	cat := phaseNamed(t, mid, engine.PhaseCatalog)
	if mid.Status != engine.StatusRunning || cat.Status != engine.StatusRunning || mid.Error != nil {
		t.Errorf("child failed while a sibling runs: operation %s, catalog %s, error %+v; want running, running, null", mid.Status, cat.Status, mid.Error)
	}
	for i, c := range cat.Phases {
		if c.ID <= op2.ID || c.Subject != occ[i].ID || !c.Leaf() {
			t.Errorf("child %d = id %d subject %d, want a leaf with a fresh id on occurrence %d", i, c.ID, c.Subject, occ[i].ID)
		}
	}
	g.open()

	done := b.wait(op2.ID)
	cat = phaseNamed(t, done, engine.PhaseCatalog)
	failed := cat.Phases[1]
	if done.Status != engine.StatusFailed || cat.Status != engine.StatusFailed {
		t.Fatalf("operation %s, catalog %s; want both failed", done.Status, cat.Status)
	}
	for _, e := range []*engine.OpError{done.Error, cat.Error} {
		if e == nil || e.Code != engine.CodeCatalogUpsertRejected || e.PhaseID == nil || *e.PhaseID != failed.ID || *e.Phase != failed.Name {
			t.Errorf("error = %+v, want the failed child (%s, %d) with its own code", e, failed.Name, failed.ID)
		}
	}
	if s := cat.Phases[2].Status; s != engine.StatusCompleted {
		t.Errorf("the held sibling = %s, want completed (it ran to the end)", s)
	}
	// recurrence, tickets, 2 of 3 catalog children done of 2+3+4 leaves;
	// percent weighs shares: 2/7 + (2/3)·(1/7) = 8/21.
	if want := (engine.Progress{Percent: 38, Completed: 4, Total: 9}); done.Progress == nil || *done.Progress != want {
		t.Errorf("progress = %v, want %+v", done.Progress, want)
	}
	if want := (engine.Progress{Percent: 66, Completed: 2, Total: 3}); cat.Progress == nil || *cat.Progress != want {
		t.Errorf("catalog progress = %v, want %+v", cat.Progress, want)
	}
	for _, name := range []string{engine.PhaseInventory, engine.PhaseMetafields, engine.PhaseDelivery, engine.PhasePublish} {
		if p := phaseNamed(t, done, name); p.Status != engine.StatusPending {
			t.Errorf("%s = %s, want pending behind the failed catalog", name, p.Status)
		}
	}
}

// flakyExpander fails its first splits with a transient error.
type flakyExpander struct {
	expandingWork
	fails *atomic.Int32
}

func (w flakyExpander) Expand(ctx context.Context, r *engine.PhaseRun) ([]*engine.Phase, error) {
	if w.fails.Add(-1) >= 0 {
		return nil, engine.Transientf(engine.CodeShopifyUnavailable, "shop busy")
	}
	return w.expandingWork.Expand(ctx, r)
}

// Splitting a phase into children is part of its attempt: a transient
// failure of the split is retried like the work's own, and the phase ends
// as the aggregate of its children, every one of which ran once.
func TestSplitRetriesTransientFailures(t *testing.T) {
	t.Parallel()
	var fails atomic.Int32
	fails.Store(2)
	var runs sync.Map
	ok := workFunc(func(ctx context.Context, r *engine.PhaseRun) error { return nil })
	b := setup(t, engine.Config{Work: map[string]engine.Work{
		engine.PhaseCatalog: flakyExpander{expandingWork{run: func(ctx context.Context, r *engine.PhaseRun) error {
			n, _ := runs.LoadOrStore(r.Phase.Subject, new(atomic.Int32))
			n.(*atomic.Int32).Add(1)
			return nil
		}}, &fails},
		engine.PhaseInventory: ok, engine.PhaseMetafields: ok, engine.PhaseDelivery: ok, engine.PhasePublish: ok,
	}})
	b.seed(&engine.ShopInput{Sandbox: true, Domain: "blue-note"})
	ev, op := b.createEvent(b.recurringInput("Weekly", startAt(chicago(t), 2026, 10, 23), weekly(3)))
	done := b.wait(op.ID)
	if done.Status != engine.StatusCompleted {
		t.Fatalf("operation = %s %+v, want completed after the split was retried", done.Status, done.Error)
	}
	cat := phaseNamed(t, done, engine.PhaseCatalog)
	occ := b.children(ev.ID)
	if len(cat.Phases) != len(occ) || len(occ) != 3 {
		t.Fatalf("catalog has %d children for %d occurrences, want 3 and 3", len(cat.Phases), len(occ))
	}
	for i, c := range cat.Phases {
		n, _ := runs.Load(occ[i].ID)
		if c.Status != engine.StatusCompleted || c.Subject != occ[i].ID || n == nil || n.(*atomic.Int32).Load() != 1 {
			t.Errorf("child %d = %s on %d, want completed on occurrence %d, run once", i, c.Status, c.Subject, occ[i].ID)
		}
	}
	if n, _ := runs.Load(uint64(0)); n != nil {
		t.Errorf("catalog itself ran %d times, want never (it split)", n.(*atomic.Int32).Load())
	}
}

// A staged write that refuses with an error of its own fails the phase with
// OPERATION_WORK_FAILED: the operation ends instead of being run again into
// the same refusal, and the event's queue moves on.
func TestStagedWriteRefusalFailsThePhase(t *testing.T) {
	t.Parallel()
	b := setup(t, engine.Config{Work: map[string]engine.Work{engine.PhaseTickets: workFunc(func(ctx context.Context, r *engine.PhaseRun) error {
		r.Stage(func(tx engine.Tx) error { return errors.New("ticket structure is corrupt") })
		return nil
	})}})
	ev, op := b.createDate("Refused", 3)
	done := b.wait(op.ID)
	if done.Status != engine.StatusFailed || done.Error == nil || done.Error.Code != engine.CodeOperationWorkFailed {
		t.Fatalf("operation = %s %+v, want failed with OPERATION_WORK_FAILED", done.Status, done.Error)
	}
	if done.Phases[0].Attempts != 1 {
		t.Errorf("tickets ran %d times, want once", done.Phases[0].Attempts)
	}
	// The queue is not blocked: the next save of the event runs.
	if next := b.wait(b.rename(ev.ID, "Refused again").ID); !next.Status.Terminal() {
		t.Errorf("the next operation of the event is %s", next.Status)
	}
}
