package shopify

import "eventops/engine"

// The offers recorded per variant: what eventops last wrote to the shop
// (Variant.ShopOffer) and a write sent whose answer is not recorded yet
// (Variant.ShopPending), which the inventory phase and box-office sales
// compare the shop's levels with (dropBelow).

// putOffers writes offers by inventory item into the occurrence's
// structure.
func putOffers(tx engine.Tx, occID uint64, marks map[string]offerMark) error {
	s, err := tx.TicketStructure(occID)
	if err != nil || s == nil {
		return err
	}
	changed := false
	for i := range s.Products {
		for j := range s.Products[i].Variants {
			v := &s.Products[i].Variants[j]
			if m, ok := marks[v.InventoryItemID]; ok && v.InventoryItemID != "" {
				v.ShopOffer, v.ShopOfferSold, changed = &m.offer, m.sold, true
				v.ShopPending, v.ShopPendingSold = nil, 0
			}
		}
	}
	if !changed {
		return nil
	}
	return tx.PutTicketStructure(s)
}

// putPending records, before a write is sent, what it writes by
// inventory item (Variant.ShopPending): if the shop applies it and its
// answer is lost, the next read takes the level as ours (dropBelow).
func putPending(tx engine.Tx, occID uint64, marks map[string]offerMark) error {
	s, err := tx.TicketStructure(occID)
	if err != nil || s == nil {
		return err
	}
	changed := false
	for i := range s.Products {
		for j := range s.Products[i].Variants {
			v := &s.Products[i].Variants[j]
			if m, ok := marks[v.InventoryItemID]; ok && v.InventoryItemID != "" {
				offer := m.offer
				v.ShopPending, v.ShopPendingSold, changed = &offer, m.sold, true
			}
		}
	}
	if !changed {
		return nil
	}
	return tx.PutTicketStructure(s)
}

// clearPending forgets the pending writes of the inventory items given
// (the shop refused them: not applied).
func clearPending(tx engine.Tx, occID uint64, ids map[string]offerMark) error {
	s, err := tx.TicketStructure(occID)
	if err != nil || s == nil {
		return err
	}
	changed := false
	for i := range s.Products {
		for j := range s.Products[i].Variants {
			v := &s.Products[i].Variants[j]
			if _, ok := ids[v.InventoryItemID]; ok && v.ShopPending != nil {
				v.ShopPending, v.ShopPendingSold, changed = nil, 0, true
			}
		}
	}
	if !changed {
		return nil
	}
	return tx.PutTicketStructure(s)
}

// withTakes is held with the box-office takes in flight added: what the
// allocation counts as sold beyond our side. The takes are not shop sales,
// so the offers' marks (sold) count held alone.
func withTakes(held, takes map[uint64]int) map[uint64]int {
	if len(takes) == 0 {
		return held
	}
	out := make(map[uint64]int, len(held)+len(takes))
	for rt, q := range held {
		out[rt] += q
	}
	for rt, q := range takes {
		out[rt] += q
	}
	return out
}
