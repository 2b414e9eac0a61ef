package main

// The soak's workload: each event's script, the fault injector, the
// killer, and the wait until everything has settled.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"eventops/engine/shopify/sandbox"
	"eventops/web/client"
)

func (s *soak) setUpCatalog(ctx context.Context) {
	s.t.Helper()
	a, err := s.write(ctx, http.MethodPost, "/venues", wrapped("venue", client.VenueInput{Name: "Soak Hall", TimeZone: "America/Chicago"}))
	if err != nil || a.status != http.StatusCreated {
		s.t.Fatalf("create venue: %v %+v", err, a)
	}
	s.venue = soakID(s.t, a.body)
	for i, n := range []string{"General admission", "VIP"} {
		a, err := s.write(ctx, http.MethodPost, "/ticket_types", wrapped("ticket_type", client.TicketTypeInput{Name: n}))
		if err != nil || a.status != http.StatusCreated {
			s.t.Fatalf("create ticket type: %v %+v", err, a)
		}
		s.ticketTypes[i] = soakID(s.t, a.body)
	}
}

// wrapped is a request body of the API: a resource's attributes under its
// name, {"event": {...}}.
func wrapped(name string, attrs any) map[string]any { return map[string]any{name: attrs} }

// eventChange is the body of an event update: only what is set is sent.
type eventChange struct {
	Name              string                         `json:"name,omitempty"`
	Capacity          *int                           `json:"capacity,omitempty"`
	PublishedAt       *time.Time                     `json:"published_at,omitempty"`
	RegistrationTypes []client.RegistrationTypeInput `json:"registration_types,omitempty"`
}

func ptr[T any](v T) *T { return &v }

func soakID(t testing.TB, body []byte) uint64 {
	var v struct {
		ID uint64 `json:"id"`
	}
	if err := json.Unmarshal(body, &v); err != nil || v.ID == 0 {
		t.Fatalf("no id in %s", body)
	}
	return v.ID
}

// drive runs the events' scripts, the fault injector and the killer
// together, and returns when all three are done.
func (s *soak) drive(ctx context.Context) {
	workCtx, stopFaults := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.injectFaults(workCtx) }()
	killed := make(chan struct{})
	go func() { defer wg.Done(); defer close(killed); s.killer(ctx) }()
	s.startBuyers(ctx, s.cfg.buyers)

	progress := time.NewTicker(15 * time.Second)
	defer progress.Stop()
	sem := make(chan struct{}, s.cfg.parallel)
	var events sync.WaitGroup
	done := make(chan struct{})
	go func() {
		for i := range s.cfg.events {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			events.Add(1)
			go func() {
				defer events.Done()
				defer func() { <-sem }()
				s.runEvent(ctx, i)
			}()
		}
		events.Wait()
		close(done)
	}()
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		case <-ctx.Done():
			s.t.Fatalf("the workload did not finish in time: %v", ctx.Err())
		case <-progress.C:
			s.mu.Lock()
			s.t.Logf("soak: %d operations acknowledged, %d kills, %d faults, %d retried writes, %d buyer orders",
				len(s.acked), s.kills, s.faults, s.retried.Load(), s.counts["buyer order"])
			s.mu.Unlock()
		}
	}
	<-killed // all the kills happen while there is work, or right after
	s.stopBuyers()
	stopFaults()
	wg.Wait()
}

// runEvent is one integration's script for one event: create, update,
// sell at the box office and in the shop, update while webhooks arrive,
// and for some events refund and delete.
func (s *soak) runEvent(ctx context.Context, i int) {
	kind := i % 10
	recurring := kind >= 8
	name := fmt.Sprintf("soak-%03d", i)
	body := s.eventBody(name, kind, i)
	a, err := s.write(ctx, http.MethodPost, "/events", wrapped("event", body))
	if err != nil {
		s.note("%s: create: %v", name, err)
		return
	}
	if a.status != http.StatusCreated {
		s.note("%s: create answered %d %s", name, a.status, a.body)
		return
	}
	id := soakID(s.t, a.body)
	s.mu.Lock()
	s.events[name] = id
	s.mu.Unlock()
	s.ack(a, id, "create")
	// The operations started so far; an event's (and its occurrences')
	// operations run in creation order, so waiting for all is cheap.
	started := [][2]uint64{{id, a.op}}
	waitStarted := func() {
		for _, p := range started {
			s.waitOp(ctx, p[0], p[1])
		}
	}
	if op := s.waitOp(ctx, id, a.op); op == nil || op.Status != client.StatusCompleted {
		s.note("%s: the create's save did not complete: %s", name, soakOpSummary(op))
	}

	// The event whose tickets are sold: the date event, or the recurring
	// event's first occurrence.
	target := id
	if recurring {
		occ := s.occurrences(ctx, id)
		if len(occ) == 0 {
			s.note("%s: no occurrences", name)
			return
		}
		target = occ[0].ID
	}
	// The buyers buy from it from now on, while the PATCHes below run
	// (kind 9 is deleted without sales).
	if kind != 9 {
		parent := uint64(0)
		if recurring {
			parent = id
		}
		s.openForSale(target, parent)
	}

	patch := func(what string, change eventChange) {
		a, err := s.write(ctx, http.MethodPatch, fmt.Sprintf("/events/%d", id), wrapped("event", change))
		switch {
		case err != nil:
			s.note("%s: %s: %v", name, what, err)
		case a.status != http.StatusOK:
			s.note("%s: %s answered %d %s", name, what, a.status, a.body)
		default:
			s.ack(a, id, what)
			started = append(started, [2]uint64{id, a.op})
		}
	}
	patch("rename", eventChange{Name: name + " (renamed)"})
	if ev := s.event(ctx, id); ev != nil {
		rts := make([]client.RegistrationTypeInput, 0, len(ev.RegistrationTypes))
		for _, rt := range ev.RegistrationTypes {
			in := client.RegistrationTypeInput{ID: rt.ID, Name: rt.Name, TicketTypeID: rt.TicketTypeID,
				Price: client.MoneyInput{Amount: rt.Price.Amount + 100, Currency: rt.Price.Currency}}
			if rt.Quantity != nil {
				in.Quantity = ptr(*rt.Quantity + 5)
			}
			rts = append(rts, in)
		}
		change := eventChange{RegistrationTypes: rts}
		if ev.Capacity != nil {
			change.Capacity = ptr(*ev.Capacity + 5) // added capacity: never shrinks the pool
		}
		patch("reprice", change)
	}

	sells := kind != 9 // kind 9: a recurring event deleted without sales
	if sells {
		if ev := s.event(ctx, target); ev != nil && len(ev.RegistrationTypes) > 0 {
			for range 2 {
				rt := ev.RegistrationTypes[s.intn(len(ev.RegistrationTypes))]
				a, err := s.write(ctx, http.MethodPost, fmt.Sprintf("/events/%d/orders", target),
					wrapped("order", client.OrderInput{RegistrationTypeID: rt.ID, Quantity: 1 + s.intn(2)}))
				switch {
				case err != nil:
					s.note("%s: box-office order: %v", name, err)
				case a.status == http.StatusCreated:
					s.ack(a, target, "box-office order")
					s.mu.Lock()
					s.boxOrders[target]++
					s.mu.Unlock()
					if a.op != 0 {
						started = append(started, [2]uint64{target, a.op})
					}
				case a.status == http.StatusUnprocessableEntity:
					s.refusal("box-office sold out")
				default:
					s.note("%s: box-office order answered %d %s", name, a.status, a.body)
				}
			}
		}
		// Variant ids are there once the saves before have run.
		waitStarted()
		placed := s.placeShopOrders(ctx, name, target, 2)
		if kind == 1 && len(placed) > 0 {
			s.adminRefund(ctx, name, placed[0])
		}
	}
	patch("publish", eventChange{PublishedAt: ptr(time.Now().UTC().Add(-time.Minute).Truncate(time.Second))})

	switch {
	case kind == 9:
		waitStarted()
		s.deleteEvent(ctx, name, id, recurring)
	case !recurring && i%4 == 0:
		waitStarted()
		// No buyer order in flight, so that the refund covers them all.
		s.closeForSale(ctx, target)
		s.awaitShopOrders(ctx, name, target)
		s.refund(ctx, name, id)
		if i%8 == 0 {
			s.deleteEvent(ctx, name, id, recurring)
		}
	}
}

func (s *soak) eventBody(name string, kind, i int) client.EventInput {
	start := time.Date(2027, 1, 4, 19, 0, 0, 0, time.UTC).Add(time.Duration(i) * 24 * time.Hour)
	price := func(amount int64) client.MoneyInput { return client.MoneyInput{Amount: amount, Currency: "USD"} }
	body := client.EventInput{
		Name: name, Type: client.EventDate, VenueID: s.venue,
		StartsAt: start, EndsAt: start.Add(3 * time.Hour),
		Capacity: ptr(45),
		RegistrationTypes: []client.RegistrationTypeInput{
			{Name: "General admission", TicketTypeID: s.ticketTypes[0], Price: price(2500), Quantity: ptr(40)},
			{Name: "VIP", TicketTypeID: s.ticketTypes[1], Price: price(9000), Quantity: ptr(10)},
		},
	}
	switch {
	case kind == 6 || kind == 7:
		body.SplitProducts = true
		body.Capacity = ptr(30)
	case kind >= 8:
		body.Type = client.EventRecurring
		body.Capacity = ptr(20)
		body.Recurrence = &client.Recurrence{Frequency: "weekly", Interval: 1, Count: 3}
		body.RegistrationTypes = []client.RegistrationTypeInput{
			{Name: "General admission", TicketTypeID: s.ticketTypes[0], Price: price(1500), Quantity: ptr(20)},
		}
	}
	return body
}

// placeShopOrders places n buyer orders in the shop on the mirrored variants
// of event target; the orders/create webhooks follow.
func (s *soak) placeShopOrders(ctx context.Context, name string, target uint64, n int) []string {
	ev := s.event(ctx, target)
	if ev == nil {
		return nil
	}
	s.noteVariants(ev)
	var variants []string
	for _, rt := range ev.RegistrationTypes {
		if rt.ShopifyVariantID != nil && *rt.ShopifyVariantID != "" {
			variants = append(variants, *rt.ShopifyVariantID)
		}
	}
	if len(variants) == 0 {
		s.note("%s: event %d has no mirrored variant to sell in the shop", name, target)
		return nil
	}
	var placed []string
	for range n {
		v := variants[s.intn(len(variants))]
		var a *soakAnswer
		var err error
		for attempt := 0; attempt < 50 && ctx.Err() == nil; attempt++ {
			if a, err = s.shopControl(ctx, http.MethodPost, "/orders", map[string]any{"variant_id": v, "quantity": 1 + s.intn(2)}); err == nil {
				break
			}
			_ = soakSleep(ctx, 100*time.Millisecond)
		}
		switch {
		case err != nil:
			s.note("%s: shop order: %v", name, err)
		case a.status == http.StatusCreated:
			var out struct{ Order sandbox.OrderState }
			_ = json.Unmarshal(a.body, &out)
			s.mu.Lock()
			s.shopOrders[out.Order.ID] = target
			s.counts["shop order"]++
			s.mu.Unlock()
			placed = append(placed, out.Order.ID)
		case a.status == http.StatusUnprocessableEntity:
			s.refusal("shop sold out")
		default:
			s.note("%s: shop order answered %d %s", name, a.status, a.body)
		}
	}
	return placed
}

// adminRefund refunds a shop order in the Shopify admin, as merchants do:
// refunds/create follows.
func (s *soak) adminRefund(ctx context.Context, name, order string) {
	num := order[strings.LastIndex(order, "/")+1:]
	a, err := s.shopControl(ctx, http.MethodPost, "/orders/"+num+"/refund", nil)
	switch {
	case err != nil:
		s.note("%s: admin refund: %v", name, err)
	case a.status == http.StatusCreated || a.status == http.StatusOK:
		s.mu.Lock()
		s.counts["admin refund"]++
		s.mu.Unlock()
	default:
		s.note("%s: admin refund answered %d %s", name, a.status, a.body)
	}
}

// awaitShopOrders waits until eventops has recorded the shop orders placed
// for target (their webhooks arrived), so that a refund covers them.
func (s *soak) awaitShopOrders(ctx context.Context, name string, target uint64) {
	s.mu.Lock()
	var want []string
	for o, ev := range s.shopOrders {
		if ev == target {
			want = append(want, o)
		}
	}
	s.mu.Unlock()
	deadline := time.Now().Add(90 * time.Second)
	for n := 0; n < 400 && time.Now().Before(deadline) && ctx.Err() == nil; n++ {
		got, err := s.orders(ctx, target)
		if err == nil {
			have := map[string]bool{}
			for _, o := range got {
				if o.ShopifyOrderID != nil {
					have[*o.ShopifyOrderID] = true
				}
			}
			missing := 0
			for _, o := range want {
				if !have[o] {
					missing++
				}
			}
			if missing == 0 {
				return
			}
		}
		_ = soakSleep(ctx, 250*time.Millisecond)
	}
	s.note("%s: the shop orders of event %d were not all recorded within 90 s", name, target)
}

func (s *soak) refund(ctx context.Context, name string, id uint64) {
	s.markRefunded(id)
	a, err := s.write(ctx, http.MethodPost, fmt.Sprintf("/events/%d/refund", id), nil)
	switch {
	case err != nil:
		s.note("%s: refund: %v", name, err)
	case a.status != http.StatusAccepted:
		s.note("%s: refund answered %d %s", name, a.status, a.body)
	default:
		s.ack(a, id, "refund")
		if op := s.waitOp(ctx, id, a.op); op == nil || op.Status != client.StatusCompleted {
			s.note("%s: refund did not complete: %s", name, soakOpSummary(op))
		}
	}
}

// deleteEvent deletes an event (refunding first when a sale raced in, at
// most three times) and remembers its shop products.
func (s *soak) deleteEvent(ctx context.Context, name string, id uint64, recurring bool) {
	var products []string
	collect := func(ev *client.Event) {
		s.noteVariants(ev)
		products = append(products, ev.ShopifyProductIDs...)
		for _, rt := range ev.RegistrationTypes {
			if rt.ShopifyProductID != nil {
				products = append(products, *rt.ShopifyProductID)
			}
		}
	}
	if ev := s.event(ctx, id); ev != nil {
		collect(ev)
	}
	if recurring {
		for _, o := range s.occurrences(ctx, id) {
			s.noteParent(o.ID, id)
			collect(&o)
		}
	}
	for round := range 3 {
		a, err := s.write(ctx, http.MethodDelete, fmt.Sprintf("/events/%d", id), nil)
		switch {
		case err != nil:
			s.note("%s: delete: %v", name, err)
			return
		case a.status == http.StatusConflict && round < 2:
			s.refusal("delete before refund")
			s.refund(ctx, name, id)
			continue
		case a.status != http.StatusAccepted:
			s.note("%s: delete answered %d %s", name, a.status, a.body)
			return
		}
		s.ack(a, id, "delete")
		slices.Sort(products)
		s.mu.Lock()
		s.deleted[id] = slices.Compact(products)
		s.mu.Unlock()
		if op := s.waitOp(ctx, id, a.op); op == nil || op.Status != client.StatusCompleted {
			s.note("%s: delete did not complete: %s", name, soakOpSummary(op))
		}
		return
	}
}

func soakOpSummary(op *client.Operation) string {
	if op == nil {
		return "not found or not terminal"
	}
	if op.Error != nil {
		return fmt.Sprintf("operation %d %s %s: %s", op.ID, op.Status, op.Error.Code, op.Error.Message)
	}
	return fmt.Sprintf("operation %d %s", op.ID, op.Status)
}

// injectFaults switches a random fault rule on in the shop every second or
// three, each for a bounded number of calls, until ctx ends (at most 120).
func (s *soak) injectFaults(ctx context.Context) {
	rules := []sandbox.FaultRule{
		{Operation: "*", Fault: sandbox.FaultThrottled, Times: 3},
		{Operation: "productSet", Fault: sandbox.FaultHTTP500, Times: 2},
		{Operation: "*", Fault: sandbox.FaultHTTP503, Times: 2},
		{Operation: "*", Fault: sandbox.FaultHTTP429, Times: 1},
		{Operation: "productSet", Fault: sandbox.FaultApplyThenDrop, Times: 1},
		{Operation: "inventorySetQuantities", Fault: sandbox.FaultApplyThenDrop, Times: 1},
		{Operation: "metafieldsSet", Fault: sandbox.FaultApplyThenDrop, Times: 1},
		{Operation: "refundCreate", Fault: sandbox.FaultApplyThenDrop, Times: 1},
		{Operation: "publishablePublish", Fault: sandbox.FaultApplyThenDrop, Times: 1},
		{Operation: "inventorySetQuantities", Fault: sandbox.FaultSellBetween, Times: 1, Units: 1},
	}
	for n := 0; n < 120; n++ {
		if soakSleep(ctx, s.jitter(time.Second, 3*time.Second)) != nil {
			return
		}
		r := rules[s.intn(len(rules))]
		r.Times = 1 + s.intn(r.Times)
		a, err := s.shopControl(ctx, http.MethodPost, "/faults", map[string]any{"rules": []sandbox.FaultRule{r}})
		if err != nil || a.status != http.StatusOK {
			if ctx.Err() == nil {
				s.note("add fault %+v: %v %+v", r, err, a)
			}
			continue
		}
		s.mu.Lock()
		s.faults++
		s.mu.Unlock()
	}
}

// killer kills the server with SIGKILL at random moments (preferably
// with a write in flight) and restarts it.
func (s *soak) killer(ctx context.Context) {
	for k := 0; k < s.cfg.kills; k++ {
		wait := s.jitter(4*time.Second, 10*time.Second)
		if k == 0 {
			wait = s.jitter(3*time.Second, 6*time.Second)
		}
		if soakSleep(ctx, wait) != nil {
			return
		}
		// Most moments find the server between writes (a write takes
		// milliseconds): wait a little for one in flight, so that kills
		// also cut writes whose answer is lost after, or before, their
		// commit.
		pollUntil(2*time.Second, time.Millisecond, func() bool { return s.writing.Load() > 0 })
		if s.multi() {
			// A random node dies; the others go on (the balancer skips
			// it) and take over its queues once its lease has expired.
			n := s.nodes[s.intn(len(s.nodes))]
			s.killNode(n)
			s.mu.Lock()
			s.kills++
			acked := len(s.acked)
			s.mu.Unlock()
			s.t.Logf("soak: kill %d (SIGKILL of node %d) with %d operations acknowledged", k+1, n.i, acked)
			if soakSleep(ctx, s.jitter(0, 3*time.Second)) != nil {
				return
			}
			s.startNode(n)
			continue
		}
		s.procMu.Lock()
		p := s.server
		s.procMu.Unlock()
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.exited
		s.mu.Lock()
		s.kills++
		acked := len(s.acked)
		s.mu.Unlock()
		s.t.Logf("soak: kill %d (SIGKILL) with %d operations acknowledged", k+1, acked)
		if soakSleep(ctx, s.jitter(0, 700*time.Millisecond)) != nil {
			return
		}
		s.startServer()
	}
}

// settle clears the faults and waits until every webhook is delivered and
// every operation is terminal, twice in a row.
func (s *soak) settle(ctx context.Context) {
	s.t.Helper()
	if a, err := s.shopControl(ctx, http.MethodDelete, "/faults", nil); err != nil || a.status != http.StatusOK {
		s.t.Fatalf("clear faults: %v %+v", err, a)
	}
	deadline := time.Now().Add(5 * time.Minute)
	quiet := 0
	for quiet < 2 {
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.t.Logf("soak: not settled within 5 minutes")
			return
		}
		var d struct{ Deliveries []sandbox.Delivery }
		pending := 0
		if a, err := s.shopControl(ctx, http.MethodGet, "/deliveries", nil); err == nil && a.status == http.StatusOK {
			_ = json.Unmarshal(a.body, &d)
			for _, x := range d.Deliveries {
				if x.Status == "pending" {
					pending++
				}
			}
		} else {
			pending = -1
		}
		ops, err := s.api.AllOperations(ctx, client.OperationListOptions{})
		active := 0
		for _, o := range ops {
			if !o.Terminal() {
				active++
			}
		}
		if err == nil && pending == 0 && active == 0 {
			quiet++
		} else {
			quiet = 0
		}
		_ = soakSleep(ctx, time.Second)
	}
}
