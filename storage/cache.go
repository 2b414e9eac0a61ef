package storage

import (
	"bytes"
	"fmt"
	"sync"

	"eventops/engine"
)

// caches are the decoded records a DB keeps for the tables every phase of
// an operation reads again (the event, its company, its ticket structures).
type caches struct {
	venues     *recordCache[engine.Venue]
	events     *recordCache[engine.Event]
	companies  *recordCache[engine.Company]
	structures *recordCache[engine.TicketStructure]
}

// cacheSize bounds each cache (entries; a few KiB each).
const cacheSize = 4096

func newCaches() *caches {
	return &caches{
		venues:     newRecordCache(cacheSize, (*engine.Venue).Clone),
		events:     newRecordCache(cacheSize, (*engine.Event).Clone),
		companies:  newRecordCache(cacheSize, (*engine.Company).Clone),
		structures: newRecordCache(cacheSize, (*engine.TicketStructure).Clone),
	}
}

// A recordCache keeps the decoded value of records next to the exact bytes
// they were decoded from. A read whose stored bytes equal the cached ones
// gets a deep copy of the cached value instead of decoding the JSON again;
// any change to a record changes its bytes, so the cache never answers
// stale, whatever transaction (committed or not) wrote them. Comparing a
// few hundred bytes and copying a struct costs a fraction of decoding it.
type recordCache[T any] struct {
	clone func(*T) *T
	max   int

	mu sync.Mutex
	m  map[uint64]cached[T]
}

type cached[T any] struct {
	raw []byte // a copy: bbolt's bytes live only as long as their transaction
	v   *T     // never handed out
}

func newRecordCache[T any](max int, clone func(*T) *T) *recordCache[T] {
	return &recordCache[T]{clone: clone, max: max, m: map[uint64]cached[T]{}}
}

// load returns a copy of the value decoded from raw, or nil.
func (c *recordCache[T]) load(id uint64, raw []byte) *T {
	c.mu.Lock()
	e, ok := c.m[id]
	c.mu.Unlock()
	if !ok || !bytes.Equal(e.raw, raw) {
		return nil
	}
	return c.clone(e.v)
}

// store remembers v as the value of raw; neither may be changed afterwards.
func (c *recordCache[T]) store(id uint64, raw []byte, v *T) {
	e := cached[T]{raw: raw, v: v}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[id]; !ok && len(c.m) >= c.max {
		for k := range c.m { // an arbitrary entry: map order is random
			delete(c.m, k)
			break
		}
	}
	c.m[id] = e
}

// getCached loads one record by id through c; (nil, nil) when it does not
// exist.
func getCached[T any](t *tx, tb table, c *recordCache[T], id uint64) (*T, error) {
	b, err := t.bucket(tb.name)
	if err != nil {
		return nil, err
	}
	pk := idKey(id)
	v := b.Get(pk)
	if v == nil {
		return nil, nil
	}
	if out := c.load(id, v); out != nil {
		return out, nil
	}
	out, err := decode[T](tb, pk, v)
	if err != nil {
		return nil, err
	}
	c.store(id, bytes.Clone(v), c.clone(out))
	return out, nil
}

// putCached writes a record by id and remembers it in c, so that the reads
// that follow a write (the next phase reading what the last one wrote) need
// not decode it. What it remembers is a copy of v, not a decoding of the
// bytes: v must come back from JSON as it went in, as the records cached
// here do (times in UTC, no empty slice or map behind an omitempty tag).
// The API renders what could differ (an empty by_day) the same either way.
func putCached[T any](t *tx, tb table, c *recordCache[T], id uint64, v *T, entries []entry) error {
	if id == 0 {
		return fmt.Errorf("store %s: id is 0", tb.noun)
	}
	pk := idKey(id)
	val, err := encodeRecord(entries, v)
	if err != nil {
		return fmt.Errorf("store %s: %w", describe(tb, pk), err)
	}
	if err := t.putRecord(tb, pk, val, entries); err != nil {
		return err
	}
	// Should the transaction roll back, the file keeps other bytes, and
	// the entry is never used.
	c.store(id, val, c.clone(v))
	return nil
}
