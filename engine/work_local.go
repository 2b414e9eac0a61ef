package engine

import (
	"context"
	"slices"
	"strconv"
	"time"
)

// RecurrenceWork expands a recurring event into child date events (save), or
// removes its children (delete). Everything it writes is staged: the
// occurrences change in the same commit that completes the phase. An
// occurrence with paid orders that the rule no longer yields (sold after the
// API checked the change) is kept and listed in the event's
// KeptOccurrenceIDs; the rest of the change applies.
type RecurrenceWork struct{}

// LocalOnly implements Local.
func (RecurrenceWork) LocalOnly() {}

// Run implements Work.
func (RecurrenceWork) Run(ctx context.Context, r *PhaseRun) error {
	if r.Op.Action == ActionDelete {
		var n int
		if err := r.View(func(tx Tx) error {
			children, err := tx.ChildEvents(r.Op.EventID)
			n = len(children)
			return err
		}); err != nil {
			return err
		}
		r.SetUnits(n)
		r.Stage(func(tx Tx) error { return removeChildren(tx, r.Op.EventID, r.Now()) })
		return nil
	}
	// Expand outside the commit to fail fast on a bad rule and to know
	// the unit count; the commit expands again against the state it sees.
	var want []Occurrence
	err := r.View(func(tx Tx) error {
		var err error
		want, err = expandEvent(tx, r.Op.EventID)
		return err
	})
	if err != nil {
		return err
	}
	r.SetUnits(len(want))
	r.Stage(func(tx Tx) error { return syncOccurrences(tx, r.Op.EventID, r.Now()) })
	return nil
}

func expandEvent(tx Tx, id uint64) ([]Occurrence, error) {
	ev, err := tx.Event(id)
	if err != nil {
		return nil, err
	}
	if ev == nil || ev.Recurrence == nil {
		return nil, Errorf(CodeRecurrenceRuleInvalid, "event %d has no recurrence rule", id)
	}
	loc, err := eventLocation(tx, ev)
	if err != nil {
		return nil, err
	}
	return ev.Recurrence.Expand(loc, ev.StartsAt, ev.EndsAt)
}

// syncOccurrences makes the children of a recurring event match its rule:
// unchanged occurrences keep their ids, moved ones keep theirs with new
// times, dropped ones are deleted, new ones are created; every child takes
// the template's current attributes. A dropped one with paid orders is
// kept instead, with its own times, and the parent's KeptOccurrenceIDs says
// so: the stored rule plus that list is what the children are, so the next
// save plans from it without failing.
func syncOccurrences(tx Tx, parentID uint64, now time.Time) error {
	parent, err := tx.Event(parentID)
	if err != nil {
		return err
	}
	if parent == nil || parent.Deleted {
		return nil // deleted meanwhile: its delete operation follows
	}
	want, err := expandEvent(tx, parentID)
	if err != nil {
		return err
	}
	loc, err := eventLocation(tx, parent)
	if err != nil {
		return err
	}
	children, err := tx.ChildEvents(parentID)
	if err != nil {
		return err
	}
	existing := make([]ExistingOccurrence, len(children))
	byID := make(map[uint64]*Event, len(children))
	for i, c := range children {
		paid, err := hasPaidOrders(tx, c)
		if err != nil {
			return err
		}
		existing[i] = ExistingOccurrence{ID: c.ID, StartsAt: c.StartsAt, EndsAt: c.EndsAt, Sold: paid}
		byID[c.ID] = c
	}
	plan, err := PlanOccurrences(loc, existing, want)
	if err != nil {
		return err
	}
	// Written before the removals, which may record withdrawn products on
	// the parent themselves.
	if !slices.Equal(parent.KeptOccurrenceIDs, plan.Kept) {
		parent.KeptOccurrenceIDs, parent.UpdatedAt = plan.Kept, now
		if err := tx.PutEvent(parent); err != nil {
			return err
		}
	}
	for _, id := range plan.Kept {
		c := byID[id]
		copyTemplate(c, parent, Occurrence{StartsAt: c.StartsAt, EndsAt: c.EndsAt}, loc)
		c.UpdatedAt = now
		if err := tx.PutEvent(c); err != nil {
			return err
		}
	}
	for _, id := range plan.Remove {
		c := byID[id]
		c.Deleted, c.UpdatedAt = true, now
		if err := tx.PutEvent(c); err != nil {
			return err
		}
		if err := dropStructure(tx, id); err != nil {
			return err
		}
	}
	for _, k := range plan.Keep {
		c := byID[k.ID]
		copyTemplate(c, parent, k.Occurrence, loc)
		c.UpdatedAt = now
		if err := tx.PutEvent(c); err != nil {
			return err
		}
	}
	for _, o := range plan.Add {
		id, err := tx.NextID(SeqEvent)
		if err != nil {
			return err
		}
		c := &Event{ID: id, CompanyID: parent.CompanyID, Type: EventDate, ParentID: parent.ID, CreatedAt: now, UpdatedAt: now}
		copyTemplate(c, parent, o, loc)
		if err := tx.PutEvent(c); err != nil {
			return err
		}
	}
	return nil
}

// copyTemplate gives an occurrence the template's attributes and its times.
// Occurrences share the template's registration types (same ids); limits
// apply per occurrence.
func copyTemplate(c, parent *Event, o Occurrence, loc *time.Location) {
	c.Name = parent.Name
	c.Slug = parent.Slug + "-" + o.StartsAt.In(loc).Format("2006-01-02")
	c.VenueID = parent.VenueID
	c.StartsAt, c.EndsAt = o.StartsAt, o.EndsAt
	c.PublishedAt = cloneTime(parent.PublishedAt)
	c.Capacity = cloneInt(parent.Capacity)
	c.SplitProducts = parent.SplitProducts
	c.RegistrationTypes = make([]RegistrationType, len(parent.RegistrationTypes))
	for i, rt := range parent.RegistrationTypes {
		rt.Quantity = cloneInt(rt.Quantity)
		c.RegistrationTypes[i] = rt
	}
}

func removeChildren(tx Tx, parentID uint64, now time.Time) error {
	children, err := tx.ChildEvents(parentID)
	if err != nil {
		return err
	}
	for _, c := range children {
		c.Deleted, c.UpdatedAt = true, now
		if err := tx.PutEvent(c); err != nil {
			return err
		}
		if err := dropStructure(tx, c.ID); err != nil {
			return err
		}
	}
	return nil
}

// dropStructure deletes an occurrence's ticket structure; the products it
// had in the shop are withdrawn (see Event.Withdrawn).
func dropStructure(tx Tx, eventID uint64) error {
	old, err := tx.TicketStructure(eventID)
	if err != nil || old == nil {
		return err
	}
	if err := withdraw(tx, eventID, old, nil); err != nil {
		return err
	}
	return tx.DeleteTicketStructure(eventID)
}

// putStructure replaces an event's ticket structure; products of the old
// one that the new one no longer holds but the shop does are withdrawn
// (see Event.Withdrawn).
func putStructure(tx Tx, s, old *TicketStructure) error {
	if old != nil {
		s.Takes = slices.Clone(old.Takes) // the sales in flight are theirs
	}
	if err := withdraw(tx, s.EventID, old, s); err != nil {
		return err
	}
	return tx.PutTicketStructure(s)
}

// withdraw records the mirrored products of old that now does not hold: on
// the event itself, or, when its structure is dropped (now nil: an
// occurrence removed from the rule), on its recurring parent. Either way
// the next save or delete of the event, or of its parent, withdraws them.
func withdraw(tx Tx, eventID uint64, old, now *TicketStructure) error {
	if old == nil {
		return nil
	}
	kept := map[string]bool{}
	if now != nil {
		for _, p := range now.Products {
			kept[p.Key] = true
		}
	}
	var gone []ShopProductRef
	for _, p := range old.Products {
		if p.ShopifyProductID != "" && !kept[p.Key] {
			gone = append(gone, ShopProductRef{ID: p.ShopifyProductID, Handle: p.Handle})
		}
	}
	if len(gone) == 0 {
		return nil
	}
	ev, err := tx.Event(eventID)
	if err != nil || ev == nil {
		return err
	}
	if now == nil && ev.ParentID != 0 {
		if ev, err = tx.Event(ev.ParentID); err != nil || ev == nil {
			return err
		}
	}
	ev.Withdrawn = append(ev.Withdrawn, gone...)
	return tx.PutEvent(ev)
}

func cloneInt(p *int) *int {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// TicketsWork builds the ticket structure of every occurrence (a date event
// is its own single occurrence): per registration type its limit, what is
// sold and what is left to sell, and the products that catalog mirrors. Once
// it completes, the structure is readable through the API before any shop is
// called (partial readiness). On delete it removes the structures.
type TicketsWork struct{}

// LocalOnly implements Local.
func (TicketsWork) LocalOnly() {}

// Run implements Work. The structures are built from a read transaction,
// beside the single writer; the staged function only checks that nothing
// they depend on changed in the meantime (an order refreshes a structure's
// Revision) and puts them, or rebuilds inside the commit when it did.
func (TicketsWork) Run(ctx context.Context, r *PhaseRun) error {
	if r.Op.Action == ActionDelete {
		var n int
		if err := r.View(func(tx Tx) error {
			ids, err := occurrenceIDs(tx, r.Op.EventID, true)
			n = len(ids)
			return err
		}); err != nil {
			return err
		}
		r.SetUnits(n)
		r.Stage(func(tx Tx) error {
			ids, err := occurrenceIDs(tx, r.Op.EventID, true)
			if err != nil {
				return err
			}
			for _, id := range ids {
				if err := tx.DeleteTicketStructure(id); err != nil {
					return err
				}
			}
			return nil
		})
		return nil
	}
	now, phaseID := r.Now(), r.Phase.ID
	var built []*builtStructure
	err := r.ViewOne(func(tx Tx) error {
		built = nil
		if p, ok := tx.(prefetcher); ok {
			p.PrefetchEvent(r.Op.EventID)
		}
		ev, err := tx.Event(r.Op.EventID)
		if err != nil || ev == nil {
			return err
		}
		tx = refTx{tx, &r.engine.refs} // the venue's time zone, usually without a read
		if len(ev.RegistrationTypes) == 0 {
			return Errorf(CodeTicketsStructureEmpty, "event %d has no registration types", r.Op.EventID)
		}
		occurrences, err := occurrencesOf(tx, ev, false)
		if err != nil {
			return err
		}
		for _, o := range occurrences {
			b, err := buildFor(tx, o, now)
			if err != nil {
				return err
			}
			built = append(built, b)
		}
		return nil
	})
	if err != nil {
		return err
	}
	r.SetUnits(len(built))
	r.Stage(func(tx Tx) error {
		for _, b := range built {
			if err := b.commit(tx, phaseID, now); err != nil {
				return err
			}
		}
		return nil
	})
	return nil
}

// builtStructure is a structure built outside the commit, with what it was
// built from.
type builtStructure struct {
	eventID  uint64
	revision uint64 // of the stored structure it replaces (0: none)
	orders   bool   // whether the event had orders
	s        *TicketStructure
}

func buildFor(tx Tx, ev *Event, now time.Time) (*builtStructure, error) {
	old, err := tx.TicketStructure(ev.ID)
	if err != nil {
		return nil, err
	}
	s, orders, err := buildStructure(tx, ev, old, now)
	if err != nil {
		return nil, err
	}
	b := &builtStructure{eventID: ev.ID, orders: orders, s: s}
	if old != nil {
		b.revision = old.Revision
	}
	return b, nil
}

// commit puts the structure if the stored one is still the one it was built
// from (and no first order arrived), else rebuilds it in tx.
func (b *builtStructure) commit(tx Tx, phaseID uint64, now time.Time) error {
	cur, err := tx.TicketStructure(b.eventID)
	if err != nil {
		return err
	}
	var rev uint64
	if cur != nil {
		rev = cur.Revision
	}
	if rev == b.revision && (cur != nil || b.orders || !hasOrders(tx, b.eventID)) {
		s := *b.s
		s.UpdatedBy = phaseID
		return putStructure(tx, &s, cur)
	}
	return writeStructure(tx, b.eventID, phaseID, now)
}

func hasOrders(tx Tx, eventID uint64) bool {
	orders, err := tx.Orders(eventID)
	return err != nil || len(orders) > 0
}

// occurrenceIDs are the date events that a save or delete of eventID covers:
// the event itself, or a recurring event's live children. A deleted event
// still counts on delete.
func occurrenceIDs(tx Tx, eventID uint64, deleting bool) ([]uint64, error) {
	ev, err := tx.Event(eventID)
	if err != nil || ev == nil {
		return nil, err
	}
	occurrences, err := occurrencesOf(tx, ev, deleting)
	ids := make([]uint64, len(occurrences))
	for i, o := range occurrences {
		ids[i] = o.ID
	}
	return ids, err
}

// occurrencesOf is occurrenceIDs with the events themselves.
func occurrencesOf(tx Tx, ev *Event, deleting bool) ([]*Event, error) {
	if ev.Deleted && !deleting {
		return nil, nil
	}
	if ev.Type != EventRecurring {
		return []*Event{ev}, nil
	}
	return tx.ChildEvents(ev.ID)
}

// writeStructure (re)builds the ticket structure of one date event from the
// event and its orders, keeping the Shopify ids already mirrored.
func writeStructure(tx Tx, eventID, phaseID uint64, now time.Time) error {
	ev, err := tx.Event(eventID)
	if err != nil || ev == nil {
		return err
	}
	old, err := tx.TicketStructure(eventID)
	if err != nil {
		return err
	}
	s, _, err := buildStructure(tx, ev, old, now)
	if err != nil {
		return err
	}
	s.UpdatedBy = phaseID
	return putStructure(tx, s, old)
}

// refreshAvailability recomputes sold and left-to-sell of an event whose
// orders changed. Before the tickets phase has built a structure there is
// nothing to refresh.
func refreshAvailability(tx Tx, eventID uint64, now time.Time) error {
	old, err := tx.TicketStructure(eventID)
	if err != nil || old == nil {
		return err
	}
	ev, err := tx.Event(eventID)
	if err != nil || ev == nil {
		return err
	}
	s, _, err := buildStructure(tx, ev, old, now)
	if err != nil {
		return err
	}
	s.UpdatedBy = old.UpdatedBy
	return putStructure(tx, s, old)
}

// buildStructure builds the structure of a date event from the event and its
// orders, keeping the mirrored ids of old, and reports whether the event
// has orders. Each build has the next Revision.
func buildStructure(tx Tx, ev *Event, old *TicketStructure, now time.Time) (*TicketStructure, bool, error) {
	orders, err := tx.Orders(ev.ID)
	if err != nil {
		return nil, false, err
	}
	sold := map[uint64]int{}
	shopSold := map[uint64]int{}
	soldAll := 0
	for _, o := range orders {
		if o.Status == OrderPaid {
			sold[o.RegistrationTypeID] += o.Quantity
			soldAll += o.Quantity
			if o.ShopifyOrderID != "" {
				shopSold[o.RegistrationTypeID] += o.Quantity
			}
		}
	}
	loc, err := eventLocation(tx, ev)
	if err != nil {
		return nil, false, err
	}
	s := &TicketStructure{EventID: ev.ID, Capacity: cloneInt(ev.Capacity), UpdatedAt: now, SoldAll: soldAll,
		Types: make([]TicketLimit, 0, len(ev.RegistrationTypes))}
	if old != nil {
		s.Revision = old.Revision
	}
	s.Revision++
	variants := make([]Variant, 0, len(ev.RegistrationTypes))
	for _, rt := range ev.RegistrationTypes {
		avail := Available(rt.Quantity, sold[rt.ID], ev.Capacity, soldAll)
		s.Types = append(s.Types, TicketLimit{RegistrationTypeID: rt.ID, Quantity: cloneInt(rt.Quantity),
			Sold: sold[rt.ID], Available: avail, ShopSold: shopSold[rt.ID]})
		variants = append(variants, Variant{RegistrationTypeID: rt.ID, Title: rt.Name, Price: rt.Price,
			Available: cloneInt(avail)})
	}
	date := ""
	if ev.ParentID != 0 {
		date = ev.StartsAt.In(loc).Format("Mon 2 Jan 2006 15:04")
	}
	inst, err := tx.InstallationID()
	if err != nil {
		return nil, false, err
	}
	id := strconv.FormatUint(ev.ID, 10)
	if ev.SplitProducts {
		for _, v := range variants {
			rt := strconv.FormatUint(v.RegistrationTypeID, 10)
			s.Products = append(s.Products, Product{Key: "e" + id + "-r" + rt, EventID: ev.ID,
				Title: ProductTitle(ev.Name, date, v.Title), Handle: ProductHandle(inst, ev.ID, v.RegistrationTypeID), Variants: []Variant{v}})
		}
	} else if len(variants) > 0 {
		s.Products = []Product{{Key: "e" + id, EventID: ev.ID, Title: ProductTitle(ev.Name, date, ""),
			Handle: ProductHandle(inst, ev.ID, 0), Variants: variants}}
	}
	if len(variants) > MaxShopVariants && !ev.SplitProducts {
		// The API refuses such an event for a shop company (CheckFanOut);
		// this guards one saved before its company was connected to a
		// shop. A company without a shop has no such limit.
		c, err := tx.Company(ev.CompanyID)
		if err != nil {
			return nil, false, err
		}
		if c.Shopify() {
			return nil, false, Errorf(CodeCatalogUpsertRejected, "event %d has %d registration types; a shop product holds at most %d variants", ev.ID, len(variants), MaxShopVariants)
		}
	}
	keepShopifyIDs(s, old)
	return s, len(orders) > 0, nil
}

// keepShopifyIDs carries mirrored ids over from the previous structure,
// and lists the inventory items of mirrored variants it no longer holds in
// Dropped.
func keepShopifyIDs(s, old *TicketStructure) {
	if old == nil {
		return
	}
	kept := map[string]bool{}
	defer func() {
		s.Dropped = nil
		for _, id := range old.Dropped {
			if !kept[id] && !slices.Contains(s.Dropped, id) {
				s.Dropped = append(s.Dropped, id)
			}
		}
		for _, p := range old.Products {
			for _, v := range p.Variants {
				if id := v.InventoryItemID; id != "" && !kept[id] && !slices.Contains(s.Dropped, id) {
					s.Dropped = append(s.Dropped, id)
				}
			}
		}
	}()
	prev := map[string]*Product{}
	for i := range old.Products {
		prev[old.Products[i].Key] = &old.Products[i]
	}
	for i := range s.Products {
		p := &s.Products[i]
		o := prev[p.Key]
		if o == nil {
			continue
		}
		p.ShopifyProductID = o.ShopifyProductID
		vs := map[uint64]Variant{}
		for _, v := range o.Variants {
			vs[v.RegistrationTypeID] = v
		}
		for j := range p.Variants {
			if v, ok := vs[p.Variants[j].RegistrationTypeID]; ok {
				p.Variants[j].ShopifyVariantID = v.ShopifyVariantID
				p.Variants[j].InventoryItemID = v.InventoryItemID
				p.Variants[j].ShopOffer = cloneInt(v.ShopOffer)
				p.Variants[j].ShopOfferSold = v.ShopOfferSold
				p.Variants[j].ShopPending = cloneInt(v.ShopPending)
				p.Variants[j].ShopPendingSold = v.ShopPendingSold
				if v.InventoryItemID != "" {
					kept[v.InventoryItemID] = true
				}
			}
		}
	}
}

// TicketStructure reads the structure of a date event of the company.
func (e *Engine) TicketStructure(companyID, eventID uint64) (*TicketStructure, error) {
	var s *TicketStructure
	err := e.store.View(func(tx Tx) error {
		if _, _, err := liveEvent(tx, companyID, eventID); err != nil {
			return err
		}
		var err error
		s, err = tx.TicketStructure(eventID)
		return err
	})
	return s, err
}
