package engine_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"eventops/engine"
)

// At MaxPending unfinished operations, commands that would start one fail
// with ErrOverloaded and store nothing; a sale's inventory-only save is
// never refused (the buyer has paid) but counts toward the bound.
func TestOverloadRefusesCommandsNotSales(t *testing.T) {
	t.Parallel()
	g := newGate()
	ok := workFunc(func(ctx context.Context, r *engine.PhaseRun) error { return nil })
	b := setup(t, engine.Config{MaxPending: 2, Work: map[string]engine.Work{
		engine.PhaseTickets: g.wrap(engine.TicketsWork{}), engine.PhaseCatalog: ok, engine.PhaseInventory: ok,
		engine.PhaseMetafields: ok, engine.PhaseDelivery: ok, engine.PhasePublish: ok,
	}})
	t.Cleanup(g.open)
	b.seed(&engine.ShopInput{Sandbox: true, Domain: "blue-note"})
	ev, first := b.createDate("One", 5)
	_, second := b.createDate("Two", 6)
	g.await(t, 1)
	if n := b.eng.Pending(); n != 2 {
		t.Fatalf("pending = %d, want 2", n)
	}
	ctx := context.Background()
	countEvents := func() int {
		evs, _, err := b.eng.Events(engine.EventQuery{CompanyID: b.company.ID, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		return len(evs)
	}
	before := countEvents()
	_, _, err := b.eng.CreateEvent(ctx, b.company.ID, b.dateInput("Three", 7))
	checkOverloaded(t, "create", err)
	_, _, err = b.eng.UpdateEvent(ctx, b.company.ID, ev.ID, engine.EventInput{Name: ptr("Renamed")})
	checkOverloaded(t, "update", err)
	_, err = b.eng.DeleteEvent(ctx, b.company.ID, ev.ID)
	checkOverloaded(t, "delete", err)
	_, err = b.eng.RefundEvent(ctx, b.company.ID, ev.ID)
	checkOverloaded(t, "refund", err)
	_, err = b.eng.RetryOperation(ctx, b.company.ID, first.ID)
	checkOverloaded(t, "retry", err)
	if n := countEvents(); n != before {
		t.Errorf("%d events after refused commands, want %d", n, before)
	}
	if cur, err := b.eng.Event(b.company.ID, ev.ID); err != nil || cur.Name != "One" || cur.Deleted {
		t.Errorf("event after refused commands = %+v, %v; want it unchanged", cur, err)
	}

	// A sale at the box office of a shop company: its inventory save is
	// started past the bound, and counted.
	_, inv, err := b.eng.CreateOrder(ctx, b.company.ID, ev.ID, engine.OrderInput{RegistrationTypeID: ev.RegistrationTypes[0].ID, Quantity: 1})
	if err != nil || inv == nil || !inv.InventoryOnly {
		t.Fatalf("sale at the bound = %+v, %v; want an order with its inventory-only save", inv, err)
	}
	if n := b.eng.Pending(); n != 3 {
		t.Errorf("pending = %d, want 3 (the sale's save counts)", n)
	}

	g.open()
	for _, id := range []uint64{first.ID, second.ID, inv.ID} {
		if done := b.wait(id); done.Status != engine.StatusCompleted {
			t.Errorf("operation %d = %s %+v", id, done.Status, done.Error)
		}
	}
}

// Concurrent commands never take the engine past the bound: exactly
// MaxPending of them are accepted while the workers are held.
func TestOverloadBoundIsExactUnderConcurrency(t *testing.T) {
	t.Parallel()
	const bound, callers = 8, 40
	g := newGate()
	b := setup(t, engine.Config{MaxPending: bound, Work: map[string]engine.Work{engine.PhaseTickets: g.wrap(engine.TicketsWork{})}})
	t.Cleanup(g.open)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var accepted []uint64
	refused := 0
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, op, err := b.eng.CreateEvent(context.Background(), b.company.ID, b.dateInput("Show", 1+i%28))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				accepted = append(accepted, op.ID)
			case errors.Is(err, engine.ErrOverloaded):
				refused++
			default:
				t.Errorf("create: %v", err)
			}
		}()
	}
	wg.Wait()
	if len(accepted) != bound || refused != callers-bound || b.eng.Pending() != bound {
		t.Fatalf("accepted %d, refused %d, pending %d; want %d accepted, %d refused, %d pending",
			len(accepted), refused, b.eng.Pending(), bound, callers-bound, bound)
	}
	g.open()
	for _, id := range accepted {
		b.wait(id)
	}
	// Room again once the backlog drained.
	ctx, cancel := context.WithTimeout(context.Background(), safety)
	defer cancel()
	if err := b.eng.WaitPending(ctx, 0); err != nil {
		t.Fatalf("backlog not drained: pending %d", b.eng.Pending())
	}
	if _, _, err := b.eng.CreateEvent(context.Background(), b.company.ID, b.dateInput("After", 2)); err != nil {
		t.Fatalf("create after the backlog drained: %v", err)
	}
}

func checkOverloaded(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, engine.ErrOverloaded) || errorKind(err) != engine.KindOverloaded {
		t.Errorf("%s at the bound: %v, want ErrOverloaded", what, err)
	}
}
