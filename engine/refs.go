package engine

import "sync"

// refCache keeps venues and ticket types once read. Neither is ever updated
// or deleted, so a cached copy stays exact; validating an event then costs
// no decode per registration type. The cached values are shared: read only.
type refCache struct {
	venues      sync.Map // id → *Venue
	ticketTypes sync.Map // id → *TicketType
}

func (c *refCache) venue(tx Tx, id uint64) (*Venue, error) {
	if v, ok := c.venues.Load(id); ok {
		return v.(*Venue), nil
	}
	v, err := tx.Venue(id)
	if err == nil && v != nil {
		c.venues.Store(id, v)
	}
	return v, err
}

func (c *refCache) ticketType(tx Tx, id uint64) (*TicketType, error) {
	if t, ok := c.ticketTypes.Load(id); ok {
		return t.(*TicketType), nil
	}
	t, err := tx.TicketType(id)
	if err == nil && t != nil {
		c.ticketTypes.Store(id, t)
	}
	return t, err
}

// refTx reads venues through the cache (see refCache); it serves a View's
// function, whose reads are all committed, so what it caches exists.
type refTx struct {
	Tx
	refs *refCache
}

func (t refTx) Venue(id uint64) (*Venue, error) { return t.refs.venue(t.Tx, id) }
