package web

import (
	"encoding/json"
	"sync"

	"eventops/engine"
)

// opCache keeps the latest state of operations, rendered once per version,
// so that polling (the API's hottest path) neither decodes the stored record
// nor renders it again for every poller. It learns of every transition from
// the engine's broker, which publishes each one after it is committed; the
// entries are the broker's immutable snapshots.
//
// Correctness rests on four rules. Every read first takes in what the broker
// delivered (feed), synchronously: whatever was published before a request
// began is in the cache when it answers, so a client reads its own writes
// and never an older state than it was shown. An entry is only replaced by a
// higher version (deliveries and reads arrive in any order). A state read
// from the store is cached only if no reset happened since the reader looked
// (gen), so a read that raced a lost subscription or an eviction cannot
// plant a stale entry. And when the broker drops the subscription (its
// buffer filled between reads), we subscribe again before forgetting
// everything.
//
// On a shared store (PostgreSQL, several nodes) the broker learns of other
// nodes' transitions only through their announcements, which arrive a few
// milliseconds after the commit, or never while the listener is away. A
// cached state could then be older than one another node already answered,
// so there the cache is trusted without a store read only for terminal
// operations, whose state never changes again; any other operation is read
// from the store at every GET (a point read sent after the request began,
// shared with the other reads in flight: engine's readGroup; its snapshot
// includes every commit answered before the request began) and the cache
// gives its rendering when that version is the one cached. A long-poll's wait reads
// the store too (engine.Wait). What the cache saves there is the rendering,
// not the read: the price of "never older than another node answered".
//
// Operations deleted by retention pruning stay readable from the cache until
// they are evicted or the server restarts.
type opCache struct {
	max    int
	broker *engine.Broker

	feedMu sync.Mutex // one reader drains the subscription at a time
	sub    *engine.Subscription

	mu  sync.Mutex
	gen uint64
	m   map[uint64]*cachedOp
}

// cachedOp is one version of an operation and its rendering.
type cachedOp struct {
	op   *engine.Operation
	etag string
	once sync.Once
	body []byte
	err  error
}

func newCachedOp(op *engine.Operation) *cachedOp { return &cachedOp{op: op, etag: etag(op)} }

// json is the operation's body, rendered on first use.
func (c *cachedOp) json() ([]byte, error) {
	c.once.Do(func() { c.body, c.err = json.Marshal(operation(c.op)) })
	return c.body, c.err
}

func newOpCache(b *engine.Broker, max int) *opCache {
	return &opCache{max: max, broker: b, sub: b.Subscribe(opCacheBuffer), m: map[uint64]*cachedOp{}}
}

// feed takes in the transitions delivered since the last call. A lost
// subscription is replaced before the cache is cleared.
func (c *opCache) feed() {
	c.feedMu.Lock()
	defer c.feedMu.Unlock()
	for {
		select {
		case op, ok := <-c.sub.C:
			if !ok {
				c.sub = c.broker.Subscribe(opCacheBuffer)
				c.reset()
				return
			}
			c.publish(op)
		default:
			return
		}
	}
}

// close ends the subscription.
func (c *opCache) close() {
	c.feedMu.Lock()
	defer c.feedMu.Unlock()
	c.sub.Close()
}

// get returns the cached state of id, or nil and the generation to pass to
// offer after reading the store.
func (c *opCache) get(id uint64) (*cachedOp, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[id], c.gen
}

// offer caches a state read from the store (if nothing newer is known and
// nothing was reset since gen) and returns the newest state known.
func (c *opCache) offer(op *engine.Operation, gen uint64) *cachedOp {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur := c.m[op.ID]; cur != nil && cur.op.Version >= op.Version {
		return cur
	}
	e := newCachedOp(op)
	if gen == c.gen {
		c.put(e)
	}
	return e
}

// publish records a committed transition.
func (c *opCache) publish(op *engine.Operation) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur := c.m[op.ID]; cur == nil || cur.op.Version < op.Version {
		c.put(newCachedOp(op))
	}
}

func (c *opCache) put(e *cachedOp) {
	if len(c.m) >= c.max {
		// Forget everything: a full cache is a burst of activity, and
		// the next reads refill it with what is polled.
		c.gen++
		c.m = make(map[uint64]*cachedOp, c.max/4)
	}
	c.m[e.op.ID] = e
}

// reset forgets everything (after a lost subscription).
func (c *opCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.m = map[uint64]*cachedOp{}
}

const (
	opCacheSize = 50_000
	// opCacheBuffer is how many transitions may pass between two reads
	// before the broker drops the subscription (and the cache restarts).
	opCacheBuffer = 8192
)

// cachedOperation reads an operation of a company through the cache.
func (s *Server) cachedOperation(companyID, id uint64) (*cachedOp, error) {
	s.ops.feed()
	e, gen := s.ops.get(id)
	if e == nil || (s.eng.SharedStore() && !e.op.Status.Terminal()) {
		op, err := s.eng.Operation(companyID, id)
		if err != nil {
			return nil, err
		}
		e = s.ops.offer(op, gen)
	}
	if e.op.CompanyID != companyID {
		return nil, engine.NotFound("operation %d not found", id)
	}
	return e, nil
}
