package shopify

import (
	"context"
	"strconv"

	"eventops/engine"
)

// lowerFirst is a save's first Shopify step, run by catalog before it
// changes anything: a save that shrinks what the shop may offer (a lower
// capacity or quantity, a registration type removed) lowers the shop's
// levels to the new allocation now, rather than in the inventory phase
// after the catalog, metafields and delivery calls. It only lowers (with
// compare-and-set, holding back sales not recorded yet, as inventory
// does), and costs no call when nothing shrinks: the new allocation is
// compared with the offers last written. The variants of removed types
// (TicketStructure.Dropped) are set to 0 before catalog deletes them.
//
// A shop sale that lands between the API's answer and this step is
// recorded all the same (the buyer paid) and, when it takes the occurrence
// beyond its capacity, reported as oversold (the event's `oversold`, the
// dashboard, the eventops_shop_oversold_seats_total metric).
func (w catalogWork) lowerFirst(ctx context.Context, sr *shopRun, ts []*target) error {
	r := sr.r
	if r.Op.Action != engine.ActionSave || sr.company.Shop == nil || sr.company.Shop.Setup == nil ||
		sr.company.Shop.Setup.LocationID == "" {
		return nil
	}
	mirrored := false
	for _, t := range ts {
		mirrored = mirrored || t.product.ShopifyProductID != ""
		for _, v := range t.product.Variants {
			mirrored = mirrored || v.InventoryItemID != ""
		}
	}
	if !mirrored {
		return nil // a new event: nothing in the shop to lower
	}
	su := sr.company.Shop.Setup
	iw := inventoryWork{w.s}
	defer w.s.forgetInventory(r.Phase.ID)
	seen := map[uint64]bool{}
	for _, t := range ts {
		if seen[t.occ.ID] {
			continue
		}
		seen[t.occ.ID] = true
		s, err := iw.structure(sr, t.occ.ID)
		if err != nil || s == nil {
			return err
		}
		if len(s.Dropped) > 0 {
			if err := iw.zeroDropped(ctx, sr, su, s); err != nil {
				return err
			}
			dropped, occ := s.Dropped, t.occ.ID
			r.Stage(func(tx engine.Tx) error { return forgetDropped(tx, occ, dropped) })
		}
		if !shrinks(s) {
			continue
		}
		sr.log.Info("save shrinks what the shop may offer: lowering it before the catalog", "event", t.occ.ID)
		if err := iw.reconcile(ctx, sr, su, t.occ, nil, false); err != nil {
			return err
		}
	}
	return nil
}

// shrinks reports whether the allocation of s is below what the shop
// offers now of one of its variants (the offer last written less the shop
// sales recorded since: each sale lowered the shop's level and the
// allocation alike, so comparing with the offer as written would find
// every save after a sale shrinking).
func shrinks(s *engine.TicketStructure) bool {
	alloc := engine.StructureAllocation(s, nil)
	for _, p := range s.Products {
		for _, v := range p.Variants {
			if v.ShopOffer == nil || v.InventoryItemID == "" {
				continue
			}
			if a := alloc[v.RegistrationTypeID]; a != nil && *a < *s.ShopOffered(v) {
				return true
			}
		}
	}
	return false
}

// zeroDropped sets the variants of removed types to 0 in the shop (those
// still there), with compare-and-set.
func (w inventoryWork) zeroDropped(ctx context.Context, sr *shopRun, su *engine.ShopSetup, s *engine.TicketStructure) error {
	r := sr.r
	p := &engine.Product{Handle: "removed registration types of event " + strconv.FormatUint(s.EventID, 10)}
	for round := 1; ; round++ {
		items := make([]*item, len(s.Dropped))
		for i, id := range s.Dropped {
			items[i] = &item{id: id, product: p, dropped: true}
		}
		if err := w.levels(ctx, sr, su, items, false); err != nil {
			return err
		}
		var quantities []map[string]any
		digest := []any{"dropped", r.Op.ID, r.Phase.ID}
		for _, it := range items {
			if it.level == nil || *it.level == 0 {
				continue
			}
			quantities = append(quantities, map[string]any{"inventoryItemId": it.id, "locationId": su.LocationID,
				"quantity": 0, "changeFromQuantity": *it.level})
			digest = append(digest, it.id, *it.level)
		}
		if len(quantities) == 0 {
			return nil
		}
		ue, err := w.set(ctx, sr, idemKey(digest...), globalID("eventops", "Operation", strconv.FormatUint(r.Op.ID, 10)), quantities)
		if err != nil || len(ue) == 0 {
			return err
		}
		if (ue.Has("CHANGE_FROM_QUANTITY_STALE") || ue.Has("COMPARE_QUANTITY_STALE")) && round < w.s.cfg.StaleRounds {
			continue
		}
		if r.Attempt < w.s.cfg.Retry.Attempts {
			return engine.Transientf(engine.CodeInventoryStale, "removed registration types: %v", ue)
		}
		return engine.Errorf(engine.CodeInventoryValueRejected, "the shop refused to set removed registration types to 0: %v", ue)
	}
}

// forgetDropped removes the inventory items handled from the structure's
// Dropped list (with the catalog's completion: its variants are deleted).
func forgetDropped(tx engine.Tx, occID uint64, done []string) error {
	s, err := tx.TicketStructure(occID)
	if err != nil || s == nil || len(s.Dropped) == 0 {
		return err
	}
	kept := s.Dropped[:0:0]
	for _, id := range s.Dropped {
		if !containsString(done, id) {
			kept = append(kept, id)
		}
	}
	if len(kept) == len(s.Dropped) {
		return nil
	}
	s.Dropped = kept
	return tx.PutTicketStructure(s)
}

func containsString(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
