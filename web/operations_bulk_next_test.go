package web

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"eventops/engine"
)

// failsOnce fails each event's first attempt at the phase; later ones (its
// retries) pass.
type failsOnce struct {
	mu   sync.Mutex
	seen map[uint64]bool
}

func (w *failsOnce) Run(_ context.Context, r *engine.PhaseRun) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.seen[r.Op.EventID] {
		return nil
	}
	w.seen[r.Op.EventID] = true
	return engine.Errorf(engine.CodeTicketsStructureEmpty, "nothing to sell")
}

// When a call's reading is filled by skipped operations (failures retried
// already), meta.more comes with meta.next, and calling again with
// before=next goes on past them to the older failure; without it the
// call would read the same skipped ones forever.
func TestBulkRetryGoesOnPastSkippedOnes(t *testing.T) {
	t.Parallel()
	f := setup(t, withWork(engine.PhaseTickets, &failsOnce{seen: map[uint64]bool{}}),
		withEngine(func(c *engine.Config) { c.BulkExamine = 2 }))
	var failed []created
	for range 4 {
		c := f.event(f.keyA)
		f.waitTerminal(c.EventID, c.OpID)
		failed = append(failed, c)
	}
	// The three newest failures are retried one by one (their retries
	// complete): a bulk retry skips them.
	for _, c := range failed[1:] {
		op, err := f.eng.RetryOperation(context.Background(), f.a.ID, c.OpID)
		if err != nil {
			t.Fatal(err)
		}
		f.waitTerminal(c.EventID, op.ID)
	}
	first := decode[bulkAnswer](t, f.do("POST", "/api/v2/operations/retry", f.keyA, nil).expect(t, 202))
	if first.Meta.Count != 0 || !first.Meta.More || first.Meta.Next == 0 {
		t.Fatalf("a call filled with skipped ones: %+v", first.Meta)
	}
	again := decode[bulkAnswer](t, f.do("POST", "/api/v2/operations/retry?before="+strconv.FormatUint(first.Meta.Next, 10), f.keyA, nil).expect(t, 202))
	if again.Meta.Count != 1 || len(again.Data) != 1 || again.Data[0].EventID != failed[0].EventID {
		t.Fatalf("the call going on: %+v %+v", again.Meta, again.Data)
	}
	op, err := f.eng.Operation(f.a.ID, failed[0].OpID)
	if err != nil {
		t.Fatal(err)
	}
	if rs, _ := f.eng.RetriesOf(op); len(rs) != 1 || rs[0] != again.Data[0].ID {
		t.Fatalf("the oldest failure's retries: %v", rs)
	}
	if again.Meta.More {
		t.Fatalf("nothing is left, yet more: %+v", again.Meta)
	}
	f.do("POST", "/api/v2/operations/retry?before=x", f.keyA, nil).expectProblem(t, 422, "validation_error")
}

// countingStore counts the operations its transactions' Operations
// decode: the work a bulk call does, counted rather than timed.
type countingStore struct {
	engine.Store
	decoded *atomic.Int64
}

type countingTx struct {
	engine.Tx
	decoded *atomic.Int64
}

func (t countingTx) Operations(q engine.OperationQuery) ([]*engine.Operation, uint64, error) {
	ops, next, err := t.Tx.Operations(q)
	t.decoded.Add(int64(len(ops)))
	return ops, next, err
}

func (s countingStore) View(fn func(engine.Tx) error) error {
	return s.Store.View(func(tx engine.Tx) error { return fn(countingTx{tx, s.decoded}) })
}

func (s countingStore) Update(ctx context.Context, fn func(engine.Tx) error) error {
	return s.Store.Update(ctx, func(tx engine.Tx) error { return fn(countingTx{tx, s.decoded}) })
}

// A bulk retry over an event with a long history of failures, each the
// retry of the one before, reads that history about once: before, every
// failure read every newer operation of its event (twice), so the reads
// grew with the square of the history.
func TestBulkRetryReadsAnEventsHistoryOnce(t *testing.T) {
	t.Parallel()
	decoded := new(atomic.Int64)
	f := setup(t, withWork(engine.PhaseTickets, failing{}),
		withStore(func(s engine.Store) engine.Store { return countingStore{s, decoded} }))
	const chain = 60
	c := f.event(f.keyA)
	f.waitTerminal(c.EventID, c.OpID)
	last := c.OpID
	for range chain - 1 {
		op, err := f.eng.RetryOperation(context.Background(), f.a.ID, last)
		if err != nil {
			t.Fatal(err)
		}
		f.waitTerminal(c.EventID, op.ID)
		last = op.ID
	}
	decoded.Store(0)
	got := decode[bulkAnswer](t, f.do("POST", "/api/v2/operations/retry", f.keyA, nil).expect(t, 202))
	if got.Meta.Count != 1 || got.Meta.Skipped != chain-1 {
		t.Fatalf("bulk retry of a chain of %d failures: %+v", chain, got.Meta)
	}
	// The scan reads the chain's failures once, the event's history once
	// and one operation per failure to see that nothing was added; a few
	// more settle the retry made. Reading every newer operation per
	// failure decoded about chain² (3,779).
	if n := decoded.Load(); n > 4*chain {
		t.Fatalf("a bulk retry over %d failures of one event decoded %d operations, want at most %d", chain, n, 4*chain)
	}
}
