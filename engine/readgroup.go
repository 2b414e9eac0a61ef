package engine

import (
	"fmt"
	"sync"
)

// A readGroup coalesces reads of one kind (API keys by hash, operations by
// id) across concurrent callers on a shared store, where each read is a
// round trip to the database: callers that need a read while one is on its
// way join the next, and that next read, one statement for all of them
// (storage's `k = any($1)`), is sent when the one on its way returns. The
// writer's group commit does the same for writes.
//
// It is not a cache: a caller's read is always one sent after the caller
// arrived, never one already on its way, so it sees every commit that
// finished before the call began. A key revoked on any node is refused by
// the next call on every node, and an operation read is never older than
// what any node answered before the call began. A caller that finds no
// read on its way sends its own at once (an idle system waits for no
// company); under load a read waits at most for the one on its way.
//
// The values handed out are shared by the callers of one read, like the
// broker's snapshots: they must not be modified.
type readGroup[K comparable, V any] struct {
	// fetch reads the values of keys in one statement, in their order.
	fetch func(keys []K) ([]V, error)
	// parallel is how many reads may be on their way at once; a batch of
	// maxBatch keys leaves at once whatever is on its way.
	parallel, maxBatch int

	mu       sync.Mutex
	inflight int
	next     *readBatch[K, V] // gathering callers: not sent yet
}

type readBatch[K comparable, V any] struct {
	keys    []K
	at      map[K]int
	callers int // joined so far
	done    chan struct{}
	vals    []V
	err     error
}

// Read groups' sizes: one read on its way at a time, as the writer's one
// transaction at a time (on two shared cores it sent fewer statements and
// answered more GETs than two at a time: BenchmarkOperationGet, 0.07 round
// trips a GET against 0.10-0.16); at most 500 keys a statement.
const (
	readParallel = 1
	readMaxBatch = 500
)

func newReadGroup[K comparable, V any](fetch func([]K) ([]V, error)) *readGroup[K, V] {
	return &readGroup[K, V]{fetch: fetch, parallel: readParallel, maxBatch: readMaxBatch}
}

// get reads the value of k in a read sent after get was called.
func (g *readGroup[K, V]) get(k K) (V, error) {
	g.mu.Lock()
	b := g.next
	if b == nil {
		b = &readBatch[K, V]{at: map[K]int{}, done: make(chan struct{})}
		g.next = b
	}
	b.callers++
	i, ok := b.at[k]
	if !ok {
		i = len(b.keys)
		b.at[k] = i
		b.keys = append(b.keys, k)
	}
	if g.inflight < g.parallel || len(b.keys) >= g.maxBatch {
		g.next = nil
		g.inflight++
		g.mu.Unlock()
		g.run(b)
	} else {
		g.mu.Unlock()
		<-b.done
	}
	if b.err != nil {
		var zero V
		return zero, b.err
	}
	return b.vals[i], nil
}

// run sends b's read and answers its callers, then starts the batch that
// gathered meanwhile, if any, in a goroutine of its own (the caller that
// sent b has its answer and goes on).
func (g *readGroup[K, V]) run(b *readBatch[K, V]) {
	b.vals, b.err = g.safeFetch(b.keys)
	if b.err == nil && len(b.vals) != len(b.keys) {
		b.err = fmt.Errorf("read %d values for %d keys", len(b.vals), len(b.keys))
	}
	close(b.done)
	g.mu.Lock()
	next := g.next
	if next == nil {
		g.inflight--
		g.mu.Unlock()
		return
	}
	g.next = nil
	g.mu.Unlock()
	go g.run(next)
}

// safeFetch is fetch with a panic turned into the batch's error, so that
// the callers waiting on it are answered.
func (g *readGroup[K, V]) safeFetch(keys []K) (vals []V, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("read of %d keys panicked: %v", len(keys), p)
		}
	}()
	return g.fetch(keys)
}
