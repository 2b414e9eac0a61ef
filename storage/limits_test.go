package storage

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"eventops/storage/pgtest"
)

// Two stores on one database reserving blocks of one key's window at once
// are granted, together, exactly the limit: never more, and none stranded
// once both ask until refused. Another window and another key have their
// own budgets.
func TestPostgresRateBudgetIsSharedByStores(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	a, b := openPG(t, url), openPG(t, url)
	const limit = 300
	var granted atomic.Int64
	var wg sync.WaitGroup
	for _, db := range []*DB{a, b, a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				got, used, err := db.ReserveRate(context.Background(), "api:1", 1000, limit, 15)
				if err != nil {
					t.Error(err)
					return
				}
				if got == 0 {
					return
				}
				if got < 0 || got > 15 || used > limit {
					t.Errorf("granted %d of a block of 15, %d of %d reserved", got, used, limit)
				}
				granted.Add(int64(got))
			}
		}()
	}
	wg.Wait()
	if g := granted.Load(); g != limit {
		t.Errorf("granted %d in all, want the limit %d", g, limit)
	}
	if got, used, err := b.ReserveRate(context.Background(), "api:1", 1001, limit, 15); got != 15 || used != 15 || err != nil {
		t.Errorf("next window: granted %d (%v), want a whole block", got, err)
	}
	if got, _, err := a.ReserveRate(context.Background(), "api:2", 1000, limit, 15); got != 15 || err != nil {
		t.Errorf("another key: granted %d (%v), want a whole block", got, err)
	}
	// Near the end of the budget a block shrinks to half of what is left.
	if got, _, _ := a.ReserveRate(context.Background(), "api:3", 1000, 10, 8); got != 5 {
		t.Errorf("first block of 8 of a limit of 10: granted %d, want 5 (half)", got)
	}
}

// The sign-in buckets are shared: attempts on two stores count together,
// a refund gives an attempt back, and a refused attempt takes nothing.
func TestPostgresLoginBucketsAreSharedByStores(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	a, b := openPG(t, url), openPG(t, url)
	ctx := context.Background()
	keys := []string{"ip:192.0.2.1", "email:a@example.com"}
	for i, db := range []*DB{a, b, a} {
		if wait, err := db.TakeLogin(ctx, keys, 3, time.Hour); wait != 0 || err != nil {
			t.Fatalf("attempt %d: wait %v (%v), want allowed", i+1, wait, err)
		}
	}
	wait, err := b.TakeLogin(ctx, keys, 3, time.Hour)
	if err != nil || wait < 59*time.Minute || wait > time.Hour {
		t.Fatalf("4th attempt of a burst of 3: wait %v (%v), want about an hour", wait, err)
	}
	// Another email from the same IP is refused too (the IP's bucket).
	if wait, _ := a.TakeLogin(ctx, []string{"ip:192.0.2.1", "email:b@example.com"}, 3, time.Hour); wait == 0 {
		t.Error("the IP's bucket is empty, yet another email was allowed")
	}
	if err := a.RefundLogin(ctx, keys, 3, time.Hour); err != nil {
		t.Fatal(err)
	}
	if wait, err := b.TakeLogin(ctx, keys, 3, time.Hour); wait != 0 || err != nil {
		t.Errorf("after a refund: wait %v (%v), want allowed", wait, err)
	}
}

// On bbolt the limits are the web layer's, in memory.
func TestBboltHasNoSharedLimits(t *testing.T) {
	t.Parallel()
	db, err := Open(filepath.Join(t.TempDir(), "eventops.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, _, err := db.ReserveRate(context.Background(), "api:1", 1, 10, 1); !errors.Is(err, ErrNotShared) {
		t.Errorf("ReserveRate on bbolt: %v, want ErrNotShared", err)
	}
	if _, err := db.TakeLogin(context.Background(), []string{"ip:x"}, 1, time.Second); !errors.Is(err, ErrNotShared) {
		t.Errorf("TakeLogin on bbolt: %v, want ErrNotShared", err)
	}
}

// Attempts naming the same buckets in either order, at once on two stores,
// neither deadlock nor take more than the buckets hold.
func TestPostgresLoginBucketsUnderConcurrentAttempts(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	a, b := openPG(t, url), openPG(t, url)
	const burst = 10
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for i := range 8 {
		db, keys := a, []string{"ip:192.0.2.9", "email:c@example.com"}
		if i%2 == 1 {
			db, keys = b, []string{"email:c@example.com", "ip:192.0.2.9"}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				wait, err := db.TakeLogin(context.Background(), keys, burst, time.Hour)
				if err != nil {
					t.Error(err)
					return
				}
				if wait == 0 {
					allowed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if n := allowed.Load(); n != burst {
		t.Errorf("%d of 40 attempts allowed, want the burst of %d", n, burst)
	}
}
