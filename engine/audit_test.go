package engine_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"eventops/engine"
	"eventops/storage"
	"eventops/storage/storetest"
)

func TestAuditLogRecordsAndPages(t *testing.T) {
	t.Parallel()
	db, err := storetest.Open(t, filepath.Join(t.TempDir(), "eventops.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	at := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	eng := engine.New(engine.Config{Store: db, Clock: func() time.Time { return at }})
	ctx := context.Background()
	if _, err := eng.RecordAudit(ctx, engine.AuditEntry{Action: " "}); engine.ErrorKind(err) != engine.KindInvalid {
		t.Fatalf("an entry without an action: %v", err)
	}
	for i := range 3 {
		a, err := eng.RecordAudit(ctx, engine.AuditEntry{UserID: 1, Email: "a@example.com", Role: engine.RoleAdmin,
			Action: "operation.cancel", Target: "operation 9", Outcome: "ok", RemoteIP: "10.0.0.1",
			Detail: strings.Repeat("é", 400*(i%2))})
		if err != nil {
			t.Fatal(err)
		}
		if a.ID != uint64(i+1) || !a.At.Equal(at) {
			t.Fatalf("entry %d: id %d at %v", i, a.ID, a.At)
		}
	}
	page, next, err := eng.AuditLog(engine.AuditQuery{Limit: 2})
	if err != nil || len(page) != 2 || page[0].ID != 3 || next == 0 {
		t.Fatalf("first page: %d entries, next %d, %v", len(page), next, err)
	}
	if d := page[1].Detail; len(d) > 503 || !strings.HasSuffix(d, "…") || !strings.HasPrefix(d, "é") {
		t.Fatalf("a long detail is kept whole: %d bytes", len(d))
	}
	rest, next, err := eng.AuditLog(engine.AuditQuery{Before: next, Limit: 2})
	if err != nil || len(rest) != 1 || rest[0].ID != 1 || next != 0 {
		t.Fatalf("last page: %+v, next %d, %v", rest, next, err)
	}
}
