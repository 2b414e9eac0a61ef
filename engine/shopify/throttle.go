package shopify

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"eventops/engine"
)

// defaultCost is what a call is assumed to cost before the shop has said
// (mutations cost about 10 points).
const defaultCost = 10

// bucket mirrors a shop's leaky bucket of query cost points from the
// throttleStatus of every answer, so that calls are paced before the shop
// throttles them. Calls reserve their expected cost when they are sent, so
// that concurrent phases of one shop do not all rush into an empty bucket.
// A shop that reports no restore rate (the sandbox's unlimited bucket) is
// never paced.
//
// Several nodes calling one shop (PostgreSQL) each mirror the shop's
// bucket from their own answers, and none sees the others' reservations:
// so each spends only within its share, keeping (n−1)/n of the maximum for
// the n−1 others. Throttling that remains is answered as the shop asks.
type bucket struct {
	mu          sync.Mutex
	now         func() time.Time
	known       bool
	available   float64 // points at updated, after reservations
	maximum     float64
	restoreRate float64 // points per second
	updated     time.Time
	costs       map[string]float64 // last requested cost per call name
	nodes       func() int         // nodes sharing the shop (nil: one)

	versionWarned bool
}

func newBucket(now func() time.Time) *bucket {
	return &bucket{now: now, costs: map[string]float64{}}
}

var errBudget = errors.New("cost budget exhausted past the deadline")

// level is the bucket's content now; mu held.
func (b *bucket) level(now time.Time) float64 {
	v := b.available + now.Sub(b.updated).Seconds()*b.restoreRate
	if b.maximum > 0 && v > b.maximum {
		v = b.maximum
	}
	return v
}

// wait blocks until cost points are (believed) available and reserves them.
// It fails at once when the wait would pass ctx's deadline.
func (b *bucket) wait(ctx context.Context, cost float64) error {
	for {
		b.mu.Lock()
		if !b.known || b.restoreRate <= 0 {
			b.mu.Unlock()
			return ctx.Err()
		}
		reserve := 0.0 // kept for the other nodes
		if n := b.share(); n > 1 && b.maximum > 0 {
			reserve = b.maximum * float64(n-1) / float64(n)
		}
		if b.maximum > 0 && cost > b.maximum-reserve {
			cost = b.maximum - reserve
		}
		now := b.now()
		lvl := b.level(now)
		if lvl-reserve >= cost {
			b.available, b.updated = lvl-cost, now
			b.mu.Unlock()
			return nil
		}
		d := time.Duration((cost + reserve - lvl) / b.restoreRate * float64(time.Second))
		b.mu.Unlock()
		if dl, ok := ctx.Deadline(); ok && now.Add(d).After(dl) {
			return errBudget
		}
		if !engine.SleepCtx(ctx, d) {
			return ctx.Err()
		}
	}
}

// share is the number of nodes calling the shop; b.mu held.
func (b *bucket) share() int {
	if b.nodes == nil {
		return 1
	}
	return max(b.nodes(), 1)
}

// observe takes the shop's word for the bucket's state.
func (b *bucket) observe(name string, c *Cost) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c.RequestedQueryCost > 0 {
		b.costs[name] = c.RequestedQueryCost
	}
	ts := c.ThrottleStatus
	if ts.RestoreRate <= 0 && ts.MaximumAvailable <= 0 {
		return
	}
	b.known = true
	b.maximum, b.restoreRate = ts.MaximumAvailable, ts.RestoreRate
	b.available, b.updated = ts.CurrentlyAvailable, b.now()
}

// throttleWait is how long to wait after a THROTTLED answer:
// (requested − currentlyAvailable) / restoreRate, at least a little.
func (b *bucket) throttleWait(c *Cost, fallback float64) time.Duration {
	const floor = 50 * time.Millisecond
	if c == nil || c.ThrottleStatus.RestoreRate <= 0 {
		return time.Second
	}
	req := c.RequestedQueryCost
	if req <= 0 {
		req = fallback
	}
	d := time.Duration((req - c.ThrottleStatus.CurrentlyAvailable) / c.ThrottleStatus.RestoreRate * float64(time.Second))
	if d < floor {
		d = floor
	}
	return d
}

func (b *bucket) estimate(name string) float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c, ok := b.costs[name]; ok {
		return c
	}
	return defaultCost
}

// warnVersion logs once per shop that it answers with another API version
// than the one asked for (an unsupported version is served by the oldest
// supported one).
func (b *bucket) warnVersion(log *slog.Logger, got string) {
	b.mu.Lock()
	warned := b.versionWarned
	b.versionWarned = true
	b.mu.Unlock()
	if !warned {
		log.Warn("shop answers with another API version", "asked", APIVersion, "got", got)
	}
}
