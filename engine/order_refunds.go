package engine

import "time"

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
	if err := tx.PutOrder(o); err != nil {
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
