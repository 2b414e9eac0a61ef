package dash

import (
	"sync"

	"eventops/engine"
	"eventops/views"
)

// nameCache keeps company names (few, and never renamed) and event names
// (read once per event shown live) so that rows and pushes need no read per
// render. The company map is replaced, never changed, so a views.Names
// handed out stays valid.
type nameCache struct {
	eng *engine.Engine

	mu        sync.Mutex
	companies map[uint64]string
	events    map[uint64]string
}

const maxEventNames = 10000

func newNameCache(eng *engine.Engine) *nameCache {
	return &nameCache{eng: eng, companies: map[uint64]string{}, events: map[uint64]string{}}
}

// names returns the company names, reloading them once when one of ids is
// unknown (a company created since).
func (n *nameCache) names(ids ...uint64) views.Names {
	n.mu.Lock()
	cur := n.companies
	n.mu.Unlock()
	for _, id := range ids {
		if _, ok := cur[id]; !ok {
			return n.reload()
		}
	}
	return views.Names{Companies: cur}
}

func (n *nameCache) reload() views.Names {
	cs, err := n.eng.Companies()
	n.mu.Lock()
	defer n.mu.Unlock()
	if err == nil {
		m := make(map[uint64]string, len(cs))
		for _, c := range cs {
			m[c.ID] = c.Name
		}
		n.companies = m
	}
	return views.Names{Companies: n.companies}
}

// eventName is a live event's name, "" when it is deleted or unknown. A save
// (Version 1 of a save operation: the event was just created or changed)
// refreshes it.
func (n *nameCache) eventName(op *engine.Operation) string {
	n.mu.Lock()
	name, ok := n.events[op.EventID]
	n.mu.Unlock()
	if ok && !(op.Version == 1 && op.Action == engine.ActionSave) {
		return name
	}
	ev, err := n.eng.Event(0, op.EventID)
	if err == nil {
		name = ev.Name
	} else if engine.ErrorKind(err) != engine.KindNotFound {
		return name
	}
	n.mu.Lock()
	if len(n.events) >= maxEventNames {
		n.events = map[uint64]string{}
	}
	n.events[op.EventID] = name
	n.mu.Unlock()
	return name
}
