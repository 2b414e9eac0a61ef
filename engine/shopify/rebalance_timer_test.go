package shopify_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"eventops/engine"
	"eventops/engine/shopify/sandbox"
)

// The reconciliation timer rebalances (issue 14: "rebalance after every
// recorded sale, refund or cancellation and on the reconciliation timer").
// A sale's own rebalance can end failed (the shop refused every attempt):
// the shop then offers less than the allocation gives, seats that no buyer
// can take. The next timer pass finds the event's offers other than its
// allocation and rebalances it; a pass with nothing drifted starts nothing.
func TestReconcileTimerRebalancesDriftedOffers(t *testing.T) {
	t.Parallel()
	h := setupHooked(t, options{reconcile: true})
	ev, op := h.create(h.input("Drift", ptr(50), regType{"A", 1000, ptr(40)}, regType{"B", 2000, ptr(40)}))
	h.completed(op.ID)
	if got := h.levels(ev.ID); fmt.Sprint(got) != "[25 25]" {
		t.Fatalf("shop offers %v, want [25 25]", got)
	}
	a := h.structure(ev.ID).Products[0].Variants[0].ShopifyVariantID

	// The sale's rebalance fails: every inventory write is refused.
	if err := h.sb.AddFaults(h.shop.Name, sandbox.FaultRule{Operation: "inventorySetQuantities", Fault: sandbox.FaultHTTP500, Times: 1000}); err != nil {
		t.Fatal(err)
	}
	if !h.buy(a, 10) {
		t.Fatal("the shop refused 10 of the 25 it offers")
	}
	h.delivered("orders/create", 1)
	h.settled(ev.ID)
	failed := false
	for _, o := range h.inventoryOps(ev.ID) {
		failed = failed || o.Status == engine.StatusFailed
	}
	if !failed {
		t.Fatal("the sale's rebalance did not fail; the test needs it to")
	}
	if err := h.sb.ClearFaults(h.shop.Name); err != nil {
		t.Fatal(err)
	}
	// 40 left: A 30 of its own, B 40; one each, then 38 by 29 and 39.
	if got := h.levels(ev.ID); fmt.Sprint(got) != "[15 25]" {
		t.Fatalf("after the failed rebalance the shop offers %v, want [15 25]", got)
	}
	if ids, err := h.eng.DriftedOffers(h.company.ID); err != nil || fmt.Sprint(ids) != fmt.Sprint([]uint64{ev.ID}) {
		t.Fatalf("DriftedOffers: %v, %v; want [%d]", ids, err, ev.ID)
	}

	before := len(h.inventoryOps(ev.ID))
	h.rec.All(context.Background()) // one pass of the timer
	until(t, 30*time.Second, func() bool { return len(h.inventoryOps(ev.ID)) > before },
		func() string { return "the timer pass started no rebalance" })
	h.settled(ev.ID)
	if got := h.levels(ev.ID); fmt.Sprint(got) != "[17 23]" {
		t.Errorf("after the timer's rebalance the shop offers %v, want [17 23]", got)
	}
	if ids, err := h.eng.DriftedOffers(h.company.ID); err != nil || len(ids) != 0 {
		t.Errorf("DriftedOffers after the rebalance: %v, %v; want none", ids, err)
	}
	// Nothing drifted: a pass starts nothing.
	n := len(h.inventoryOps(ev.ID))
	h.rec.All(context.Background())
	if got := len(h.inventoryOps(ev.ID)); got != n {
		t.Errorf("a pass with nothing drifted started %d saves", got-n)
	}
}
