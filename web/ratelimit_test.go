package web

import (
	"sync"
	"testing"
	"time"
)

// clock is a settable clock for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func TestRateLimit(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2026, 11, 1, 10, 0, 15, 0, time.UTC)}
	f := setup(t, withConfig(func(c *Config) { c.RateLimit = 3; c.Clock = clk.now }))
	for i, want := range []string{"2", "1", "0"} {
		r := f.do("GET", "/api/v2/", f.keyA, nil).expect(t, 200)
		if got := r.Header.Get("RateLimit-Remaining"); got != want {
			t.Fatalf("request %d: remaining %s, want %s", i+1, got, want)
		}
		if r.Header.Get("RateLimit-Limit") != "3" || r.Header.Get("RateLimit-Reset") != "45" {
			t.Fatalf("headers: %v", r.Header)
		}
	}
	r := f.do("GET", "/api/v2/", f.keyA, nil)
	r.expectProblem(t, 429, "rate_limit_exceeded")
	if r.Header.Get("Retry-After") != "45" || r.Header.Get("RateLimit-Remaining") != "0" {
		t.Fatalf("429 headers: %v", r.Header)
	}
	// Writes count too, and are refused before doing anything.
	f.do("POST", "/api/v2/venues", f.keyA, `{"venue": {"name": "X", "time_zone": "UTC"}}`).expect(t, 429)
	// Another key has its own window.
	f.do("GET", "/api/v2/", f.keyRO, nil).expect(t, 200)
	// The next minute starts afresh.
	clk.add(45 * time.Second)
	r = f.do("GET", "/api/v2/venues", f.keyA, nil).expect(t, 200)
	if r.Header.Get("RateLimit-Remaining") != "2" || r.Header.Get("RateLimit-Reset") != "60" {
		t.Fatalf("new window: %v", r.Header)
	}
	if f.count("/api/v2/venues", f.keyA) != 0 {
		t.Fatal("a refused write was carried out")
	}
}

func TestRateLimitOff(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for i := 0; i < 400; i++ {
		r := f.do("GET", "/api/v2/", f.keyA, nil).expect(t, 200)
		if r.Header.Get("RateLimit-Limit") != "" {
			t.Fatal("RateLimit headers while the limit is off")
		}
	}
}
