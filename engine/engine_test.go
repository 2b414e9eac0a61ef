package engine_test

import (
	"context"
	"encoding/json"
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
