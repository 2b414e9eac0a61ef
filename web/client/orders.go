package client

import (
	"context"
	"time"
)

// Order is a box-office or shop order of an event (GET
// /events/{id}/orders).
type Order struct {
	ID                 uint64 `json:"id"`
	EventID            uint64 `json:"event_id"`
	RegistrationTypeID uint64 `json:"registration_type_id"`
	Quantity           int    `json:"quantity"`
	Amount             Money  `json:"amount"`
	Status             string `json:"status"` // paid, refunded
	// ShopifyOrderID is the shop order's id, nil for a box-office order.
	ShopifyOrderID *string    `json:"shopify_order_id"`
	CreatedAt      time.Time  `json:"created_at"`
	RefundedAt     *time.Time `json:"refunded_at"`
	// PresentmentAmount is what a shop buyer paid in their currency;
	// Amount is in the shop's.
	PresentmentAmount *Money `json:"presentment_amount"`
	// RegistrationTypeName and UnitPrice are the registration type as
	// sold, kept on the order (nil when not known).
	RegistrationTypeName *string `json:"registration_type_name"`
	UnitPrice            *Money  `json:"unit_price"`
	// Retired marks a shop order recorded after its registration type or
	// occurrence was gone (the buyer paid while the shop offered it).
	Retired bool `json:"retired"`
	// Version counts the order's changes (to order webhook deliveries).
	Version uint64 `json:"version"`
	// OccurrenceID names the gone occurrence of an order recorded against
	// its recurring event (EventID); nil otherwise.
	OccurrenceID *uint64 `json:"occurrence_id"`
}

// Orders lists one page of an event's orders, in id order.
func (c *Client) Orders(ctx context.Context, eventID uint64, o ListOptions) (*Page[Order], error) {
	var out Page[Order]
	if err := c.getJSON(ctx, idPath("/events", eventID)+"/orders", o.query(), &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// AllOrders lists every order of an event.
func (c *Client) AllOrders(ctx context.Context, eventID uint64) ([]Order, error) {
	return all(ctx, "", func(ctx context.Context, lo ListOptions) (*Page[Order], error) {
		return c.Orders(ctx, eventID, lo)
	})
}
