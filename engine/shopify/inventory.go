package shopify

import (
	"cmp"
	"context"
	"strconv"

	"eventops/engine"
)

// inventoryWork sets each variant's `available` quantity at the fulfillment
// service's location to what the shop may offer of it: the occurrence's
// allocation (engine.Allocate), which never lets the variants of one
// occurrence together exceed what its capacity has left, since a shop has
// no pool shared across variants.
//
// Write order: per occurrence, the variants whose level must come down are
// written first, in a batch of their own, and only once the shop has
// answered for it are the others raised. With split products (a product
// per type) every child phase lowers the variants of all the occurrence's
// products before it raises its own. Shop sales only lower what the shop
// offers, so buyers alone, however many, can never take more than exists.
//
// Compare-and-set, twice over. Every write carries changeFromQuantity, the
// level just read: a sale landing between the read and the write makes the
// shop answer CHANGE_FROM_QUANTITY_STALE, and the round reads again (up to
// Config.StaleRounds rounds per attempt, then the transient
// INVENTORY_STALE; on the engine's last attempt INVENTORY_RECONCILE_RAISED,
// so that a race that never stops is told apart from one that was
// retried). And every level read is compared with the value eventops LAST
// WROTE (Variant.ShopOffer, committed as soon as the shop took it, see
// note; for a variant catalog just created, recorded by catalog for the
// first write), less the shop sales recorded since: a level below that is
// a sale our store does not know of yet (its webhook late or lost). It is never written over: the phase asks the shop for its
// missed orders (reconcileShop), reads again, and whatever is still
// unexplained is held back, counted as sold of its type in the allocation.
// For a variant never written (created before offers were kept) the
// previous rule applies: only a drop seen after a refused write is held.
type inventoryWork struct{ s *service }

// Expand implements engine.Expander: one child per product.
func (w inventoryWork) Expand(ctx context.Context, r *engine.PhaseRun) ([]*engine.Phase, error) {
	return expandTargets(r)
}

// invMemory is what one inventory phase remembers across its attempts (in
// this process): for variants without a known last written offer, the
// sales seen in the shop that our store did not explain.
type invMemory struct {
	unexplained map[string]int       // by inventory item: units to hold back
	sent        map[string]sentQty   // the last batch refused as stale
	refused     map[string]int       // batch digest: definitive refusals so far
	marks       map[string]offerMark // by inventory item: written by this phase
}

type sentQty struct {
	from int // changeFromQuantity we sent
	sold int // shop sales of the type recorded when we sent it
}

// offerMark is the last quantity eventops wrote for an inventory item and
// the shop sales of its type recorded (or held) at that moment.
type offerMark struct {
	offer, sold int
}

func (s *service) inventoryMemory(phaseID uint64) *invMemory {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.memory[phaseID]
	if m == nil {
		m = &invMemory{unexplained: map[string]int{}, sent: map[string]sentQty{}, refused: map[string]int{},
			marks: map[string]offerMark{}}
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
	// Per occurrence, in the targets' order: the products this run raises.
	var occs []*engine.Event
	mine := map[uint64]map[string]bool{}
	guess := map[uint64]bool{}
	for _, t := range ts {
		if mine[t.occ.ID] == nil {
			mine[t.occ.ID] = map[string]bool{}
			occs = append(occs, t.occ)
			guess[t.occ.ID] = true
		}
		mine[t.occ.ID][t.product.Key] = true
		guess[t.occ.ID] = guess[t.occ.ID] && createdHere(r, t)
	}
	done := 0
	for _, occ := range occs {
		err := w.reconcile(ctx, sr, su, occ, mine[occ.ID], guess[occ.ID])
		if err != nil {
			if ee, ok := err.(*engine.Error); !ok || !ee.Transient {
				w.s.forgetInventory(r.Phase.ID)
			}
			return err
		}
		for k := range mine[occ.ID] {
			for _, t := range ts {
				if t.occ.ID == occ.ID && t.product.Key == k {
					done += len(t.product.Variants)
				}
			}
		}
		if len(occs) > 1 {
			r.Progress(done, total)
		}
	}
	w.s.forgetInventory(r.Phase.ID)
	return nil
}

// item is one variant's inventory item in a reconcile round.
type item struct {
	id      string
	rt      uint64
	product *engine.Product
	mine    bool // this run raises it (else: only lowered, a sibling's)
	level   *int // in the shop; nil when not stocked at our location
	offer   *int // last written (persisted); nil: never
	sold    int  // shop sales of its type recorded when offer was written
	// pending is a write sent whose answer was not recorded (nil: none).
	pending     *int
	pendingSold int
	created     uint64
	dropped     bool // its registration type was removed: set to 0, if still there
}

// reconcile brings the quantities of one occurrence's products to its
// allocation: every lowering first, then the raising of mine's variants.
func (w inventoryWork) reconcile(ctx context.Context, sr *shopRun, su *engine.ShopSetup, occ *engine.Event, mine map[string]bool, guess bool) error {
	r := sr.r
	mem := w.s.inventoryMemory(r.Phase.ID)
	reconciled := false
	// Offers written as guesses (new variants) commit with the phase;
	// the others are committed as soon as the shop took them (see note).
	staged := map[string]offerMark{}
	defer func() { w.stageOffers(r, occ.ID, staged) }()
	for round := 1; ; round++ {
		s, items, err := w.items(sr, occ.ID, mine)
		if err != nil || len(items) == 0 {
			return err
		}
		for _, it := range items {
			// Guess only when every variant of the occurrence is new:
			// a sibling product's level must be read to be lowered.
			guess = guess && it.created == r.Op.ID
		}
		if err := w.levels(ctx, sr, su, items, guess); err != nil {
			return err
		}
		activated := false
		for _, it := range items {
			if it.level == nil && it.mine {
				if err := w.activate(ctx, sr, su, it.product, it.id); err != nil {
					return err
				}
				// Stocked afresh at 0: what was written before (at a
				// level the merchant removed) no longer counts.
				if err := w.note(ctx, r, mem, occ.ID, map[string]offerMark{it.id: {sold: shopSoldOf(s, it.rt)}}, nil); err != nil {
					return err
				}
				activated = true
			}
		}
		if activated {
			continue // read again: now stocked at our location
		}
		// Our side as it is after the levels were read: a sale recorded
		// meanwhile is in both. (A guess read no levels: nothing to do.)
		if !guess {
			if s, err = w.structure(sr, occ.ID); err != nil || s == nil {
				return err
			}
		}
		// Box-office sales in flight on any node, read with our side,
		// after the levels: one whose lowering the levels show stored
		// its take before it lowered, so it is either still in flight
		// (its seats counted as sold below, so the shop is not raised
		// above what is left once it commits) or committed, in our side.
		takes := s.TakesInFlight(r.Now())
		shopSold := map[uint64]int{}
		for _, t := range s.Types {
			shopSold[t.RegistrationTypeID] = t.ShopSold
		}
		held := map[uint64]int{}
		unsure := false
		adopt := map[string]offerMark{} // pending writes the levels show applied
		restocked := map[uint64]int{}
		for _, it := range items {
			if it.level == nil {
				continue
			}
			mark, known := mem.marks[it.id]
			// A variant this operation created holds, until its first
			// write here, the offer catalog recorded for that write: not
			// yet in the shop.
			if !known && it.offer != nil && it.created != r.Op.ID {
				mark, known = offerMark{offer: *it.offer, sold: it.sold}, true
			}
			if known {
				// mark.sold counts the units held back when it was
				// written: while they are not recorded, shopSold is
				// below it and they stay held.
				d := dropBelow(*it.level, shopSold[it.rt], mark, it.pendingMark())
				if d > 0 {
					held[it.rt] += d
				} else if up := restockAbove(*it.level, shopSold[it.rt], mark, it.pendingMark()); up > 0 {
					// The shop holds more than we wrote less the sales
					// since: a refund or cancellation that restocked
					// before its webhook is recorded. The offer written
					// now is marked as if it were recorded, so that
					// recording it later (shopSold down by as much) does
					// not make the shop look as if it held more than it
					// does, and that difference held back for good.
					// (dropBelow is never below 0: the excess is
					// measured apart, against the pending write too.)
					restocked[it.rt] += up
				}
				// A level that only our unanswered write explains could
				// also be sales of the same size: read the shop's orders
				// once before taking it for ours.
				if dropBelow(*it.level, shopSold[it.rt], mark, nil) > d {
					unsure = true
					adopt[it.id] = *it.pendingMark()
				}
				continue
			}
			if sent, ok := mem.sent[it.id]; ok {
				shopDrop := sent.from - *it.level
				if d := shopDrop - max(shopSold[it.rt]-sent.sold, 0); d > 0 {
					mem.unexplained[it.id] += d
				}
			}
			if u := mem.unexplained[it.id]; u > 0 {
				held[it.rt] += u
			}
		}
		clear(mem.sent)
		if (len(held) > 0 || unsure) && !reconciled && !guess {
			// The shop sold what our store does not know of: ask the shop
			// for its orders before anything is written, then read again.
			reconciled = true
			sr.log.Info("inventory found sales not recorded yet: reconciling with the shop's orders", "event", occ.ID)
			if err := w.s.reconcileShop(ctx, sr); err != nil {
				return err
			}
			round--
			continue
		}
		if len(adopt) > 0 {
			// Read after the shop's orders: those levels are our
			// unanswered writes, applied. Recorded as the offers last
			// written, so later reads need no reconciliation for them.
			if err := w.note(ctx, r, mem, occ.ID, adopt, nil); err != nil {
				return err
			}
		}
		alloc := engine.StructureAllocation(s, withTakes(held, takes))
		var lower, raise []batchItem
		for _, it := range items {
			if it.level == nil {
				continue
			}
			want := UnlimitedQuantity
			if a := alloc[it.rt]; a != nil {
				want = min(*a, UnlimitedQuantity)
			}
			bi := batchItem{it: it, want: want, sold: shopSold[it.rt] + held[it.rt] - restocked[it.rt]}
			switch {
			case want < *it.level:
				lower = append(lower, bi)
			case want > *it.level && it.mine:
				raise = append(raise, bi)
			}
		}
		if !guess && len(lower)+len(raise) > 0 {
			// What this round writes, recorded before it is sent (one
			// commit for both batches): a write applied whose answer is
			// lost is then known for ours (dropBelow).
			pending := map[string]offerMark{}
			for _, bi := range append(append([]batchItem{}, lower...), raise...) {
				pending[bi.it.id] = offerMark{offer: bi.want, sold: bi.sold}
			}
			if err := r.Update(ctx, func(tx engine.Tx) error { return putPending(tx, occ.ID, pending) }); err != nil {
				return err
			}
		}
		again := false
		for _, b := range [][]batchItem{lower, raise} {
			if len(b) == 0 {
				continue
			}
			guessed := guess
			ok, err := w.send(ctx, sr, su, mem, occ.ID, b, round, &guess)
			if err != nil {
				return err
			}
			if !ok {
				again = true
				break
			}
			marks := map[string]offerMark{}
			for _, bi := range b {
				marks[bi.it.id] = offerMark{offer: bi.want, sold: bi.sold}
			}
			if guessed {
				// Catalog recorded the offers these guesses write; only
				// a different one needs recording (with the phase).
				for _, bi := range b {
					if bi.it.offer != nil && *bi.it.offer == bi.want && bi.it.sold == bi.sold {
						delete(marks, bi.it.id)
						mem.marks[bi.it.id] = offerMark{offer: bi.want, sold: bi.sold}
					}
				}
				if err := w.note(ctx, r, mem, occ.ID, marks, staged); err != nil {
					return err
				}
			} else if err := w.note(ctx, r, mem, occ.ID, marks, nil); err != nil {
				return err
			}
		}
		if !again {
			return nil
		}
	}
}

// pendingMark is the item's write whose answer was not recorded, if any.
func (it *item) pendingMark() *offerMark {
	if it.pending == nil {
		return nil
	}
	return &offerMark{offer: *it.pending, sold: it.pendingSold}
}

// dropBelow is how far the shop's level of a variant is below what
// eventops expects there: the offer last written less the shop sales
// recorded since. That gap is a sale our store does not know of yet.
// When a write was sent whose answer was not recorded (pending: its answer
// lost, or the commit after it), the shop may have applied it: the level
// is then measured against that write too, and the smaller gap is taken.
// A level the pending write explains is eventops' own, never a sale: a
// lost answer to a lowering must not hold its seats back for good.
func dropBelow(level, shopSold int, mark offerMark, pending *offerMark) int {
	d := mark.offer - (shopSold - mark.sold) - level
	if pending != nil {
		d = min(d, pending.offer-(shopSold-pending.sold)-level)
	}
	return max(d, 0)
}

// restockAbove is how far the shop's level is above every level eventops
// expects there (the offer last written and a pending write, each less
// the shop sales recorded since): units the shop put back on sale (a
// refund or cancellation) before our store recorded it. A level that a
// pending write explains is ours, not a restock.
func restockAbove(level, shopSold int, mark offerMark, pending *offerMark) int {
	up := level - (mark.offer - (shopSold - mark.sold))
	if pending != nil {
		up = min(up, level-(pending.offer-(shopSold-pending.sold)))
	}
	return max(up, 0)
}

func shopSoldOf(s *engine.TicketStructure, rt uint64) int {
	for _, t := range s.Types {
		if t.RegistrationTypeID == rt {
			return t.ShopSold
		}
	}
	return 0
}

// batchItem is one quantity of a compare-and-set batch.
type batchItem struct {
	it   *item
	want int
	sold int // shop sales of the type counted when want was computed
}

// send writes one batch with compare-and-set from the levels read. It
// reports false when the round must read again (a refusal worth another
// round), and an error when the attempt ends.
func (w inventoryWork) send(ctx context.Context, sr *shopRun, su *engine.ShopSetup, mem *invMemory, occID uint64, b []batchItem, round int, guess *bool) (bool, error) {
	r := sr.r
	quantities := make([]map[string]any, 0, len(b))
	digest := []any{}
	handle := b[0].it.product.Handle
	for _, bi := range b {
		quantities = append(quantities, map[string]any{
			"inventoryItemId": bi.it.id, "locationId": su.LocationID,
			"quantity": bi.want, "changeFromQuantity": *bi.it.level,
		})
		digest = append(digest, bi.it.id, *bi.it.level, bi.want)
	}
	base := idemKey(append([]any{"inventory", r.Op.ID, r.Phase.ID}, digest...)...)
	key := base
	if n := mem.refused[base]; n > 0 {
		// The same batch was refused before (stale, say): a replay of
		// its key would answer the same refusal.
		key = idemKey(base, n)
	}
	ue, err := w.set(ctx, sr, key, globalID("eventops", "Operation", strconv.FormatUint(r.Op.ID, 10)), quantities)
	if err != nil {
		return false, err
	}
	if len(ue) == 0 {
		return true, nil
	}
	// Refused: not applied, so the level says nothing of it (a pending
	// write left on record would explain a racing sale away).
	if !*guess {
		ids := map[string]offerMark{}
		for _, bi := range b {
			ids[bi.it.id] = offerMark{}
		}
		if err := r.Update(ctx, func(tx engine.Tx) error { return clearPending(tx, occID, ids) }); err != nil {
			return false, err
		}
	}
	mem.refused[base]++
	stale := ue.Has("CHANGE_FROM_QUANTITY_STALE") || ue.Has("COMPARE_QUANTITY_STALE")
	if *guess {
		*guess = false
		if stale {
			// The guess was wrong, which tells nothing of a sale: read,
			// and the round begins again (it does not count).
			return false, nil
		}
	}
	switch {
	case stale:
		for _, bi := range b {
			mem.sent[bi.it.id] = sentQty{from: *bi.it.level, sold: bi.sold}
		}
		if round < w.s.cfg.StaleRounds {
			sr.log.Info("inventory raced a sale: reconciling", "product", handle, "round", round)
			return false, nil
		}
		if r.Attempt >= w.s.cfg.Retry.Attempts {
			return false, engine.Errorf(engine.CodeInventoryReconcileRaised,
				"product %q: the shop's inventory kept changing under every write (%d attempts of %d rounds)",
				handle, r.Attempt, w.s.cfg.StaleRounds)
		}
		return false, engine.Transientf(engine.CodeInventoryStale,
			"product %q: a sale raced %d inventory writes in a row", handle, round)
	case ue.Has("IDEMPOTENCY_CONCURRENT_REQUEST"):
		return false, engine.Transientf(engine.CodeShopifyUnavailable, "product %q: the same inventory write is still in flight", handle)
	case ue.Has("IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED"):
		if round < w.s.cfg.StaleRounds {
			return false, nil // a new key next round (refused counts it)
		}
		return false, engine.Transientf(engine.CodeInventoryStale, "product %q: %v", handle, ue)
	case ue.Has("ITEM_NOT_STOCKED_AT_LOCATION") && round < w.s.cfg.StaleRounds:
		return false, nil // read again: activation follows
	default:
		p := b[0].it.product
		if gone, err := sr.vanished(ctx, p.ShopifyProductID); err != nil || gone != "" {
			return false, cmp.Or(err, errVanished("product %q", p.Handle))
		}
		return false, engine.Errorf(engine.CodeInventoryValueRejected, "the shop refused the quantities of product %q: %v", handle, ue)
	}
}

// note records offers the shop took: in the phase's memory at once, and
// in the store, either into staged (committed with the phase's
// completion: new variants, whose first write is a guess from 0 and
// which have no earlier offer to mistake) or in a commit of their own
// now. The latter is what keeps the compare-and-set against the last
// written value true: a phase that fails or crashes after its write
// would otherwise leave the previous offer on record, and every later
// phase would hold the difference back as an unexplained sale.
func (w inventoryWork) note(ctx context.Context, r *engine.PhaseRun, mem *invMemory, occID uint64, marks, staged map[string]offerMark) error {
	for id, m := range marks {
		mem.marks[id] = m
	}
	if staged != nil {
		for id, m := range marks {
			staged[id] = m
		}
		return nil
	}
	return r.Update(ctx, func(tx engine.Tx) error { return putOffers(tx, occID, marks) })
}

// stageOffers persists, with the phase's completion, the offers staged.
func (w inventoryWork) stageOffers(r *engine.PhaseRun, occID uint64, staged map[string]offerMark) {
	if len(staged) == 0 {
		return
	}
	r.Stage(func(tx engine.Tx) error { return putOffers(tx, occID, staged) })
}

// items lists the mirrored variants of every product of the occurrence as
// the store holds them now (variants without an inventory item, never
// mirrored, are left out).
func (w inventoryWork) items(sr *shopRun, occID uint64, mine map[string]bool) (*engine.TicketStructure, []*item, error) {
	s, err := w.structure(sr, occID)
	if err != nil || s == nil {
		return nil, nil, err
	}
	var items []*item
	for i := range s.Products {
		p := &s.Products[i]
		for _, v := range p.Variants {
			if v.InventoryItemID == "" {
				if mine[p.Key] {
					sr.log.Warn("variant not mirrored yet: inventory skipped", "product", p.Handle, "registration_type", v.RegistrationTypeID)
				}
				continue
			}
			items = append(items, &item{id: v.InventoryItemID, rt: v.RegistrationTypeID, product: p, mine: mine[p.Key],
				offer: v.ShopOffer, sold: v.ShopOfferSold, pending: v.ShopPending, pendingSold: v.ShopPendingSold,
				created: v.CreatedBy})
		}
	}
	return s, items, nil
}

// structure is the occurrence's ticket structure as the store holds it
// now (nil: gone).
func (w inventoryWork) structure(sr *shopRun, occID uint64) (*engine.TicketStructure, error) {
	var s *engine.TicketStructure
	err := sr.r.View(func(tx engine.Tx) (err error) {
		s, err = tx.TicketStructure(occID)
		return err
	})
	return s, err
}

// levels reads the shop's available quantity of every item at our
// location (nil: not stocked there). With guess, the shop is not read:
// every level is taken to be 0 (see createdHere).
func (w inventoryWork) levels(ctx context.Context, sr *shopRun, su *engine.ShopSetup, items []*item, guess bool) error {
	if guess {
		for _, it := range items {
			it.level = new(int)
		}
		return nil
	}
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.id
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
		return phaseErr(ctx, err, engine.CodeInventoryValueRejected, "read inventory of "+items[0].product.Handle)
	}
	for i, n := range out.Nodes {
		if i >= len(items) {
			break
		}
		if n == nil && items[i].dropped {
			continue // deleted with its variant already
		}
		if n == nil {
			return errVanished("product %q (its inventory item %s is gone)", items[i].product.Handle, ids[i])
		}
		if n.InventoryLevel != nil {
			q := 0
			for _, x := range n.InventoryLevel.Quantities {
				if x.Name == "available" {
					q = x.Quantity
				}
			}
			items[i].level = &q
		}
	}
	return nil
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

// set sends one compare-and-set batch; it is resendable (absolute values,
// compare-and-set and an idempotency key).
func (w inventoryWork) set(ctx context.Context, sr *shopRun, key, ref string, quantities []map[string]any) (UserErrors, error) {
	var out struct {
		InventorySetQuantities struct {
			UserErrors UserErrors `json:"userErrors"`
		} `json:"inventorySetQuantities"`
	}
	err := sr.client.Do(ctx, Call{Name: "InventorySet", Query: mInventorySet, Resendable: true, Variables: map[string]any{
		"key": key,
		"input": map[string]any{
			"name": "available", "reason": "correction",
			"referenceDocumentUri": ref,
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
func (w inventoryWork) activate(ctx context.Context, sr *shopRun, su *engine.ShopSetup, p *engine.Product, itemID string) error {
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
		if gone, err := sr.vanished(ctx, p.ShopifyProductID); err != nil || gone != "" {
			return cmp.Or(err, errVanished("product %q", p.Handle))
		}
		return engine.Errorf(engine.CodeInventoryValueRejected, "the shop refused to stock %s at our location: %v", itemID, ue)
	}
	return nil
}
