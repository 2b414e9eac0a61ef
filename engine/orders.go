package engine

import (
	"context"
	"fmt"
)

// ShopSeats takes seats off what a shop offers before the box office sells
// them: Shopify has no pool shared with our box office, so a box-office
// sale that committed first would leave the shop offering seats that no
// longer exist until the rebalancing save lowered it.
type ShopSeats interface {
	// TakeSeats lowers the shop's levels of the occurrence's variants (only
	// ever lowers, with compare-and-set) so that they fit the allocation
	// as if quantity more of registration type rt were sold, and answers
	// the offers it wrote, by inventory item, for the caller to record
	// with the sale (ShopOffer, ShopOfferSold). It calls the shop the
	// way every phase does (the token source of the company's connection
	// kind, through st; the domain map). Before each write it hands the
	// offers it is about to write to pending, which must commit them
	// (Variant.ShopPending): an applied write whose answer or commit is
	// lost is then known for eventops' own. Refused writes are handed to
	// pending as cleared.
	TakeSeats(ctx context.Context, st ShopTokenStore, c *Company, s *TicketStructure, rt uint64, quantity int,
		pending func(set map[string]ShopOfferMark, cleared []string) error) (map[string]ShopOfferMark, error)
}

// ShopTokenStore is what a shop client outside a phase reads and writes
// to get a token for a company's connection (the Engine is one).
type ShopTokenStore interface {
	Company(id uint64) (*Company, error)
	OpenShopSecrets(s *Shop) (ShopSecrets, error)
	StoreShopTokens(ctx context.Context, companyID uint64, domain, clientID string, t ShopTokens) (bool, error)
	NoteShopTokenRefused(ctx context.Context, companyID uint64, domain, clientID, reason string) error
	// Locks make a token refresh single-flight across nodes.
	Locks() Locks
}

// ShopOfferMark is an offer written to the shop: the quantity and the shop
// sales of the type it counted (Variant.ShopOffer and ShopOfferSold).
type ShopOfferMark struct {
	Offer, Sold int
}

// CreateOrder records a paid box-office sale of a date event. It may not sell
// more than is left (DESIGN §2). For a Shopify company the seats are first
// taken off the shop's offer (Config.Seats: the shop's levels lowered, with
// compare-and-set, to the allocation as if the sale were made) and the sale
// commits after, with the offers written and an inventory-only save that
// rebalances the shop (the other types may be raised again). When the shop
// cannot be reached the order is refused with KindUnavailable and
// ORDER_SHOP_UNAVAILABLE, nothing sold. Every lowering is recorded as
// pending before it is sent (Variant.ShopPending), so a crash or a lost
// answer between the shop's lowering and the commit leaves the shop
// offering less for a while, and the next rebalance (a save, the
// reconciliation timer) gives the seats back: they are never taken for a
// sale. From before the shop's lowering until the commit (or the
// refusal) the sale's seats are counted as sold by every rebalance of the
// event, on any node (a BoxOfficeTake stored on the occurrence): one that
// reads the shop in between never raises it above what is left once the
// sale commits. A company whose connection
// is revoked sells without the shop step (its shop can no longer be
// written; the warning is logged).
//
// Locks: the shop step takes several Shopify calls, each with the
// client's timeouts, and the event's queue lock is what its shop webhooks
// wait on (Shopify gives a delivery 5 s). So the shop step runs outside
// the queue lock, under a lock of its own that serializes the box-office
// sales of the event across the nodes (engine.Locks, "seats:{event id}") (two of them lowering from the same levels could
// otherwise leave the shop at the larger of the two offers); the queue
// lock is taken only for the commit, which validates the order again
// against the event as it is then (a shop sale recorded meanwhile may
// leave too few seats: the order is refused, and the shop offers less
// until the next rebalance, never more).
func (e *Engine) CreateOrder(ctx context.Context, companyID, eventID uint64, in OrderInput) (*Order, *Operation, error) {
	queue, err := e.eventQueue(companyID, eventID)
	if err != nil {
		return nil, nil, err
	}
	ctx, unlockSeats, err := e.lockSeats(ctx, eventID)
	if err != nil {
		return nil, nil, fmt.Errorf("wait for the event's box office: %w", err)
	}
	defer unlockSeats()
	marks, take, err := e.takeShopSeats(ctx, companyID, eventID, in)
	if err != nil {
		return nil, nil, err
	}
	committed := false
	if take != "" {
		defer func() {
			if !committed {
				e.releaseTake(eventID, take)
			}
		}()
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
		c, ev, rt, err := checkOrder(tx, companyID, eventID, in)
		if err != nil {
			return err
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
		if err := putShopOffers(tx, ev.ID, marks); err != nil {
			return err
		}
		if take != "" {
			if err := changeTakes(tx, ev.ID, BoxOfficeTake{}, take, now); err != nil {
				return err
			}
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
	committed = true
	if op != nil {
		e.launch(ctx, op)
	}
	return o, op, nil
}

// checkOrder validates a box-office order against the event as it is.
func checkOrder(tx Tx, companyID, eventID uint64, in OrderInput) (*Company, *Event, *RegistrationType, error) {
	c, ev, err := liveEvent(tx, companyID, eventID)
	if err != nil {
		return nil, nil, nil, err
	}
	if ev.Type == EventRecurring {
		return nil, nil, nil, Invalid(FieldError{Attribute: "event", Code: "invalid", Message: "orders are placed on an occurrence, not on the recurring template"})
	}
	rt := regType(ev, in.RegistrationTypeID)
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
		return nil, nil, nil, Invalid(errs...)
	}
	sold, err := soldCounts(tx, ev)
	if err != nil {
		return nil, nil, nil, err
	}
	if left := Available(rt.Quantity, sold[rt.ID], ev.Capacity, sold[0]); left != nil && *left < in.Quantity {
		return nil, nil, nil, Invalid(FieldError{Attribute: "quantity", Code: "out_of_range",
			Message: fmt.Sprintf("only %d left to sell", *left)})
	}
	return c, ev, rt, nil
}

// takeShopSeats is CreateOrder's first step for a Shopify company whose
// event is mirrored: the shop's offer lowered (see ShopSeats). An order
// that would be refused is refused here, before the shop is called.
func (e *Engine) takeShopSeats(ctx context.Context, companyID, eventID uint64, in OrderInput) (map[string]ShopOfferMark, string, error) {
	if e.seats == nil {
		return nil, "", nil
	}
	var c *Company
	var s *TicketStructure
	var rt *RegistrationType
	replay := false
	if err := e.store.View(func(tx Tx) error {
		if _, err := claimIdempotency(ctx, tx, e.now()); err != nil {
			replay = true // answered (or refused) by the commit's own claim
			return nil
		}
		var ev *Event
		var err error
		if c, ev, rt, err = checkOrder(tx, companyID, eventID, in); err != nil || !c.Shopify() {
			return err
		}
		s, err = tx.TicketStructure(ev.ID)
		return err
	}); err != nil {
		return nil, "", err
	}
	if replay || s == nil || !c.Shopify() || c.Shop.Setup == nil || c.Shop.Setup.LocationID == "" {
		return nil, "", nil // nothing mirrored: the shop offers none of it
	}
	if c.Shop.Revoked {
		e.log.Warn("box-office sale of a company whose shop connection is revoked: the shop's offer is not lowered",
			"company", c.ID, "event", eventID)
		return nil, "", nil
	}
	// Stored from before the shop's lowering until the commit (or the
	// refusal): a rebalance meanwhile, on any node, counts these seats as
	// sold (BoxOfficeTake).
	take, err := e.holdTake(ctx, eventID, rt.ID, in.Quantity)
	if err != nil {
		return nil, "", err
	}
	shopCtx, cancel := context.WithTimeout(ctx, boxOfficeTakeLife/2)
	defer cancel()
	marks, err := e.seats.TakeSeats(shopCtx, e, c, s, rt.ID, in.Quantity, func(set map[string]ShopOfferMark, cleared []string) error {
		return e.store.Update(ctx, func(tx Tx) error { return putShopPending(tx, eventID, set, cleared) })
	})
	if err != nil {
		e.releaseTake(eventID, take)
		e.log.Warn("box-office sale refused: the shop could not take the seats off its offer", "company", c.ID,
			"event", eventID, "err", err)
		return nil, "", &Error{Kind: KindUnavailable, Code: CodeOrderShopUnavailable,
			Message: "the shop could not be reached to take these seats off its offer first; nothing was sold: send the order again"}
	}
	return marks, take, nil
}

// putShopOffers records offers written to the shop into the occurrence's
// structure: the sale's lowerings, each only while it is still the write
// pending there. A rebalance that read the shop between the lowering and
// this commit took the pending write for its own and recorded it, or
// what it wrote after it: that newer offer is kept. Put back, the older
// one would leave the shop holding more than eventops wrote, which the
// inventory phase takes for a restock not recorded yet (restockAbove)
// and counts as a refund to come, so the offer shown stays below the
// shop's level for good.
func putShopOffers(tx Tx, eventID uint64, marks map[string]ShopOfferMark) error {
	if len(marks) == 0 {
		return nil
	}
	s, err := tx.TicketStructure(eventID)
	if err != nil || s == nil {
		return err
	}
	for i := range s.Products {
		for j := range s.Products[i].Variants {
			v := &s.Products[i].Variants[j]
			m, ok := marks[v.InventoryItemID]
			if !ok || v.InventoryItemID == "" || v.ShopPending == nil || *v.ShopPending != m.Offer || v.ShopPendingSold != m.Sold {
				continue
			}
			offer := m.Offer
			v.ShopOffer, v.ShopOfferSold = &offer, m.Sold
			v.ShopPending, v.ShopPendingSold = nil, 0
		}
	}
	return tx.PutTicketStructure(s)
}

// putShopPending records offers about to be written to the shop
// (Variant.ShopPending), and forgets those the shop refused.
func putShopPending(tx Tx, eventID uint64, set map[string]ShopOfferMark, cleared []string) error {
	s, err := tx.TicketStructure(eventID)
	if err != nil || s == nil {
		return err
	}
	for i := range s.Products {
		for j := range s.Products[i].Variants {
			v := &s.Products[i].Variants[j]
			if v.InventoryItemID == "" {
				continue
			}
			if m, ok := set[v.InventoryItemID]; ok {
				offer := m.Offer
				v.ShopPending, v.ShopPendingSold = &offer, m.Sold
			}
			for _, id := range cleared {
				if id == v.InventoryItemID {
					v.ShopPending, v.ShopPendingSold = nil, 0
				}
			}
		}
	}
	return tx.PutTicketStructure(s)
}

// lockSeats takes the box-office lock of an event (see CreateOrder), which
// holds across the nodes sharing the store; the context it answers ends
// with ctx or when the lock is lost.
func (e *Engine) lockSeats(ctx context.Context, eventID uint64) (context.Context, func(), error) {
	l, err := e.locks.Lock(ctx, seatLockName(eventID))
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := Guard(ctx, l)
	return ctx, func() { cancel(); l.Unlock() }, nil
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
