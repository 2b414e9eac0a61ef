package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// ShopRefund is a refund made in the shop, read by engine/shopify from the
// shop's refunds/create delivery.
type ShopRefund struct {
	ID      string // the shop's refund id
	OrderID string // the shop order refunded
	Lines   []ShopRefundLine
}

// ShopRefundLine is the quantity refunded of one line item. EventID and
// RegistrationTypeID (from the line's SKU; 0 when unknown) match orders
// recorded without a line item id.
type ShopRefundLine struct {
	LineID             string
	Quantity           int
	EventID            uint64
	RegistrationTypeID uint64
}

// ShopCancellation is a shop order cancelled in the shop (orders/cancelled),
// with the ids of the refunds the cancellation made.
type ShopCancellation struct {
	OrderID   string
	RefundIDs []string
}

// RefundShopLines applies a refund made in the shop to the orders of its
// line items: each line takes its quantity off the paid orders of its line
// item: an order refunded whole is marked refunded; a partial refund splits
// the order into a paid part and a refunded part (amount shared pro rata),
// so that sold counts stay sums of paid orders. Every refunded quantity
// returns to what is left to sell, whatever the shop did with its stock
// (Shopify's restock_type): a refunded ticket is void, so its place is for
// sale again, and the inventory save that follows sets the shop's quantity
// to match (the shop itself puts only cancel and return restocks back). A
// refund without lines (money only) changes no quantity. An inventory-only
// save follows for each live occurrence touched. A refund already applied
// is ignored.
func (e *Engine) RefundShopLines(ctx context.Context, companyID uint64, d ShopDelivery, r ShopRefund) (*WebhookOutcome, error) {
	if err := checkDelivery(d, "refund_id", r.ID, "order_id", r.OrderID); err != nil {
		return nil, err
	}
	return e.changeShopOrder(ctx, companyID, d, r.OrderID, func(tx Tx, orders []*Order, now time.Time, out *WebhookOutcome) ([]uint64, error) {
		refundID := r.ID
		for _, o := range orders {
			if slices.Contains(o.ShopifyRefundIDs, refundID) {
				out.Ignored, out.Outcome = true, "refund "+refundID+" is already applied"
				return nil, nil
			}
		}
		var touched []uint64
		for _, line := range r.Lines {
			n, err := refundLine(tx, orders, line, refundID, now, out)
			if err != nil {
				return nil, err
			}
			touched = append(touched, n...)
		}
		if len(out.Orders) == 0 {
			out.Ignored, out.Outcome = true, "refund "+refundID+" refunds no ticket of ours"
			return nil, nil
		}
		out.Outcome = "applied refund " + refundID
		return touched, nil
	})
}

// refundLine takes a refund line's quantity off the paid orders of its line
// item (orders recorded without a line item id are matched by SKU), whole
// orders first in id order, splitting the last one when the refund is
// partial.
func refundLine(tx Tx, orders []*Order, line ShopRefundLine, refundID string, now time.Time, out *WebhookOutcome) ([]uint64, error) {
	left := line.Quantity
	lineID := line.LineID
	occ, rt, bySKU := line.EventID, line.RegistrationTypeID, line.EventID != 0 && line.RegistrationTypeID != 0
	var touched []uint64
	for _, o := range orders {
		if left <= 0 {
			break
		}
		if o.Status != OrderPaid {
			continue
		}
		mine := o.ShopifyLineItemID == lineID ||
			(o.ShopifyLineItemID == "" && bySKU && o.SoldEventID() == occ && o.RegistrationTypeID == rt)
		if !mine {
			continue
		}
		take := min(left, o.Quantity)
		left -= take
		t := now
		if take == o.Quantity {
			o.Status, o.RefundedAt = OrderRefunded, &t
			o.ShopifyRefundIDs = append(o.ShopifyRefundIDs, refundID)
			if err := putOrder(tx, o); err != nil {
				return nil, err
			}
			out.Orders = append(out.Orders, o)
		} else {
			keep := o.Quantity - take
			kept := scaleAmount(o.Amount.Amount, keep, o.Quantity)
			part := &Order{CompanyID: o.CompanyID, EventID: o.EventID, RegistrationTypeID: o.RegistrationTypeID,
				Quantity: take, Amount: Money{Amount: o.Amount.Amount - kept, Currency: o.Amount.Currency},
				Status: OrderRefunded, ShopifyOrderID: o.ShopifyOrderID, ShopifyLineItemID: o.ShopifyLineItemID,
				ShopifyRefundIDs: []string{refundID}, CreatedAt: o.CreatedAt, RefundedAt: &t,
				RegistrationTypeName: o.RegistrationTypeName, UnitPrice: o.UnitPrice, Retired: o.Retired,
				OccurrenceID: o.OccurrenceID}
			if p := o.Presentment; p != nil {
				pk := scaleAmount(p.Amount, keep, o.Quantity)
				part.Presentment = &Money{Amount: p.Amount - pk, Currency: p.Currency}
				o.Presentment = &Money{Amount: pk, Currency: p.Currency}
			}
			var err error
			if part.ID, err = tx.NextID(SeqOrder); err != nil {
				return nil, err
			}
			o.Quantity, o.Amount.Amount = keep, kept
			if err := putOrder(tx, o); err != nil {
				return nil, err
			}
			if err := putOrder(tx, part); err != nil {
				return nil, err
			}
			if err := tx.IndexShopOrder(part); err != nil {
				return nil, err
			}
			out.Orders = append(out.Orders, o, part)
		}
		touched = append(touched, o.EventID)
	}
	return touched, nil
}

// CancelShopOrder refunds every paid order of a shop order cancelled in the
// shop (a cancellation refunds what was left), noting the cancellation's
// refunds on them so that their own refunds/create deliveries find them
// applied.
func (e *Engine) CancelShopOrder(ctx context.Context, companyID uint64, d ShopDelivery, cancel ShopCancellation) (*WebhookOutcome, error) {
	if err := checkDelivery(d, "order_id", cancel.OrderID); err != nil {
		return nil, err
	}
	shopOrderID, refundIDs := cancel.OrderID, cancel.RefundIDs
	return e.changeShopOrder(ctx, companyID, d, shopOrderID, func(tx Tx, orders []*Order, now time.Time, out *WebhookOutcome) ([]uint64, error) {
		var touched []uint64
		for _, o := range orders {
			if o.Status != OrderPaid {
				continue
			}
			t := now
			o.Status, o.RefundedAt = OrderRefunded, &t
			for _, id := range refundIDs {
				if !slices.Contains(o.ShopifyRefundIDs, id) {
					o.ShopifyRefundIDs = append(o.ShopifyRefundIDs, id)
				}
			}
			if err := putOrder(tx, o); err != nil {
				return nil, err
			}
			out.Orders = append(out.Orders, o)
			touched = append(touched, o.EventID)
		}
		if len(out.Orders) == 0 {
			out.Ignored, out.Outcome = true, "shop order "+shopOrderID+" has no paid order of ours"
			return nil, nil
		}
		out.Outcome = fmt.Sprintf("refunded %d order(s) of cancelled shop order %s", len(out.Orders), shopOrderID)
		return touched, nil
	})
}

// changeShopOrder runs change over the orders of one shop order under the
// queue locks of their events, in the commit that remembers the delivery:
// change returns the occurrences whose orders it changed, whose left to sell
// is then recomputed and followed by inventory-only saves.
func (e *Engine) changeShopOrder(ctx context.Context, companyID uint64, d ShopDelivery, shopOrderID string,
	change func(tx Tx, orders []*Order, now time.Time, out *WebhookOutcome) ([]uint64, error)) (*WebhookOutcome, error) {
	var queues []uint64
	if err := e.store.View(func(tx Tx) error {
		orders, err := tx.ShopOrders(companyID, shopOrderID)
		if err != nil {
			return err
		}
		for _, o := range orders {
			ev, err := tx.Event(o.EventID)
			if err != nil {
				return err
			}
			if ev != nil {
				queues = append(queues, ev.QueueID())
			}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	// The queues read above are those of the orders as they were: a sale
	// of the same shop order recorded since may touch another, which the
	// transaction finds (errQueuesChanged) and which is then locked too.
	for {
		out, err := e.changeShopOrderLocked(ctx, companyID, d, shopOrderID, change, queues)
		var qc *errQueuesChanged
		if errors.As(err, &qc) {
			queues = append(queues, qc.queue)
			continue
		}
		return out, err
	}
}

// changeShopOrderLocked is changeShopOrder's transaction, run under the
// creation locks of queues.
func (e *Engine) changeShopOrderLocked(ctx context.Context, companyID uint64, d ShopDelivery, shopOrderID string,
	change func(tx Tx, orders []*Order, now time.Time, out *WebhookOutcome) ([]uint64, error), queues []uint64) (*WebhookOutcome, error) {
	unlock := e.lockQueues(queues)
	defer unlock()
	var out *WebhookOutcome
	j := &joins{}
	defer j.done()
	err := e.store.Update(ctx, func(tx Tx) error {
		out = &WebhookOutcome{CompanyID: companyID, joins: j}
		rec, cur, err := e.claimSale(tx, companyID, d, out)
		if err != nil || rec == nil {
			return err
		}
		orders, err := tx.ShopOrders(companyID, shopOrderID)
		if err != nil {
			return err
		}
		if len(orders) == 0 {
			out.Ignored, out.Outcome = true, "shop order "+shopOrderID+" has no order of ours"
			rec.Outcome = out.Outcome
			return tx.PutWebhook(rec)
		}
		now := e.now()
		touched, err := change(tx, orders, now, out)
		if err != nil {
			return err
		}
		if out.Ignored {
			out.Orders = nil
			rec.Outcome = out.Outcome
			return tx.PutWebhook(rec)
		}
		slices.Sort(touched)
		if err := e.followSales(tx, cur, slices.Compact(touched), now, out, queues); err != nil {
			return err
		}
		return e.finishWebhook(tx, rec, out)
	})
	if err != nil {
		return nil, err
	}
	e.launchAll(ctx, out.Operations)
	return out, nil
}
