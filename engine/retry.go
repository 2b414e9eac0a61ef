package engine

import (
	"context"
	"time"
)

// RetryPolicy is the one backoff of the tree: the engine's phase and refund
// attempts use it, and so does the Shopify client between re-sends of one
// call. Attempt n (1-based) that fails transiently waits Backoff(n): up to
// Attempts attempts in all; then the phase fails with the last error's code.
type RetryPolicy struct {
	Base     time.Duration
	Max      time.Duration
	Attempts int
}

// DefaultRetry suits a remote shop: eight attempts over about half a minute.
var DefaultRetry = RetryPolicy{Base: 200 * time.Millisecond, Max: 8 * time.Second, Attempts: 8}

// Backoff is the wait after failed attempt n (1-based): min(Base*2^(n-1),
// Max), scaled by 0.5+jitter for a jitter in [0,1), so that clients that
// failed together do not retry together. A shift that overflows waits Max.
func (p RetryPolicy) Backoff(attempt int, jitter float64) time.Duration {
	d := p.Max
	if attempt >= 1 && attempt < 63 {
		if b := p.Base << (attempt - 1); b > 0 && b < p.Max && b>>(attempt-1) == p.Base {
			d = b
		}
	}
	return time.Duration(float64(d) * (0.5 + jitter))
}

// SleepCtx waits d, or less if ctx ends first; it reports whether the whole
// wait passed with ctx still live.
func SleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
