package main

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"eventops/engine"
	"eventops/storage"
	"eventops/storage/pgtest"
	"eventops/web/metrics"
)

// Retention runs on one node at a time: while another node on the same
// database holds its lock, a round prunes nothing; once it is let go, the
// next round prunes.
func TestRetentionRunsOnOneNodeAtATime(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	ctx := context.Background()
	a, err := storage.OpenPostgres(ctx, url, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := storage.OpenPostgres(ctx, url, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var mu sync.Mutex
	now := time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	meter := metrics.New()
	eng := engine.New(engine.Config{Store: a, SharedStore: true, Locks: a, Logger: quiet(), Observer: meter, Clock: clock})
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer eng.Stop(5 * time.Second)
	co, err := eng.CreateCompany(ctx, "A", nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := eng.CreateVenue(ctx, co.ID, engine.VenueInput{Name: "Hall", TimeZone: "UTC"})
	if err != nil {
		t.Fatal(err)
	}
	tt, err := eng.CreateTicketType(ctx, co.ID, engine.TicketTypeInput{Name: "Seat"})
	if err != nil {
		t.Fatal(err)
	}
	var in struct {
		Event engine.EventInput `json:"event"`
	}
	if err := json.Unmarshal([]byte(dateEvent(v.ID, tt.ID)), &in); err != nil {
		t.Fatal(err)
	}
	const n = 3
	for range n {
		_, op, err := eng.CreateEvent(ctx, co.ID, in.Event)
		if err != nil {
			t.Fatal(err)
		}
		waitTerminal(t, eng, co.ID, op.ID)
	}
	retention := 90 * 24 * time.Hour
	mu.Lock()
	now = now.Add(retention + 24*time.Hour)
	mu.Unlock()

	other, ok, err := b.TryLock(ctx, "retention")
	if err != nil || !ok {
		t.Fatalf("the other node's TryLock = %v, %v", ok, err)
	}
	pruneOnce(ctx, eng, retention, meter, quiet())
	if got := metricValue(t, meter, "eventops_operations_pruned_total", nil); got != 0 {
		t.Fatalf("pruned %v operations while another node held retention's lock", got)
	}
	other.Unlock()
	pruneOnce(ctx, eng, retention, meter, quiet())
	if got := metricValue(t, meter, "eventops_operations_pruned_total", nil); got != n {
		t.Fatalf("eventops_operations_pruned_total = %v once the lock was free, want %d", got, n)
	}
}
