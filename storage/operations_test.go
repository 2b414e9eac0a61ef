package storage

import (
	"slices"
	"testing"
	"time"

	"eventops/engine"
)

var opStatuses = []engine.Status{engine.StatusPending, engine.StatusRunning, engine.StatusCompleted, engine.StatusFailed}

// seedOperations writes n operations over two companies and five events with
// cycling statuses and actions; failed ones carry one of two codes.
func seedOperations(t *testing.T, db *DB, n int) []*engine.Operation {
	t.Helper()
	codes := []engine.Code{engine.CodeCatalogUpsertRejected, engine.CodeShopifyUnavailable}
	var ops []*engine.Operation
	update(t, db, func(tx engine.Tx) error {
		for i := range n {
			id, err := tx.NextID(engine.SeqOperation)
			if err != nil {
				return err
			}
			o := &engine.Operation{
				ID:        id,
				CompanyID: uint64(1 + i%2),
				EventID:   uint64(100 + i%5),
				Action:    engine.Actions[i%3],
				Status:    opStatuses[i%4],
				CreatedAt: time.Unix(int64(i), 0).UTC(),
			}
			if o.Status == engine.StatusFailed {
				o.Error = &engine.OpError{Code: codes[i%7%2], Message: "no"}
			}
			if err := tx.PutOperation(o); err != nil {
				return err
			}
			ops = append(ops, o)
		}
		return nil
	})
	return ops
}

func opMatches(o *engine.Operation, q engine.OperationQuery) bool {
	code := engine.Code("")
	if o.Error != nil {
		code = o.Error.Code
	}
	return (q.CompanyID == 0 || o.CompanyID == q.CompanyID) &&
		(q.EventID == 0 || o.EventID == q.EventID) &&
		(q.Status == "" || o.Status == q.Status) &&
		(q.Action == "" || o.Action == q.Action) &&
		(q.Code == "" || code == q.Code)
}

func TestOperationsPaginationVisitsEachOnceNewestFirst(t *testing.T) {
	t.Parallel()
	db := setup(t)
	ops := seedOperations(t, db, 250)

	queries := map[string]engine.OperationQuery{
		"all":                     {},
		"company":                 {CompanyID: 2},
		"event":                   {EventID: 103},
		"event of other company":  {EventID: 103, CompanyID: 1},
		"status":                  {Status: engine.StatusRunning},
		"company status":          {CompanyID: 1, Status: engine.StatusFailed},
		"action":                  {Action: engine.ActionRefund},
		"company action":          {CompanyID: 2, Action: engine.ActionDelete},
		"code":                    {Code: engine.CodeShopifyUnavailable},
		"company code":            {CompanyID: 1, Code: engine.CodeCatalogUpsertRejected},
		"event status action":     {EventID: 101, Status: engine.StatusPending, Action: engine.ActionSave},
		"status action code":      {Status: engine.StatusFailed, Action: engine.ActionSave, Code: engine.CodeShopifyUnavailable},
		"nothing matches":         {Status: engine.StatusRunning, Code: engine.CodeShopifyUnavailable},
		"company event no status": {CompanyID: 2, EventID: 104, Action: engine.ActionRefund},
	}
	for name, q := range queries {
		for _, limit := range []int{0, 1, 7, 100} {
			var want []uint64
			for i := len(ops) - 1; i >= 0; i-- {
				if opMatches(ops[i], q) {
					want = append(want, ops[i].ID)
				}
			}
			var got []uint64
			calls := 0
			view(t, db, func(tx engine.Tx) error {
				q := q
				q.Limit = limit
				for {
					page, next, err := tx.Operations(q)
					if err != nil {
						return err
					}
					calls++
					if max := clampLimit(limit); len(page) > max {
						t.Fatalf("%s: page of %d, limit %d", name, len(page), max)
					}
					for _, o := range page {
						if !opMatches(o, q) {
							t.Fatalf("%s: operation %d does not match", name, o.ID)
						}
						got = append(got, o.ID)
					}
					if next == 0 {
						return nil
					}
					if next >= q.Before && q.Before != 0 {
						t.Fatalf("%s: cursor %d does not advance past %d", name, next, q.Before)
					}
					q.Before = next
				}
			})
			if !slices.Equal(got, want) {
				t.Errorf("%s, limit %d: got %v, want %v", name, limit, got, want)
			}
		}
	}
}

func TestOperationsScanIsBounded(t *testing.T) {
	t.Parallel()
	db := setup(t)
	// 300 operations of one event; only the oldest one failed.
	update(t, db, func(tx engine.Tx) error {
		for id := uint64(1); id <= 300; id++ {
			o := &engine.Operation{ID: id, CompanyID: 1, EventID: 9, Action: engine.ActionSave, Status: engine.StatusCompleted}
			if id == 1 {
				o.Status, o.Error = engine.StatusFailed, &engine.OpError{Code: engine.CodeRefundRejected}
			}
			if err := tx.PutOperation(o); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, db, func(tx engine.Tx) error {
		q := engine.OperationQuery{EventID: 9, Status: engine.StatusFailed, Limit: 1}
		page, next, err := tx.Operations(q)
		if err != nil {
			return err
		}
		// One call examines at most 20 × limit entries: 300 … 281.
		if len(page) != 0 || next != 281 {
			t.Fatalf("first page = %d operations, cursor %d; want 0 and 281", len(page), next)
		}
		var found []uint64
		for calls := 1; next != 0; calls++ {
			q.Before = next
			if page, next, err = tx.Operations(q); err != nil {
				return err
			}
			for _, o := range page {
				found = append(found, o.ID)
			}
			if calls > 20 {
				t.Fatal("pagination does not end")
			}
		}
		if !slices.Equal(found, []uint64{1}) {
			t.Fatalf("found %v, want [1]", found)
		}
		return nil
	})
}

func TestOperationStatusChangeMovesIndexEntries(t *testing.T) {
	t.Parallel()
	db := setup(t)
	put := func(o *engine.Operation) {
		update(t, db, func(tx engine.Tx) error { return tx.PutOperation(o) })
	}
	active := func() []uint64 {
		var ids []uint64
		view(t, db, func(tx engine.Tx) error {
			ops, err := tx.ActiveOperations()
			for _, o := range ops {
				ids = append(ids, o.ID)
			}
			return err
		})
		return ids
	}
	count := func(q engine.OperationQuery) int {
		var n int
		view(t, db, func(tx engine.Tx) error {
			ops, _, err := tx.Operations(q)
			n = len(ops)
			return err
		})
		return n
	}

	a := &engine.Operation{ID: 5, CompanyID: 1, EventID: 1, Action: engine.ActionSave, Status: engine.StatusPending}
	b := &engine.Operation{ID: 3, CompanyID: 1, EventID: 2, Action: engine.ActionSave, Status: engine.StatusRunning}
	c := &engine.Operation{ID: 4, CompanyID: 2, EventID: 3, Action: engine.ActionRefund, Status: engine.StatusPending}
	put(a)
	put(b)
	put(c)
	if got := active(); !slices.Equal(got, []uint64{3, 4, 5}) {
		t.Fatalf("active = %v, want [3 4 5] (id order across statuses)", got)
	}

	a.Status = engine.StatusRunning
	put(a)
	if n := count(engine.OperationQuery{Status: engine.StatusPending}); n != 1 {
		t.Fatalf("pending after start = %d, want 1", n)
	}
	a.Status = engine.StatusFailed
	a.Error = &engine.OpError{Code: engine.CodeTicketsStructureEmpty}
	put(a)
	c.Status = engine.StatusCompleted
	put(c)
	if got := active(); !slices.Equal(got, []uint64{3}) {
		t.Fatalf("active = %v, want [3]", got)
	}
	for q, want := range map[engine.OperationQuery]int{
		{Status: engine.StatusRunning}:                              1,
		{Status: engine.StatusFailed}:                               1,
		{CompanyID: 1, Status: engine.StatusFailed}:                 1,
		{CompanyID: 1, Status: engine.StatusRunning}:                1,
		{Code: engine.CodeTicketsStructureEmpty}:                    1,
		{CompanyID: 2, Status: engine.StatusPending}:                0,
		{CompanyID: 2, Status: engine.StatusCompleted}:              1,
		{CompanyID: 1, Code: engine.CodeTicketsStructureEmpty}:      1,
		{CompanyID: 2, Code: engine.CodeTicketsStructureEmpty}:      0,
		{EventID: 1, Status: engine.StatusFailed, CompanyID: 1}:     1,
		{EventID: 1, Status: engine.StatusFailed, CompanyID: 2}:     0,
		{Action: engine.ActionRefund, Status: engine.StatusPending}: 0,
	} {
		if n := count(q); n != want {
			t.Errorf("%+v: %d operations, want %d", q, n, want)
		}
	}

	// A retry that clears the error (not allowed by the engine, but the
	// index must follow the record) drops the code entries.
	a.Error = nil
	put(a)
	if n := count(engine.OperationQuery{Code: engine.CodeTicketsStructureEmpty}); n != 0 {
		t.Errorf("code index kept a stale entry")
	}
	view(t, db, func(tx engine.Tx) error {
		got, err := tx.Operation(5)
		if err != nil || got == nil || got.Status != engine.StatusFailed {
			t.Fatalf("operation 5 = %+v, %v", got, err)
		}
		return nil
	})
}

func TestPruneOperationsRemovesOldTerminalOnes(t *testing.T) {
	t.Parallel()
	db := setup(t)
	old := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	recent := old.AddDate(0, 6, 0)
	update(t, db, func(tx engine.Tx) error {
		for _, op := range []*engine.Operation{
			{ID: 1, CompanyID: 1, EventID: 1, Action: engine.ActionSave, Status: engine.StatusFailed,
				Error: &engine.OpError{Code: engine.CodeRefundRejected}, FinishedAt: &old},
			{ID: 2, CompanyID: 1, EventID: 1, Action: engine.ActionSave, Status: engine.StatusCompleted, FinishedAt: &recent},
			{ID: 3, CompanyID: 1, EventID: 1, Action: engine.ActionSave, Status: engine.StatusRunning},
		} {
			if err := tx.PutOperation(op); err != nil {
				return err
			}
		}
		return nil
	})
	var n int
	update(t, db, func(tx engine.Tx) error {
		var err error
		n, err = tx.PruneOperations(old.AddDate(0, 1, 0), 100)
		return err
	})
	if n != 1 {
		t.Fatalf("pruned %d operations, want 1 (only the old terminal one)", n)
	}
	view(t, db, func(tx engine.Tx) error {
		for id, want := range map[uint64]bool{1: false, 2: true, 3: true} {
			got, err := tx.Operation(id)
			if err != nil || (got != nil) != want {
				t.Errorf("operation %d present = %v, want %v (err %v)", id, got != nil, want, err)
			}
		}
		return nil
	})
	// Prune the rest, then no index may hold a key.
	update(t, db, func(tx engine.Tx) error {
		_, err := tx.PruneOperations(recent.AddDate(1, 0, 0), 100)
		return err
	})
	update(t, db, func(etx engine.Tx) error { return etx.(*tx).remove(tbOperations, idKey(3)) })
	if err := db.View(func(etx engine.Tx) error {
		for _, name := range indexBuckets {
			b, err := etx.(*tx).bucket(name)
			if err != nil {
				return err
			}
			if k, _ := b.Cursor().First(); k != nil {
				t.Errorf("index %s still holds %x", name, k)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
