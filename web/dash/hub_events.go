package dash

import (
	"eventops/engine"
	"eventops/views"
)

// The events list is live: each row's "last operation" follows the
// event's newest operation. The hub (hub.go) calls these from its one
// goroutine, like the rest of its state.

// eventRows is who watches which event's row, and the newest operation
// pushed for each, so that a transition of an older operation does not
// replace a newer one's status.
type eventRows struct {
	watchers map[uint64]map[*wsClient]struct{}
	newest   map[uint64]uint64
	byClient map[*wsClient][]uint64
}

// joinEventsList registers a client of the events list for the rows its
// page shows and pushes their current state first.
func (h *hub) joinEventsList(c *wsClient) {
	r := &h.eventRows
	if r.watchers == nil {
		r.watchers, r.newest, r.byClient = map[uint64]map[*wsClient]struct{}{}, map[uint64]uint64{}, map[*wsClient][]uint64{}
	}
	page, err := h.d.eventsList(c.view.query.Get)
	if err != nil {
		h.d.log.Warn("dashboard: loading the events list", "err", err)
		return
	}
	push := views.Push{Kind: views.PushEventLast}
	for _, v := range page.Events {
		id := v.Event.ID
		addTo(r.watchers, id, c)
		r.byClient[c] = append(r.byClient[c], id)
		op := page.Last[id]
		if op != nil && op.ID > r.newest[id] {
			r.newest[id] = op.ID
		}
		push.Last = append(push.Last, views.EventLast{EventID: id, Op: op})
	}
	if len(push.Last) > 0 {
		c.offer(h.prepare(push))
	}
}

func (h *hub) leaveEventsList(c *wsClient) {
	r := &h.eventRows
	for _, id := range r.byClient[c] {
		removeFrom(r.watchers, id, c)
		if len(r.watchers[id]) == 0 {
			delete(r.newest, id)
		}
	}
	delete(r.byClient, c)
}

// pushEventRow pushes op's status to the events lists showing its event,
// unless a newer operation of the event was pushed already.
func (h *hub) pushEventRow(op *engine.Operation) {
	r := &h.eventRows
	watchers := r.watchers[op.EventID]
	if len(watchers) == 0 || op.ID < r.newest[op.EventID] {
		return
	}
	r.newest[op.EventID] = op.ID
	pm := h.prepare(views.Push{Kind: views.PushEventLast, Last: []views.EventLast{{EventID: op.EventID, Op: op}}})
	for c := range watchers {
		c.offer(pm)
	}
}
