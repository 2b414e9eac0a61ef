package shopify_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"eventops/engine"
)

// BenchmarkShopifySave measures Shopify save operations per second: many
// concurrent creates of a date event (two registration types, one product)
// through the real engine on a real data file, against an in-memory
// sandbox with an unlimited cost bucket. It reports saves/s and the p99 of
// creation → completed, from the operation's own timestamps.
//
//	go test -run '^$' -bench ShopifySave -benchtime 5000x ./engine/shopify/
//
// SHOPIFY_BENCH_BREAKDOWN=1 also logs where a save's time goes, per phase.
func BenchmarkShopifySave(b *testing.B) { benchSave(b, true) }

// BenchmarkLocalSave is the same load for a company without a shop (the
// recurrence-less local plan: tickets only), for comparison.
func BenchmarkLocalSave(b *testing.B) { benchSave(b, false) }

func benchSave(b *testing.B, shop bool) {
	bb := setup(b, options{restoreRate: 0, workers: max(64, benchCreators())})
	if !shop {
		local, err := bb.eng.CreateCompany(context.Background(), "Local", nil)
		if err != nil {
			b.Fatal(err)
		}
		venue, _ := bb.eng.CreateVenue(context.Background(), local.ID, engine.VenueInput{Name: "Hall", TimeZone: "UTC"})
		tt, _ := bb.eng.CreateTicketType(context.Background(), local.ID, engine.TicketTypeInput{Name: "Seat"})
		bb.company, bb.venue, bb.tickets = local, venue, tt
	}
	// Shop set-up is once per shop: do it before measuring.
	_, op := bb.create(bb.input("Warm-up", ptr(100), regType{"GA", 2500, ptr(80)}, regType{"VIP", 9000, ptr(20)}))
	bb.completed(op.ID)

	// Completion is learnt from the broker (as the dashboard's websocket
	// does), not by polling the store, so that the benchmark measures the
	// engine rather than its own reads.
	sub := bb.eng.Broker().Subscribe(1 << 20)
	defer sub.Close()
	var wmu sync.Mutex
	waiters := map[uint64]chan *engine.Operation{}
	finished := map[uint64]*engine.Operation{}
	go func() {
		for op := range sub.C {
			if !op.Status.Terminal() {
				continue
			}
			wmu.Lock()
			if ch, ok := waiters[op.ID]; ok {
				ch <- op
				delete(waiters, op.ID)
			} else {
				finished[op.ID] = op
			}
			wmu.Unlock()
		}
	}()
	await := func(id uint64) *engine.Operation {
		ch := make(chan *engine.Operation, 1)
		wmu.Lock()
		if op, ok := finished[id]; ok {
			delete(finished, id)
			wmu.Unlock()
			return op
		}
		waiters[id] = ch
		wmu.Unlock()
		select {
		case op := <-ch:
			return op
		case <-time.After(60 * time.Second):
			return nil
		}
	}

	creators := benchCreators()
	var lat []time.Duration
	var mu sync.Mutex
	var failed int
	brk := map[string]time.Duration{}
	breakdown := os.Getenv("SHOPIFY_BENCH_BREAKDOWN") != ""
	st0, _ := bb.db.Stats()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	work := make(chan int, b.N)
	for i := range b.N {
		work <- i
	}
	close(work)
	for range creators {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				in := bb.input(fmt.Sprintf("Bench %d", i), ptr(100), regType{"GA", 2500, ptr(80)}, regType{"VIP", 9000, ptr(20)})
				_, op, err := bb.eng.CreateEvent(context.Background(), bb.company.ID, in)
				if err != nil {
					b.Error(err)
					return
				}
				done := await(op.ID)
				mu.Lock()
				if done == nil || done.Status != engine.StatusCompleted {
					failed++
				} else {
					lat = append(lat, done.FinishedAt.Sub(done.CreatedAt))
					if breakdown {
						addBreakdown(brk, done)
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if failed > 0 {
		b.Fatalf("%d of %d saves failed", failed, b.N)
	}
	if breakdown && b.N > 1 {
		names := make([]string, 0, len(brk))
		for k := range brk {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			fmt.Fprintf(os.Stderr, "%-22s %6.2f ms per save\n", k, float64(brk[k].Microseconds())/1000/float64(b.N))
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p := func(q float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(len(lat)-1, int(q*float64(len(lat))))].Microseconds()) / 1000
	}
	// Where the time goes: every transition is a store update, and updates
	// share group commits.
	st1, _ := bb.db.Stats()
	commits, updates := float64(st1.Commits-st0.Commits), float64(st1.Updates-st0.Updates)
	if commits > 0 {
		b.ReportMetric(updates/float64(b.N), "updates/save")
		b.ReportMetric(updates/commits, "updates/commit")
		b.ReportMetric(float64(elapsed.Microseconds())/1000/commits, "ms/commit")
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "saves/s")
	b.ReportMetric(p(0.50), "p50-ms")
	b.ReportMetric(p(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op")
}

// addBreakdown adds where one save's time went, per top-level phase: from
// the operation's creation or the end of the phases it depends on to its
// start ("wait": for the first phase the creation's commit and a worker's
// pick-up; a phase is marked started in the step that ends the ones before
// it, so about 0 for the others), and from its start to its end ("run":
// the commit that persists its start, if it has one of its own, its work
// and its report reaching the operation's loop; times are taken when a
// transition is made, before the commit that persists it).
func addBreakdown(brk map[string]time.Duration, op *engine.Operation) {
	ends := map[string]time.Time{}
	for _, p := range op.Phases {
		if p.FinishedAt != nil {
			ends[p.Name] = *p.FinishedAt
		}
	}
	for _, p := range op.Phases {
		if p.StartedAt == nil || p.FinishedAt == nil {
			continue
		}
		ready := op.CreatedAt
		for _, d := range p.DependsOn {
			if t, ok := ends[d]; ok && t.After(ready) {
				ready = t
			}
		}
		brk[p.Name+" wait"] += p.StartedAt.Sub(ready)
		brk[p.Name+" run"] += p.FinishedAt.Sub(*p.StartedAt)
	}
	last := op.CreatedAt
	for _, t := range ends {
		if t.After(last) {
			last = t
		}
	}
	if op.FinishedAt != nil {
		brk["~ operation end"] += op.FinishedAt.Sub(last)
	}
}

// benchCreators is how many saves are in flight at once
// (SHOPIFY_BENCH_CONCURRENCY, default 32). The target couples throughput and
// latency: by Little's law the mean time in the system is the number in
// flight over the throughput, so 500 saves/s with 128 in flight means a
// mean of 256 ms, whatever the p99; 32 in flight asks for 64 ms.
func benchCreators() int {
	if n, err := strconv.Atoi(os.Getenv("SHOPIFY_BENCH_CONCURRENCY")); err == nil && n > 0 {
		return n
	}
	return 32
}
