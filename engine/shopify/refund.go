package shopify

import (
	"context"
	"sort"
	"strconv"

	"eventops/engine"
)

// refundWork refunds an event's paid orders: those placed in the shop
// through refundCreate, box-office ones locally. Companies without a shop
// are refunded as engine.LocalRefund does.
//
// Exactly once: each shop order is refunded with an idempotency key derived
// from (operation, shop order), and its refunded status is persisted right
// after the shop accepted it. A resumed refund first reads what is still
// refundable of each order, so an order refunded before a crash (or whose
// answer was lost) is not sent again; one whose refund never reached the
// shop is sent again with the same key.
type refundWork struct{ s *service }

// Refund implements engine.RefundWork.
func (w refundWork) Refund(ctx context.Context, r *engine.PhaseRun) error {
	c, err := r.Company()
	if err != nil {
		return err
	}
	if !c.Shopify() {
		return engine.LocalRefund{}.Refund(ctx, r)
	}
	var orders []*engine.Order
	variants := map[string][2]uint64{} // shop variant id → (occurrence, registration type)
	err = r.View(func(tx engine.Tx) error {
		var err error
		if orders, err = engine.EventOrders(tx, r.Op.EventID); err != nil {
			return err
		}
		seen := map[uint64]bool{}
		for _, o := range orders {
			occ := o.SoldEventID() // a gone occurrence's order is on its recurring event
			if seen[occ] {
				continue
			}
			seen[occ] = true
			s, err := tx.TicketStructure(occ)
			if err != nil || s == nil {
				if err != nil {
					return err
				}
				continue
			}
			for _, p := range s.Products {
				for _, v := range p.Variants {
					if v.ShopifyVariantID != "" {
						variants[v.ShopifyVariantID] = [2]uint64{occ, v.RegistrationTypeID}
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	total, done := len(orders), 0
	byShopOrder := map[string][]*engine.Order{}
	for _, o := range orders {
		switch {
		case o.Status != engine.OrderPaid:
			done++
		case o.ShopifyOrderID != "":
			byShopOrder[o.ShopifyOrderID] = append(byShopOrder[o.ShopifyOrderID], o)
		}
	}
	if len(byShopOrder) > 0 {
		sr, err := w.s.open(r)
		if err != nil {
			r.Progress(done, total)
			return err
		}
		ids := make([]string, 0, len(byShopOrder))
		for id := range byShopOrder {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			if err := w.refundShopOrder(ctx, sr, id, byShopOrder[id], variants); err != nil {
				r.Progress(done, total)
				return err
			}
			group := byShopOrder[id]
			err := r.Update(ctx, func(tx engine.Tx) error {
				for _, o := range group {
					if _, err := engine.MarkOrderRefunded(tx, o.ID, r.Now()); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				r.Progress(done, total)
				return err
			}
			done += len(group)
		}
	}
	// Box-office orders, recounted in the commit that ends the refund.
	r.Stage(func(tx engine.Tx) error {
		_, err := engine.RefundBoxOfficeOrders(tx, r.Op.EventID, r.Now())
		return err
	})
	r.Progress(total, total)
	return nil
}

type shopLineItem struct {
	ID                 string `json:"id"`
	SKU                string `json:"sku"`
	Quantity           int    `json:"quantity"`
	RefundableQuantity int    `json:"refundableQuantity"`
	Variant            *struct {
		ID string `json:"id"`
	} `json:"variant"`
}

// refundShopOrder refunds, in one refundCreate, the line items of a shop
// order that belong to our orders (a cart may hold tickets of other events
// too). Line items are matched by SKU, which names the occurrence and the
// registration type, else by variant id.
func (w refundWork) refundShopOrder(ctx context.Context, sr *shopRun, shopOrderID string, ours []*engine.Order, variants map[string][2]uint64) error {
	var read struct {
		Order *struct {
			ID        string `json:"id"`
			LineItems struct {
				Nodes []shopLineItem `json:"nodes"`
			} `json:"lineItems"`
		} `json:"order"`
	}
	err := sr.client.Do(ctx, Call{Name: "OrderForRefund", Query: qOrderForRefund, Resendable: true,
		Variables: map[string]any{"id": shopOrderID}}, &read)
	if err != nil {
		return phaseErr(ctx, err, engine.CodeRefundRejected, "read order "+shopOrderID)
	}
	if read.Order == nil {
		return engine.Errorf(engine.CodeRefundRejected, "order %s is not in the shop", shopOrderID)
	}
	want := map[[2]uint64]int{} // (occurrence, registration type) → quantity of ours
	for _, o := range ours {
		want[[2]uint64{o.SoldEventID(), o.RegistrationTypeID}] += o.Quantity
	}
	var lines []map[string]any
	for _, li := range read.Order.LineItems.Nodes {
		occ, rt, ok := parseSKU(li.SKU)
		k := [2]uint64{occ, rt}
		if !ok && li.Variant != nil {
			k, ok = variants[li.Variant.ID]
		}
		if !ok || want[k] == 0 || li.RefundableQuantity <= 0 {
			continue
		}
		q := min(li.RefundableQuantity, want[k])
		want[k] -= q
		lines = append(lines, map[string]any{"lineItemId": li.ID, "quantity": q, "restockType": "CANCEL"})
	}
	if len(lines) == 0 {
		sr.log.Info("shop order already refunded", "order", shopOrderID)
		return nil
	}
	var out struct {
		RefundCreate struct {
			Refund *struct {
				ID string `json:"id"`
			} `json:"refund"`
			UserErrors UserErrors `json:"userErrors"`
		} `json:"refundCreate"`
	}
	key := idemKey("refund", sr.r.Op.ID, shopOrderID)
	err = sr.client.Do(ctx, Call{Name: "RefundCreate", Query: mRefundCreate, Resendable: true, Variables: map[string]any{
		"key": key,
		"input": map[string]any{
			"orderId": shopOrderID, "notify": true,
			"note":            "eventops: event " + strconv.FormatUint(sr.r.Op.EventID, 10) + " refunded by operation " + strconv.FormatUint(sr.r.Op.ID, 10),
			"refundLineItems": lines,
		},
	}}, &out)
	if err != nil {
		return phaseErr(ctx, err, engine.CodeRefundRejected, "refund order "+shopOrderID)
	}
	if ue := out.RefundCreate.UserErrors; len(ue) > 0 {
		return engine.Errorf(engine.CodeRefundRejected, "the shop refused to refund order %s: %v", shopOrderID, ue)
	}
	sr.log.Info("shop order refunded", "order", shopOrderID, "lines", len(lines))
	return nil
}
