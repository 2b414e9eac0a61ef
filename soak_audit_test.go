package main

// The soak's audit: once everything has settled, what was acknowledged is
// checked against the API, the shop and the data file.

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"eventops/engine"
	"eventops/engine/shopify/sandbox"
	"eventops/storage"
	"eventops/web/client"
)

type soakResult struct {
	acknowledged, completed, failed int
	codes                           map[string]int
	duplicates, lost                int
	webhooksMissing                 int // soak_webhooks_test.go
	webhookDuplicates               int
	interrupted, unfinished         int
	engineOps                       int
	problems                        []string   // each one fails the soak
	shop                            shopCounts // soak_buyers_test.go
	duration                        time.Duration
}

func (r *soakResult) problem(format string, args ...any) {
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

func (s *soak) audit(ctx context.Context) soakResult {
	s.t.Helper()
	r := soakResult{codes: map[string]int{}}
	s.mu.Lock()
	acked := maps.Clone(s.acked)
	events := maps.Clone(s.events)
	deleted := maps.Clone(s.deleted)
	boxOrders := maps.Clone(s.boxOrders)
	s.mu.Unlock()
	r.acknowledged = len(acked)

	// Every acknowledged operation exists and is terminal.
	for id, a := range acked {
		poll, err := s.writer.Operation(ctx, a.event, id, client.PollOptions{})
		var op client.Operation
		if err == nil {
			op = *poll.Operation
		}
		switch {
		case soakNotFound(err):
			r.lost++
			r.problem("operation %d (%s of event %d) was acknowledged but does not exist", id, a.what, a.event)
			continue
		case err != nil:
			s.t.Fatalf("read operation %d: %v", id, err)
		}
		switch op.Status {
		case client.StatusCompleted:
			r.completed++
		case client.StatusFailed:
			r.failed++
			code := "?"
			if op.Error != nil {
				code = op.Error.Code
			}
			r.codes[code]++
		default:
			r.unfinished++
			r.problem("operation %d (%s of event %d) is still %s", id, a.what, a.event, op.Status)
		}
	}

	// Operations nobody asked for: engine-started inventory-only saves are
	// expected; anything else is a duplicate of a repeated request.
	ops, err := s.api.AllOperations(ctx, client.OperationListOptions{})
	if err != nil {
		s.t.Fatalf("list operations: %v", err)
	}
	for _, op := range ops {
		if op.Error != nil && op.Error.Code == string(engine.CodeOperationInterrupted) {
			r.interrupted++
			r.problem("operation %d failed with OPERATION_INTERRUPTED", op.ID)
		}
		if _, ok := acked[op.ID]; ok {
			continue
		}
		if !op.Terminal() {
			r.unfinished++
			r.problem("operation %d (%s, engine-started) is still %s", op.ID, op.Action, op.Status)
		}
		if op.Action == "save" && len(op.Phases) == 1 && op.Phases[0].Name == "inventory" {
			r.engineOps++
			if op.Status == client.StatusFailed && op.Error != nil {
				r.codes["engine:"+op.Error.Code]++
			}
			continue
		}
		r.duplicates++
		r.problem("operation %d (%s of event %d) was started by no acknowledged request", op.ID, op.Action, op.EventID)
	}
	s.auditWebhooks(ops, &r)

	// Events: one per acknowledged create; deleted ones gone.
	all, err := s.api.AllEvents(ctx, client.EventListOptions{})
	if err != nil {
		s.t.Fatalf("list events: %v", err)
	}
	byName := map[string][]uint64{}
	live := map[uint64]client.Event{}
	for _, ev := range all {
		live[ev.ID] = ev
		if ev.ParentEventID == nil {
			n, _, _ := strings.Cut(ev.Name, " ")
			byName[n] = append(byName[n], ev.ID)
		}
	}
	for name, id := range events {
		_, gone := deleted[id]
		switch got := byName[name]; {
		case len(got) > 1:
			r.duplicates += len(got) - 1
			r.problem("event %s exists %d times: %v", name, len(got), got)
		case len(got) == 0 && !gone:
			r.lost++
			r.problem("event %s (%d) was created but is not listed", name, id)
		case len(got) == 1 && gone:
			r.problem("event %s (%d) was deleted but is still listed", name, id)
		}
	}
	for name, ids := range byName {
		if _, ok := events[name]; !ok {
			r.duplicates += len(ids)
			r.problem("event %s %v was created by no acknowledged request", name, ids)
		}
	}

	// Orders: box-office ones as acknowledged; each shop order of a live
	// event recorded once, refunded in eventops when refunded in the shop.
	st, err := s.shopState(ctx)
	if err != nil {
		s.t.Fatalf("shop state: %v", err)
	}
	variantEvent := map[string]uint64{}
	for id, ev := range live {
		for _, rt := range ev.RegistrationTypes {
			if rt.ShopifyVariantID != nil {
				variantEvent[*rt.ShopifyVariantID] = id
			}
		}
	}
	recorded := map[string][]client.Order{}
	eventsWithOrders := map[uint64]bool{}
	for id := range boxOrders {
		eventsWithOrders[id] = true
	}
	for _, o := range st.Orders {
		for _, li := range o.LineItems {
			if ev, ok := variantEvent[li.VariantID]; ok {
				eventsWithOrders[ev] = true
			}
		}
	}
	for id := range eventsWithOrders {
		if _, ok := live[id]; !ok {
			continue
		}
		orders, err := s.orders(ctx, id)
		if err != nil {
			s.t.Fatalf("orders of event %d: %v", id, err)
		}
		box := 0
		for _, o := range orders {
			if o.ShopifyOrderID == nil {
				box++
				continue
			}
			recorded[*o.ShopifyOrderID] = append(recorded[*o.ShopifyOrderID], o)
		}
		switch want := boxOrders[id]; {
		case box > want:
			r.duplicates += box - want
			r.problem("event %d holds %d box-office orders, %d acknowledged", id, box, want)
		case box < want:
			r.lost += want - box
			r.problem("event %d holds %d box-office orders, %d acknowledged", id, box, want)
		}
	}
	shopOrdersLive := 0
	for _, o := range st.Orders {
		if len(o.LineItems) == 0 {
			continue
		}
		if _, ok := live[variantEvent[o.LineItems[0].VariantID]]; !ok {
			continue // an order of a deleted event
		}
		shopOrdersLive++
		got := recorded[o.ID]
		switch {
		case len(got) == 0:
			r.lost++
			r.problem("shop order %s is not recorded in eventops", o.ID)
		case len(got) > 1:
			r.duplicates += len(got) - 1
			r.problem("shop order %s is recorded %d times", o.ID, len(got))
		case o.FinancialStatus == "refunded" && got[0].Status != "refunded":
			r.problem("shop order %s is refunded in the shop but %s in eventops", o.ID, got[0].Status)
		}
	}

	// Products: exactly those of the live date events and occurrences.
	inShop := map[string]sandbox.ProductState{}
	for _, p := range st.Products {
		inShop[p.ID] = p
	}
	expected := map[string]uint64{}
	for id, ev := range live {
		if ev.Type != client.EventDate {
			continue
		}
		want := 1
		if ev.SplitProducts {
			want = len(ev.RegistrationTypes)
		}
		if len(ev.ShopifyProductIDs) != want {
			r.problem("event %d (%s) has %d shop products, want %d", id, ev.Name, len(ev.ShopifyProductIDs), want)
		}
		for _, p := range ev.ShopifyProductIDs {
			if prev, dup := expected[p]; dup {
				r.problem("product %s belongs to events %d and %d", p, prev, id)
			}
			expected[p] = id
			if _, ok := inShop[p]; !ok {
				r.problem("product %s of event %d is not in the shop", p, id)
			}
		}
	}
	for id, products := range deleted {
		for _, p := range products {
			if _, ok := inShop[p]; ok {
				r.problem("product %s of deleted event %d is still in the shop", p, id)
			}
		}
	}
	for p, ps := range inShop {
		if _, ok := expected[p]; !ok {
			r.problem("product %s (%q) in the shop belongs to no live event", p, ps.Handle)
		}
	}

	// Inventory: each mirrored variant's offer in the shop is checked by
	// awaitConvergence (soak_buyers_test.go): the shop's level equals
	// shop_available, which equals the allocation of what is sold.
	variants := 0
	for _, ev := range live {
		for _, rt := range ev.RegistrationTypes {
			if ev.Type == client.EventDate && rt.ShopifyVariantID != nil {
				variants++
			}
		}
	}

	s.t.Logf("soak: audited %d operations (%d engine-started), %d live events, %d shop products, %d variants, %d shop orders of live events",
		len(ops), r.engineOps, len(live), len(st.Products), variants, shopOrdersLive)
	return r
}

// checkDataFile opens the stopped server's data file: bbolt's consistency
// check passes and no operation is left active.
func (s *soak) checkDataFile(r *soakResult) {
	s.t.Helper()
	if s.multi() {
		s.checkDatabase(r)
		return
	}
	db, err := storage.Open(filepath.Join(s.data, dbFile), storage.Options{Timeout: 5 * time.Second})
	if err != nil {
		s.t.Fatalf("open the data file after the soak: %v", err)
	}
	defer db.Close()
	if err := db.Check(); err != nil {
		r.problem("the data file fails the consistency check: %v", err)
	}
	var active []*engine.Operation
	if err := db.View(func(tx engine.Tx) error {
		var err error
		active, err = tx.ActiveOperations()
		return err
	}); err != nil {
		s.t.Fatal(err)
	}
	for _, op := range active {
		r.problem("operation %d is %s in the data file after a clean stop", op.ID, op.Status)
	}
}

func (s *soak) report(r soakResult) {
	codes := make([]string, 0, len(r.codes))
	for c, n := range r.codes {
		codes = append(codes, fmt.Sprintf("%s=%d", c, n))
	}
	sort.Strings(codes)
	failed := "none"
	if len(codes) > 0 {
		failed = strings.Join(codes, " ")
	}
	s.mu.Lock()
	counts := make([]string, 0, len(s.counts))
	for k, n := range s.counts {
		counts = append(counts, fmt.Sprintf("%s=%d", strings.ReplaceAll(k, " ", "_"), n))
	}
	sort.Strings(counts)
	refused := make([]string, 0, len(s.refused))
	for k, n := range s.refused {
		refused = append(refused, fmt.Sprintf("%s=%d", strings.ReplaceAll(k, " ", "_"), n))
	}
	sort.Strings(refused)
	unexpected := slices.Clone(s.unexpected)
	kills, faults := s.kills, s.faults
	s.mu.Unlock()

	converge := r.shop.converge.Round(10 * time.Millisecond).String()
	if !r.shop.converged {
		converge = "never(>" + converge + ")"
	}
	summary := fmt.Sprintf("soak: acknowledged=%d completed=%d failed=%d (%s) duplicates=%d lost=%d webhooks_missing=%d webhook_duplicates=%d oversold=%d unrecorded=%d refund_mismatch=%d converge=%s",
		r.acknowledged, r.completed, r.failed, failed, r.duplicates, r.lost, r.webhooksMissing, r.webhookDuplicates,
		r.shop.oversold, r.shop.unrecorded, r.shop.refundMismatch, converge)
	details := fmt.Sprintf("soak: kills=%d faults=%d retried_writes=%d retried_reads=%d replayed=%d engine_operations=%d interrupted=%d unfinished=%d writes[%s] refused[%s] duration=%s seed=%d",
		kills, faults, s.retried.Load(), s.reread.Load(), s.replays.Load(), r.engineOps, r.interrupted, r.unfinished,
		strings.Join(counts, " "), strings.Join(refused, " "), r.duration.Round(time.Second), s.cfg.seed)
	fmt.Println(summary)
	fmt.Println(details)
	for _, u := range unexpected {
		s.t.Logf("soak: unexpected: %s", u)
	}
	for _, d := range r.shop.unconverged {
		s.t.Logf("soak: not converged: %s", d)
	}
	for _, p := range r.problems {
		s.t.Errorf("soak: %s", p)
	}
	if kills < s.cfg.kills {
		s.t.Errorf("soak: %d kills of %d", kills, s.cfg.kills)
	}
	if len(unexpected) > 0 {
		s.t.Errorf("soak: %d unexpected answers (above)", len(unexpected))
	}
}
