package web

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"eventops/web/httperr"
)

// RateBudget is the rate limit's budget shared by every node of an
// installation (storage.DB on PostgreSQL implements it): ReserveRate grants
// up to want requests of key's fixed window, never past limit in all, and
// says how many every node has reserved of it (granted included).
type RateBudget interface {
	ReserveRate(ctx context.Context, key string, window int64, limit, want int) (granted, reserved int, err error)
}

// rateLimiter counts requests per API key in fixed one-minute windows
// aligned to the clock's minutes. A fixed window lets a client burst up to
// twice the limit across a window edge; in exchange a key's state is a few
// integers and the reset time is the same for every client.
//
// Alone (no RateBudget: bbolt, one node) it counts in memory. With a
// budget (several nodes on one PostgreSQL database) the limit is one budget
// across the nodes, and a round trip to the database per request would cost
// more than the request: a node reserves a block of its key's window from
// the shared row (rate_budget, migration 00003) and spends it locally, and
// reserves the next block when it is spent. The rows never grant past the
// limit, so the sum over the nodes never exceeds it. The cost is the other
// way: a block one node reserved but has not spent is not available to the
// others, so a client spreading its requests over n nodes may be refused up
// to n−1 partly spent blocks before the limit. Blocks are a twentieth of the
// limit (15 of 300), and the database grants half of what is left once that
// is less than a block, so little is ever stranded. Windows are named by the
// node's clock (nodes keep their clocks in sync; a skew moves requests
// between windows, never past a window's limit), and RateLimit-Remaining
// is what this node knows: the unreserved rest at its last reservation
// plus its own unspent block.
type rateLimiter struct {
	limit  int // per minute; 0: off
	now    func() time.Time
	budget RateBudget // nil: this node alone
	block  int        // requests reserved at a time from budget

	mu      sync.Mutex
	windows map[uint64]*window
}

type window struct {
	mu    sync.Mutex // held across a reservation: one per key at a time
	start int64      // unix minute
	count int        // alone: requests allowed in the window
	// With a budget: left is the unspent rest of this node's blocks,
	// free the budget no node had reserved at the last reservation, and
	// spent that the budget granted nothing more this window.
	left, free int
	spent      bool
}

func newRateLimiter(limit int, now func() time.Time, budget RateBudget) *rateLimiter {
	return &rateLimiter{limit: limit, now: now, budget: budget, block: rateBlock(limit), windows: map[uint64]*window{}}
}

// rateBlock is how much of the limit a node reserves at a time.
func rateBlock(limit int) int { return min(max(1, limit/20), 100) }

// take counts one request of key and reports whether it is allowed, what is
// left in the window and the seconds until the window resets. An error is
// the shared budget's, which could not be asked.
func (l *rateLimiter) take(ctx context.Context, key uint64) (ok bool, remaining int, reset int, err error) {
	now := l.now()
	minute := now.Unix() / 60
	reset = int(60 - now.Unix()%60)
	l.mu.Lock()
	w := l.windows[key]
	if w == nil {
		if len(l.windows) > 100_000 { // keys of past windows: drop them all
			l.windows = map[uint64]*window{}
		}
		w = &window{}
		l.windows[key] = w
	}
	l.mu.Unlock()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.start != minute {
		w.start, w.count, w.left, w.free, w.spent = minute, 0, 0, l.limit, false
	}
	if l.budget == nil {
		if w.count >= l.limit {
			return false, 0, reset, nil
		}
		w.count++
		return true, l.limit - w.count, reset, nil
	}
	if w.left == 0 && !w.spent {
		granted, reserved, err := l.budget.ReserveRate(ctx, "api:"+strconv.FormatUint(key, 10), minute, l.limit, l.block)
		if err != nil {
			return false, 0, reset, fmt.Errorf("reserve rate budget: %w", err)
		}
		w.left += granted
		w.free = max(0, l.limit-reserved)
		w.spent = granted == 0
	}
	if w.left == 0 {
		return false, 0, reset, nil
	}
	w.left--
	return true, w.free + w.left, reset, nil
}

// rateLimit applies the per-key limit and sets the RateLimit-* headers on
// every answer to an authenticated request (none when the limit is off).
func (s *Server) rateLimit(c *fiber.Ctx) error {
	l := s.limiter
	if l.limit <= 0 {
		return c.Next()
	}
	ok, remaining, reset, err := l.take(c.UserContext(), apiKey(c).ID)
	if err != nil {
		return err
	}
	c.Set("RateLimit-Limit", strconv.Itoa(l.limit))
	c.Set("RateLimit-Remaining", strconv.Itoa(remaining))
	c.Set("RateLimit-Reset", strconv.Itoa(reset))
	if !ok {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(reset))
		return httperr.New(http.StatusTooManyRequests, httperr.TypeRateLimited,
			"this API key has used its "+strconv.Itoa(l.limit)+" requests of this minute; retry after "+
				strconv.Itoa(reset)+" s")
	}
	return c.Next()
}
