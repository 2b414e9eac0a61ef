package engine

import (
	"fmt"
	"strings"
	"time"
)

// checkEventWrite runs the checks of a create or PATCH that need the event
// as it would be stored (ev, after applyEventInput) and the company: the
// fan-out limits (CheckFanOut) and, on a PATCH that moves a recurring
// event's dates (rule, start or venue), that no occurrence with paid orders
// would be dropped (a 422 occurrence_sold). Both run in the write's own
// transaction, so nothing is stored when they refuse.
func checkEventWrite(tx Tx, c *Company, ev *Event, in EventInput, update bool) error {
	occurrences := 1
	var want []Occurrence
	var loc *time.Location
	if ev.Type == EventRecurring && ev.Recurrence != nil {
		var err error
		if loc, err = eventLocation(tx, ev); err != nil {
			return err
		}
		if want, err = ev.Recurrence.Expand(loc, ev.StartsAt, ev.EndsAt); err != nil {
			// A bad rule was reported by applyEventInput; more than
			// MaxOccurrences stays the recurrence phase's to report
			// (RECURRENCE_LIMIT_EXCEEDED), and that phase fails before
			// anything is written.
			return nil
		}
		occurrences = len(want)
	}
	if fs := CheckFanOut(c, ev, occurrences); fs != nil {
		return Invalid(fs...)
	}
	if update && want != nil && (in.Recurrence.Set || in.StartsAt != nil || in.VenueID != nil) {
		fs, err := soldDrops(tx, ev, loc, want)
		if err != nil {
			return err
		}
		if fs != nil {
			return Invalid(fs...)
		}
	}
	return nil
}

// soldDrops names the occurrences with paid orders that the recurring event
// ev, expanded to want, would no longer yield. Those the event keeps
// already (KeptOccurrenceIDs: sold after an earlier change was checked) are
// not the change's doing and never refuse a later save.
func soldDrops(tx Tx, ev *Event, loc *time.Location, want []Occurrence) ([]FieldError, error) {
	children, err := tx.ChildEvents(ev.ID)
	if err != nil {
		return nil, err
	}
	existing := make([]ExistingOccurrence, len(children))
	byID := make(map[uint64]*Event, len(children))
	for i, c := range children {
		paid, err := hasPaidOrders(tx, c)
		if err != nil {
			return nil, err
		}
		existing[i] = ExistingOccurrence{ID: c.ID, StartsAt: c.StartsAt, EndsAt: c.EndsAt, Sold: paid}
		byID[c.ID] = c
	}
	plan, err := PlanOccurrences(loc, existing, want)
	if err != nil {
		return nil, err
	}
	already := make(map[uint64]bool, len(ev.KeptOccurrenceIDs))
	for _, id := range ev.KeptOccurrenceIDs {
		already[id] = true
	}
	var sold []string
	for _, id := range plan.Kept {
		if !already[id] {
			sold = append(sold, fmt.Sprintf("%d (%s)", id, byID[id].StartsAt.In(loc).Format(untilLayout)))
		}
	}
	if len(sold) == 0 {
		return nil, nil
	}
	what := "occurrence " + sold[0] + ", which has"
	if len(sold) > 1 {
		what = "occurrences " + strings.Join(sold, ", ") + ", which have"
	}
	return []FieldError{{Attribute: "recurrence", Code: "occurrence_sold",
		Message: "would remove " + what + " paid orders: refund first, or keep their dates in the rule"}}, nil
}
