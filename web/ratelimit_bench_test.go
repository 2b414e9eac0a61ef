package web

import (
	"context"
	"testing"
	"time"

	"eventops/storage"
	"eventops/storage/pgtest"
)

// BenchmarkRateLimitTake is the rate limit's cost per request: in memory
// (one node) and with the budget shared through PostgreSQL, where a node
// reserves a block (a twentieth of the limit, at most 100) per round trip.
// It reports the round trips per 1,000 requests.
func BenchmarkRateLimitTake(b *testing.B) {
	now := func() time.Time { return time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC) }
	b.Run("memory", func(b *testing.B) {
		l := newRateLimiter(1<<30, now, nil)
		for b.Loop() {
			if ok, _, _, err := l.take(context.Background(), 1); !ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	})
	b.Run("postgres", func(b *testing.B) {
		db, err := storage.OpenPostgres(context.Background(), pgtest.Database(b), storage.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		for _, limit := range []int{300, 6000, 1 << 30} {
			l := newRateLimiter(limit, now, &countingBudget{RateBudget: db})
			b.Run("limit="+itoa(uint64(limit)), func(b *testing.B) {
				calls := &l.budget.(*countingBudget).calls
				*calls = 0
				n := 0
				for b.Loop() {
					n++
					// A fresh key per limit's worth keeps every request
					// allowed (keys of their own per limit: one database).
					if ok, _, _, err := l.take(context.Background(), uint64(limit)<<20+uint64(n/limit)); !ok || err != nil {
						b.Fatal(ok, err)
					}
				}
				b.ReportMetric(float64(*calls)*1000/float64(n), "roundtrips/1000req")
			})
		}
	})
}

type countingBudget struct {
	RateBudget
	calls int
}

func (c *countingBudget) ReserveRate(ctx context.Context, key string, window int64, limit, want int) (int, int, error) {
	c.calls++
	return c.RateBudget.ReserveRate(ctx, key, window, limit, want)
}
