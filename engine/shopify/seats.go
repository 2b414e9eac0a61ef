package shopify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
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
//
// The idempotency key of each write is unique to this sale (a nonce drawn
// per call, kept for the client's retries of that write): Shopify replays
// a key's answer for 24 hours, so a key made of the levels alone would
// make a later sale from the same levels get the cached success and write
// nothing.
func (x seats) TakeSeats(ctx context.Context, st engine.ShopTokenStore, c *engine.Company, ts *engine.TicketStructure, rt uint64, quantity int,
	pending func(set map[string]engine.ShopOfferMark, cleared []string) error) (map[string]engine.ShopOfferMark, error) {
	if c == nil || c.Shop == nil || c.Shop.Setup == nil || c.Shop.Setup.LocationID == "" || ts == nil {
		return nil, nil
	}
	shop := c.Shop
	log := x.s.log.With("shop", shop.Domain)
	client, err := x.s.shopClient(c, st, log)
	if err != nil {
		return nil, err
	}
	sr := &shopRun{s: x.s, log: log, client: client, company: c}
	w := inventoryWork{x.s}
	ref := globalID("eventops", "BoxOffice", strconv.FormatUint(ts.EventID, 10))
	nonce, err := saleNonce()
	if err != nil {
		return nil, err
	}
	for round := 1; ; round++ {
		var items []*item
		for i := range ts.Products {
			p := &ts.Products[i]
			for _, v := range p.Variants {
				if v.InventoryItemID != "" {
					items = append(items, &item{id: v.InventoryItemID, rt: v.RegistrationTypeID, product: p,
						offer: v.ShopOffer, sold: v.ShopOfferSold, pending: v.ShopPending, pendingSold: v.ShopPendingSold})
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
				if d := dropBelow(*it.level, shopSoldOf(ts, it.rt), offerMark{offer: *it.offer, sold: it.sold}, it.pendingMark()); d > 0 {
					held[it.rt] += d
				}
			}
		}
		unexplained := map[uint64]int{}
		for k, v := range held {
			unexplained[k] = v
		}
		held[rt] += quantity
		alloc := engine.StructureAllocation(ts, held)
		var quantities []map[string]any
		digest := []any{"box-office", nonce, round, ts.EventID, rt, quantity}
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
			marks[it.id] = engine.ShopOfferMark{Offer: want, Sold: shopSoldOf(ts, it.rt) + unexplained[it.rt]}
		}
		if len(quantities) == 0 {
			return nil, nil // the shop offers no more than what is left after the sale
		}
		if err := pending(marks, nil); err != nil {
			return nil, err
		}
		ue, err := w.set(ctx, sr, idemKey(digest...), ref, quantities)
		if err != nil {
			return nil, err
		}
		if len(ue) == 0 {
			return marks, nil
		}
		cleared := make([]string, 0, len(marks))
		for id := range marks {
			cleared = append(cleared, id)
		}
		if err := pending(nil, cleared); err != nil {
			return nil, err
		}
		if (ue.Has("CHANGE_FROM_QUANTITY_STALE") || ue.Has("COMPARE_QUANTITY_STALE")) && round < x.s.cfg.StaleRounds {
			continue
		}
		return nil, engine.Errorf(engine.CodeInventoryValueRejected, "the shop refused to lower its offer: %v", ue)
	}
}

// saleNonce is drawn once per box-office sale: part of its writes'
// idempotency keys.
func saleNonce() (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("draw a box-office sale nonce: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
