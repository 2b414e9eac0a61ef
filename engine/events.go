package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
)

// CreateEvent validates and stores a new event and starts its save
// operation, in one commit. Validation reads venues and ticket types, which
// are never deleted or moved, so it runs in a read transaction beside the
// single writer; the commit only allocates ids and writes.
func (e *Engine) CreateEvent(ctx context.Context, companyID uint64, in EventInput) (*Event, *Operation, error) {
	admitted, err := e.admit()
	if err != nil {
		return nil, nil, err
	}
	defer admitted()
	var c *Company
	tmpl := &Event{}
	// Usually one read (the company; the event's references are cached):
	// see viewOne, which may run the function twice.
	err = e.viewOne(func(tx Tx) error {
		*tmpl = Event{CompanyID: companyID, RegistrationTypes: []RegistrationType{}}
		var err error
		if c, err = tx.Company(companyID); err != nil {
			return err
		}
		if c == nil {
			return NotFound("company %d not found", companyID)
		}
		if err := e.applyEventInput(tx, tmpl, in, true, nil); err != nil {
			return err
		}
		if err := checkEventWrite(tx, c, tmpl, in, false); err != nil {
			return err
		}
		return CheckEventCurrency(c, tmpl, in)
	})
	if err != nil {
		return nil, nil, err
	}
	if tmpl.Slug == "" {
		tmpl.Slug = deriveSlug(tmpl.Name)
	}
	var ev *Event
	var op *Operation
	// The new event's queue is reserved from inside the commit until its
	// save is enqueued: the event is readable once the commit is durable,
	// a moment before its save is enqueued, and an update racing into that
	// moment must queue behind it. The function may run more than once,
	// so every reservation it took is released.
	var reserved []func()
	defer func() {
		for _, release := range reserved {
			release()
		}
	}()
	err = e.store.Update(ctx, func(tx Tx) error {
		now := e.now()
		idem, err := claimIdempotency(ctx, tx, now)
		if err != nil {
			return err
		}
		// A fresh copy on every run: the function may run twice.
		x := *tmpl
		x.RegistrationTypes = append([]RegistrationType(nil), tmpl.RegistrationTypes...)
		x.CreatedAt, x.UpdatedAt = now, now
		ev = &x
		if ev.ID, err = tx.NextID(SeqEvent); err != nil {
			return err
		}
		reserved = append(reserved, e.disp.Reserve(ev.QueueID()))
		if ev.Slug == "" {
			ev.Slug = fallbackSlug(ev.ID)
		}
		if err := assignRegTypeIDs(tx, ev); err != nil {
			return err
		}
		if err := tx.PutEvent(ev); err != nil {
			return err
		}
		if op, err = newOperation(tx, ActionSave, ev, c, now, false); err != nil {
			return err
		}
		return idem.put(tx, ev.ID, op.ID, 0, func() (WriteResult, error) {
			v, err := eventView(tx, ev)
			return WriteResult{Event: v, Operation: op}, err
		})
	})
	if err != nil {
		return nil, nil, err
	}
	e.launch(ctx, op)
	return ev, op, nil
}

// mutateEvent is the frame of every command that changes a live event and
// starts an operation on it (update, delete, refund): it admits the command
// (the bound on pending work) and takes the event's queue creation lock;
// then, in one commit, it claims the request's idempotency key, loads the
// live event and its company (a 404 otherwise), lets change alter them
// (nil: nothing to change; an error refuses the command and stores
// nothing), plans the operation of action and records the key with its
// answer (rendered from the operation, and for a save from the event). Once the
// commit is durable the operation is launched.
func (e *Engine) mutateEvent(ctx context.Context, companyID, id uint64, action Action, change func(tx Tx, c *Company, ev *Event, now time.Time) error) (*Event, *Operation, error) {
	admitted, err := e.admit()
	if err != nil {
		return nil, nil, err
	}
	defer admitted()
	queue, err := e.eventQueue(companyID, id)
	if err != nil {
		return nil, nil, err
	}
	unlock := e.lockQueue(queue)
	defer unlock()
	var ev *Event
	var op *Operation
	err = e.store.Update(ctx, func(tx Tx) error {
		now := e.now()
		idem, err := claimIdempotency(ctx, tx, now)
		if err != nil {
			return err
		}
		var c *Company
		if c, ev, err = liveEvent(tx, companyID, id); err != nil {
			return err
		}
		if change != nil {
			if err := change(tx, c, ev, now); err != nil {
				return err
			}
		}
		if op, err = newOperation(tx, action, ev, c, now, false); err != nil {
			return err
		}
		return idem.put(tx, ev.ID, op.ID, 0, func() (WriteResult, error) {
			r := WriteResult{Operation: op}
			if action == ActionSave { // an update answers with the event
				r.Event, err = eventView(tx, ev)
			}
			return r, err
		})
	})
	if err != nil {
		return nil, nil, err
	}
	e.launch(ctx, op)
	return ev, op, nil
}

// UpdateEvent applies a PATCH and starts a save operation, in one commit.
// An input that changes nothing saves the event again as it is (the API
// refuses an empty PATCH body before it gets here).
func (e *Engine) UpdateEvent(ctx context.Context, companyID, id uint64, in EventInput) (*Event, *Operation, error) {
	return e.mutateEvent(ctx, companyID, id, ActionSave, func(tx Tx, c *Company, ev *Event, now time.Time) error {
		sold, err := soldCounts(tx, ev)
		if err != nil {
			return err
		}
		if err := e.applyEventInput(tx, ev, in, false, sold); err != nil {
			return err
		}
		if err := checkEventWrite(tx, c, ev, in, true); err != nil {
			return err
		}
		if err := CheckEventCurrency(c, ev, in); err != nil {
			return err
		}
		if err := assignRegTypeIDs(tx, ev); err != nil {
			return err
		}
		ev.UpdatedAt = now
		return tx.PutEvent(ev)
	})
}

// DeleteEvent removes an event from the API at once and starts its delete
// operation. An event with paid orders is a conflict: refund first.
func (e *Engine) DeleteEvent(ctx context.Context, companyID, id uint64) (*Operation, error) {
	_, op, err := e.mutateEvent(ctx, companyID, id, ActionDelete, func(tx Tx, _ *Company, ev *Event, now time.Time) error {
		paid, err := hasPaidOrders(tx, ev)
		if err != nil {
			return err
		}
		if paid {
			return Conflict("event %d has paid orders and is not deletable: refund it first", id)
		}
		ev.Deleted = true
		ev.UpdatedAt = now
		return tx.PutEvent(ev)
	})
	return op, err
}

// RefundEvent starts a refund operation over the event's paid orders.
func (e *Engine) RefundEvent(ctx context.Context, companyID, id uint64) (*Operation, error) {
	_, op, err := e.mutateEvent(ctx, companyID, id, ActionRefund, nil)
	return op, err
}

// Event reads a live event of a company.
func (e *Engine) Event(companyID, id uint64) (*Event, error) {
	var ev *Event
	err := e.store.View(func(tx Tx) error {
		var err error
		_, ev, err = liveEvent(tx, companyID, id)
		return err
	})
	return ev, err
}

// EventDeletable reports whether the event has no paid orders.
func (e *Engine) EventDeletable(ev *Event) (bool, error) {
	var paid bool
	err := e.store.View(func(tx Tx) error {
		var err error
		paid, err = hasPaidOrders(tx, ev)
		return err
	})
	return !paid, err
}

// eventQueue finds the queue of an event that may still be live, or a 404.
func (e *Engine) eventQueue(companyID, id uint64) (uint64, error) {
	ev, err := e.Event(companyID, id)
	if err != nil {
		return 0, err
	}
	return ev.QueueID(), nil
}

// liveEvent loads an event of the company that is not deleted, and the
// company, or a 404.
func liveEvent(tx Tx, companyID, id uint64) (*Company, *Event, error) {
	ev, err := tx.Event(id)
	if err != nil {
		return nil, nil, err
	}
	if ev == nil || ev.Deleted || (companyID != 0 && ev.CompanyID != companyID) {
		return nil, nil, NotFound("event %d not found", id)
	}
	c, err := tx.Company(ev.CompanyID)
	if err != nil {
		return nil, nil, err
	}
	if c == nil {
		return nil, nil, NotFound("event %d not found", id)
	}
	return c, ev, nil
}

// soldCounts is, per registration type, the paid quantity of the event; for
// a recurring event the largest over its occurrences (a limit applies per
// occurrence). The key 0 holds the total over all types.
func soldCounts(tx Tx, ev *Event) (map[uint64]int, error) {
	events := []*Event{ev}
	if ev.Type == EventRecurring {
		children, err := tx.ChildEvents(ev.ID)
		if err != nil {
			return nil, err
		}
		events = children
	}
	out := map[uint64]int{}
	for _, x := range events {
		orders, err := tx.Orders(x.ID)
		if err != nil {
			return nil, err
		}
		per := map[uint64]int{}
		for _, o := range orders {
			if o.Status == OrderPaid {
				per[o.RegistrationTypeID] += o.Quantity
				per[0] += o.Quantity
			}
		}
		for k, v := range per {
			out[k] = max(out[k], v)
		}
	}
	return out, nil
}

func hasPaidOrders(tx Tx, ev *Event) (bool, error) {
	orders, err := eventOrders(tx, ev.ID)
	if err != nil {
		return false, err
	}
	for _, o := range orders {
		if o.Status == OrderPaid {
			return true, nil
		}
	}
	return false, nil
}

// applyEventInput validates in against ev and applies it. On create every
// required attribute must be present; sold holds what is sold already (nil
// on create), which capacity and quantities may not go below.
func (e *Engine) applyEventInput(tx Tx, ev *Event, in EventInput, create bool, sold map[uint64]int) error {
	var errs []FieldError
	bad := func(attr, code, msg string) {
		errs = append(errs, FieldError{Attribute: attr, Code: code, Message: msg})
	}

	if in.Name != nil || create {
		var name string
		if in.Name != nil {
			name = strings.TrimSpace(*in.Name)
		}
		if fe := CheckName("name", name); fe != nil {
			errs = append(errs, fe...)
		} else {
			ev.Name = name
		}
	}
	if in.Slug != nil {
		if fe := CheckText("slug", *in.Slug, MaxSlugLen); fe != nil {
			errs = append(errs, fe...)
		} else if s := deriveSlug(*in.Slug); s == "" {
			bad("slug", "invalid", "must contain letters or digits")
		} else {
			ev.Slug = s
		}
	}
	if in.Type != nil || create {
		switch {
		case in.Type == nil:
			bad("type", "blank", "can't be blank")
		case *in.Type != EventDate && *in.Type != EventRecurring:
			bad("type", "invalid", "must be date or recurring")
		case !create && *in.Type != ev.Type:
			bad("type", "invalid", "cannot change once created")
		default:
			ev.Type = *in.Type
		}
	}
	if in.VenueID != nil || create {
		if in.VenueID == nil || *in.VenueID == 0 {
			bad("venue_id", "blank", "can't be blank")
		} else if v, err := e.refs.venue(tx, *in.VenueID); err != nil {
			return err
		} else if v == nil || v.CompanyID != ev.CompanyID {
			bad("venue_id", "invalid", "is not a venue of this company")
		} else {
			ev.VenueID = v.ID
		}
	}
	if in.StartsAt != nil {
		ev.StartsAt = in.StartsAt.UTC()
		errs = append(errs, CheckTime("starts_at", ev.StartsAt)...)
	} else if create {
		bad("starts_at", "blank", "can't be blank")
	}
	if in.EndsAt != nil {
		ev.EndsAt = in.EndsAt.UTC()
		errs = append(errs, CheckTime("ends_at", ev.EndsAt)...)
	} else if create {
		bad("ends_at", "blank", "can't be blank")
	}
	if !ev.StartsAt.IsZero() && !ev.EndsAt.IsZero() && !ev.EndsAt.After(ev.StartsAt) {
		bad("ends_at", "invalid", "must be after starts_at")
	}
	if in.PublishedAt.Set {
		if in.PublishedAt.Value == nil {
			ev.PublishedAt = nil
		} else {
			t := in.PublishedAt.Value.UTC()
			ev.PublishedAt = &t
			errs = append(errs, CheckTime("published_at", t)...)
		}
	}
	if in.Capacity.Set {
		switch c := in.Capacity.Value; {
		case c == nil:
			ev.Capacity = nil
		case *c < 0:
			bad("capacity", "out_of_range", "must be greater than or equal to 0")
		case *c > MaxQuantity:
			bad("capacity", "out_of_range", fmt.Sprintf("must be at most %d", MaxQuantity))
		case *c < sold[0]:
			bad("capacity", "out_of_range", fmt.Sprintf("cannot be lower than what is already sold (%d)", sold[0]))
		default:
			v := *c
			ev.Capacity = &v
		}
	}
	if in.SplitProducts != nil {
		ev.SplitProducts = *in.SplitProducts
	}
	if in.Recurrence.Set {
		if in.Recurrence.Value == nil {
			ev.Recurrence = nil
		} else {
			r := *in.Recurrence.Value
			ev.Recurrence = &r
		}
	}
	if ev.Type == EventRecurring {
		if ev.Recurrence == nil {
			bad("recurrence", "blank", "is required for a recurring event")
		} else if err := ev.Recurrence.Validate(); err != nil {
			if fe, ok := err.(*Error); ok {
				errs = append(errs, fe.Fields...)
			} else {
				bad("recurrence", "invalid", err.Error())
			}
		} else if len(errs) == 0 {
			// A rule that is fine alone may still not fit the first
			// occurrence (an until before it): that is bad input, a
			// 422 now rather than a failed phase later. Too many
			// occurrences stay the recurrence phase's to report.
			loc, err := eventLocation(tx, ev)
			if err != nil {
				return err
			}
			var re *Error
			if _, err := ev.Recurrence.Expand(loc, ev.StartsAt, ev.EndsAt); errors.As(err, &re) && re.Code == CodeRecurrenceRuleInvalid {
				if len(re.Fields) > 0 {
					errs = append(errs, re.Fields...) // occurrences beyond MaxYear: out_of_range
				} else {
					bad("recurrence", "invalid", re.Message)
				}
			}
		}
	} else if ev.Type == EventDate && ev.Recurrence != nil {
		bad("recurrence", "invalid", "is only allowed on a recurring event")
	}
	if in.RegistrationTypes != nil {
		rts, fieldErrs, err := e.registrationTypes(tx, ev, *in.RegistrationTypes, sold)
		if err != nil {
			return err
		}
		errs = append(errs, fieldErrs...)
		ev.RegistrationTypes = rts
	}
	if len(errs) > 0 {
		return Invalid(errs...)
	}
	return nil
}

func (e *Engine) registrationTypes(tx Tx, ev *Event, in []RegistrationTypeInput, sold map[uint64]int) ([]RegistrationType, []FieldError, error) {
	var errs []FieldError
	existing := map[uint64]bool{}
	for _, rt := range ev.RegistrationTypes {
		existing[rt.ID] = true
	}
	out := make([]RegistrationType, 0, len(in))
	kept := map[uint64]bool{}
	for i, r := range in {
		attr := func(name string) string { return fmt.Sprintf("registration_types[%d].%s", i, name) }
		bad := func(name, code, msg string) {
			errs = append(errs, FieldError{Attribute: attr(name), Code: code, Message: msg})
		}
		rt := RegistrationType{Name: strings.TrimSpace(r.Name), TicketTypeID: r.TicketTypeID}
		errs = append(errs, CheckName(attr("name"), rt.Name)...)
		if r.ID != nil {
			if !existing[*r.ID] || kept[*r.ID] {
				bad("id", "invalid", "is not a registration type of this event")
			}
			rt.ID = *r.ID
			kept[*r.ID] = true
		}
		if r.TicketTypeID == 0 {
			bad("ticket_type_id", "blank", "can't be blank")
		} else if tt, err := e.refs.ticketType(tx, r.TicketTypeID); err != nil {
			return nil, nil, err
		} else if tt == nil || tt.CompanyID != ev.CompanyID {
			bad("ticket_type_id", "invalid", "is not a ticket type of this company")
		}
		switch {
		case r.Price.Amount == nil:
			bad("price.amount", "blank", "can't be blank")
		case *r.Price.Amount < 0:
			bad("price.amount", "out_of_range", "must be greater than or equal to 0")
		case *r.Price.Amount > MaxPriceAmount:
			bad("price.amount", "out_of_range", fmt.Sprintf("must be at most %d (minor units)", int64(MaxPriceAmount)))
		default:
			rt.Price.Amount = *r.Price.Amount
		}
		if _, ok := CurrencyDigits(r.Price.Currency); !ok {
			bad("price.currency", "invalid", "is not a supported ISO 4217 currency code")
		}
		rt.Price.Currency = r.Price.Currency
		if r.Quantity != nil {
			q := *r.Quantity
			switch {
			case q < 0:
				bad("quantity", "out_of_range", "must be greater than or equal to 0")
			case q > MaxQuantity:
				bad("quantity", "out_of_range", fmt.Sprintf("must be at most %d", MaxQuantity))
			case rt.ID != 0 && q < sold[rt.ID]:
				bad("quantity", "out_of_range", fmt.Sprintf("cannot be lower than what is already sold (%d)", sold[rt.ID]))
			}
			rt.Quantity = &q
		}
		out = append(out, rt)
	}
	for _, rt := range ev.RegistrationTypes {
		if !kept[rt.ID] && sold[rt.ID] > 0 {
			errs = append(errs, FieldError{Attribute: "registration_types", Code: "invalid",
				Message: fmt.Sprintf("cannot remove registration type %d: it has paid orders", rt.ID)})
		}
	}
	return out, errs, nil
}

func assignRegTypeIDs(tx Tx, ev *Event) error {
	for i := range ev.RegistrationTypes {
		if ev.RegistrationTypes[i].ID != 0 {
			continue
		}
		id, err := tx.NextID(SeqRegType)
		if err != nil {
			return err
		}
		ev.RegistrationTypes[i].ID = id
	}
	return nil
}

// Slugify lower-cases s and joins its words with hyphens.
func Slugify(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
		} else {
			dash = true
		}
	}
	return b.String()
}

// eventLocation is the venue's zone, UTC when unknown.
func eventLocation(tx Tx, ev *Event) (*time.Location, error) {
	v, err := tx.Venue(ev.VenueID)
	if err != nil || v == nil {
		return time.UTC, err
	}
	return LoadLocation(v.TimeZone), nil
}
