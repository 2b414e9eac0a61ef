package web

import (
	"context"
	"strconv"
	"sync"
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
