package shopify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"eventops/engine"
)

// What the shop offers for a shared capacity: buyers over HTTP against the
// sandbox, their orders delivered to eventops by signed webhooks.

// buy is a buyer's order through the sandbox's HTTP control route: true
// when the shop accepted it, false when it refused it (not enough offered).
func (h *hooked) buy(variantID string, quantity int) bool {
	h.t.Helper()
	raw, _ := json.Marshal(map[string]any{"variant_id": variantID, "quantity": quantity})
	resp, err := http.Post(h.srv.URL+"/sandbox/shopify/"+h.shop.Name+"/orders", "application/json", bytes.NewReader(raw))
	if err != nil {
		h.t.Errorf("buy: %v", err)
		return false
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode < 300:
		return true
	case resp.StatusCode == http.StatusUnprocessableEntity || resp.StatusCode == http.StatusBadRequest:
		return false
	default:
		h.t.Errorf("buy: HTTP %d", resp.StatusCode)
		return false
	}
}

// settled waits until every inventory-only save of the event has ended.
func (h *hooked) settled(eventID uint64) {
	h.t.Helper()
	until(h.t, 30*time.Second, func() bool {
		for _, op := range h.inventoryOps(eventID) {
			if !op.Status.Terminal() {
				return false
			}
		}
		return true
	}, func() string { return "inventory saves still running" })
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

func (h *hooked) sold(eventID uint64) int {
	h.t.Helper()
	s := h.structure(eventID)
	if s == nil {
		h.t.Fatalf("no structure for event %d", eventID)
	}
	return s.SoldAll
}

// The case: capacity 50, two types of 40. The shop used to offer 40
// and 40, and two buyers taking 40 each both succeeded: 80 sold for 50
// seats. It now offers 25 and 25; after each recorded sale the rest is
// rebalanced; the last seats sell, and nothing beyond them.
func TestSharedCapacityIsNeverOversoldInTheShop(t *testing.T) {
	t.Parallel()
	h := setupHooked(t, options{})
	ev, op := h.create(h.input("Shared", ptr(50), regType{"A", 1000, ptr(40)}, regType{"B", 2000, ptr(40)}))
	h.completed(op.ID)
	if got := h.levels(ev.ID); fmt.Sprint(got) != "[25 25]" {
		t.Fatalf("shop offers %v, want [25 25]", got)
	}
	vs := h.structure(ev.ID).Products[0].Variants
	a, b := vs[0].ShopifyVariantID, vs[1].ShopifyVariantID
	if h.buy(a, 40) && h.buy(b, 40) {
		t.Fatal("two buyers took 40 and 40 of a capacity of 50")
	}
	if !h.buy(a, 25) {
		t.Fatal("the shop refused 25 of the 25 it offers")
	}
	h.delivered("orders/create", 1)
	h.settled(ev.ID)
	// 25 left: A has 15 left of its own, B 40; one each, then 23 by what is
	// left after it (14 and 39), by largest remainder.
	if got := h.levels(ev.ID); fmt.Sprint(got) != "[9 16]" {
		t.Fatalf("after 25 of A: shop offers %v, want [9 16]", got)
	}
	if h.buy(b, 17) {
		t.Fatal("the shop sold 17 of B with 16 offered")
	}
	// Both at once (their webhooks held back: a rebalance in between
	// would move seats from one type to the other, by the policy).
	h.rc.hold.Store(true)
	if !h.buy(b, 16) || !h.buy(a, 9) {
		t.Fatal("the shop refused what it offers")
	}
	h.rc.hold.Store(false)
	h.delivered("orders/create", 3)
	h.settled(ev.ID)
	if got := h.levels(ev.ID); sum(got) != 0 {
		t.Errorf("sold out, yet the shop offers %v", got)
	}
	if h.buy(a, 1) || h.buy(b, 1) {
		t.Error("the shop sold a 51st seat")
	}
	if n := h.sold(ev.ID); n != 50 {
		t.Errorf("sold %d, want 50", n)
	}
}

// Many buyers at once, each buying one or two of either type as fast as the
// shop answers: whatever the interleaving of sales, webhooks and the
// rebalancing saves they start, the shop never sells more than the
// capacity, every sale is recorded, and every seat is sold in the end.
func TestConcurrentBuyersNeverOversell(t *testing.T) {
	t.Parallel()
	h := setupHooked(t, options{workers: 4})
	const capacity = 50
	ev, op := h.create(h.input("Rush", ptr(capacity), regType{"A", 1000, ptr(40)}, regType{"B", 2000, ptr(30)},
		regType{"C", 3000, nil}))
	h.completed(op.ID)
	var variants []string
	for _, v := range h.structure(ev.ID).Products[0].Variants {
		variants = append(variants, v.ShopifyVariantID)
	}
	var accepted, orders atomic.Int64
	deadline := time.Now().Add(60 * time.Second)
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; time.Now().Before(deadline); n++ {
				if h.sold(ev.ID) >= capacity {
					return
				}
				q := 1 + (i+n)%2
				if h.buy(variants[(i+n)%len(variants)], q) {
					accepted.Add(int64(q))
					orders.Add(1)
				} else {
					time.Sleep(time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	h.delivered("orders/create", int(orders.Load()))
	h.settled(ev.ID)
	if got := accepted.Load(); got > capacity {
		t.Fatalf("the shop accepted %d seats of %d", got, capacity)
	}
	if got := h.sold(ev.ID); int64(got) != accepted.Load() || got != capacity {
		t.Errorf("recorded %d sold, the shop accepted %d, capacity %d", got, accepted.Load(), capacity)
	}
	if got := h.levels(ev.ID); sum(got) != 0 {
		t.Errorf("sold out, yet the shop offers %v", got)
	}
}

// A burst of sales makes one rebalancing save, not one each: while the
// event's queue is busy (a save held in catalog), ten recorded sales all
// join the one inventory-only save queued behind it, which then pushes the
// allocation after all ten.
func TestRebalancesAreCoalesced(t *testing.T) {
	t.Parallel()
	g := &gate{held: make(chan struct{}), release: make(chan struct{}),
		match: func(body string) bool { return strings.Contains(body, "mutation ProductSet") }}
	h := setupHooked(t, options{wrap: func(next http.RoundTripper) http.RoundTripper { g.next = next; return g }})
	ev, op := h.create(h.input("Burst", ptr(50), regType{"A", 1000, ptr(40)}, regType{"B", 2000, ptr(40)}))
	h.completed(op.ID)
	a := h.structure(ev.ID).Products[0].Variants[0].ShopifyVariantID
	g.armed.Store(true)
	_, save := h.update(ev.ID, engine.EventInput{Name: ptr("Burst (renamed)")})
	select {
	case <-g.held:
	case <-time.After(30 * time.Second):
		t.Fatal("the save never reached catalog")
	}
	for range 10 {
		if !h.buy(a, 1) {
			t.Fatal("the shop refused a seat it offers")
		}
	}
	h.delivered("orders/create", 10)
	if ops := h.inventoryOps(ev.ID); len(ops) != 1 {
		t.Errorf("%d inventory-only saves for 10 sales, want 1", len(ops))
	}
	// The reconciliation timer's entry point joins it too.
	if op, err := h.eng.Rebalance(context.Background(), h.company.ID, ev.ID); err != nil || op != nil {
		t.Errorf("Rebalance while a rebalance is queued: %v, %v; want it joined", op, err)
	}
	g.armed.Store(false)
	close(g.release)
	h.completed(save.ID)
	h.settled(ev.ID)
	// 40 left: A 30 of its own, B 40; one each, then 38 by 29 and 39.
	if got := h.levels(ev.ID); fmt.Sprint(got) != "[17 23]" {
		t.Errorf("after 10 sales of A: shop offers %v, want [17 23]", got)
	}
	// With nothing queued, it starts a save, which finds nothing to write.
	rop, err := h.eng.Rebalance(context.Background(), h.company.ID, ev.ID)
	if err != nil || rop == nil || !rop.InventoryOnly {
		t.Fatalf("Rebalance: %v, %v", rop, err)
	}
	h.completed(rop.ID)
	if got := h.levels(ev.ID); fmt.Sprint(got) != "[17 23]" {
		t.Errorf("after a rebalance: shop offers %v, want [17 23]", got)
	}
}

// A crash between the lowering and the raising of a rebalance: the shop
// never offers more than exists meanwhile, the resumed save finishes the
// job, and the lowering's offer, committed as soon as the shop took it, is
// not mistaken after the restart for a sale to hold back.
func TestRebalanceSurvivesACrashBetweenLoweringAndRaising(t *testing.T) {
	t.Parallel()
	g := &gate{held: make(chan struct{}), release: make(chan struct{}), unsent: true, match: func(body string) bool {
		return strings.Contains(body, "mutation InventorySet") && strings.Contains(body, `"quantity":12`)
	}}
	h := setupHooked(t, options{wrap: func(next http.RoundTripper) http.RoundTripper { g.next = next; return g }})
	ev, op := h.create(h.input("Crash", ptr(50), regType{"A", 1000, ptr(40)}, regType{"B", 2000, ptr(40)}))
	h.completed(op.ID)
	a := h.structure(ev.ID).Products[0].Variants[0].ShopifyVariantID
	h.rc.hold.Store(true)
	if !h.buy(a, 20) {
		t.Fatal("the shop refused 20 of the 25 it offers")
	}
	if got := h.levels(ev.ID); fmt.Sprint(got) != "[5 25]" {
		t.Fatalf("after the sale the shop offers %v", got)
	}
	// Recorded: 30 left, A 20 of its own; the rebalance lowers B to 18,
	// then would raise A to 12, which is held, and eventops crashes.
	g.armed.Store(true)
	h.rc.hold.Store(false)
	select {
	case <-g.held:
	case <-time.After(30 * time.Second):
		t.Fatal("the rebalance never raised A")
	}
	if got := h.levels(ev.ID); fmt.Sprint(got) != "[5 18]" {
		t.Errorf("between lowering and raising the shop offers %v, want [5 18]", got)
	}
	h.crash()
	g.armed.Store(false)
	close(g.release)
	h.start()
	h.settled(ev.ID)
	if got := h.levels(ev.ID); fmt.Sprint(got) != "[12 18]" {
		t.Errorf("after the restart the shop offers %v, want [12 18]", got)
	}
	if n := h.sold(ev.ID); n != 20 {
		t.Errorf("sold %d, want 20", n)
	}
}
