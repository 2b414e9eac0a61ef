package engine

// Reads of events as the API and the dashboard show them: one transaction
// per rendered event or page of events, with what is shown beside the
// record.

// EventView is an event with what the API shows beside the record.
type EventView struct {
	Event *Event
	// Venue is nil when the venue no longer exists.
	Venue *Venue
	// Structure is the tickets phase's record; nil before the phase ran,
	// and always for a recurring template (each occurrence has its own).
	Structure *TicketStructure
	// Sold is the paid quantity per registration type, and under key 0 over
	// all types, of a date event: from Structure when there is one (kept
	// current by every sale and refund), else from the orders. Nil for a
	// recurring template, whose limits apply per occurrence.
	Sold map[uint64]int
	// Deletable is false while the event (or one of its occurrences) has
	// paid orders.
	Deletable bool
	// Shop: the event's company is connected to a shop (what the shop
	// offers is then shown).
	Shop bool
}

// EventView reads a live event of a company with its venue, ticket
// structure, sold counts and deletability, in one transaction.
func (e *Engine) EventView(companyID, id uint64) (*EventView, error) {
	var v *EventView
	err := e.store.View(func(tx Tx) error {
		_, ev, err := liveEvent(tx, companyID, id)
		if err != nil {
			return err
		}
		v, err = eventView(tx, ev)
		return err
	})
	return v, err
}

// EventViews completes a page of events (as returned by Events) in one
// transaction.
func (e *Engine) EventViews(evs []*Event) ([]*EventView, error) {
	out := make([]*EventView, 0, len(evs))
	err := e.store.View(func(tx Tx) error {
		for _, ev := range evs {
			v, err := eventView(tx, ev)
			if err != nil {
				return err
			}
			out = append(out, v)
		}
		return nil
	})
	return out, err
}

func eventView(tx Tx, ev *Event) (*EventView, error) {
	v := &EventView{Event: ev}
	var err error
	if v.Venue, err = tx.Venue(ev.VenueID); err != nil {
		return nil, err
	}
	paid, err := hasPaidOrders(tx, ev)
	if err != nil {
		return nil, err
	}
	v.Deletable = !paid
	c, err := tx.Company(ev.CompanyID)
	if err != nil {
		return nil, err
	}
	v.Shop = c.Shopify()
	if ev.Type == EventRecurring {
		return v, nil
	}
	if v.Structure, err = tx.TicketStructure(ev.ID); err != nil {
		return nil, err
	}
	v.Sold = map[uint64]int{}
	if v.Structure != nil {
		for _, t := range v.Structure.Types {
			v.Sold[t.RegistrationTypeID] = t.Sold
			v.Sold[0] += t.Sold
		}
		return v, nil
	}
	if !paid {
		return v, nil
	}
	orders, err := tx.Orders(ev.ID)
	if err != nil {
		return nil, err
	}
	for _, o := range orders {
		if o.Status == OrderPaid {
			v.Sold[o.RegistrationTypeID] += o.Quantity
			v.Sold[0] += o.Quantity
		}
	}
	return v, nil
}

// EventOfCompany reads an event of a company whether or not it was deleted:
// a deleted event's operations stay readable under its path.
func (e *Engine) EventOfCompany(companyID, id uint64) (*Event, error) {
	var ev *Event
	err := e.store.View(func(tx Tx) error {
		var err error
		ev, err = tx.Event(id)
		return err
	})
	if err == nil && (ev == nil || ev.CompanyID != companyID) {
		return nil, NotFound("event %d not found", id)
	}
	return ev, err
}
