package storage

import (
	"errors"

	"eventops/engine"
)

// TicketStructure returns the structure of a date event, or (nil, nil).
func (t *tx) TicketStructure(eventID uint64) (*engine.TicketStructure, error) {
	return getCached(t, tbTicketStructures, t.cache.structures, eventID)
}

// PutTicketStructure writes s under its event id.
func (t *tx) PutTicketStructure(s *engine.TicketStructure) error {
	if s == nil {
		return errors.New("store ticket structure: nil")
	}
	return putCached(t, tbTicketStructures, t.cache.structures, s.EventID, s, nil)
}

// DeleteTicketStructure removes an event's structure; absent is not an error.
func (t *tx) DeleteTicketStructure(eventID uint64) error {
	return t.remove(tbTicketStructures, idKey(eventID))
}

// Order returns the order with id, or (nil, nil).
func (t *tx) Order(id uint64) (*engine.Order, error) {
	return get[engine.Order](t, tbOrders, id)
}

// PutOrder writes o.
func (t *tx) PutOrder(o *engine.Order) error {
	if o == nil {
		return errors.New("store order: nil")
	}
	return t.put(tbOrders, o.ID, o, []entry{{idx: idxOrderEvent, key: key(nil).u64(o.EventID).u64(o.ID)}})
}

// Orders lists every order of one date event in id order.
func (t *tx) Orders(eventID uint64) ([]*engine.Order, error) {
	return byIndex[engine.Order](t, tbOrders, idxOrderEvent, key(nil).u64(eventID))
}
