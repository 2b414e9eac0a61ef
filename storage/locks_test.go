package storage

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"eventops/storage/pgtest"
)

// Two nodes on one database: a lock one holds is refused to the other, a
// waiting Lock gets it once it is let go, and locks of other names are
// independent.
func TestLocksHoldAcrossNodes(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	a, b := openPG(t, url), openPG(t, url)
	ctx := context.Background()

	la, ok, err := a.TryLock(ctx, "retention")
	if err != nil || !ok {
		t.Fatalf("node A TryLock = %v, %v; want it held", ok, err)
	}
	if _, ok, err := b.TryLock(ctx, "retention"); err != nil || ok {
		t.Fatalf("node B TryLock of a lock A holds = %v, %v; want refused", ok, err)
	}
	if _, ok, err := a.TryLock(ctx, "retention"); err != nil || ok {
		t.Fatalf("a second TryLock on node A = %v, %v; want refused (the session lock is reentrant: the process must not be)", ok, err)
	}
	other, ok, err := b.TryLock(ctx, "reconcile:7")
	if err != nil || !ok {
		t.Fatalf("node B TryLock of another name = %v, %v", ok, err)
	}
	other.Unlock()

	got := make(chan error, 1)
	go func() {
		l, err := b.Lock(ctx, "retention")
		if err == nil {
			defer l.Unlock()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("node B's Lock returned (%v) while A holds it", err)
	case <-time.After(300 * time.Millisecond):
	}
	la.Unlock()
	la.Unlock() // harmless
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("node B's Lock after A let go: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("node B's Lock still waits after A let go")
	}

	wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	lb, err := b.Lock(ctx, "seats:1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Lock(wctx, "seats:1"); err == nil {
		t.Fatal("node A's Lock returned while B holds it and its context ended")
	}
	lb.Unlock()
	la2, ok, err := a.TryLock(ctx, "seats:1")
	if err != nil || !ok {
		t.Fatalf("node A TryLock after B let go and A's wait was cancelled = %v, %v", ok, err)
	}
	la2.Unlock()
}

// A lock whose connection the database ended is lost: Lost closes, and
// another node may take it.
func TestLockLostWithItsConnection(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	a, b := openPG(t, url), openPG(t, url)
	ctx := context.Background()
	la, ok, err := a.TryLock(ctx, "reconcile:1")
	if err != nil || !ok {
		t.Fatalf("TryLock = %v, %v", ok, err)
	}
	defer la.Unlock()
	select {
	case <-la.Lost():
		t.Fatal("lost before anything happened")
	default:
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `select count(pg_terminate_backend(pid)) from pg_stat_activity
		where application_name = 'eventops locks' and datname = current_database()`).Scan(&n); err != nil || n == 0 {
		t.Fatalf("terminate the locks' connection: %d, %v", n, err)
	}
	select {
	case <-la.Lost():
	case <-time.After(10 * time.Second):
		t.Fatal("Lost not closed 10 s after the connection was ended")
	}
	lb, ok, err := b.TryLock(ctx, "reconcile:1")
	if err != nil || !ok {
		t.Fatalf("node B TryLock after A lost it = %v, %v", ok, err)
	}
	lb.Unlock()
	// Once its holder lets the lost lock go, A takes it again on a new
	// connection.
	la.Unlock()
	la2, ok, err := a.TryLock(ctx, "reconcile:1")
	if err != nil || !ok {
		t.Fatalf("node A TryLock after reconnecting = %v, %v", ok, err)
	}
	la2.Unlock()
}

// On bbolt the locks are the process's: a held name is refused until let go.
func TestLocksOnBolt(t *testing.T) {
	t.Parallel()
	db, err := Open(filepath.Join(t.TempDir(), "eventops.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	l, ok, err := db.TryLock(ctx, "retention")
	if err != nil || !ok {
		t.Fatalf("TryLock = %v, %v", ok, err)
	}
	if _, ok, _ := db.TryLock(ctx, "retention"); ok {
		t.Fatal("a held lock was taken twice")
	}
	if l.Lost() != nil {
		t.Fatal("a bbolt lock can be lost")
	}
	l.Unlock()
	l2, err := db.Lock(ctx, "retention")
	if err != nil {
		t.Fatal(err)
	}
	l2.Unlock()
}
