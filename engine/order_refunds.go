package engine

import (
	"encoding/json"
	"time"
)

// Order bookkeeping of a refund, one order at a time, inside the caller's
// transaction: what the Shopify refund work (engine/shopify, through
// PhaseRun.Stage) records as each shop order is refunded.

// EventOrders lists the orders of an event and of its occurrences.
func EventOrders(tx Tx, eventID uint64) ([]*Order, error) { return eventOrders(tx, eventID) }

// MarkOrderRefunded marks one paid order refunded and recomputes what is
// left to sell of its event; it reports whether it changed anything (an
// order already refunded, say by the shop's refunds/create webhook, is
// left as it is).
func MarkOrderRefunded(tx Tx, orderID uint64, now time.Time) (bool, error) {
	o, err := tx.Order(orderID)
	if err != nil || o == nil || o.Status != OrderPaid {
		return false, err
	}
	t := now
	o.Status, o.RefundedAt = OrderRefunded, &t
	if err := putOrder(tx, o); err != nil {
		return false, err
	}
	return true, refreshAvailability(tx, o.EventID, now)
}

// RefundBoxOfficeOrders marks every paid order of the event and its
// occurrences that was not placed in a shop refunded (as LocalRefund does
// for all orders), and recomputes what is left to sell.
func RefundBoxOfficeOrders(tx Tx, eventID uint64, now time.Time) (int, error) {
	return refundOrdersLocally(tx, eventID, now, true)
}

// SaveShopRefund records, on each of the orders a shop order holds, the
// refund input that operation opID computed for it. The caller commits it
// before the input is first sent, so that a crash after the commit resumes
// with the same input (and a crash before it computes one afresh, nothing
// having been sent).
func SaveShopRefund(tx Tx, orderIDs []uint64, opID uint64, input json.RawMessage) error {
	for _, id := range orderIDs {
		o, err := tx.Order(id)
		if err != nil {
			return err
		}
		if o == nil {
			continue
		}
		o.ShopifyRefund = &ShopRefundInput{OperationID: opID, Input: append(json.RawMessage(nil), input...)}
		if err := putOrder(tx, o); err != nil {
			return err
		}
	}
	return nil
}

// SavedShopRefund is the refund input operation opID persisted for a shop
// order among its orders, or nil when it computed none yet.
func SavedShopRefund(orders []*Order, opID uint64) json.RawMessage {
	for _, o := range orders {
		if o.ShopifyRefund != nil && o.ShopifyRefund.OperationID == opID && len(o.ShopifyRefund.Input) > 0 {
			return o.ShopifyRefund.Input
		}
	}
	return nil
}
