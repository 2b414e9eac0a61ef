package engine

import (
	"context"
	"fmt"
)

// CreateOrder records a paid box-office sale of a date event. It may not sell
// more than is left (DESIGN §2). For a Shopify company the shop's inventory
// must follow, so the sale starts an inventory-only save in the same commit.
func (e *Engine) CreateOrder(ctx context.Context, companyID, eventID uint64, in OrderInput) (*Order, *Operation, error) {
	queue, err := e.eventQueue(companyID, eventID)
	if err != nil {
		return nil, nil, err
	}
	unlock := e.lockQueue(queue)
	defer unlock()
	var o *Order
	var op *Operation
	err = e.store.Update(ctx, func(tx Tx) error {
		idem, err := claimIdempotency(ctx, tx, e.now())
		if err != nil {
			return err
		}
		c, ev, err := liveEvent(tx, companyID, eventID)
		if err != nil {
			return err
		}
		if ev.Type == EventRecurring {
			return Invalid(FieldError{Attribute: "event", Code: "invalid", Message: "orders are placed on an occurrence, not on the recurring template"})
		}
		var rt *RegistrationType
		for i := range ev.RegistrationTypes {
			if ev.RegistrationTypes[i].ID == in.RegistrationTypeID {
				rt = &ev.RegistrationTypes[i]
			}
		}
		var errs []FieldError
		if rt == nil {
			errs = append(errs, FieldError{Attribute: "registration_type_id", Code: "invalid", Message: "is not a registration type of this event"})
		}
		if in.Quantity < 1 {
			errs = append(errs, FieldError{Attribute: "quantity", Code: "out_of_range", Message: "must be at least 1"})
		} else if in.Quantity > MaxQuantity {
			errs = append(errs, FieldError{Attribute: "quantity", Code: "out_of_range", Message: fmt.Sprintf("must be at most %d", MaxQuantity)})
		}
		if len(errs) > 0 {
			return Invalid(errs...)
		}
		sold, err := soldCounts(tx, ev)
		if err != nil {
			return err
		}
		if left := Available(rt.Quantity, sold[rt.ID], ev.Capacity, sold[0]); left != nil && *left < in.Quantity {
			return Invalid(FieldError{Attribute: "quantity", Code: "out_of_range",
				Message: fmt.Sprintf("only %d left to sell", *left)})
		}
		now := e.now()
		o = &Order{CompanyID: ev.CompanyID, EventID: ev.ID, RegistrationTypeID: rt.ID, Quantity: in.Quantity,
			Amount: Money{Amount: rt.Price.Amount * int64(in.Quantity), Currency: rt.Price.Currency},
			Status: OrderPaid, CreatedAt: now, RegistrationTypeName: rt.Name,
			UnitPrice: &Money{Amount: rt.Price.Amount, Currency: rt.Price.Currency}}
		if o.ID, err = tx.NextID(SeqOrder); err != nil {
			return err
		}
		if err := putOrder(tx, o); err != nil {
			return err
		}
		if err := refreshAvailability(tx, ev.ID, now); err != nil {
			return err
		}
		var opID uint64
		if c.Shopify() {
			if op, err = newOperation(tx, ActionSave, ev, c, now, true); err != nil {
				return err
			}
			opID = op.ID
		}
		return idem.put(tx, ev.ID, opID, o.ID, resultOf(WriteResult{Order: o, Operation: op}))
	})
	if err != nil {
		return nil, nil, err
	}
	if op != nil {
		e.launch(ctx, op)
	}
	return o, op, nil
}

// Orders lists the orders of a live event of a company: its own, and for a
// recurring event those of its occurrences that were gone when they were
// recorded (an occurrence's other orders are listed under it). An order
// recorded before orders kept their registration type's name and price
// shows those of the event's type when it still exists.
func (e *Engine) Orders(companyID, eventID uint64) ([]*Order, error) {
	var os []*Order
	err := e.store.View(func(tx Tx) error {
		_, ev, err := liveEvent(tx, companyID, eventID)
		if err != nil {
			return err
		}
		if os, err = tx.Orders(eventID); err != nil {
			return err
		}
		for i, o := range os {
			if o.RegistrationTypeName != "" {
				continue
			}
			if rt := regType(ev, o.RegistrationTypeID); rt != nil {
				c := *o // the store's record stays as it is
				c.RegistrationTypeName = rt.Name
				c.UnitPrice = &Money{Amount: rt.Price.Amount, Currency: rt.Price.Currency}
				os[i] = &c
			}
		}
		return nil
	})
	return os, err
}
