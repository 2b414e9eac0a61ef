package shopify_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"eventops/engine"
	"eventops/engine/shopify"
)

// A box-office sale of a Shopify company takes its seats off the shop's
// offer before it commits: the moment the API answers, the shop offers no
// more than what is left, even while the rebalancing save that follows is
// held up. When the shop cannot be reached, nothing is sold.
func TestBoxOfficeTakesSeatsFromTheShopFirst(t *testing.T) {
	t.Parallel()
	g := &gate{held: make(chan struct{}), release: make(chan struct{}), unsent: true, match: func(body string) bool {
		return strings.Contains(body, "mutation InventorySet") && strings.Contains(body, "gid://eventops/Operation/")
	}}
	b := setup(t, options{wrap: func(next http.RoundTripper) http.RoundTripper { g.next = next; return g }})
	ev, op := b.create(b.input("Box office", ptr(10), regType{"A", 1000, ptr(10)}, regType{"B", 2000, ptr(10)}))
	b.completed(op.ID)
	levels := func() []int {
		vs := byTitle(b.productByHandle(b.handleOf(ev.ID)))
		loc := b.setupOf().LocationID
		return []int{vs["A"].available()[loc], vs["B"].available()[loc]}
	}
	if got := levels(); fmt.Sprint(got) != "[5 5]" {
		t.Fatalf("shop offers %v, want [5 5]", got)
	}
	g.armed.Store(true) // the rebalancing save's writes are held
	_, iop, err := b.eng.CreateOrder(context.Background(), b.company.ID, ev.ID,
		engine.OrderInput{RegistrationTypeID: ev.RegistrationTypes[0].ID, Quantity: 4})
	if err != nil {
		t.Fatal(err)
	}
	// 6 seats left: A 6 of its own, B 10 (at most the 6); one each, then
	// 4 by 5 and 5.
	if got := levels(); fmt.Sprint(got) != "[3 3]" {
		t.Errorf("right after the box-office sale the shop offers %v, want [3 3] (never more than the 6 left)", got)
	}
	v, err := b.eng.EventView(b.company.ID, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range v.Structure.Products {
		for _, vr := range p.Variants {
			if vr.ShopOffer == nil {
				t.Errorf("variant %s: the offer written is not recorded", vr.Title)
			}
		}
	}
	g.armed.Store(false)
	close(g.release)
	b.completed(iop.ID)
	if got := levels(); fmt.Sprint(got) != "[3 3]" {
		t.Errorf("after the rebalance the shop offers %v, want [3 3]", got)
	}

	// The shop is down: the order is refused, nothing recorded, the shop
	// unchanged.
	b.faults(fault{Operation: "*", Fault: "http_503", Times: 1000})
	_, _, err = b.eng.CreateOrder(context.Background(), b.company.ID, ev.ID,
		engine.OrderInput{RegistrationTypeID: ev.RegistrationTypes[1].ID, Quantity: 1})
	if engine.ErrorKind(err) != engine.KindUnavailable || engine.ErrorCode(err) != engine.CodeOrderShopUnavailable {
		t.Fatalf("order with the shop down: %v, want ORDER_SHOP_UNAVAILABLE", err)
	}
	b.control(http.MethodDelete, "/faults", nil)
	if os, _ := b.eng.Orders(b.company.ID, ev.ID); len(os) != 1 {
		t.Errorf("%d orders after a refused one, want 1", len(os))
	}
	if got := levels(); fmt.Sprint(got) != "[3 3]" {
		t.Errorf("after a refused order the shop offers %v, want [3 3]", got)
	}
}

// Two box-office sales from the same levels are two writes: the second
// one's idempotency key is not the first one's (Shopify replays a key's
// answer for 24 hours, and a replay writes nothing), so right after it
// the shop offers what is left, not the seats it sold.
func TestRepeatedBoxOfficeSaleFromTheSameLevelsLowersTheShop(t *testing.T) {
	t.Parallel()
	g := &gate{held: make(chan struct{}), release: make(chan struct{}), unsent: true, match: func(body string) bool {
		return strings.Contains(body, "mutation InventorySet") && strings.Contains(body, "gid://eventops/Operation/")
	}}
	b := setup(t, options{wrap: func(next http.RoundTripper) http.RoundTripper { g.next = next; return g }})
	ev, op := b.create(b.input("Repeat", ptr(10), regType{"A", 1000, nil}))
	b.completed(op.ID)
	if got := b.shopLevels(ev.ID, "A"); got != "[10]" {
		t.Fatalf("shop offers %s, want [10]", got)
	}
	order := func() *engine.Operation {
		t.Helper()
		_, op, err := b.eng.CreateOrder(context.Background(), b.company.ID, ev.ID,
			engine.OrderInput{RegistrationTypeID: ev.RegistrationTypes[0].ID, Quantity: 2})
		if err != nil {
			t.Fatal(err)
		}
		return op
	}
	b.completed(order().ID)
	if got := b.shopLevels(ev.ID, "A"); got != "[8]" {
		t.Fatalf("after the first sale the shop offers %s, want [8]", got)
	}
	_, op = b.update(ev.ID, engine.EventInput{Capacity: engine.Nullable[int]{Set: true, Value: ptr(12)}})
	b.completed(op.ID)
	if got := b.shopLevels(ev.ID, "A"); got != "[10]" {
		t.Fatalf("after capacity 12 the shop offers %s, want [10]", got)
	}
	g.armed.Store(true) // the rebalancing save's writes are held
	op = order()
	if got := b.shopLevels(ev.ID, "A"); got != "[8]" {
		t.Errorf("right after the second sale of 2 from 10 the shop offers %s, want [8] (8 are left)", got)
	}
	g.armed.Store(false)
	close(g.release)
	b.completed(op.ID)
	if got := b.shopLevels(ev.ID, "A"); got != "[8]" {
		t.Errorf("after the rebalance the shop offers %s, want [8]", got)
	}
}

// A box-office sale does not hold the event's queue lock across its
// Shopify calls: while its lowering is held up in the shop, a shop sale of
// the same event is recorded (its webhook is not kept waiting past
// Shopify's delivery timeout), and the box-office sale then commits.
func TestBoxOfficeSaleDoesNotHoldUpShopWebhooks(t *testing.T) {
	t.Parallel()
	g := &gate{held: make(chan struct{}), release: make(chan struct{}), unsent: true, match: func(body string) bool {
		return strings.Contains(body, "gid://eventops/BoxOffice/")
	}}
	slow := shopify.ClientPolicy{Attempts: 2, Base: 2 * time.Millisecond, Max: 10 * time.Millisecond,
		Deadline: time.Minute, Timeout: time.Minute}
	h := setupHooked(t, options{client: slow, wrap: func(next http.RoundTripper) http.RoundTripper { g.next = next; return g }})
	ev, op := h.create(h.input("Busy night", ptr(20), regType{"A", 1000, ptr(20)}))
	h.completed(op.ID)
	variant := h.structure(ev.ID).Products[0].Variants[0].ShopifyVariantID

	g.armed.Store(true)
	done := make(chan error, 1)
	go func() {
		_, _, err := h.eng.CreateOrder(context.Background(), h.company.ID, ev.ID,
			engine.OrderInput{RegistrationTypeID: ev.RegistrationTypes[0].ID, Quantity: 3})
		done <- err
	}()
	select {
	case <-g.held:
	case <-time.After(30 * time.Second):
		t.Fatal("the box-office sale never reached its inventory write")
	}
	if _, err := h.sb.PlaceOrder(h.shop.Name, variant, 2); err != nil {
		t.Fatalf("buyer: %v", err)
	}
	until(t, 20*time.Second, func() bool { p, _ := h.paidRefunded(ev.ID); return p == 2 },
		func() string {
			p, _ := h.paidRefunded(ev.ID)
			return "paid while the box-office sale is held: " + strconv.Itoa(p)
		})
	select {
	case err := <-done:
		t.Fatalf("the box-office sale ended before it was released: %v", err)
	default:
	}
	g.armed.Store(false)
	close(g.release)
	if err := <-done; err != nil {
		t.Fatalf("box-office sale: %v", err)
	}
	until(t, 20*time.Second, func() bool { p, _ := h.paidRefunded(ev.ID); return p == 5 },
		func() string { p, _ := h.paidRefunded(ev.ID); return "paid after both sales: " + strconv.Itoa(p) })
}
