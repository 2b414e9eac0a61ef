package web

import (
	"context"
	"net/url"
	"sync"
	"testing"
	"time"

	"eventops/engine"
	"eventops/web/client"
)

// bulkAnswer is the body of a bulk retry or cancel.
type bulkAnswer struct {
	Data []client.Operation `json:"data"`
	Meta struct {
		Count   int    `json:"count"`
		Skipped int    `json:"skipped"`
		More    bool   `json:"more"`
		Next    uint64 `json:"next"`
	} `json:"meta"`
}

// A bulk retry by filter retries every failure of the key's own company
// that the filters select, once: calling again skips the ones already
// retried; another company's failures are never touched. GET
// /operations previews the same set with the same filters.
func TestBulkRetryByFilter(t *testing.T) {
	t.Parallel()
	f := setup(t, withWork(engine.PhaseTickets, failing{}))
	var failed []created
	for range 3 {
		c := f.event(f.keyA)
		f.waitTerminal(c.EventID, c.OpID)
		failed = append(failed, c)
	}
	other := f.event(f.keyB)
	f.waitTerminal(other.EventID, other.OpID, f.keyB)

	from := failed[0].Event.CreatedAt.Add(-time.Second).UTC().Format(time.RFC3339)
	filter := "?filter[code]=TICKETS_STRUCTURE_EMPTY&filter[created_at][from]=" + url.QueryEscape(from)
	if n := f.count("/api/v2/operations"+filter, f.keyA); n != 3 {
		t.Fatalf("the preview lists %d operations, want 3", n)
	}
	if n := f.count("/api/v2/operations?filter[created_at][to]="+url.QueryEscape(from), f.keyA); n != 0 {
		t.Fatalf("operations created before %s: %d, want 0", from, n)
	}

	r := f.do("POST", "/api/v2/operations/retry"+filter, f.keyA, nil).expect(t, 202)
	got := decode[bulkAnswer](t, r)
	if got.Meta.Count != 3 || got.Meta.Skipped != 0 || got.Meta.More || len(got.Data) != 3 {
		t.Fatalf("first bulk retry: %+v", got.Meta)
	}
	for _, op := range got.Data {
		if op.Action != "save" || op.Status == "failed" && op.Error.Code != "TICKETS_STRUCTURE_EMPTY" {
			t.Fatalf("a new operation: %+v", op)
		}
		f.waitTerminal(op.EventID, op.ID)
	}

	// Again: the three originals are skipped (already retried); their
	// retries, which failed too, are retried once each.
	again := decode[bulkAnswer](t, f.do("POST", "/api/v2/operations/retry"+filter, f.keyA, nil).expect(t, 202))
	if again.Meta.Count != 3 || again.Meta.Skipped != 3 {
		t.Fatalf("second bulk retry: %+v", again.Meta)
	}
	for _, c := range failed {
		op, err := f.eng.Operation(f.a.ID, c.OpID)
		if err != nil {
			t.Fatal(err)
		}
		if rs, _ := f.eng.RetriesOf(op); len(rs) != 1 {
			t.Fatalf("operation %d was retried %d times, want once", c.OpID, len(rs))
		}
	}
	// Company B's failure is not company A's to retry.
	b, _ := f.eng.Operation(f.b.ID, other.OpID)
	if rs, _ := f.eng.RetriesOf(b); len(rs) != 0 {
		t.Fatalf("another company's failure was retried: %v", rs)
	}

	// At most the limit per call; meta.more says there is more.
	for _, op := range again.Data {
		f.waitTerminal(op.EventID, op.ID)
	}
	res, err := f.eng.BulkRetry(context.Background(), engine.OperationQuery{CompanyID: f.a.ID, Limit: 2})
	if err != nil || len(res.Operations) != 2 || !res.More {
		t.Fatalf("a bulk retry limited to 2 of 3: %d, more %v, %v", len(res.Operations), res.More, err)
	}
}

// Bad bulk input is a clear error and changes nothing.
func TestBulkRejectsBadFilters(t *testing.T) {
	t.Parallel()
	f := setup(t, withWork(engine.PhaseTickets, failing{}))
	c := f.event(f.keyA)
	f.waitTerminal(c.EventID, c.OpID)
	for _, tc := range []struct {
		query  string
		status int
		typ    string
	}{
		{"?filter[status]=completed", 422, "validation_error"},
		{"?filter[created_at][from]=yesterday", 422, "validation_error"},
		{"?filter[created_at][from]=2026-12-05T10:00:00Z&filter[created_at][to]=2026-12-05T09:00:00Z", 422, "validation_error"},
		{"?filter[company]=2", 400, "unpermitted_parameters"},
		{"?page[size]=5", 400, "unpermitted_parameters"},
	} {
		f.do("POST", "/api/v2/operations/retry"+tc.query, f.keyA, nil).expectProblem(t, tc.status, tc.typ)
	}
	f.do("POST", "/api/v2/operations/retry", f.keyRO, nil).expect(t, 403)
	f.do("POST", "/api/v2/operations/retry", "", nil).expect(t, 401)
	op, _ := f.eng.Operation(f.a.ID, c.OpID)
	if rs, _ := f.eng.RetriesOf(op); len(rs) != 0 {
		t.Fatalf("a refused bulk retry retried %v", rs)
	}
}

// A bulk cancel asks every pending or running operation selected to
// cancel; they end failed with OPERATION_CANCELED.
func TestBulkCancelByFilter(t *testing.T) {
	t.Parallel()
	g := newGate(engine.TicketsWork{})
	f := setup(t, withWork(engine.PhaseTickets, g))
	t.Cleanup(g.open)
	a, b := f.event(f.keyA), f.event(f.keyA)
	waitStarted(t, g)
	got := decode[bulkAnswer](t, f.do("POST", "/api/v2/operations/cancel?filter[action]=save", f.keyA, nil).expect(t, 202))
	if got.Meta.Count != 2 {
		t.Fatalf("bulk cancel: %+v", got.Meta)
	}
	g.open()
	for _, c := range []created{a, b} {
		if op := f.waitTerminal(c.EventID, c.OpID); op.Error == nil || op.Error.Code != "OPERATION_CANCELED" {
			t.Fatalf("operation %d after the bulk cancel: %+v", c.OpID, op)
		}
	}
	again := decode[bulkAnswer](t, f.do("POST", "/api/v2/operations/cancel", f.keyA, nil).expect(t, 202))
	if again.Meta.Count != 0 {
		t.Fatalf("a second bulk cancel acted on %d", again.Meta.Count)
	}
}

// Two bulk retries racing over the same failures retry each failure once.
func TestBulkRetriesRacingRetryOnce(t *testing.T) {
	t.Parallel()
	f := setup(t, withWork(engine.PhaseTickets, failing{}))
	var failed []created
	for range 4 {
		c := f.event(f.keyA)
		f.waitTerminal(c.EventID, c.OpID)
		failed = append(failed, c)
	}
	var wg sync.WaitGroup
	counts := make([]int, 4)
	for i := range counts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := f.eng.BulkRetry(context.Background(), engine.OperationQuery{CompanyID: f.a.ID, Status: engine.StatusFailed})
			if err != nil {
				t.Error(err)
			}
			counts[i] = len(res.Operations)
		}()
	}
	wg.Wait()
	total := 0
	for _, n := range counts {
		total += n
	}
	for _, c := range failed {
		op, _ := f.eng.Operation(f.a.ID, c.OpID)
		if rs, _ := f.eng.RetriesOf(op); len(rs) != 1 {
			t.Fatalf("operation %d retried %d times by racing bulk retries, want once", c.OpID, len(rs))
		}
	}
	if total < 4 {
		t.Fatalf("the racing calls made %d retries of 4 failures", total)
	}
}
