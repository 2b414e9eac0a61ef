package shopify_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"eventops/engine"
)

// A save that shrinks what the shop may offer lowers the shop in its first
// Shopify step, before catalog changes anything: held at its productSet,
// the shop already offers the new allocation, and a removed registration
// type is already at 0.
func TestShrinkingSaveLowersTheShopFirst(t *testing.T) {
	t.Parallel()
	g := &gate{held: make(chan struct{}), release: make(chan struct{}), unsent: true,
		match: func(body string) bool { return strings.Contains(body, "mutation ProductSet") }}
	b := setup(t, options{wrap: func(next http.RoundTripper) http.RoundTripper { g.next = next; return g }})
	ev, op := b.create(b.input("Shrink", ptr(50), regType{"A", 1000, ptr(40)}, regType{"B", 2000, ptr(40)},
		regType{"C", 3000, ptr(40)}))
	b.completed(op.ID)
	levels := func() map[string]int {
		out := map[string]int{}
		loc := b.setupOf().LocationID
		for title, v := range byTitle(b.productByHandle(b.handleOf(ev.ID))) {
			out[title] = v.available()[loc]
		}
		return out
	}
	if got := fmt.Sprint(levels()); got != "map[A:17 B:17 C:16]" {
		t.Fatalf("shop offers %s", got)
	}
	// Capacity 50 → 20 and C removed, in one PATCH.
	rts := []engine.RegistrationTypeInput{}
	for _, rt := range ev.RegistrationTypes[:2] {
		rts = append(rts, engine.RegistrationTypeInput{ID: ptr(rt.ID), Name: rt.Name, TicketTypeID: rt.TicketTypeID,
			Price: engine.MoneyInput{Amount: ptr(rt.Price.Amount), Currency: rt.Price.Currency}, Quantity: rt.Quantity})
	}
	g.armed.Store(true)
	_, op = b.update(ev.ID, engine.EventInput{Capacity: engine.Nullable[int]{Set: true, Value: ptr(20)}, RegistrationTypes: &rts})
	select {
	case <-g.held:
	case <-time.After(30 * time.Second):
		t.Fatal("the save never reached its productSet")
	}
	if got := fmt.Sprint(levels()); got != "map[A:10 B:10 C:0]" {
		t.Errorf("while catalog is held the shop offers %s, want map[A:10 B:10 C:0]", got)
	}
	g.armed.Store(false)
	close(g.release)
	b.completed(op.ID)
	if got := fmt.Sprint(levels()); got != "map[A:10 B:10]" {
		t.Errorf("after the save the shop offers %s, want map[A:10 B:10]", got)
	}
	if s := b.structure(ev.ID); len(s.Dropped) != 0 {
		t.Errorf("removed variants still listed after the catalog deleted them: %v", s.Dropped)
	}
}

// Shrinking PATCHes racing buyers: whatever sells in the shop between a
// PATCH's answer and its first Shopify step is recorded (the buyers paid),
// and the event reports as oversold exactly what was sold beyond the
// capacity, never hiding or losing a sale.
func TestShrinkingPatchesRacingBuyersReportOversold(t *testing.T) {
	t.Parallel()
	h := setupHooked(t, options{workers: 4})
	ev, op := h.create(h.input("Squeeze", ptr(60), regType{"A", 1000, ptr(40)}, regType{"B", 2000, ptr(40)}))
	h.completed(op.ID)
	var variants []string
	for _, v := range h.structure(ev.ID).Products[0].Variants {
		variants = append(variants, v.ShopifyVariantID)
	}
	var accepted, orders atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				if h.buy(variants[(i+n)%2], 1) {
					accepted.Add(1)
					orders.Add(1)
				}
				time.Sleep(3 * time.Millisecond) // buyers at a human-ish pace
			}
		}()
	}
	capacity := 60
	for capacity > 10 {
		capacity -= 5
		_, _, err := h.eng.UpdateEvent(context.Background(), h.company.ID, ev.ID,
			engine.EventInput{Capacity: engine.Nullable[int]{Set: true, Value: ptr(capacity)}})
		if engine.ErrorKind(err) == engine.KindInvalid {
			capacity += 5 // already sold beyond it: the API refuses (422)
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	close(stop)
	wg.Wait()
	h.delivered("orders/create", int(orders.Load()))
	until(t, 30*time.Second, func() bool {
		ops, _, err := h.eng.Operations(engine.OperationQuery{CompanyID: h.company.ID, EventID: ev.ID, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, op := range ops {
			if !op.Status.Terminal() {
				return false
			}
		}
		return true
	}, func() string { return "operations still running" })
	v, err := h.eng.EventView(h.company.ID, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	sold := v.Structure.SoldAll
	if int64(sold) != accepted.Load() {
		t.Errorf("recorded %d sold, the shop accepted %d", sold, accepted.Load())
	}
	want := max(sold-*v.Event.Capacity, 0)
	if got := v.Structure.Oversold(); got != want {
		t.Errorf("oversold %d, want %d (sold %d, capacity %d)", got, want, sold, *v.Event.Capacity)
	}
	if over := v.Structure.Oversold(); over == 0 {
		if levels := h.levels(ev.ID); levels[0]+levels[1] > *v.Event.Capacity-sold {
			t.Errorf("the shop offers %v with %d left", levels, *v.Event.Capacity-sold)
		}
	}
	t.Logf("sold %d, capacity %d, oversold %d", sold, *v.Event.Capacity, v.Structure.Oversold())
}
