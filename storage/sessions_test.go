package storage

import (
	"bytes"
	"testing"
	"time"

	"eventops/engine"
)

// Sessions are found by hash, revoked together when their user goes, and
// pruned by their absolute expiry only.
func TestSessions(t *testing.T) {
	t.Parallel()
	db := setup(t)
	t0 := time.Date(2026, 12, 5, 3, 0, 0, 0, time.UTC)
	mk := func(h byte, user uint64, expires time.Time) *engine.StaffSession {
		return &engine.StaffSession{Hash: bytes.Repeat([]byte{h}, 32), UserID: user, Created: t0, Seen: t0, Expires: expires}
	}
	a, b, c := mk(1, 7, t0.Add(time.Hour)), mk(2, 7, t0.Add(3*time.Hour)), mk(3, 8, t0.Add(2*time.Hour))
	update(t, db, func(tx engine.Tx) error {
		for _, s := range []*engine.StaffSession{a, b, c} {
			if err := tx.PutSession(s); err != nil {
				return err
			}
		}
		// A later Seen rewrites the record in place.
		a.Seen = t0.Add(time.Minute)
		return tx.PutSession(a)
	})
	view(t, db, func(tx engine.Tx) error {
		got, err := tx.Session(a.Hash)
		if err != nil || got == nil || got.UserID != 7 || !got.Seen.Equal(a.Seen) {
			t.Fatalf("session a: %+v, %v", got, err)
		}
		if got, _ := tx.Session(bytes.Repeat([]byte{9}, 32)); got != nil {
			t.Fatalf("an unknown hash found %+v", got)
		}
		return nil
	})
	update(t, db, func(tx engine.Tx) error {
		n, err := tx.DeleteUserSessions(7)
		if err != nil || n != 2 {
			t.Fatalf("deleted %d sessions of user 7 (%v), want 2", n, err)
		}
		n, err = tx.PruneSessions(t0.Add(90*time.Minute), 10)
		if err != nil || n != 0 {
			t.Fatalf("pruned %d sessions before c expires (%v)", n, err)
		}
		n, err = tx.PruneSessions(t0.Add(150*time.Minute), 10)
		if err != nil || n != 1 {
			t.Fatalf("pruned %d sessions after c expired (%v), want 1", n, err)
		}
		return tx.DeleteSession(a.Hash) // already gone: no error
	})
	view(t, db, func(tx engine.Tx) error {
		for _, s := range []*engine.StaffSession{a, b, c} {
			if got, _ := tx.Session(s.Hash); got != nil {
				t.Fatalf("session %x survived", s.Hash[:1])
			}
		}
		return nil
	})
	if err := db.Check(); err != nil {
		t.Fatal(err)
	}
}
