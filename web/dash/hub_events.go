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
//
// A page joining loads its rows (an operation per event, up to a page of
// events) outside the hub's goroutine, so that the hub goes on pushing to
// every other page meanwhile. While any such load is under way, the hub
// keeps the newest transition of each event it sees (seen); the loaded
// rows are brought up to date from it before they are pushed, so that a
// transition published between the load's read and the page's
// registration is not missed.
type eventRows struct {
	watchers map[uint64]map[*wsClient]struct{}
	newest   map[uint64]uint64
	byClient map[*wsClient][]uint64
	loading  map[*wsClient]struct{}
	seen     map[uint64]*engine.Operation
}

// eventsLoad is an events list loaded for a joining client.
type eventsLoad struct {
	c    *wsClient
	page views.EventsPage
	err  error
}

// joinEventsList starts loading the rows of a client of the events list,
// off the hub's goroutine; joinedEventsList registers and pushes them.
func (h *hub) joinEventsList(c *wsClient) {
	r := &h.eventRows
	if r.watchers == nil {
		r.watchers, r.newest, r.byClient = map[uint64]map[*wsClient]struct{}{}, map[uint64]uint64{}, map[*wsClient][]uint64{}
		r.loading, r.seen = map[*wsClient]struct{}{}, map[uint64]*engine.Operation{}
	}
	r.loading[c] = struct{}{}
	load := h.d.loadEventsList
	go func() {
		page, err := load(c.view.query.Get)
		select {
		case h.eventsLoads <- eventsLoad{c, page, err}:
		case <-h.done:
		}
	}()
}

// noteEventTransition keeps op as its event's newest while a load is under
// way (see eventRows).
func (h *hub) noteEventTransition(op *engine.Operation) {
	r := &h.eventRows
	if len(r.loading) == 0 {
		return
	}
	if cur := r.seen[op.EventID]; cur == nil || newerOp(op, cur) {
		r.seen[op.EventID] = op
	}
}

// newerOp reports whether a is a later state than b: a newer operation, or
// a later version of the same one.
func newerOp(a, b *engine.Operation) bool {
	return a.ID > b.ID || a.ID == b.ID && a.Version > b.Version
}

// joinedEventsList registers a client of the events list for the rows its page
// shows and pushes their current state first.
func (h *hub) joinedEventsList(l eventsLoad) {
	r := &h.eventRows
	c := l.c
	if _, ok := r.loading[c]; !ok {
		return // it left meanwhile
	}
	seen := r.seen
	delete(r.loading, c)
	if len(r.loading) == 0 {
		r.seen = map[uint64]*engine.Operation{}
	}
	if l.err != nil {
		h.d.log.Warn("dashboard: loading the events list", "err", l.err)
		return
	}
	push := views.Push{Kind: views.PushEventLast}
	for _, v := range l.page.Events {
		id := v.Event.ID
		addTo(r.watchers, id, c)
		r.byClient[c] = append(r.byClient[c], id)
		op := l.page.Last[id]
		if s := seen[id]; s != nil && (op == nil || newerOp(s, op)) {
			op = s
		}
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
	if _, ok := r.loading[c]; ok {
		delete(r.loading, c)
		if len(r.loading) == 0 {
			r.seen = map[uint64]*engine.Operation{}
		}
	}
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
	h.noteEventTransition(op)
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
