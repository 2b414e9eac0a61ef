package engine

import (
	"slices"
	"time"
)

// ShopMark is how far the reconciliation (engine/shopify) has read a
// shop's orders: every order last updated before UpdatedAt has been
// handled, and of those updated at UpdatedAt exactly, the ones OrderIDs
// names. The next pass asks for orders updated at or after UpdatedAt and
// skips those ids, so that two orders sharing a timestamp are never
// skipped and none is read for nothing twice.
type ShopMark struct {
	UpdatedAt time.Time `json:"updated_at"`
	OrderIDs  []string  `json:"order_ids,omitempty"`
}

// Covers reports whether an order updated at updatedAt was handled by the
// pass that left the mark.
func (m *ShopMark) Covers(orderID string, updatedAt time.Time) bool {
	if m == nil {
		return false
	}
	if updatedAt.Before(m.UpdatedAt) {
		return true
	}
	return updatedAt.Equal(m.UpdatedAt) && slices.Contains(m.OrderIDs, orderID)
}

// Next is the mark after the order orderID, updated at updatedAt, is
// handled (m nil: none before).
func (m *ShopMark) Next(orderID string, updatedAt time.Time) *ShopMark {
	if m == nil || updatedAt.After(m.UpdatedAt) {
		return &ShopMark{UpdatedAt: updatedAt, OrderIDs: []string{orderID}}
	}
	out := &ShopMark{UpdatedAt: m.UpdatedAt, OrderIDs: slices.Clone(m.OrderIDs)}
	if updatedAt.Equal(m.UpdatedAt) && !slices.Contains(out.OrderIDs, orderID) {
		out.OrderIDs = append(out.OrderIDs, orderID)
	}
	return out
}

// advanceShopMark writes mark on the company's shop connection when it is
// ahead of the one kept (a mark never moves back: a late writer of an
// older pass changes nothing). No mark, no company or no shop: nothing.
func advanceShopMark(tx Tx, companyID uint64, mark *ShopMark) error {
	if mark == nil {
		return nil
	}
	c, err := tx.Company(companyID)
	if err != nil || c == nil || c.Shop == nil {
		return err
	}
	cur := c.Shop.Reconciled
	if cur != nil && mark.UpdatedAt.Before(cur.UpdatedAt) {
		return nil
	}
	next := &ShopMark{UpdatedAt: mark.UpdatedAt.UTC(), OrderIDs: slices.Clone(mark.OrderIDs)}
	if cur != nil && mark.UpdatedAt.Equal(cur.UpdatedAt) {
		for _, id := range cur.OrderIDs {
			if !slices.Contains(next.OrderIDs, id) {
				next.OrderIDs = append(next.OrderIDs, id)
			}
		}
		if len(next.OrderIDs) == len(cur.OrderIDs) {
			return nil
		}
	}
	c = c.Clone()
	c.Shop.Reconciled = next
	return tx.PutCompany(c)
}
