package dash

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"eventops/engine"
	"eventops/views"
)

// searchLimit is the most events a search lists.
const searchLimit = 50

// search is /search?q=: an operation or event id (with or without "#")
// jumps straight to its page when only one thing has that id; anything
// else looks for events by name or slug across every company.
func (d *Dashboard) search(c *fiber.Ctx, sess *staffSession) error {
	q := strings.TrimSpace(c.Query("q"))
	if len(q) > 200 {
		return dashBadRequest("A search is at most 200 characters.")
	}
	page := views.SearchPage{Query: q}
	if id, err := strconv.ParseUint(strings.TrimPrefix(q, "#"), 10, 64); err == nil && id != 0 {
		if op, err := d.eng.Operation(0, id); err == nil {
			page.Operation = op
		} else if engine.ErrorKind(err) != engine.KindNotFound {
			return err
		}
		if ev, err := d.eng.Event(0, id); err == nil {
			page.Event = ev
		} else if engine.ErrorKind(err) != engine.KindNotFound {
			return err
		}
		switch {
		case page.Operation != nil && page.Event == nil:
			return c.Redirect("/operations/"+strconv.FormatUint(id, 10), http.StatusSeeOther)
		case page.Event != nil && page.Operation == nil:
			return c.Redirect("/events/"+strconv.FormatUint(id, 10), http.StatusSeeOther)
		}
	}
	if q != "" {
		evs, partial, err := d.eng.SearchEvents(strings.TrimPrefix(q, "#"), searchLimit)
		if err != nil {
			return err
		}
		page.Partial = partial
		ids := make([]uint64, len(evs))
		for i, ev := range evs {
			ids[i] = ev.CompanyID
		}
		page.Names = d.names.names(ids...)
		page.Events = evs
		if page.Last, err = d.lastOperations(evs); err != nil {
			return err
		}
	}
	p := d.pageOf(c, sess, "Search", "", false)
	return dashRender(c, http.StatusOK, views.SearchView(p, page))
}

// lastOperations is each event's newest operation (absent: none).
func (d *Dashboard) lastOperations(evs []*engine.Event) (map[uint64]*engine.Operation, error) {
	out := make(map[uint64]*engine.Operation, len(evs))
	for _, ev := range evs {
		ops, _, err := d.eng.Operations(engine.OperationQuery{EventID: ev.ID, Limit: 1})
		if err != nil {
			return nil, err
		}
		if len(ops) > 0 {
			out[ev.ID] = ops[0]
		}
	}
	return out, nil
}
