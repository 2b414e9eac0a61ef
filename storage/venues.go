package storage

import (
	"errors"
	"fmt"
	"strings"

	"eventops/engine"
)

// Venue returns the venue with id, or (nil, nil).
func (t *tx) Venue(id uint64) (*engine.Venue, error) {
	return getCached(t, tbVenues, t.cache.venues, id)
}

// PutVenue writes v.
func (t *tx) PutVenue(v *engine.Venue) error {
	if v == nil {
		return errors.New("store venue: nil")
	}
	return putCached(t, tbVenues, t.cache.venues, v.ID, v, []entry{{idx: idxVenueCompany, key: key(nil).u64(v.CompanyID).u64(v.ID)}})
}

// Venues lists a company's venues in id order; see named.
func (t *tx) Venues(q engine.NamedQuery) ([]*engine.Venue, string, error) {
	return named(t, tbVenues, idxVenueCompany, q, func(v *engine.Venue) string { return v.Name })
}

// TicketType returns the ticket type with id, or (nil, nil).
func (t *tx) TicketType(id uint64) (*engine.TicketType, error) {
	return get[engine.TicketType](t, tbTicketTypes, id)
}

// PutTicketType writes tt.
func (t *tx) PutTicketType(tt *engine.TicketType) error {
	if tt == nil {
		return errors.New("store ticket type: nil")
	}
	return t.put(tbTicketTypes, tt.ID, tt, []entry{{idx: idxTicketTypeCompany, key: key(nil).u64(tt.CompanyID).u64(tt.ID)}})
}

// TicketTypes lists a company's ticket types in id order; see named.
func (t *tx) TicketTypes(q engine.NamedQuery) ([]*engine.TicketType, string, error) {
	return named(t, tbTicketTypes, idxTicketTypeCompany, q, func(tt *engine.TicketType) string { return tt.Name })
}

// named pages through a company's records of one kind in id order, keeping
// those whose name contains q.Search (ignoring case). The returned cursor is
// "" on the last page; with a search, a page may come back short (or empty)
// with a cursor when the scan budget ran out.
func named[T any](t *tx, tb table, idx index, q engine.NamedQuery, name func(*T) string) ([]*T, string, error) {
	ib, err := t.bucket(indexBuckets[idx])
	if err != nil {
		return nil, "", err
	}
	prefix := key(nil).u64(q.CompanyID)
	after, err := decodeCursor(q.Cursor, idx, false, prefix)
	if err != nil {
		return nil, "", err
	}
	search := strings.ToLower(strings.TrimSpace(q.Search))
	limit := clampLimit(q.Limit)
	w := walk{b: ib, prefix: prefix, after: after}
	items, next, err := page(w, limit, limit*budgetFactor, func(k, _ []byte) (*T, bool, error) {
		rec, err := get[T](t, tb, idOf(k))
		if err != nil {
			return nil, false, err
		}
		if rec == nil {
			return nil, false, fmt.Errorf("index %s: %s %d is missing", indexBuckets[idx], tb.noun, idOf(k))
		}
		return rec, search == "" || strings.Contains(strings.ToLower(name(rec)), search), nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("list %ss: %w", tb.noun, err)
	}
	return items, encodeCursor(idx, false, next), nil
}
