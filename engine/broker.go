package engine

import "sync"

// Broker tells subscribers about operation transitions. The engine publishes
// only after the transition is durably committed, so no subscriber ever sees
// a state that a reopened store lacks. Published operations are immutable
// snapshots: subscribers must not modify them.
type Broker struct {
	mu       sync.Mutex
	subs     map[*Subscription]struct{}
	watchers map[uint64][]chan struct{}
	newest   versions // the newest version published, by operation id
}

// Subscription receives every published transition on C. A subscriber that
// falls more than its buffer behind is dropped: C is closed and Dropped
// reports true; it must subscribe again and reload the state it shows.
type Subscription struct {
	C       <-chan *Operation
	c       chan *Operation
	broker  *Broker
	dropped bool
}

func newBroker() *Broker {
	return &Broker{subs: map[*Subscription]struct{}{}, watchers: map[uint64][]chan struct{}{}, newest: newVersions(newestKept)}
}

// Subscribe starts a subscription with a buffer of n transitions.
func (b *Broker) Subscribe(n int) *Subscription {
	if n < 1 {
		n = 1
	}
	c := make(chan *Operation, n)
	s := &Subscription{C: c, c: c, broker: b}
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	return s
}

// Close ends the subscription; it is safe to call more than once.
func (s *Subscription) Close() {
	b := s.broker
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.subs[s]; ok {
		delete(b.subs, s)
		close(s.c)
	}
}

// Dropped reports whether the broker dropped the subscription for being slow.
func (s *Subscription) Dropped() bool {
	s.broker.mu.Lock()
	defer s.broker.mu.Unlock()
	return s.dropped
}

// Watch returns a channel that is closed at the next transition of operation
// id, and a function that stops watching.
func (b *Broker) Watch(id uint64) (<-chan struct{}, func()) {
	c := make(chan struct{})
	b.mu.Lock()
	b.watchers[id] = append(b.watchers[id], c)
	b.mu.Unlock()
	return c, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		ws := b.watchers[id]
		for i, w := range ws {
			if w == c {
				ws = append(ws[:i], ws[i+1:]...)
				break
			}
		}
		if len(ws) == 0 {
			delete(b.watchers, id)
		} else {
			b.watchers[id] = ws
		}
	}
}

// publish hands a persisted snapshot to every subscriber without blocking.
func (b *Broker) publish(op *Operation) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.deliver(op)
}

// publishNewer publishes a snapshot read after another node announced it,
// unless this broker already published that version or a newer one: a
// subscriber never sees an operation go backwards.
func (b *Broker) publishNewer(op *Operation) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if v, ok := b.newest.get(op.ID); ok && v >= op.Version {
		return false
	}
	b.deliver(op)
	return true
}

// published reports the newest version of id this broker published, if it
// still remembers it.
func (b *Broker) published(id uint64) (uint64, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.newest.get(id)
}

// resync drops every subscription, as if each had fallen behind (they
// subscribe again and reload what they show), and wakes every watcher (a
// long-poll reads the store again): what the broker could not deliver is
// unknown, after a lost notification connection.
func (b *Broker) resync() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for id, ws := range b.watchers {
		for _, w := range ws {
			close(w)
		}
		delete(b.watchers, id)
	}
	for s := range b.subs {
		s.dropped = true
		delete(b.subs, s)
		close(s.c)
	}
}

func (b *Broker) deliver(op *Operation) {
	if v, ok := b.newest.get(op.ID); !ok || v < op.Version {
		b.newest.put(op.ID, op.Version)
	}
	if ws, ok := b.watchers[op.ID]; ok {
		for _, w := range ws {
			close(w)
		}
		delete(b.watchers, op.ID)
	}
	for s := range b.subs {
		select {
		case s.c <- op:
		default:
			s.dropped = true
			delete(b.subs, s)
			close(s.c)
		}
	}
}

// Subscribers is the number of live subscriptions.
func (b *Broker) Subscribers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}

// newestKept bounds the versions a broker remembers (twice over: see
// versions).
const newestKept = 1 << 16

// versions maps operation ids to versions in bounded memory: two
// generations, the older dropped whole when the newer fills, so that the
// recently published are remembered and memory stays at most twice max.
type versions struct {
	max       int
	cur, prev map[uint64]uint64
}

func newVersions(max int) versions {
	return versions{max: max, cur: map[uint64]uint64{}, prev: map[uint64]uint64{}}
}

func (v *versions) get(id uint64) (uint64, bool) {
	if n, ok := v.cur[id]; ok {
		return n, true
	}
	n, ok := v.prev[id]
	return n, ok
}

func (v *versions) put(id, version uint64) {
	if _, ok := v.cur[id]; !ok && len(v.cur) >= v.max {
		v.prev, v.cur = v.cur, make(map[uint64]uint64, v.max/4)
	}
	v.cur[id] = version
}
