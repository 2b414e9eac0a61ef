package web

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"eventops/web/httperr"
)

// rateLimiter counts requests per API key in fixed one-minute windows
// aligned to the clock's minutes, in memory. A fixed window lets a client
// burst up to twice the limit across a window edge; in exchange a key's
// state is two integers and the reset time is the same for every client.
type rateLimiter struct {
	limit int // per minute; 0: off
	now   func() time.Time

	mu      sync.Mutex
	windows map[uint64]*window
}

type window struct {
	start int64 // unix minute
	count int
}

func newRateLimiter(limit int, now func() time.Time) *rateLimiter {
	return &rateLimiter{limit: limit, now: now, windows: map[uint64]*window{}}
}

// take counts one request of key and reports whether it is allowed, what is
// left in the window and the seconds until the window resets.
func (l *rateLimiter) take(key uint64) (ok bool, remaining int, reset int) {
	now := l.now()
	minute := now.Unix() / 60
	reset = int(60 - now.Unix()%60)
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.windows[key]
	if w == nil {
		if len(l.windows) > 100_000 { // keys of past windows: drop them all
			l.windows = map[uint64]*window{}
		}
		w = &window{}
		l.windows[key] = w
	}
	if w.start != minute {
		w.start, w.count = minute, 0
	}
	if w.count >= l.limit {
		return false, 0, reset
	}
	w.count++
	return true, l.limit - w.count, reset
}

// rateLimit applies the per-key limit and sets the RateLimit-* headers on
// every answer to an authenticated request (none when the limit is off).
func (s *Server) rateLimit(c *fiber.Ctx) error {
	l := s.limiter
	if l.limit <= 0 {
		return c.Next()
	}
	ok, remaining, reset := l.take(apiKey(c).ID)
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
