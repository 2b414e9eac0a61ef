package engine

import (
	"context"
	"strings"
)

// CreateVenue stores a venue of a company; its zone must be an IANA name.
func (e *Engine) CreateVenue(ctx context.Context, companyID uint64, in VenueInput) (*Venue, error) {
	v := &Venue{CompanyID: companyID, Name: strings.TrimSpace(in.Name), TimeZone: strings.TrimSpace(in.TimeZone), CreatedAt: e.now()}
	var errs []FieldError
	errs = append(errs, CheckName("name", v.Name)...)
	errs = append(errs, CheckTimeZone("time_zone", v.TimeZone)...)
	if len(errs) > 0 {
		return nil, Invalid(errs...)
	}
	err := e.store.Update(ctx, func(tx Tx) error {
		idem, err := claimIdempotency(ctx, tx, e.now())
		if err != nil {
			return err
		}
		if v.ID, err = tx.NextID(SeqVenue); err != nil {
			return err
		}
		if err := tx.PutVenue(v); err != nil {
			return err
		}
		return idem.put(tx, 0, 0, v.ID, resultOf(WriteResult{Venue: v}))
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// Venue reads a venue of a company.
func (e *Engine) Venue(companyID, id uint64) (*Venue, error) {
	var v *Venue
	err := e.store.View(func(tx Tx) error {
		var err error
		v, err = tx.Venue(id)
		return err
	})
	if err == nil && (v == nil || v.CompanyID != companyID) {
		return nil, NotFound("venue %d not found", id)
	}
	return v, err
}

// Venues lists a company's venues.
func (e *Engine) Venues(q NamedQuery) ([]*Venue, string, error) {
	var vs []*Venue
	var next string
	err := e.store.View(func(tx Tx) error {
		var err error
		vs, next, err = tx.Venues(q)
		return err
	})
	return vs, next, err
}

// CreateTicketType stores a reusable ticket type.
func (e *Engine) CreateTicketType(ctx context.Context, companyID uint64, in TicketTypeInput) (*TicketType, error) {
	t := &TicketType{CompanyID: companyID, Name: strings.TrimSpace(in.Name), Kind: strings.TrimSpace(in.Kind), CreatedAt: e.now()}
	if t.Kind == "" {
		t.Kind = "admission"
	}
	errs := CheckName("name", t.Name)
	errs = append(errs, CheckText("kind", t.Kind, MaxKindLen)...)
	if len(errs) > 0 {
		return nil, Invalid(errs...)
	}
	err := e.store.Update(ctx, func(tx Tx) error {
		idem, err := claimIdempotency(ctx, tx, e.now())
		if err != nil {
			return err
		}
		if t.ID, err = tx.NextID(SeqTicketType); err != nil {
			return err
		}
		if err := tx.PutTicketType(t); err != nil {
			return err
		}
		return idem.put(tx, 0, 0, t.ID, resultOf(WriteResult{TicketType: t}))
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// TicketType reads a ticket type of a company.
func (e *Engine) TicketType(companyID, id uint64) (*TicketType, error) {
	var t *TicketType
	err := e.store.View(func(tx Tx) error {
		var err error
		t, err = tx.TicketType(id)
		return err
	})
	if err == nil && (t == nil || t.CompanyID != companyID) {
		return nil, NotFound("ticket type %d not found", id)
	}
	return t, err
}

// TicketTypes lists a company's ticket types.
func (e *Engine) TicketTypes(q NamedQuery) ([]*TicketType, string, error) {
	var ts []*TicketType
	var next string
	err := e.store.View(func(tx Tx) error {
		var err error
		ts, next, err = tx.TicketTypes(q)
		return err
	})
	return ts, next, err
}

// Events lists a company's live events.
func (e *Engine) Events(q EventQuery) ([]*Event, string, error) {
	var es []*Event
	var next string
	err := e.store.View(func(tx Tx) error {
		var err error
		es, next, err = tx.Events(q)
		return err
	})
	return es, next, err
}
