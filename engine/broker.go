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
	return &Broker{subs: map[*Subscription]struct{}{}, watchers: map[uint64][]chan struct{}{}}
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
