package engine

import (
	"context"
	"slices"
)

// Ticket lines are fulfilled in the shop (issue 14 §5): tickets need no
// shipping, so once a paid shop sale is recorded, engine/shopify marks
// its ticket line items fulfilled there (without notifying the buyer).
// The work is durable: the shop order's id joins the company's shop
// connection's Unfulfilled list in the commit that records the sale, and
// leaves it only once the shop shows nothing of ours left to fulfil
// (ShopOrderFulfilled). A crash in between leaves the id listed, and the
// next attempt reads the shop's fulfillment orders first, so it fulfils
// what is left and never fulfils twice.

// maxUnfulfilled bounds the list: past it the oldest ids are dropped (with
// the shop unreachable for a long time, a busy shop would otherwise grow
// the company record without bound); their lines stay unfulfilled in the
// shop, which the merchant can fulfil by hand.
const maxUnfulfilled = 1000

// queueFulfilment lists a recorded shop order for fulfilment, in the
// caller's commit.
func queueFulfilment(tx Tx, companyID uint64, shopOrderID string) error {
	c, err := tx.Company(companyID)
	if err != nil || c == nil || c.Shop == nil || slices.Contains(c.Shop.Unfulfilled, shopOrderID) {
		return err
	}
	c = c.Clone()
	c.Shop.Unfulfilled = append(c.Shop.Unfulfilled, shopOrderID)
	if n := len(c.Shop.Unfulfilled); n > maxUnfulfilled {
		c.Shop.Unfulfilled = slices.Clone(c.Shop.Unfulfilled[n-maxUnfulfilled:])
	}
	return tx.PutCompany(c)
}

// ShopOrderLines lists the orders recorded for a shop order (one per line
// item of ours, or more after a partial refund split one).
func (e *Engine) ShopOrderLines(companyID uint64, shopOrderID string) ([]*Order, error) {
	var out []*Order
	err := e.store.View(func(tx Tx) error {
		var err error
		out, err = tx.ShopOrders(companyID, shopOrderID)
		return err
	})
	return out, err
}

// ShopOrderFulfilled takes a shop order off the company's Unfulfilled list
// (nothing when it is not listed).
func (e *Engine) ShopOrderFulfilled(ctx context.Context, companyID uint64, shopOrderID string) error {
	return e.store.Update(ctx, func(tx Tx) error {
		c, err := tx.Company(companyID)
		if err != nil || c == nil || c.Shop == nil || !slices.Contains(c.Shop.Unfulfilled, shopOrderID) {
			return err
		}
		c = c.Clone()
		c.Shop.Unfulfilled = slices.DeleteFunc(slices.Clone(c.Shop.Unfulfilled), func(id string) bool { return id == shopOrderID })
		if len(c.Shop.Unfulfilled) == 0 {
			c.Shop.Unfulfilled = nil
		}
		return tx.PutCompany(c)
	})
}
