package storage

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	berrors "go.etcd.io/bbolt/errors"

	"eventops/engine"
	"eventops/storage/pgtest"
)

// blockWriter occupies the writer with an Update whose function waits, so
// that the requests queued meanwhile form the next batch. release lets it go;
// the blocking Update's own error is checked.
func blockWriter(t *testing.T, db *DB) (release func()) {
	t.Helper()
	started, unblock, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- db.Update(context.Background(), func(engine.Tx) error {
			close(started)
			<-unblock
			return nil
		})
	}()
	<-started
	return func() {
		close(unblock)
		if err := <-done; err != nil {
			t.Errorf("blocking update: %v", err)
		}
	}
}

// waitQueued waits until n requests wait for the writer.
func waitQueued(db *DB, n int) {
	for len(db.reqs) < n {
		runtime.Gosched()
	}
}

func putVenueFn(id uint64) func(engine.Tx) error {
	return func(tx engine.Tx) error {
		return tx.PutVenue(&engine.Venue{ID: id, CompanyID: 1, Name: fmt.Sprintf("venue %d", id)})
	}
}

func TestUpdateConcurrentCallersAllCommit(t *testing.T) {
	t.Parallel()
	db := setup(t)
	const n = 200
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = db.Update(context.Background(), func(tx engine.Tx) error {
				id, err := tx.NextID(engine.SeqVenue)
				if err != nil {
					return err
				}
				return tx.PutVenue(&engine.Venue{ID: id, CompanyID: 1, Name: "v"})
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
	}
	var got int
	view(t, db, func(tx engine.Tx) error {
		for cursor := ""; ; {
			vs, next, err := tx.Venues(engine.NamedQuery{CompanyID: 1, Cursor: cursor, Limit: 100})
			if err != nil {
				return err
			}
			for i, v := range vs {
				if want := uint64(got + i + 1); v.ID != want {
					t.Fatalf("venue ids not dense: got %d, want %d", v.ID, want)
				}
			}
			got += len(vs)
			if cursor = next; cursor == "" {
				return nil
			}
		}
	})
	if got != n {
		t.Fatalf("%d venues stored, want %d", got, n)
	}
	s, _ := db.Stats()
	if s.Updates != n || s.Commits > n {
		t.Fatalf("stats = %+v", s)
	}
	t.Logf("%d updates in %d commits", s.Updates, s.Commits)
}

func TestUpdateFailingFunctionLeavesBatchIntact(t *testing.T) {
	t.Parallel()
	for _, writesFirst := range []bool{true, false} {
		t.Run(fmt.Sprintf("writes first %v", writesFirst), func(t *testing.T) {
			t.Parallel()
			db := setup(t)
			release := blockWriter(t, db)

			const n, failing = 50, 17
			errFail := errors.New("validation failed")
			var runs atomic.Int64
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i := range n {
				id := uint64(i + 1)
				wg.Go(func() {
					errs[i] = db.Update(context.Background(), func(tx engine.Tx) error {
						runs.Add(1)
						if id == failing && !writesFirst {
							return errFail
						}
						if err := putVenueFn(id)(tx); err != nil {
							return err
						}
						if id == failing {
							return errFail // after writing: the write must not survive
						}
						return nil
					})
				})
			}
			waitQueued(db, n)
			release()
			wg.Wait()

			for i, err := range errs {
				if id := uint64(i + 1); id == failing {
					if err != errFail {
						t.Errorf("failing update: err = %v, want its own error unchanged", err)
					}
				} else if err != nil {
					t.Errorf("update %d: %v", id, err)
				}
			}
			view(t, db, func(tx engine.Tx) error {
				for id := uint64(1); id <= n; id++ {
					v, err := tx.Venue(id)
					if err != nil {
						return err
					}
					if (v != nil) == (id == failing) {
						t.Errorf("venue %d stored = %v", id, v != nil)
					}
				}
				return nil
			})
			if s, _ := db.Stats(); s.Commits != 2 || s.Updates != n {
				t.Errorf("stats = %+v, want 2 commits (the blocker's and one shared by the batch) of %d updates", s, n)
			}
			// A function that fails before writing costs no re-run; one
			// that wrote costs one re-run of those queued before it.
			r := runs.Load()
			if !writesFirst && r != n || writesFirst && (r < n || r >= 2*n) {
				t.Errorf("%d function runs for %d updates", r, n)
			}
		})
	}
}

func TestUpdateManyFailuresStayBounded(t *testing.T) {
	t.Parallel()
	db := setup(t)
	release := blockWriter(t, db)

	const n = 400
	var runs atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		id := uint64(i + 1)
		wg.Go(func() {
			errs[i] = db.Update(context.Background(), func(tx engine.Tx) error {
				runs.Add(1)
				if err := putVenueFn(id)(tx); err != nil {
					return err
				}
				if id%2 == 0 {
					return fmt.Errorf("reject %d", id)
				}
				return nil
			})
		})
	}
	waitQueued(db, n)
	release()
	wg.Wait()

	for i, err := range errs {
		id := i + 1
		if want := fmt.Sprintf("reject %d", id); (id%2 == 0) != (err != nil && err.Error() == want) {
			t.Errorf("update %d: err = %v", id, err)
		}
	}
	view(t, db, func(tx engine.Tx) error {
		for id := uint64(1); id <= n; id++ {
			if v, _ := tx.Venue(id); (v != nil) != (id%2 == 1) {
				t.Errorf("venue %d stored = %v", id, v != nil)
			}
		}
		return nil
	})
	// Without a bound, re-running the prefix after each of 200 failures
	// would cost about 40,000 runs.
	r := runs.Load()
	if r > 4*n {
		t.Errorf("%d function runs for %d updates", r, n)
	}
	s, _ := db.Stats()
	t.Logf("%d function runs, %d commits for %d updates", r, s.Commits, n)
}

func TestUpdateCommitFailureReachesEveryCaller(t *testing.T) {
	t.Parallel()
	if pgtest.Postgres() {
		t.Skip("bbolt's MaxSize makes this commit fail; PostgreSQL's commit failures: TestPostgres*")
	}
	db := setup(t)
	db.bolt.MaxSize = 1 << 20 // set before any request: the writer reads it after a channel receive
	release := blockWriter(t, db)

	const n = 5
	big := strings.Repeat("x", 300<<10)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		id := uint64(i + 1)
		wg.Go(func() {
			errs[i] = db.Update(context.Background(), func(tx engine.Tx) error {
				return tx.PutVenue(&engine.Venue{ID: id, CompanyID: 1, Name: big})
			})
		})
	}
	waitQueued(db, n)
	release()
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, berrors.ErrMaxSizeReached) {
			t.Errorf("update %d: err = %v, want the commit's error", i+1, err)
		}
	}
	update(t, db, putVenueFn(100)) // the writer survives
	view(t, db, func(tx engine.Tx) error {
		if v, _ := tx.Venue(1); v != nil {
			t.Error("a write of the failed commit is visible")
		}
		return nil
	})
}

func TestUpdatePanicBecomesError(t *testing.T) {
	t.Parallel()
	db := setup(t)
	err := db.Update(context.Background(), func(tx engine.Tx) error {
		if err := putVenueFn(1)(tx); err != nil {
			return err
		}
		panic("boom")
	})
	if err == nil || !strings.Contains(err.Error(), "panicked: boom") {
		t.Fatalf("err = %v, want the panic as an error", err)
	}
	update(t, db, putVenueFn(2))
	view(t, db, func(tx engine.Tx) error {
		if v, _ := tx.Venue(1); v != nil {
			t.Error("the panicking function's write survived")
		}
		return nil
	})
}

func TestUpdateCanceledBeforeRunning(t *testing.T) {
	t.Parallel()
	db := setup(t)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := db.Update(ctx, func(engine.Tx) error { panic("ran") }); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled context: err = %v", err)
	}

	release := blockWriter(t, db)
	ctx, cancel = context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- db.Update(ctx, func(engine.Tx) error { panic("ran") }) }()
	waitQueued(db, 1)
	cancel()
	release()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled while queued: err = %v", err)
	}
}

func TestTxUnusableAfterFunctionReturns(t *testing.T) {
	t.Parallel()
	db := setup(t)
	var kept engine.Tx
	update(t, db, func(tx engine.Tx) error { kept = tx; return nil })
	if _, err := kept.Venue(1); !errors.Is(err, errTxDone) {
		t.Fatalf("use after update: err = %v", err)
	}
	view(t, db, func(tx engine.Tx) error { kept = tx; return nil })
	if _, _, err := kept.Operations(engine.OperationQuery{}); !errors.Is(err, errTxDone) {
		t.Fatalf("use after view: err = %v", err)
	}
}

func TestCloseFinishesQueuedUpdates(t *testing.T) {
	t.Parallel()
	db, err := Open(filepath.Join(t.TempDir(), "eventops.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	release := blockWriter(t, db)
	const n = 10
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = db.Update(context.Background(), putVenueFn(uint64(i+1))) })
	}
	waitQueued(db, n)
	closed := make(chan error, 1)
	go func() { closed <- db.Close() }()
	release()
	wg.Wait()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	for i, err := range errs {
		if err != nil {
			t.Errorf("queued update %d: %v", i+1, err)
		}
	}
}
