package storage

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"eventops/engine"
)

// Event returns the event with id, deleted or not, or (nil, nil).
func (t *tx) Event(id uint64) (*engine.Event, error) {
	return getCached(t, tbEvents, t.cache.events, id)
}

// PutEvent writes e and keeps its list indexes; a deleted event occupies no
// index (it leaves every list) but stays readable by id.
func (t *tx) PutEvent(e *engine.Event) error {
	if e == nil {
		return errors.New("store event: nil")
	}
	return putCached(t, tbEvents, t.cache.events, e.ID, e, eventEntries(e))
}

func eventEntries(e *engine.Event) []entry {
	if e.Deleted {
		return nil
	}
	c, id := e.CompanyID, e.ID
	es := []entry{
		{idx: idxEventCompany, key: key(nil).u64(c).u64(id)},
		{idx: idxEventStart, key: key(nil).u64(c).time(e.StartsAt).u64(id)},
		{idx: idxEventName, key: key(nil).u64(c).str(strings.ToLower(e.Name)).u64(id)},
	}
	if e.ParentID != 0 {
		es = append(es, entry{idx: idxEventParent, key: key(nil).u64(e.ParentID).time(e.StartsAt).u64(id)})
	}
	return es
}

// ChildEvents lists a recurring event's live occurrences by start, then id.
func (t *tx) ChildEvents(parentID uint64) ([]*engine.Event, error) {
	return byIndex[engine.Event](t, tbEvents, idxEventParent, key(nil).u64(parentID))
}

// Events lists a company's live events.
//
// Sort is by starts_at (the default; ties by id), id or name (ignoring case;
// ties by id), ascending unless Desc. ParentID narrows to one recurring
// event's occurrences (a ParentID pointing at 0 keeps top-level events only).
// When keeps, relative to Now (time.Now() when zero), "future" events
// (starts_at > now), "active" ones (starts_at <= now < ends_at) or "past" ones
// (ends_at <= now); From and To bound starts_at, inclusive. Limit defaults to
// 25, at most 100.
//
// Sorted by starts_at, the time bounds narrow the index range itself; other
// filters are tested on the records, examining at most 20 × limit of them per
// call, so a page can come back short (even empty) with a cursor to continue.
// The cursor is "" on the last page, and belongs to this sort and direction.
func (t *tx) Events(q engine.EventQuery) ([]*engine.Event, string, error) {
	if q.CompanyID == 0 {
		return nil, "", errors.New("list events: a company is required")
	}
	now := q.Now
	if now.IsZero() {
		now = time.Now()
	}
	from, to := q.From, q.To
	switch q.When {
	case "":
	case "future":
		from = later(from, now.Add(time.Nanosecond))
	case "active", "past":
		to = earlier(to, now)
	default:
		return nil, "", engine.Invalid(engine.FieldError{
			Attribute: "when", Code: "invalid", Message: "must be future, active or past",
		})
	}

	c := q.CompanyID
	var idx index
	var prefix []byte
	byStart := false
	switch q.Sort {
	case "", engine.SortStartsAt:
		byStart = true
		if q.ParentID != nil && *q.ParentID != 0 {
			idx, prefix = idxEventParent, key(nil).u64(*q.ParentID)
		} else {
			idx, prefix = idxEventStart, key(nil).u64(c)
		}
	case engine.SortID:
		idx, prefix = idxEventCompany, key(nil).u64(c)
	case engine.SortName:
		idx, prefix = idxEventName, key(nil).u64(c)
	default:
		return nil, "", engine.Invalid(engine.FieldError{
			Attribute: "sort", Code: "invalid", Message: "must be starts_at, id or name",
		})
	}
	after, err := decodeCursor(q.Cursor, idx, q.Desc, prefix)
	if err != nil {
		return nil, "", err
	}
	if from != nil && to != nil && from.After(*to) {
		return nil, "", nil
	}
	ib, err := t.bucket(indexBuckets[idx])
	if err != nil {
		return nil, "", err
	}
	w := walk{b: ib, prefix: prefix, desc: q.Desc, after: after}
	if byStart && from != nil {
		w.lo = key(clone(prefix)).time(*from)
	}
	if byStart && to != nil {
		w.hi = key(clone(prefix)).time(*to).maxID()
	}

	keep := func(e *engine.Event) bool {
		switch {
		case e.Deleted, e.CompanyID != c:
			return false
		case q.ParentID != nil && e.ParentID != *q.ParentID:
			return false
		case from != nil && e.StartsAt.Before(*from), to != nil && e.StartsAt.After(*to):
			return false
		case q.When == "active" && !e.EndsAt.After(now), q.When == "past" && e.EndsAt.After(now):
			return false
		}
		return true
	}
	limit := clampLimit(q.Limit)
	items, next, err := page(w, limit, limit*budgetFactor, func(k, _ []byte) (*engine.Event, bool, error) {
		e, err := t.Event(idOf(k))
		if err != nil {
			return nil, false, err
		}
		if e == nil {
			return nil, false, fmt.Errorf("index %s: event %d is missing", indexBuckets[idx], idOf(k))
		}
		return e, keep(e), nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("list events: %w", err)
	}
	return items, encodeCursor(idx, q.Desc, next), nil
}

func later(a *time.Time, b time.Time) *time.Time {
	if a != nil && a.After(b) {
		return a
	}
	return &b
}

func earlier(a *time.Time, b time.Time) *time.Time {
	if a != nil && a.Before(b) {
		return a
	}
	return &b
}
