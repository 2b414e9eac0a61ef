package main

// The soak's buyers (issue 14, "Done when"): several concurrent buyers keep
// buying from the sandbox shop over HTTP (its control route POST
// /sandbox/shopify/{shop}/orders) while the events' scripts save, PATCH
// (names, prices, added quantities and capacity: nothing that shrinks the
// pool), refund and delete, faults are switched on and the server is
// killed. A buyer picks a live variant of an event open for sale (the
// API's shopify_variant_id) and one to three tickets; a refusal for lack of
// stock is normal and counted.
//
// Once everything has settled, shopAudit counts what a merchant would
// notice (each must be 0; the soak fails otherwise):
//   - oversold: per occurrence, the paid units (shop orders the sandbox
//     holds, less what was refunded, plus box-office orders) beyond its
//     capacity, summed; and per registration type beyond its quantity;
//   - unrecorded: shop orders that eventops has no order for (the event's
//     orders, or its parent's for an occurrence that is gone);
//   - refund_mismatch: after an event refund, shop orders whose refunded
//     money differs from what the buyer paid; and orders eventops marked
//     refunded whose shop order shows a different amount given back;
//
// and converge: how long after the last sale the shop's offers (sandbox
// state) took to equal the allocation eventops reports (shop_available per
// registration type, itself equal to the allocation of what the API shows
// sold), reported, not asserted: after 2 minutes the summary shows
// converge=never(>…) and every offer still different is logged.

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"eventops/engine"
	"eventops/engine/shopify/sandbox"
	"eventops/web/client"
)

// soakBuyers is the buyers' shared state.
type soakBuyers struct {
	mu       sync.Mutex
	open     map[uint64]bool      // events (date events, first occurrences) open for sale
	inflight map[uint64]int       // buyer orders being placed, by event
	parent   map[uint64]uint64    // occurrence → its recurring event
	variants map[string]uint64    // variant gid → the event it sells (read by buyers and scripts)
	refunded map[uint64]time.Time // events an event refund ran for, when the first was sent
	placed   int
	units    int
	refused  int
	lastSale time.Time

	stop chan struct{}
	wg   sync.WaitGroup
}

func newSoakBuyers() *soakBuyers {
	return &soakBuyers{open: map[uint64]bool{}, inflight: map[uint64]int{}, parent: map[uint64]uint64{},
		variants: map[string]uint64{}, refunded: map[uint64]time.Time{}, stop: make(chan struct{})}
}

// openForSale lets the buyers buy from event target (of recurring event
// parent, 0 for a date event).
func (s *soak) openForSale(target, parent uint64) {
	b := s.buyers
	b.mu.Lock()
	defer b.mu.Unlock()
	b.open[target] = true
	if parent != 0 {
		b.parent[target] = parent
	}
}

// closeForSale stops the buyers buying from target and waits until no
// order of theirs for it is in flight, so that an event refund after it
// covers every buyer's order (the script then waits for them to be
// recorded).
func (s *soak) closeForSale(ctx context.Context, target uint64) {
	b := s.buyers
	b.mu.Lock()
	delete(b.open, target)
	b.mu.Unlock()
	for ctx.Err() == nil {
		b.mu.Lock()
		n := b.inflight[target]
		b.mu.Unlock()
		if n == 0 {
			return
		}
		_ = soakSleep(ctx, 20*time.Millisecond)
	}
}

// markRefunded notes an event refund of event id, about to be sent: the
// shop orders placed before it must be refunded in full (the shop may
// sell again after it: the event stays on sale, and a sell_between fault
// buys what a rebalance offers).
func (s *soak) markRefunded(id uint64) {
	s.buyers.mu.Lock()
	if _, ok := s.buyers.refunded[id]; !ok {
		s.buyers.refunded[id] = time.Now()
	}
	s.buyers.mu.Unlock()
}

// noteParent remembers an occurrence's recurring event.
func (s *soak) noteParent(occ, parent uint64) {
	s.buyers.mu.Lock()
	s.buyers.parent[occ] = parent
	s.buyers.mu.Unlock()
}

// noteVariants remembers which event each mirrored variant of ev sells.
func (s *soak) noteVariants(ev *client.Event) {
	s.buyers.mu.Lock()
	defer s.buyers.mu.Unlock()
	for _, rt := range ev.RegistrationTypes {
		if rt.ShopifyVariantID != nil && *rt.ShopifyVariantID != "" {
			s.buyers.variants[*rt.ShopifyVariantID] = ev.ID
		}
	}
}

// startBuyers starts n buyers; stopBuyers ends them.
func (s *soak) startBuyers(ctx context.Context, n int) {
	for i := range n {
		s.buyers.wg.Add(1)
		go func() {
			defer s.buyers.wg.Done()
			s.buyer(ctx, i)
		}()
	}
}

func (s *soak) stopBuyers() {
	close(s.buyers.stop)
	s.buyers.wg.Wait()
}

// buyer buys until stopped: an open event at random, a variant of it at
// random, one to three tickets, then a pause.
func (s *soak) buyer(ctx context.Context, n int) {
	b := s.buyers
	for {
		select {
		case <-b.stop:
			return
		case <-ctx.Done():
			return
		case <-time.After(s.jitter(50*time.Millisecond, 300*time.Millisecond)):
		}
		b.mu.Lock()
		ids := make([]uint64, 0, len(b.open))
		for id := range b.open {
			ids = append(ids, id)
		}
		if len(ids) == 0 {
			b.mu.Unlock()
			continue
		}
		target := ids[s.intn(len(ids))]
		b.inflight[target]++
		b.mu.Unlock()
		s.buyOnce(ctx, n, target)
		b.mu.Lock()
		b.inflight[target]--
		b.mu.Unlock()
	}
}

func (s *soak) buyOnce(ctx context.Context, n int, target uint64) {
	ev, err := s.api.Event(ctx, target)
	if err != nil {
		return // the server is restarting, or the event is gone: try another
	}
	s.noteVariants(ev)
	var variants []string
	for _, rt := range ev.RegistrationTypes {
		if rt.ShopifyVariantID != nil && *rt.ShopifyVariantID != "" {
			variants = append(variants, *rt.ShopifyVariantID)
		}
	}
	if len(variants) == 0 {
		return
	}
	v, qty := variants[s.intn(len(variants))], 1+s.intn(3)
	a, err := s.shopControl(ctx, http.MethodPost, "/orders", map[string]any{"variant_id": v, "quantity": qty})
	switch {
	case err != nil:
		if ctx.Err() == nil {
			s.note("buyer %d: shop order for event %d: %v", n, target, err)
		}
	case a.status == http.StatusCreated:
		var out struct{ Order sandbox.OrderState }
		if err := json.Unmarshal(a.body, &out); err != nil || out.Order.ID == "" {
			s.note("buyer %d: shop order answer %s", n, a.body)
			return
		}
		s.mu.Lock()
		s.shopOrders[out.Order.ID] = target
		s.counts["buyer order"]++
		s.mu.Unlock()
		s.buyers.mu.Lock()
		s.buyers.placed++
		s.buyers.units += qty
		s.buyers.lastSale = time.Now()
		s.buyers.mu.Unlock()
	case a.status == http.StatusUnprocessableEntity && strings.Contains(string(a.body), "not enough inventory"):
		s.buyers.mu.Lock()
		s.buyers.refused++
		s.buyers.mu.Unlock()
		s.refusal("buyer sold out")
	default:
		s.note("buyer %d: shop order for event %d answered %d %s", n, target, a.status, a.body)
	}
}

// shopCounts are the buyers' counters and what shopAudit found.
type shopCounts struct {
	oversold, oversoldTypes, unrecorded, refundMismatch int
	converge                                            time.Duration
	converged                                           bool
	unconverged                                         []string // the offers still different after the wait
}

// soakCents reads a sandbox money string ("25.00") as cents.
func soakCents(s string) int64 {
	if s == "" {
		return 0
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return -1
	}
	return int64(math.Round(f * 100))
}

// awaitConvergence waits (up to 2 minutes) until the shop's offers equal
// the allocation eventops reports, and notes how long after the last sale
// that was, or the offers still different.
func (s *soak) awaitConvergence(ctx context.Context, c *shopCounts) {
	s.buyers.mu.Lock()
	last := s.buyers.lastSale
	s.buyers.mu.Unlock()
	if last.IsZero() {
		last = time.Now()
	}
	deadline := time.Now().Add(2 * time.Minute)
	var diffs []string
	for {
		diffs = s.offerDiffs(ctx)
		if len(diffs) == 0 {
			c.converge, c.converged = time.Since(last), true
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		_ = soakSleep(ctx, 250*time.Millisecond)
	}
	c.converge = time.Since(last)
	c.unconverged = diffs
}

// offerDiffs compares, for every mirrored variant of a live date event or
// occurrence, the shop's level at the app's location with shop_available,
// and shop_available with the allocation of what the API shows sold.
func (s *soak) offerDiffs(ctx context.Context) []string {
	st, err := s.shopState(ctx)
	if err != nil {
		return []string{"shop state: " + err.Error()}
	}
	all, err := s.api.AllEvents(ctx, client.EventListOptions{})
	if err != nil {
		return []string{"list events: " + err.Error()}
	}
	appLocation := ""
	for _, fs := range st.FulfillmentServices {
		appLocation = fs.LocationID
	}
	itemOf := map[string]string{}
	for _, v := range st.Variants {
		itemOf[v.ID] = v.InventoryItemID
	}
	levels := map[string]int64{}
	for _, l := range st.InventoryLevels {
		if l.LocationID == appLocation {
			levels[l.InventoryItemID] = l.Available
		}
	}
	var diffs []string
	for _, ev := range all {
		if ev.Type != client.EventDate {
			continue
		}
		types := make([]engine.AllocType, len(ev.RegistrationTypes))
		for i, rt := range ev.RegistrationTypes {
			types[i].ID = rt.ID
			if rt.Quantity != nil {
				left := *rt.Quantity - deref(rt.Sold)
				types[i].Left = &left
			}
		}
		alloc := engine.Allocate(ev.Capacity, deref(ev.Sold), types)
		for i, rt := range ev.RegistrationTypes {
			if rt.ShopifyVariantID == nil {
				continue
			}
			lv, ok := levels[itemOf[*rt.ShopifyVariantID]]
			switch {
			case rt.ShopAvailable == nil:
				diffs = append(diffs, fmt.Sprintf("event %d %q: shop_available null", ev.ID, rt.Name))
			case !ok || lv != int64(*rt.ShopAvailable):
				diffs = append(diffs, fmt.Sprintf("event %d %q: the shop offers %d (found %v), shop_available %d",
					ev.ID, rt.Name, lv, ok, *rt.ShopAvailable))
			case alloc[i] != nil && *alloc[i] != *rt.ShopAvailable:
				diffs = append(diffs, fmt.Sprintf("event %d %q: shop_available %d, the allocation of what is sold %d",
					ev.ID, rt.Name, *rt.ShopAvailable, *alloc[i]))
			}
		}
	}
	return diffs
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// shopAudit counts oversold, unrecorded and refund_mismatch (see above).
func (s *soak) shopAudit(ctx context.Context, r *soakResult, c *shopCounts) {
	st, err := s.shopState(ctx)
	if err != nil {
		s.t.Fatalf("shop state: %v", err)
	}
	all, err := s.api.AllEvents(ctx, client.EventListOptions{})
	if err != nil {
		s.t.Fatalf("list events: %v", err)
	}
	live := map[uint64]client.Event{}
	type typeOf struct{ event, rt uint64 }
	variantType := map[string]typeOf{}
	for _, ev := range all {
		live[ev.ID] = ev
		for _, rt := range ev.RegistrationTypes {
			if rt.ShopifyVariantID != nil {
				variantType[*rt.ShopifyVariantID] = typeOf{ev.ID, rt.ID}
			}
		}
	}
	s.mu.Lock()
	shopOrders := make(map[string]uint64, len(s.shopOrders))
	for k, v := range s.shopOrders {
		shopOrders[k] = v
	}
	deleted := make(map[uint64]bool, len(s.deleted))
	for id := range s.deleted {
		deleted[id] = true
	}
	s.mu.Unlock()
	b := s.buyers
	b.mu.Lock()
	variants := make(map[string]uint64, len(b.variants))
	for k, v := range b.variants {
		variants[k] = v
	}
	parent := make(map[uint64]uint64, len(b.parent))
	for k, v := range b.parent {
		parent[k] = v
	}
	refundedAt := make(map[uint64]time.Time, len(b.refunded))
	for k, v := range b.refunded {
		refundedAt[k] = v
	}
	b.mu.Unlock()

	// eventops' orders, by event, read once each.
	ordersOf := map[uint64][]client.Order{}
	orders := func(id uint64) []client.Order {
		if o, ok := ordersOf[id]; ok {
			return o
		}
		o, err := s.orders(ctx, id)
		if err != nil && !soakNotFound(err) {
			s.t.Fatalf("orders of event %d: %v", id, err)
		}
		ordersOf[id] = o
		return o
	}
	// The event a shop order sold: by its SKU (eventops-{installation}-
	// {event}-{registration type}; the sandbox's sell_between fault buys
	// too, and its orders are nobody's in the soak), else by its variant,
	// live or remembered.
	eventOf := func(o sandbox.OrderState) uint64 {
		if len(o.LineItems) > 0 {
			if f := strings.Split(o.LineItems[0].SKU, "-"); len(f) == 4 && f[0] == "eventops" {
				if id, err := strconv.ParseUint(f[2], 10, 64); err == nil {
					return id
				}
			}
			if t, ok := variantType[o.LineItems[0].VariantID]; ok {
				return t.event
			}
			if id, ok := variants[o.LineItems[0].VariantID]; ok {
				return id
			}
		}
		return shopOrders[o.ID]
	}

	// Oversold: paid units per occurrence and per type.
	paid := map[uint64]int{}
	paidType := map[typeOf]int{}
	for _, o := range st.Orders {
		if o.CancelledAt != nil {
			continue
		}
		for _, li := range o.LineItems {
			t, ok := variantType[li.VariantID]
			if !ok {
				continue
			}
			n := int(li.Quantity - li.Refunded)
			paid[t.event] += n
			paidType[t] += n
		}
	}
	for id, ev := range live {
		if ev.Type != client.EventDate {
			continue
		}
		for _, o := range orders(id) {
			if o.ShopifyOrderID == nil && o.Status == "paid" {
				paid[id] += o.Quantity
				paidType[typeOf{id, o.RegistrationTypeID}] += o.Quantity
			}
		}
		if ev.Capacity != nil && paid[id] > *ev.Capacity {
			c.oversold += paid[id] - *ev.Capacity
			r.problem("event %d: %d paid for a capacity of %d", id, paid[id], *ev.Capacity)
		}
		for _, rt := range ev.RegistrationTypes {
			if n := paidType[typeOf{id, rt.ID}]; rt.Quantity != nil && n > *rt.Quantity {
				c.oversoldTypes += n - *rt.Quantity
				r.problem("event %d %q: %d paid for a quantity of %d", id, rt.Name, n, *rt.Quantity)
			}
		}
	}
	c.oversold += c.oversoldTypes

	// Unrecorded: every shop order is an order in eventops, unless its
	// event was deleted (after a refund: checked below).
	recordedIn := func(id uint64, order string) bool {
		for _, o := range orders(id) {
			if o.ShopifyOrderID != nil && *o.ShopifyOrderID == order {
				return true
			}
		}
		return false
	}
	for _, o := range st.Orders {
		id := eventOf(o)
		p := parent[id]
		if deleted[id] || (p != 0 && deleted[p]) {
			continue
		}
		_, isLive := live[id]
		switch {
		case isLive && recordedIn(id, o.ID):
		case p != 0 && recordedIn(p, o.ID): // the occurrence is gone: recorded on its parent
		default:
			c.unrecorded++
			r.problem("shop order %s (event %d) is not recorded in eventops", o.ID, id)
		}
	}

	// Refund mismatch: after an event refund the buyer got back what was
	// paid; and what eventops marked refunded shows that money back.
	// refundedBefore: the event refund of o's event (or its parent) was
	// sent after o was placed.
	refundedBefore := func(o sandbox.OrderState) bool {
		id := eventOf(o)
		for _, e := range []uint64{id, parent[id]} {
			if at, ok := refundedAt[e]; ok && e != 0 && o.CreatedAt.Before(at) {
				return true
			}
		}
		return false
	}
	byID := map[string]sandbox.OrderState{}
	for _, o := range st.Orders {
		byID[o.ID] = o
		id := eventOf(o)
		if !refundedBefore(o) {
			continue
		}
		if got, want := soakCents(o.TotalRefunded), soakCents(o.TotalPrice); got != want {
			c.refundMismatch++
			r.problem("shop order %s (event %d, refunded): %s refunded of %s paid", o.ID, id, o.TotalRefunded, o.TotalPrice)
		}
	}
	marked := map[string]int64{}
	for id := range live {
		for _, o := range orders(id) {
			if o.ShopifyOrderID != nil && o.Status == "refunded" {
				marked[*o.ShopifyOrderID] += o.Amount.Amount
			}
		}
	}
	for order, amount := range marked {
		o, ok := byID[order]
		if !ok {
			continue
		}
		if got := soakCents(o.TotalRefunded); got != amount {
			if refundedBefore(o) {
				continue // counted above
			}
			c.refundMismatch++
			r.problem("shop order %s: eventops marked %d refunded, the shop gave back %s", order, amount, o.TotalRefunded)
		}
	}
}
