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
//	go test -run '^$' -bench ShopifySave -benchtime 3000x ./engine/shopify/
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
					if os.Getenv("BENCH_BREAKDOWN") != "" {
						prev := done.CreatedAt
						for _, ph := range done.Phases {
							if ph.StartedAt == nil || ph.FinishedAt == nil {
								continue
							}
							brk[ph.Name+" wait"] += ph.StartedAt.Sub(prev)
							brk[ph.Name+" run"] += ph.FinishedAt.Sub(*ph.StartedAt)
							if ph.Name != "metafields" && ph.Name != "delivery" {
								prev = *ph.FinishedAt
							}
						}
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
	for k, v := range brk {
		fmt.Printf("%-20s %.2f ms\n", k, float64(v.Microseconds())/1000/float64(b.N))
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
	_ = fmt.Sprint
}

// benchCreators is how many saves are in flight at once
// (SHOPIFY_BENCH_CONCURRENCY, default 128).
func benchCreators() int {
	if n, err := strconv.Atoi(os.Getenv("SHOPIFY_BENCH_CONCURRENCY")); err == nil && n > 0 {
		return n
	}
	return 128
}
