package storage

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"eventops/storage/pgtest"
)

// next waits for the listener's next notification.
func next(t *testing.T, l *Listener) Notification {
	t.Helper()
	select {
	case n, ok := <-l.C:
		if !ok {
			t.Fatal("listener closed")
		}
		return n
	case <-time.After(30 * time.Second):
		t.Fatal("no notification within 30s")
	}
	return Notification{}
}

func waitReady(t *testing.T, l *Listener) {
	t.Helper()
	select {
	case <-l.Ready:
	case <-time.After(30 * time.Second):
		t.Fatal("listener not ready within 30s")
	}
}

// A notification sent by one node reaches the listener of another on the
// same database, on its channel only; a listener whose connection is
// terminated comes back and says Resync before what is sent afterwards;
// its C is closed when its context ends.
func TestPostgresNotifyListen(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	a, b := openPG(t, url), openPG(t, url)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := a.Listen(ctx, "eventops_test", "eventops_other")
	waitReady(t, l)
	if err := b.Notify(ctx, "eventops_unheard", "x"); err != nil {
		t.Fatal(err)
	}
	if err := b.Notify(ctx, "eventops_test", "one"); err != nil {
		t.Fatal(err)
	}
	if n := next(t, l); n != (Notification{Channel: "eventops_test", Payload: "one"}) {
		t.Fatalf("got %+v", n)
	}

	if n := pgtest.Terminate(t, url, ListenerApplicationName); n != 1 {
		t.Fatalf("terminated %d listener connections, want 1", n)
	}
	if n := next(t, l); !n.Resync {
		t.Fatalf("after the connection was lost: %+v, want a resync", n)
	}
	if err := b.Notify(ctx, "eventops_other", "two"); err != nil {
		t.Fatal(err)
	}
	if n := next(t, l); n != (Notification{Channel: "eventops_other", Payload: "two"}) {
		t.Fatalf("got %+v", n)
	}

	cancel()
	for range l.C { // drains to the close
	}
}

// A payload PostgreSQL would refuse is refused before it is sent, with a
// typed error, on both stores.
func TestNotifyRefusesLongPayloads(t *testing.T) {
	t.Parallel()
	db, err := Open(filepath.Join(t.TempDir(), "eventops.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	long := strings.Repeat("x", MaxNotifyPayload+1)
	if err := db.Notify(context.Background(), "c", long); !errors.Is(err, ErrPayloadTooLong) {
		t.Fatalf("Notify(8000 bytes) = %v, want ErrPayloadTooLong", err)
	}
	if err := db.Notify(context.Background(), "c", "short"); err != nil {
		t.Fatalf("Notify on bbolt = %v, want nil", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := db.Listen(ctx, "c")
	<-l.Ready
	cancel()
	if _, ok := <-l.C; ok {
		t.Fatal("a bbolt listener delivered something")
	}
}
