package storage

import (
	"testing"
	"time"

	"eventops/engine"
)

func TestAuditEntriesNewestFirstInPages(t *testing.T) {
	t.Parallel()
	db := setup(t)
	view(t, db, func(tx engine.Tx) error {
		got, next, err := tx.(engine.AuditTx).AuditEntries(engine.AuditQuery{})
		if err != nil || len(got) != 0 || next != 0 {
			t.Fatalf("empty log: %v %d %v", got, next, err)
		}
		return nil
	})
	at := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	for i := 1; i <= 5; i++ {
		update(t, db, func(tx engine.Tx) error {
			id, err := tx.NextID(engine.SeqAudit)
			if err != nil {
				return err
			}
			return tx.(engine.AuditTx).PutAudit(&engine.AuditEntry{ID: id, At: at, Email: "a@example.com",
				Action: "operation.cancel", Target: "operation 7", Outcome: "ok", RemoteIP: "127.0.0.1"})
		})
	}
	var ids []uint64
	var before uint64
	for {
		var page []*engine.AuditEntry
		var next uint64
		view(t, db, func(tx engine.Tx) error {
			var err error
			page, next, err = tx.(engine.AuditTx).AuditEntries(engine.AuditQuery{Before: before, Limit: 2})
			return err
		})
		for _, a := range page {
			ids = append(ids, a.ID)
			if a.Email != "a@example.com" || a.RemoteIP != "127.0.0.1" || !a.At.Equal(at) {
				t.Fatalf("entry %d read back as %+v", a.ID, a)
			}
		}
		if next == 0 {
			break
		}
		before = next
	}
	if want := []uint64{5, 4, 3, 2, 1}; len(ids) != len(want) || ids[0] != 5 || ids[4] != 1 {
		t.Fatalf("pages gave %v, want %v", ids, want)
	}
}
