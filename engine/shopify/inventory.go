package shopify

import (
	"cmp"
	"context"
	"strconv"

	"eventops/engine"
)

// inventoryWork sets each variant's `available` quantity at the fulfillment
// service's location to what is left to sell (DESIGN §2), with the shop's
// compare-and-set.
//
// Reconciling a race with a sale: every write carries changeFromQuantity,
// the quantity just read. When a sale lands between the read and the write
// the shop answers CHANGE_FROM_QUANTITY_STALE; the phase re-reads the shop,
// recomputes what is left to sell from our own store (the order may have
// reached it meanwhile) and writes again, up to Config.StaleRounds times in
// one attempt, then returns the transient INVENTORY_STALE so that the
// engine retries with backoff (attempts and last_error visible). A drop in
// the shop that our store does not explain (yet) is a sale whose webhook is
// still on its way: it is kept, never written over, so a race can never
// sell a ticket twice. Once the order is recorded, our left-to-sell equals
// what was written.
//
// The RECONCILE_RAISED rule: on the engine's last attempt (r.Attempt >=
// Config.Retry.Attempts, the engine's own policy) a race still unresolved
// after the attempt's rounds fails the phase with the permanent
// INVENTORY_RECONCILE_RAISED rather than INVENTORY_STALE, so that a race
// that never stops is told apart from one that was retried.
type inventoryWork struct{ s *service }

// Expand implements engine.Expander: one child per product.
func (w inventoryWork) Expand(ctx context.Context, r *engine.PhaseRun) ([]*engine.Phase, error) {
	return expandTargets(r)
}

// invMemory is what one inventory phase remembers across its attempts (in
// this process): sales seen in the shop that our store did not explain.
type invMemory struct {
	unexplained map[string]int     // by inventory item: units to hold back
	sent        map[string]sentQty // the last batch refused as stale
	refused     map[string]int     // batch digest: definitive refusals so far
}

type sentQty struct {
	from int // changeFromQuantity we sent
	ours int // our left-to-sell when we sent it
}

func (s *service) inventoryMemory(phaseID uint64) *invMemory {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.memory[phaseID]
	if m == nil {
		m = &invMemory{unexplained: map[string]int{}, sent: map[string]sentQty{}, refused: map[string]int{}}
		s.memory[phaseID] = m
	}
	return m
}

func (s *service) forgetInventory(phaseID uint64) {
	s.mu.Lock()
	delete(s.memory, phaseID)
	s.mu.Unlock()
}

// Run implements engine.Work.
func (w inventoryWork) Run(ctx context.Context, r *engine.PhaseRun) error {
	if r.Op.Action != engine.ActionSave {
		return nil
	}
	sr, ts, err := w.s.begin(r)
	if err != nil {
		return err
	}
	su, err := sr.ensureSetup(ctx)
	if err != nil {
		return err
	}
	total := 0
	for _, t := range ts {
		total += len(t.product.Variants)
	}
	r.SetUnits(total)
	done := 0
	for _, t := range ts {
		err := w.reconcile(ctx, sr, su, t)
		if err != nil {
			if ee, ok := err.(*engine.Error); !ok || !ee.Transient {
				w.s.forgetInventory(r.Phase.ID)
			}
			return err
		}
		done += len(t.product.Variants)
		if len(ts) > 1 {
			r.Progress(done, total)
		}
	}
	w.s.forgetInventory(r.Phase.ID)
	return nil
}

// item is one variant's inventory item in a reconcile round.
type item struct {
	id    string
	rt    uint64
	level *int // in the shop; nil when not stocked at our location
	ours  int  // left to sell in our store (UnlimitedQuantity when unlimited)
}

// reconcile brings one product's quantities to what is left to sell.
func (w inventoryWork) reconcile(ctx context.Context, sr *shopRun, su *engine.ShopSetup, t *target) error {
	r := sr.r
	mem := w.s.inventoryMemory(r.Phase.ID)
	guess := createdHere(r, t)
	reread := false // a round after a refusal reads our side again
	for round := 1; ; round, reread = round+1, true {
		items, err := w.read(ctx, sr, su, t, reread, guess)
		if err != nil {
			return err
		}
		if len(items) == 0 {
			return nil
		}
		// Account for what moved since the last stale refusal.
		for _, it := range items {
			s, ok := mem.sent[it.id]
			if !ok || it.level == nil {
				continue
			}
			shopDrop := s.from - *it.level
			oursDrop := max(s.ours-it.ours, 0)
			if d := shopDrop - oursDrop; d > 0 {
				mem.unexplained[it.id] += d
			}
		}
		clear(mem.sent)

		activated := false
		for _, it := range items {
			if it.level == nil {
				if err := w.activate(ctx, sr, su, t, it.id); err != nil {
					return err
				}
				activated = true
			}
		}
		if activated {
			continue // read again: now stocked at our location
		}
		var quantities []map[string]any
		var digest []any
		batch := map[string]sentQty{}
		for _, it := range items {
			want := max(it.ours-mem.unexplained[it.id], 0)
			if want == *it.level {
				continue
			}
			quantities = append(quantities, map[string]any{
				"inventoryItemId": it.id, "locationId": su.LocationID,
				"quantity": want, "changeFromQuantity": *it.level,
			})
			digest = append(digest, it.id, *it.level, want)
			batch[it.id] = sentQty{from: *it.level, ours: it.ours}
		}
		if len(quantities) == 0 {
			return nil
		}
		base := idemKey(append([]any{"inventory", r.Op.ID, r.Phase.ID}, digest...)...)
		key := base
		if n := mem.refused[base]; n > 0 {
			// The same batch was refused before (stale, say): a replay of
			// its key would answer the same refusal.
			key = idemKey(base, n)
		}
		ue, err := w.set(ctx, sr, key, quantities)
		if err != nil {
			return err
		}
		if len(ue) == 0 {
			return nil
		}
		mem.refused[base]++
		if guess {
			guess = false
			if ue.Has("CHANGE_FROM_QUANTITY_STALE") || ue.Has("COMPARE_QUANTITY_STALE") {
				// The guess was wrong, which tells nothing of a sale:
				// read, and this round begins again.
				round--
				continue
			}
		}
		switch {
		case ue.Has("CHANGE_FROM_QUANTITY_STALE") || ue.Has("COMPARE_QUANTITY_STALE"):
			mem.sent = batch
			if round < w.s.cfg.StaleRounds {
				sr.log.Info("inventory raced a sale: reconciling", "product", t.product.Handle, "round", round)
				continue
			}
			if r.Attempt >= w.s.cfg.Retry.Attempts {
				return engine.Errorf(engine.CodeInventoryReconcileRaised,
					"product %q: the shop's inventory kept changing under every write (%d attempts of %d rounds)",
					t.product.Handle, r.Attempt, w.s.cfg.StaleRounds)
			}
			return engine.Transientf(engine.CodeInventoryStale,
				"product %q: a sale raced %d inventory writes in a row", t.product.Handle, round)
		case ue.Has("IDEMPOTENCY_CONCURRENT_REQUEST"):
			return engine.Transientf(engine.CodeShopifyUnavailable, "product %q: the same inventory write is still in flight", t.product.Handle)
		case ue.Has("IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED"):
			if round < w.s.cfg.StaleRounds {
				continue // a new key next round (refused counts it)
			}
			return engine.Transientf(engine.CodeInventoryStale, "product %q: %v", t.product.Handle, ue)
		case ue.Has("ITEM_NOT_STOCKED_AT_LOCATION") && round < w.s.cfg.StaleRounds:
			continue // read again: activation follows
		default:
			if gone, err := sr.vanished(ctx, t.product.ShopifyProductID); err != nil || gone != "" {
				return cmp.Or(err, errVanished("product %q", t.product.Handle))
			}
			return engine.Errorf(engine.CodeInventoryValueRejected, "the shop refused the quantities of product %q: %v", t.product.Handle, ue)
		}
	}
}

// read reads the shop's levels and our left-to-sell of the product's
// variants. Variants without an inventory item (never mirrored) are left
// out. Our side comes first: the product as the attempt read it, or with
// reread (a round after a refusal) from the structure as it is now, since a
// sale may have changed it meanwhile. With guess, the shop is not read:
// every level is taken to be 0 (see createdHere).
func (w inventoryWork) read(ctx context.Context, sr *shopRun, su *engine.ShopSetup, t *target, reread, guess bool) ([]item, error) {
	var ours map[uint64]int
	p := &t.product
	if reread {
		var err error
		if p, err = w.current(sr, t); err != nil {
			return nil, err
		}
	}
	if p == nil {
		return nil, nil
	}
	ours = map[uint64]int{}
	var ids []string
	byItem := map[string]uint64{}
	for _, v := range p.Variants {
		if v.InventoryItemID == "" {
			sr.log.Warn("variant not mirrored yet: inventory skipped", "product", p.Handle, "registration_type", v.RegistrationTypeID)
			continue
		}
		left := UnlimitedQuantity
		if v.Available != nil {
			left = min(*v.Available, UnlimitedQuantity)
		}
		ours[v.RegistrationTypeID] = left
		ids = append(ids, v.InventoryItemID)
		byItem[v.InventoryItemID] = v.RegistrationTypeID
	}
	if len(ids) == 0 {
		return nil, nil
	}
	if guess {
		items := make([]item, len(ids))
		for i, id := range ids {
			items[i] = item{id: id, rt: byItem[id], level: new(int), ours: ours[byItem[id]]}
		}
		return items, nil
	}
	var out struct {
		Nodes []*struct {
			ID             string `json:"id"`
			InventoryLevel *struct {
				Quantities []struct {
					Name     string `json:"name"`
					Quantity int    `json:"quantity"`
				} `json:"quantities"`
			} `json:"inventoryLevel"`
		} `json:"nodes"`
	}
	err := sr.client.Do(ctx, Call{Name: "InventoryLevels", Query: qInventoryLevels, Resendable: true,
		Variables: map[string]any{"ids": ids, "location": su.LocationID}}, &out)
	if err != nil {
		return nil, phaseErr(ctx, err, engine.CodeInventoryValueRejected, "read inventory of "+p.Handle)
	}
	items := make([]item, 0, len(ids))
	for i, n := range out.Nodes {
		if n == nil {
			return nil, errVanished("product %q (its inventory item %s is gone)", p.Handle, ids[i])
		}
		rt := byItem[n.ID]
		it := item{id: n.ID, rt: rt, ours: ours[rt]}
		if n.InventoryLevel != nil {
			q := 0
			for _, x := range n.InventoryLevel.Quantities {
				if x.Name == "available" {
					q = x.Quantity
				}
			}
			it.level = &q
		}
		items = append(items, it)
	}
	return items, nil
}

// createdHere reports whether every mirrored variant of t was created in
// the shop by this operation's catalog phase, stocked at 0 at our location:
// then the first round writes with compare-and-set from 0 without reading
// the levels, one call instead of two for a new event. Whatever moved
// meanwhile (nothing can sell at 0) makes the shop refuse the write as
// stale, and the round reads as usual.
func createdHere(r *engine.PhaseRun, t *target) bool {
	n := 0
	for _, v := range t.product.Variants {
		if v.InventoryItemID == "" {
			continue
		}
		if v.CreatedBy != r.Op.ID {
			return false
		}
		n++
	}
	return n > 0
}

// allCreatedHere is createdHere for every target.
func allCreatedHere(r *engine.PhaseRun, ts []*target) bool {
	for _, t := range ts {
		if !createdHere(r, t) {
			return false
		}
	}
	return len(ts) > 0
}

// current is t's product as the store holds it now (nil: gone).
func (w inventoryWork) current(sr *shopRun, t *target) (*engine.Product, error) {
	var p *engine.Product
	err := sr.r.View(func(tx engine.Tx) error {
		s, err := tx.TicketStructure(t.occ.ID)
		if err != nil || s == nil {
			return err
		}
		for i := range s.Products {
			if s.Products[i].Key == t.product.Key {
				p = &s.Products[i]
			}
		}
		return nil
	})
	return p, err
}

// set sends one compare-and-set batch; it is resendable (absolute values,
// compare-and-set and an idempotency key).
func (w inventoryWork) set(ctx context.Context, sr *shopRun, key string, quantities []map[string]any) (UserErrors, error) {
	var out struct {
		InventorySetQuantities struct {
			UserErrors UserErrors `json:"userErrors"`
		} `json:"inventorySetQuantities"`
	}
	err := sr.client.Do(ctx, Call{Name: "InventorySet", Query: mInventorySet, Resendable: true, Variables: map[string]any{
		"key": key,
		"input": map[string]any{
			"name": "available", "reason": "correction",
			"referenceDocumentUri": globalID("eventops", "Operation", strconv.FormatUint(sr.r.Op.ID, 10)),
			"quantities":           quantities,
		},
	}}, &out)
	if err != nil {
		return nil, phaseErr(ctx, err, engine.CodeInventoryValueRejected, "set inventory")
	}
	return out.InventorySetQuantities.UserErrors, nil
}

// activate stocks an item at our location (productSet may have stocked a
// new variant at the shop's default location instead).
func (w inventoryWork) activate(ctx context.Context, sr *shopRun, su *engine.ShopSetup, t *target, itemID string) error {
	var out struct {
		InventoryActivate struct {
			UserErrors UserErrors `json:"userErrors"`
		} `json:"inventoryActivate"`
	}
	key := idemKey("activate", sr.r.Op.ID, sr.r.Phase.ID, itemID, su.LocationID)
	err := sr.client.Do(ctx, Call{Name: "InventoryActivate", Query: mInventoryActivate, Resendable: true,
		Variables: map[string]any{"item": itemID, "location": su.LocationID, "key": key}}, &out)
	if err != nil {
		return phaseErr(ctx, err, engine.CodeInventoryValueRejected, "stock "+itemID+" at our location")
	}
	if ue := out.InventoryActivate.UserErrors; len(ue) > 0 {
		if gone, err := sr.vanished(ctx, t.product.ShopifyProductID); err != nil || gone != "" {
			return cmp.Or(err, errVanished("product %q", t.product.Handle))
		}
		return engine.Errorf(engine.CodeInventoryValueRejected, "the shop refused to stock %s at our location: %v", itemID, ue)
	}
	return nil
}
