package web

import (
	"context"
	"errors"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"eventops/engine"
)

// BenchmarkHeapAtMaxPending fills a whole server (engine, API caches,
// broker) to its bound on unfinished operations with the workers held, as
// a burst of POST /events would, and reports the heap in use at the bound
// (heap-MiB, after a GC, against the idle server: heap-delta-MiB) and per
// pending operation (bytes/pending), then checks that the next save is
// refused. The bound is engine.DefaultMaxPending unless
// EVENTOPS_BENCH_PENDING says otherwise.
//
//	go test ./web -run '^$' -bench HeapAtMaxPending -benchtime 1x
func BenchmarkHeapAtMaxPending(b *testing.B) {
	bound := engine.DefaultMaxPending
	if env := os.Getenv("EVENTOPS_BENCH_PENDING"); env != "" {
		n, err := strconv.Atoi(env)
		if err != nil || n < 1 {
			b.Fatalf("EVENTOPS_BENCH_PENDING: %q", env)
		}
		bound = n
	}
	for range b.N {
		release := make(chan struct{})
		held := workFunc(func(ctx context.Context, r *engine.PhaseRun) error {
			select {
			case <-release:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		f := setup(b, withWork(engine.PhaseTickets, held), withMaxPending(bound))
		v, tt := f.venue(f.keyA), f.ticketType(f.keyA)
		in := plainEvent(v, tt)
		idle := heapInUse()

		start := time.Now()
		var next atomic.Int64
		var wg sync.WaitGroup
		for range 128 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= int64(bound) {
					if _, _, err := f.eng.CreateEvent(context.Background(), f.a.ID, in); err != nil {
						b.Errorf("create: %v", err)
						return
					}
				}
			}()
		}
		wg.Wait()
		fill := time.Since(start)
		f.srv.ops.feed() // what the API cache holds after reads resume
		full := heapInUse()
		if _, _, err := f.eng.CreateEvent(context.Background(), f.a.ID, in); !errors.Is(err, engine.ErrOverloaded) {
			b.Fatalf("create past the bound: %v, want ErrOverloaded", err)
		}
		b.ReportMetric(float64(full)/(1<<20), "heap-MiB")
		b.ReportMetric(float64(full-idle)/(1<<20), "heap-delta-MiB")
		b.ReportMetric(float64(full-idle)/float64(bound), "bytes/pending")
		b.ReportMetric(float64(bound)/fill.Seconds(), "creates/s")
		b.ReportMetric(float64(f.eng.Pending()), "pending")
		close(release)
	}
}

// workFunc adapts a function to engine.Work.
type workFunc func(ctx context.Context, r *engine.PhaseRun) error

func (fn workFunc) Run(ctx context.Context, r *engine.PhaseRun) error { return fn(ctx, r) }

// plainEvent is the engine input of eventBody.
func plainEvent(venueID, ticketTypeID uint64) engine.EventInput {
	start := time.Date(2026, 12, 5, 19, 0, 0, 0, time.UTC)
	name, typ, capacity := "Jazz Night", engine.EventDate, 200
	amount, qty := int64(2500), 150
	end := start.Add(4 * time.Hour)
	return engine.EventInput{Name: &name, Type: &typ, VenueID: &venueID, StartsAt: &start, EndsAt: &end,
		Capacity: engine.Nullable[int]{Set: true, Value: &capacity},
		RegistrationTypes: &[]engine.RegistrationTypeInput{{Name: "General admission", TicketTypeID: ticketTypeID,
			Price: engine.MoneyInput{Amount: &amount, Currency: "USD"}, Quantity: &qty}}}
}

// heapInUse is the heap in use after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}
