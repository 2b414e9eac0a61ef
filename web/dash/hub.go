package dash

import (
	"bytes"
	"context"
	"sync"
	"time"

	"github.com/fasthttp/websocket"

	"eventops/engine"
	"eventops/views"
)

// hub keeps every dashboard websocket current. It is the dashboard's one
// subscriber of the engine's broker; for each transition it renders each
// kind of fragment once (the operation page's live parts, an operations
// table row, the counts, the overview), prepares the websocket frame once,
// and hands the same frame to every client that shows it.
//
// One goroutine (run) owns the clients' page state: it handles, in order,
// transitions, clients joining (whose current state it reads and pushes
// first) and leaving, and the periodic aggregates. Reads of the store that
// a push needs happen in that goroutine too, so pushes reach a client in the
// order their states were read: a page is never left older than the store.
type hub struct {
	d *Dashboard

	// Owned by run's goroutine.
	byOp map[uint64]map[*wsClient]struct{}
	// lastOp is the latest state pushed of each watched operation: what a
	// page that took every push shows, the base of the next delta.
	lastOp    map[uint64]*engine.Operation
	byEvent   map[uint64]map[*wsClient]struct{}
	eventRows eventRows // the events lists (hub_events.go)
	lists     map[*wsClient]struct{}
	counters  map[*wsClient]struct{}
	overviews map[*wsClient]struct{}
	// The aggregates are pushed at most every flushEvery.
	countsDirty, overviewDirty bool
	eventsDirty                map[uint64]struct{}
	lastMinute                 int64

	joins  chan *wsClient
	leaves chan *wsClient
	// eventsLoads brings events lists loaded off the goroutine (hub_events.go).
	eventsLoads chan eventsLoad
	stop        chan struct{}
	done        chan struct{}

	// The registry of connected clients, for shutdown and sign-out.
	rmu      sync.Mutex
	clients  map[*wsClient]struct{}
	closing  bool
	conns    sync.WaitGroup
	stopOnce sync.Once
}

const (
	// hubBuffer is the broker subscription's buffer: transitions the hub
	// may fall behind before the broker drops it (it then starts over).
	hubBuffer = 8192
	// hubBatch transitions at most are taken at once; several of one
	// operation are pushed as its latest state.
	hubBatch   = 512
	flushEvery = 250 * time.Millisecond
	// maxLiveRows bounds a live table: the oldest rows leave as new ones
	// arrive.
	maxLiveRows = 200
)

func newHub(d *Dashboard) *hub {
	h := &hub{
		d:           d,
		byOp:        map[uint64]map[*wsClient]struct{}{},
		lastOp:      map[uint64]*engine.Operation{},
		byEvent:     map[uint64]map[*wsClient]struct{}{},
		lists:       map[*wsClient]struct{}{},
		counters:    map[*wsClient]struct{}{},
		overviews:   map[*wsClient]struct{}{},
		eventsDirty: map[uint64]struct{}{},
		joins:       make(chan *wsClient),
		leaves:      make(chan *wsClient),
		eventsLoads: make(chan eventsLoad),
		stop:        make(chan struct{}),
		done:        make(chan struct{}),
		clients:     map[*wsClient]struct{}{},
	}
	// Subscribed before run starts, so that nothing published after the
	// dashboard is mounted is missed.
	sub := d.eng.Broker().Subscribe(hubBuffer)
	go h.run(sub)
	return h
}

func (h *hub) run(sub *engine.Subscription) {
	defer close(h.done)
	h.reseed()
	tick := time.NewTicker(flushEvery)
	defer tick.Stop()
	batch := make([]*engine.Operation, 0, hubBatch)
	for {
		select {
		case op, ok := <-sub.C:
			if !ok {
				// Dropped for falling behind: every page may have missed
				// something, so start over from the store.
				h.d.log.Warn("dashboard hub fell behind the engine; resyncing every page")
				sub = h.d.eng.Broker().Subscribe(hubBuffer)
				h.reseed()
				h.resyncAll()
				continue
			}
			batch = append(batch[:0], op)
		drain:
			for len(batch) < hubBatch {
				select {
				case op, ok := <-sub.C:
					if !ok {
						break drain // seen again by the outer select
					}
					batch = append(batch, op)
				default:
					break drain
				}
			}
			h.transitions(batch)
		case c := <-h.joins:
			h.join(c)
		case c := <-h.leaves:
			h.leave(c)
		case l := <-h.eventsLoads:
			h.joinedEventsList(l)
		case <-tick.C:
			h.flush()
		case <-h.stop:
			sub.Close()
			return
		}
	}
}

func (h *hub) reseed() {
	if err := h.d.tally.reseed(); err != nil {
		h.d.log.Error("dashboard: counting operations", "err", err)
	}
	h.countsDirty, h.overviewDirty = true, true
}

func (h *hub) transitions(batch []*engine.Operation) {
	h.d.tally.apply(batch)
	for _, op := range batch {
		if op.Version == 1 || op.Status.Terminal() {
			h.overviewDirty = true
		}
	}
	h.countsDirty = true

	// Only the latest state of each operation is pushed.
	latest := make(map[uint64]int, len(batch))
	order := batch[:0:0]
	for _, op := range batch {
		if i, ok := latest[op.ID]; ok {
			if op.Version > order[i].Version {
				order[i] = op
			}
			continue
		}
		latest[op.ID] = len(order)
		order = append(order, op)
	}
	for _, op := range order {
		h.pushOperation(op)
		h.pushRow(op)
		h.pushEvent(op)
		h.pushEventRow(op)
	}
}

// prepare renders a push once and frames it once for every client.
func (h *hub) prepare(p views.Push) wsFrame {
	var buf bytes.Buffer
	if err := p.Render(context.Background(), &buf); err != nil {
		h.d.log.Error("dashboard: rendering a push", "kind", p.Kind, "err", err)
		return nil
	}
	return textFrame(buf.Bytes())
}

// pushOperation brings every page of op up to its new state. A page that
// shows the state the hub pushed last gets only what the transition changed
// (views.DiffOperation: the phases whose line changed, the children that came
// into or left a long list's shown few), one frame shared by all pages of the
// same view (collapsed, or every phase with ?phases=all); a page at another
// version gets the whole.
func (h *hub) pushOperation(op *engine.Operation) {
	watchers := h.byOp[op.ID]
	if len(watchers) == 0 {
		return
	}
	prev := h.lastOp[op.ID]
	// One of each per view: [0] collapsed, [1] every phase.
	var shown [2]*views.OperationView
	var delta, full [2]wsFrame
	var noDelta [2]bool
	for c := range watchers {
		if op.Version <= c.opVersion {
			continue // the client's state, read when it joined, is newer
		}
		k := 0
		if c.view.all {
			k = 1
		}
		if shown[k] == nil {
			v := h.d.operationView(op, k == 1)
			shown[k] = &v
		}
		var f wsFrame
		if prev != nil && c.opVersion == prev.Version && !noDelta[k] {
			if delta[k] == nil {
				if dl, ok := views.DiffOperation(prev, *shown[k]); ok {
					delta[k] = h.prepare(views.Push{Kind: views.PushOperationDelta, Delta: &dl})
				}
				noDelta[k] = delta[k] == nil
			}
			f = delta[k]
		}
		if f == nil {
			if full[k] == nil {
				fv := *shown[k]
				if !op.Status.Terminal() {
					h.d.addRefundLines(&fv) // a whole page shows them
				}
				full[k] = h.prepare(views.Push{Kind: views.PushOperation, Op: &fv})
			}
			f = full[k]
		}
		if f == nil {
			return
		}
		c.opVersion = op.Version
		c.offer(f)
	}
	if prev == nil || op.Version > prev.Version {
		h.lastOp[op.ID] = op
	}
}

// pushRow updates the row of op where a table shows it, and inserts it
// where a table should show it now (a new operation, or one that came to
// match the filter) and the row falls within the table's page.
func (h *hub) pushRow(op *engine.Operation) {
	if len(h.lists) == 0 {
		return
	}
	var row *views.Row
	getRow := func() views.Row {
		if row == nil {
			row = &views.Row{Op: op, Names: h.d.names.names(op.CompanyID)}
		}
		return *row
	}
	var update wsFrame
	inserts := map[string]wsFrame{}
	for c := range h.lists {
		ls := c.list
		if v, ok := ls.shown[op.ID]; ok {
			if op.Version > v {
				ls.shown[op.ID] = op.Version
				if update == nil {
					r := getRow()
					update = h.prepare(views.Push{Kind: views.PushRow, Row: &r})
				}
				c.offer(update)
			}
			continue
		}
		if !ls.accepts(op) {
			continue
		}
		anchor, atEnd := ls.placement(op.ID)
		key := anchor
		if atEnd {
			key = "\x00end"
		}
		pm, ok := inserts[key]
		if !ok {
			r := getRow()
			pm = h.prepare(views.Push{Kind: views.PushRowInsert, Row: &r, Anchor: anchor, AtEnd: atEnd})
			inserts[key] = pm
		}
		ls.shown[op.ID] = op.Version
		c.offer(pm)
		if len(ls.shown) > maxLiveRows {
			oldest := ls.oldest()
			delete(ls.shown, oldest)
			c.offer(h.prepare(views.Push{Kind: views.PushRowDelete, Row: &views.Row{Op: &engine.Operation{ID: oldest}}}))
		}
	}
}

// pushEvent marks for refresh the event pages that op's event (or, for an
// occurrence, its recurring parent) shows. They are refreshed from a fresh
// read at the next flush: an event page shows what the operations wrote
// (structures, products, occurrences), which a read of the store gives,
// and one read per flush serves any number of transitions.
func (h *hub) pushEvent(op *engine.Operation) {
	for _, id := range []uint64{op.EventID, op.QueueID} {
		if len(h.byEvent[id]) > 0 {
			h.eventsDirty[id] = struct{}{}
		}
	}
}

func (h *hub) eventPush(id uint64) wsFrame {
	v, err := h.d.eng.EventView(0, id)
	if err != nil {
		return nil // deleted meanwhile: the page keeps its last state
	}
	live, err := h.d.eventLive(v)
	if err != nil {
		h.d.log.Warn("dashboard: loading an event", "event", id, "err", err)
		return nil
	}
	return h.prepare(views.Push{Kind: views.PushEvent, Event: &live})
}

// flush pushes the aggregates and event pages that changed since the last
// flush (the aggregates also each minute, as their windows slide).
func (h *hub) flush() {
	now := h.d.now()
	if m := now.Unix() / 60; m != h.lastMinute {
		h.lastMinute = m
		h.countsDirty, h.overviewDirty = true, true
	}
	if h.countsDirty && len(h.counters) > 0 {
		h.countsDirty = false
		if pm := h.countsPush(); pm != nil {
			for c := range h.counters {
				c.offer(pm)
			}
		}
	}
	for id := range h.eventsDirty {
		delete(h.eventsDirty, id)
		watchers := h.byEvent[id]
		if len(watchers) == 0 {
			continue
		}
		if pm := h.eventPush(id); pm != nil {
			for c := range watchers {
				c.offer(pm)
			}
		}
	}
	if h.overviewDirty && len(h.overviews) > 0 {
		h.overviewDirty = false
		if pm := h.overviewPush(); pm != nil {
			for c := range h.overviews {
				c.offer(pm)
			}
		}
	}
}

func (h *hub) countsPush() wsFrame {
	c := h.d.tally.counts()
	return h.prepare(views.Push{Kind: views.PushCounts, Counts: &c})
}

func (h *hub) overviewPush() wsFrame {
	ov, err := h.d.overviewData()
	if err != nil {
		h.d.log.Warn("dashboard: loading the overview", "err", err)
		return nil
	}
	return h.prepare(views.Push{Kind: views.PushOverview, Overview: &ov})
}

// join registers a client for what its page shows and pushes the current
// state of it first.
func (h *hub) join(c *wsClient) {
	v := c.view
	switch v.kind {
	case pageOverview:
		h.counters[c], h.overviews[c] = struct{}{}, struct{}{}
		c.offer(h.countsPush())
		c.offer(h.overviewPush())
	case pageOperations:
		h.counters[c] = struct{}{}
		c.offer(h.countsPush())
		h.joinList(c, v.list)
	case pageOperation:
		op, err := h.d.eng.Operation(0, v.opID)
		if err != nil {
			c.close(websocket.ClosePolicyViolation, "no such operation")
			return
		}
		addTo(h.byOp, v.opID, c)
		if h.lastOp[op.ID] == nil {
			h.lastOp[op.ID] = op
		}
		c.opVersion = op.Version
		view := h.d.fullOperationView(op, v.all)
		c.offer(h.prepare(views.Push{Kind: views.PushOperation, Op: &view}))
	case pageEvent:
		if pm := h.eventPush(v.eventID); pm != nil {
			addTo(h.byEvent, v.eventID, c)
			c.events = []uint64{v.eventID}
			c.offer(pm)
		}
		h.joinList(c, v.list)
	case pageEvents:
		h.joinEventsList(c)
	}
}

func (h *hub) joinList(c *wsClient, l opList) {
	rows, ops, low, err := h.d.loadRows(l)
	if err != nil {
		h.d.log.Warn("dashboard: loading operations", "err", err)
		c.close(websocket.CloseInternalServerErr, "could not load the operations")
		return
	}
	ls := &listState{list: l, low: low, shown: make(map[uint64]uint64, len(ops))}
	for _, op := range ops {
		ls.shown[op.ID] = op.Version
	}
	c.list = ls
	h.lists[c] = struct{}{}
	c.offer(h.prepare(views.Push{Kind: views.PushRows, RowsOf: &rows}))
}

func (h *hub) leave(c *wsClient) {
	delete(h.lists, c)
	delete(h.counters, c)
	delete(h.overviews, c)
	if c.view.kind == pageOperation {
		removeFrom(h.byOp, c.view.opID, c)
		if len(h.byOp[c.view.opID]) == 0 {
			delete(h.lastOp, c.view.opID)
		}
	}
	for _, id := range c.events {
		removeFrom(h.byEvent, id, c)
	}
	h.leaveEventsList(c)
}

// resyncAll pushes every client its page's current state again.
func (h *hub) resyncAll() {
	h.rmu.Lock()
	all := make([]*wsClient, 0, len(h.clients))
	for c := range h.clients {
		all = append(all, c)
	}
	h.rmu.Unlock()
	for _, c := range all {
		h.leave(c)
		c.opVersion = 0
		h.join(c)
	}
}

func addTo(m map[uint64]map[*wsClient]struct{}, k uint64, c *wsClient) {
	set := m[k]
	if set == nil {
		set = map[*wsClient]struct{}{}
		m[k] = set
	}
	set[c] = struct{}{}
}

func removeFrom(m map[uint64]map[*wsClient]struct{}, k uint64, c *wsClient) {
	if set := m[k]; set != nil {
		delete(set, c)
		if len(set) == 0 {
			delete(m, k)
		}
	}
}

// listState is what a client's operations table shows: its query, the
// lowest id of its page (0: it is the last page), and the rows shown with
// the version each shows.
type listState struct {
	list  opList
	low   uint64
	shown map[uint64]uint64
}

// accepts reports whether op belongs in the table: it matches the filters
// and falls within the page's range of ids.
func (ls *listState) accepts(op *engine.Operation) bool {
	q := ls.list.q
	return ls.list.matches(op) && (q.Before == 0 || op.ID < q.Before) && (ls.low == 0 || op.ID >= ls.low)
}

// placement is where a new row goes in a table ordered newest first: before
// the row of the next lower id, at the top when no shown row is newer, at
// the end when none is older.
func (ls *listState) placement(id uint64) (anchor string, atEnd bool) {
	var below uint64
	newer := false
	for shown := range ls.shown {
		if shown < id && shown > below {
			below = shown
		}
		if shown > id {
			newer = true
		}
	}
	switch {
	case !newer:
		return "", false
	case below == 0:
		return "", true
	}
	return views.RowID(below), false
}

func (ls *listState) oldest() uint64 {
	var o uint64
	for id := range ls.shown {
		if o == 0 || id < o {
			o = id
		}
	}
	return o
}

// The registry: every connected client, so that shutdown and sign-out can
// close them whatever the hub is doing.

// connect registers a client and hands it to the hub, which pushes its
// page's current state; false when the dashboard is shutting down.
func (h *hub) connect(c *wsClient) bool {
	h.rmu.Lock()
	if h.closing {
		h.rmu.Unlock()
		return false
	}
	h.clients[c] = struct{}{}
	h.conns.Add(1)
	h.rmu.Unlock()
	select {
	case h.joins <- c:
		return true
	case <-h.done:
		h.rmu.Lock()
		delete(h.clients, c)
		h.rmu.Unlock()
		h.conns.Done()
		return false
	}
}

// disconnect forgets a client whose connection ended.
func (h *hub) disconnect(c *wsClient) {
	h.rmu.Lock()
	delete(h.clients, c)
	h.rmu.Unlock()
	select {
	case h.leaves <- c:
	case <-h.done:
	}
	h.conns.Done()
}

// signedOut closes the sockets of a session that signed out.
func (h *hub) signedOut(s *staffSession) {
	h.rmu.Lock()
	defer h.rmu.Unlock()
	for c := range h.clients {
		if c.sess.key == s.key {
			c.close(websocket.ClosePolicyViolation, "signed out")
		}
	}
}

// dropAll closes every socket with code, leaving the dashboard running:
// pages reconnect (on 1012 or 1013) and get their current state.
func (h *hub) dropAll(code int, reason string) {
	h.rmu.Lock()
	defer h.rmu.Unlock()
	for c := range h.clients {
		c.close(code, reason)
	}
}

// connected is the number of open dashboard websockets.
func (h *hub) connected() int {
	h.rmu.Lock()
	defer h.rmu.Unlock()
	return len(h.clients)
}

// shutdown refuses new sockets, closes the open ones with 1012 so that the
// pages reconnect to the next server, waits briefly for them to finish the
// closing handshake, and stops the hub. Safe to call more than once.
func (h *hub) shutdown() {
	h.stopOnce.Do(func() {
		h.rmu.Lock()
		h.closing = true
		h.rmu.Unlock()
		h.dropAll(websocket.CloseServiceRestart, "server restart")
		done := make(chan struct{})
		go func() { h.conns.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			h.d.log.Warn("dashboard: websockets still closing at shutdown")
		}
		close(h.stop)
		<-h.done
	})
}
