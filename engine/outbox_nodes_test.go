package engine_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"eventops/engine"
	"eventops/storage"
	"eventops/storage/pgtest"
)

// arrivals is a receiver's record of the deliveries it got, in order.
type arrivals struct {
	mu       sync.Mutex
	ids      []uint64
	in, most atomic.Int64
}

func (a *arrivals) handler(w http.ResponseWriter, r *http.Request) {
	n := a.in.Add(1)
	defer a.in.Add(-1)
	for m := a.most.Load(); n > m && !a.most.CompareAndSwap(m, n); m = a.most.Load() {
	}
	id, _ := strconv.ParseUint(strings.TrimPrefix(r.Header.Get("webhook-id"), "msg_"), 10, 64)
	a.mu.Lock()
	a.ids = append(a.ids, id)
	a.mu.Unlock()
	time.Sleep(5 * time.Millisecond) // a receiver that takes a moment: sends overlap
	w.WriteHeader(http.StatusNoContent)
}

func (a *arrivals) list() []uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]uint64(nil), a.ids...)
}

// Two nodes on one database send one endpoint's deliveries as one node
// does: each once, at most MaxEndpointSends at once, in due order (when a
// delivery arrives, at most MaxEndpointSends-1 of those ahead of it have
// not). Without the endpoint's lock across nodes both nodes sent: some
// deliveries twice, and six at once.
func TestOutboxEndpointIsSentByOneNodeAtATime(t *testing.T) {
	t.Parallel()
	rec := &arrivals{}
	srv := httptest.NewServer(http.HandlerFunc(rec.handler))
	t.Cleanup(srv.Close)
	const n = 200
	engs := outboxNodes(t, srv.URL, n)
	waitFor(t, "every delivery recorded", func() bool {
		var done uint64
		for _, e := range engs {
			done += e.DeliveryCounts().Delivered
		}
		return done >= n
	})
	got := rec.list()
	seen := map[uint64]int{}
	for _, id := range got {
		seen[id]++
	}
	for id, k := range seen {
		if k > 1 {
			t.Errorf("delivery %d received %d times", id, k)
		}
	}
	if len(seen) != n {
		t.Errorf("%d distinct deliveries received, want %d", len(seen), n)
	}
	if m := rec.most.Load(); m > engine.MaxEndpointSends {
		t.Errorf("%d sends at once to the endpoint, want at most %d", m, engine.MaxEndpointSends)
	}
	// In due order: a delivery starts only when every one ahead of it has
	// started, and fewer than MaxEndpointSends are in flight; so when one
	// arrives, at most MaxEndpointSends-1 of those ahead of it have not.
	at := map[uint64]int{}
	for i, id := range got {
		if _, ok := at[id]; !ok {
			at[id] = i
		}
	}
	late := 0
	for id, i := range at {
		behind := 0
		for j, k := range at {
			if j < id && k > i {
				behind++
			}
		}
		if behind >= engine.MaxEndpointSends {
			if late++; late <= 3 {
				t.Logf("delivery %d arrived with %d deliveries ahead of it still to come", id, behind)
			}
		}
	}
	if late > 0 {
		t.Errorf("%d deliveries arrived out of due order (more than %d ahead of them still to come)", late, engine.MaxEndpointSends-1)
	}
}

// outboxNodes queues n deliveries of one completed operation to an
// endpoint at url on a fresh PostgreSQL database, then starts two engines
// (nodes) that send them, each on its own storage.DB.
func outboxNodes(t *testing.T, url string, n int) []*engine.Engine {
	t.Helper()
	dbURL := pgtest.Database(t)
	keys := t.TempDir()
	ctx := context.Background()
	open := func() *storage.DB {
		db, err := storage.OpenPostgres(ctx, dbURL, storage.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	b := &bundle{t: t, db: open()}
	cfg := hookConfig(t, keys, nil) // queued, not sent
	cfg.Store, cfg.Locks, cfg.SharedStore, cfg.Logger, cfg.Retry = b.db, b.db, true, quiet, fastRetry
	b.eng = engine.New(cfg)
	if err := b.eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	b.seed(nil)
	_, op := b.createDate("A", 5)
	b.wait(op.ID)
	ep := b.seedEndpointURL(t, url, engine.EventOperationCompleted)
	b.queueDeliveries(t, ep, op.ID, n)
	stopWithin(t, b.eng, safety)

	var engs []*engine.Engine
	for _, db := range []*storage.DB{b.db, open()} {
		cfg := hookConfig(t, keys, benchSender())
		cfg.Store, cfg.Locks, cfg.SharedStore, cfg.Logger, cfg.Retry = db, db, true, quiet, fastRetry
		engs = append(engs, engine.New(cfg))
	}
	for _, e := range engs {
		if err := e.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { stopWithin(t, e, safety) })
	}
	return engs
}

// The node sending an endpoint's deliveries stops halfway: the other node
// takes the endpoint over and sends the rest.
func TestOutboxAnotherNodeTakesAnEndpointOver(t *testing.T) {
	t.Parallel()
	rec := &arrivals{}
	srv := httptest.NewServer(http.HandlerFunc(rec.handler))
	t.Cleanup(srv.Close)
	const n = 200
	engs := outboxNodes(t, srv.URL, n)
	waitFor(t, "the first deliveries", func() bool { return len(rec.list()) >= 40 })
	sender, other := engs[0], engs[1]
	if sender.DeliveryCounts().Delivered == 0 {
		sender, other = other, sender
	}
	stopWithin(t, sender, safety)
	waitFor(t, "the rest from the other node", func() bool {
		seen := map[uint64]bool{}
		for _, id := range rec.list() {
			seen[id] = true
		}
		return len(seen) == n
	})
	if other.DeliveryCounts().Delivered == 0 {
		t.Error("the other node sent nothing")
	}
}
