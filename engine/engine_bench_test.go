package engine_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"eventops/engine"
	"eventops/storage"
)

// completions hands out, per operation, a channel closed when a terminal
// state of it is published. One subscriber serves every waiter.
type completions struct {
	sub    *engine.Subscription
	mu     sync.Mutex
	ch     map[uint64]chan struct{}
	failed map[uint64]*engine.Operation
	done   chan struct{}
}

func newCompletions(e *engine.Engine) *completions {
	c := &completions{
		sub: e.Broker().Subscribe(1 << 16), ch: map[uint64]chan struct{}{},
		failed: map[uint64]*engine.Operation{}, done: make(chan struct{}),
	}
	go func() {
		defer close(c.done)
		for op := range c.sub.C {
			if !op.Status.Terminal() {
				continue
			}
			c.mu.Lock()
			if op.Status != engine.StatusCompleted {
				c.failed[op.ID] = op
			}
			ch := c.get(op.ID)
			select {
			case <-ch:
			default:
				close(ch)
			}
			c.mu.Unlock()
		}
	}()
	return c
}

// get is called with mu held.
func (c *completions) get(id uint64) chan struct{} {
	ch := c.ch[id]
	if ch == nil {
		ch = make(chan struct{})
		c.ch[id] = ch
	}
	return ch
}

func (c *completions) wait(id uint64) {
	c.mu.Lock()
	ch := c.get(id)
	c.mu.Unlock()
	<-ch
	c.mu.Lock()
	delete(c.ch, id)
	c.mu.Unlock()
}

func (c *completions) close(b *testing.B) {
	dropped := c.sub.Dropped()
	c.sub.Close()
	<-c.done
	if dropped {
		b.Fatal("the completion subscriber was dropped: its buffer is too small for this load")
	}
	if n := len(c.failed); n > 0 {
		for _, op := range c.failed {
			b.Fatalf("%d saves did not complete; e.g. operation %d: %s %+v", n, op.ID, op.Status, op.Error)
		}
	}
}

// BenchmarkSaveThroughput: durable non-Shopify saves of date events through
// the real engine on a real bbolt file, issued by concurrent clients (256,
// and fewer to see latency at lighter load), each waiting for its save's
// operation to complete. Reports saves/s, p50/p99 latency from the create
// call to the published completion, CPU per save (all goroutines) and how
// many store updates shared a commit.
//
// With clients closed-loop clients, Little's law ties the two figures: the
// mean latency is clients / throughput, so at 256 clients a p99 under 20 ms
// would take well over 12,800 saves/s; the latency target is read at the
// lighter loads.
func BenchmarkSaveThroughput(b *testing.B) {
	for _, clients := range []int{256, 64, 16, 1} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) { benchSaves(b, clients) })
	}
}

func benchSaves(b *testing.B, clients int) {
	bb := setup(b, engine.Config{Workers: 256})
	in := bb.dateInput("Throughput", 5)
	comp := newCompletions(bb.eng)
	ctx := context.Background()
	st0, _ := bb.db.Stats()

	var mu sync.Mutex
	lat := make([]time.Duration, 0, b.N)
	procs := runtime.GOMAXPROCS(0)
	b.SetParallelism((clients + procs - 1) / procs)
	if clients < procs {
		b.SetParallelism(1) // RunParallel runs at least GOMAXPROCS goroutines
	}
	var sem chan struct{}
	if clients < procs {
		sem = make(chan struct{}, clients)
	}
	cpu0 := processCPU()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		mine := make([]time.Duration, 0, 64)
		for pb.Next() {
			if sem != nil {
				sem <- struct{}{}
			}
			start := time.Now()
			_, op, err := bb.eng.CreateEvent(ctx, bb.company.ID, in)
			if err != nil {
				b.Errorf("create: %v", err)
				return
			}
			comp.wait(op.ID)
			mine = append(mine, time.Since(start))
			if sem != nil {
				<-sem
			}
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	cpu := processCPU() - cpu0
	comp.close(b)
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		i := int(p * float64(len(lat)-1))
		return float64(lat[i]) / float64(time.Millisecond)
	}
	b.ReportMetric(float64(len(lat))/b.Elapsed().Seconds(), "saves/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	if cpu > 0 {
		b.ReportMetric(float64(cpu.Microseconds())/float64(len(lat)), "cpu-µs/save")
	}
	if st, err := bb.db.Stats(); err == nil && st.Commits > st0.Commits {
		b.ReportMetric(float64(st.Updates-st0.Updates)/float64(len(lat)), "updates/save")
		b.ReportMetric(float64(st.Updates-st0.Updates)/float64(st.Commits-st0.Commits), "updates/commit")
		if st.Gets+st.Scans > 0 { // PostgreSQL: round trips of reads
			b.ReportMetric(float64(st.Gets-st0.Gets)/float64(len(lat)), "gets/save")
			b.ReportMetric(float64(st.Scans-st0.Scans)/float64(len(lat)), "scans/save")
			b.ReportMetric(float64(st.Retries-st0.Retries)/float64(st.Commits-st0.Commits), "retries/commit")
			b.ReportMetric(float64(st.RoundTrips-st0.RoundTrips)/float64(len(lat)), "trips/save")
			b.ReportMetric(float64(st.WriterTrips-st0.WriterTrips)/float64(len(lat)), "writer-trips/save")
		}
	}
}

// benchOps is the number of stored operations BenchmarkColdStart starts on
// (EVENTOPS_BENCH_OPS, default 100000).
func benchOps(b *testing.B) int {
	n := 100_000
	if v := os.Getenv("EVENTOPS_BENCH_OPS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 0 {
			b.Fatalf("EVENTOPS_BENCH_OPS=%q: want a count", v)
		}
	}
	return n
}

// buildOpsFile writes n terminal save operations (each with a completed
// tickets phase) into a new data file, in large transactions.
func buildOpsFile(b *testing.B, path string, n int) {
	db, err := storage.Open(path, storage.Options{})
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const perTx = 20_000
	for done := 0; done < n; {
		size := min(perTx, n-done)
		base := done
		err := db.Update(context.Background(), func(tx engine.Tx) error {
			for i := range size {
				k := base + i
				id, err := tx.NextID(engine.SeqOperation)
				if err != nil {
					return err
				}
				pid, err := tx.NextID(engine.SeqOperation)
				if err != nil {
					return err
				}
				created := t0.Add(time.Duration(k) * time.Second)
				finished := created.Add(40 * time.Millisecond)
				status, code := engine.StatusCompleted, engine.Code("")
				if k%50 == 0 {
					status, code = engine.StatusFailed, engine.CodeTicketsStructureEmpty
				}
				phase := &engine.Phase{ID: pid, Name: engine.PhaseTickets, Status: status, Attempts: 1,
					Progress:  &engine.Progress{Percent: 100, Completed: 1, Total: 1},
					StartedAt: &created, FinishedAt: &finished, Phases: []*engine.Phase{}}
				op := &engine.Operation{ID: id, Action: engine.ActionSave, EventID: uint64(k/4 + 1), CompanyID: uint64(k%3 + 1),
					QueueID: uint64(k/4 + 1), Status: status, Progress: phase.Progress, CreatedAt: created, UpdatedAt: finished,
					StartedAt: &created, FinishedAt: &finished, Phases: []*engine.Phase{phase}, Version: 4}
				if code != "" {
					name := phase.Name
					phase.Error = &engine.OpError{Code: code, Message: "nothing to sell", Phase: &name, PhaseID: &pid}
					phase.FailSeq = 1
					op.Error = phase.Error
				}
				if err := tx.PutOperation(op); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		done += size
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkColdStart: storage.Open + engine.New + Start on a file holding
// EVENTOPS_BENCH_OPS terminal operations, and the heap in use once started.
func BenchmarkColdStart(b *testing.B) {
	n := benchOps(b)
	path := filepath.Join(b.TempDir(), "eventops.db")
	buildOpsFile(b, path, n)
	start := func() (*storage.DB, *engine.Engine) {
		db, err := storage.Open(path, storage.Options{})
		if err != nil {
			b.Fatal(err)
		}
		eng := engine.New(engine.Config{Store: db, Logger: quiet})
		if err := eng.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		return db, eng
	}
	stop := func(db *storage.DB, eng *engine.Engine) {
		eng.Stop(time.Second)
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
	}

	for b.Loop() {
		db, eng := start()
		b.StopTimer()
		stop(db, eng)
		b.StartTimer()
	}

	// Heap in use by a started engine on this file, after a collection.
	b.StopTimer()
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	db, eng := start()
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapInuse)/(1<<20), "heap-inuse-MB")
	b.ReportMetric(float64(int64(after.HeapInuse)-int64(before.HeapInuse))/(1<<20), "heap-added-MB")
	stop(db, eng)
	b.ReportMetric(float64(n), "ops-stored")
	if fi, err := os.Stat(path); err == nil {
		b.ReportMetric(float64(fi.Size())/(1<<20), "file-MB")
	}
}
