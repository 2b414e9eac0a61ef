package shopify

import (
	"context"
	"strconv"

	"eventops/engine"
)

// Seats builds the engine's ShopSeats (engine.Config.Seats): a box-office
// sale of a Shopify company takes its seats off the shop's offer before it
// commits.
func Seats(cfg Config) engine.ShopSeats { return seats{newService(cfg)} }

type seats struct{ s *service }

// TakeSeats implements engine.ShopSeats: it reads the levels of the
// occurrence's variants and lowers, in one compare-and-set batch, every one
// above the allocation computed as if quantity more of rt were sold (sales
// the shop made that our store does not know of yet held back as the
// inventory phase holds them). It never raises: the rebalancing save after
// the sale does. A sale racing the write is re-read, up to
// Config.StaleRounds times; any failure is the caller's to answer (the
// order is refused, nothing sold).
func (x seats) TakeSeats(ctx context.Context, shop *engine.Shop, token engine.Secret, st *engine.TicketStructure, rt uint64, quantity int) (map[string]engine.ShopOfferMark, error) {
	if shop == nil || shop.Setup == nil || shop.Setup.LocationID == "" || st == nil {
		return nil, nil
	}
	base, err := BaseURL(shop, x.s.cfg.SandboxURL)
	if err != nil {
		return nil, err
	}
	log := x.s.log.With("shop", shop.Domain)
	sr := &shopRun{s: x.s, log: log, client: x.s.client(Endpoint(base), token, log)}
	w := inventoryWork{x.s}
	ref := globalID("eventops", "BoxOffice", strconv.FormatUint(st.EventID, 10))
	for round := 1; ; round++ {
		var items []*item
		for i := range st.Products {
			p := &st.Products[i]
			for _, v := range p.Variants {
				if v.InventoryItemID != "" {
					items = append(items, &item{id: v.InventoryItemID, rt: v.RegistrationTypeID, product: p,
						offer: v.ShopOffer, sold: v.ShopOfferSold})
				}
			}
		}
		if len(items) == 0 {
			return nil, nil
		}
		if err := w.levels(ctx, sr, shop.Setup, items, false); err != nil {
			return nil, err
		}
		held := map[uint64]int{}
		for _, it := range items {
			if it.level != nil && it.offer != nil {
				if d := *it.offer - (shopSoldOf(st, it.rt) - it.sold) - *it.level; d > 0 {
					held[it.rt] += d
				}
			}
		}
		unexplained := map[uint64]int{}
		for k, v := range held {
			unexplained[k] = v
		}
		held[rt] += quantity
		alloc := engine.StructureAllocation(st, held)
		var quantities []map[string]any
		digest := []any{"box-office", st.EventID, rt, quantity}
		marks := map[string]engine.ShopOfferMark{}
		for _, it := range items {
			if it.level == nil {
				continue
			}
			want := UnlimitedQuantity
			if a := alloc[it.rt]; a != nil {
				want = min(*a, UnlimitedQuantity)
			}
			if want >= *it.level {
				continue
			}
			quantities = append(quantities, map[string]any{
				"inventoryItemId": it.id, "locationId": shop.Setup.LocationID,
				"quantity": want, "changeFromQuantity": *it.level,
			})
			digest = append(digest, it.id, *it.level, want)
			marks[it.id] = engine.ShopOfferMark{Offer: want, Sold: shopSoldOf(st, it.rt) + unexplained[it.rt]}
		}
		if len(quantities) == 0 {
			return nil, nil // the shop offers no more than what is left after the sale
		}
		ue, err := w.set(ctx, sr, idemKey(digest...), ref, quantities)
		if err != nil {
			return nil, err
		}
		if len(ue) == 0 {
			return marks, nil
		}
		if (ue.Has("CHANGE_FROM_QUANTITY_STALE") || ue.Has("COMPARE_QUANTITY_STALE")) && round < x.s.cfg.StaleRounds {
			continue
		}
		return nil, engine.Errorf(engine.CodeInventoryValueRejected, "the shop refused to lower its offer: %v", ue)
	}
}
