package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"syscall"
	"testing"
	"time"

	"eventops/engine/shopify/sandbox"
	"eventops/web/client"
)

// The scenario with real processes (issue 14 §2): the sandbox runs
// as its own process; eventops serve is SIGKILLed; a buyer takes 4 of 10;
// the sandbox gives up on the orders/create webhook for good (a
// drop_webhooks fault); eventops starts again, its start-up reconciliation
// records the 4, and a name-only save leaves the shop offering 6 — not 10,
// which would let the shop sell 14 for 10 seats.
func TestReconcileLostWebhookAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs eventops and its sandbox as processes")
	}
	t.Parallel()
	s := newSoak(t, soakConfig{restoreRate: 0, seed: 1})
	s.build()
	s.startSandbox()
	s.connectCompany()
	s.startServer()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s.setUpCatalog(ctx)

	start := time.Date(2027, 2, 1, 19, 0, 0, 0, time.UTC)
	body := client.EventInput{
		Name: "Lost webhook", Type: client.EventDate, VenueID: s.venue, StartsAt: start, EndsAt: start.Add(3 * time.Hour),
		RegistrationTypes: []client.RegistrationTypeInput{{Name: "General admission", TicketTypeID: s.ticketTypes[0],
			Price: client.MoneyInput{Amount: 2500, Currency: "USD"}, Quantity: ptr(10)}},
	}
	a, err := s.write(ctx, http.MethodPost, "/events", wrapped("event", body))
	if err != nil || a.status != http.StatusCreated {
		t.Fatalf("create: %v %+v", err, a)
	}
	id := soakID(t, a.body)
	if op := s.waitOp(ctx, id, a.op); op == nil || op.Status != client.StatusCompleted {
		t.Fatalf("the create's save: %s", soakOpSummary(op))
	}
	ev := s.event(ctx, id)
	variant := *ev.RegistrationTypes[0].ShopifyVariantID
	level := func() int64 {
		t.Helper()
		st, err := s.shopState(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range st.InventoryLevels {
			if l.VariantID == variant && l.Available+l.Committed > 0 {
				return l.Available
			}
		}
		t.Fatalf("no inventory level of variant %s in the shop", variant)
		return 0
	}
	if got := level(); got != 10 {
		t.Fatalf("the shop offers %d before the sale, want 10", got)
	}

	// eventops is killed; the shop drops the webhook of the sale for good.
	s.procMu.Lock()
	p := s.server
	s.procMu.Unlock()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
	if a, err := s.shopControl(ctx, http.MethodPost, "/faults", map[string]any{"rules": []sandbox.FaultRule{
		{Operation: "orders/create", Fault: sandbox.FaultDropWebhooks}}}); err != nil || a.status != http.StatusOK {
		t.Fatalf("fault: %v %+v", err, a)
	}
	a, err = s.shopControl(ctx, http.MethodPost, "/orders", map[string]any{"variant_id": variant, "quantity": 4})
	if err != nil || a.status != http.StatusCreated {
		t.Fatalf("buyer: %v %+v", err, a)
	}
	var placed struct{ Order sandbox.OrderState }
	if err := json.Unmarshal(a.body, &placed); err != nil {
		t.Fatal(err)
	}
	gaveUp := pollUntil(30*time.Second, 20*time.Millisecond, func() bool {
		var out struct{ Deliveries []sandbox.Delivery }
		if err := s.sandboxGet(ctx, "/deliveries", &out); err != nil {
			t.Fatal(err)
		}
		for _, d := range out.Deliveries {
			if d.Topic == "orders/create" && d.Status == "failed" {
				return true
			}
		}
		return false
	})
	if !gaveUp {
		t.Fatal("the shop never gave up on the orders/create webhook")
	}

	// eventops starts again: the start-up reconciliation records the 4.
	s.startServer()
	var orders []client.Order
	recorded := pollUntil(60*time.Second, 50*time.Millisecond, func() bool {
		orders, err = s.orders(ctx, id)
		return err == nil && len(orders) == 1
	})
	if !recorded || orders[0].Quantity != 4 || orders[0].ShopifyOrderID == nil || *orders[0].ShopifyOrderID != placed.Order.ID {
		t.Fatalf("orders after the restart: %+v (%v)", orders, err)
	}

	// A name-only save does not put the 4 back on sale.
	a, err = s.write(ctx, http.MethodPatch, "/events/"+strconv.FormatUint(id, 10), wrapped("event", map[string]any{"name": "Lost webhook, renamed"}))
	if err != nil || a.status >= 300 {
		t.Fatalf("rename: %v %+v", err, a)
	}
	if op := s.waitOp(ctx, id, a.op); op == nil || op.Status != client.StatusCompleted {
		t.Fatalf("the rename's save: %s", soakOpSummary(op))
	}
	if got := level(); got != 6 {
		t.Fatalf("the shop offers %d after a name-only save, want 6", got)
	}
	if ev := s.event(ctx, id); ev.RegistrationTypes[0].Available == nil || *ev.RegistrationTypes[0].Available != 6 {
		t.Fatalf("available %v, want 6", ev.RegistrationTypes[0].Available)
	}
	s.stopServer()
}
