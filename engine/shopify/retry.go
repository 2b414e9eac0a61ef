package shopify

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"eventops/engine"
)

// What the client retries, and how (SHOPIFY.md "Answers and errors"):
//
//   - THROTTLED (HTTP 200 with errors[].extensions.code) waits
//     (requested − currentlyAvailable) / restoreRate, as the cost report says;
//   - HTTP 429 waits Retry-After;
//   - 5xx, timeouts, transport errors and unreadable answers back off with
//     jitter — and are re-sent only when the call is Resendable, because the
//     shop may have applied a mutation whose answer was lost;
//   - 401/403 (and ACCESS_DENIED) fail at once with SHOPIFY_AUTH_REJECTED,
//     402/423/404 at once with SHOPIFY_UNAVAILABLE: retrying cannot help.
//
// All of it under ClientPolicy's attempts and deadline; past them the call
// fails with a transient SHOPIFY_THROTTLED_EXHAUSTED or SHOPIFY_UNAVAILABLE
// and the engine's phase retry takes over.

// ClientPolicy bounds what the client retries by itself before handing a
// failure to the engine's phase retry. Quick blips (a 503, a dropped
// connection, a short throttle) are absorbed here; anything longer surfaces
// as a transient error so that the phase shows attempts and last_error.
type ClientPolicy struct {
	// Attempts is how many times one call is sent at most (default 4).
	Attempts int
	// Base and Max bound the jittered backoff between 5xx/transport
	// retries (defaults 100 ms and 2 s).
	Base, Max time.Duration
	// Deadline bounds the whole call, waits included (default 20 s). A
	// throttle wait that would pass it ends the call at once.
	Deadline time.Duration
	// Timeout bounds one HTTP exchange (default 15 s).
	Timeout time.Duration
}

func (p ClientPolicy) withDefaults() ClientPolicy {
	if p.Attempts <= 0 {
		p.Attempts = 4
	}
	if p.Base <= 0 {
		p.Base = 100 * time.Millisecond
	}
	if p.Max <= 0 {
		p.Max = 2 * time.Second
	}
	if p.Deadline <= 0 {
		p.Deadline = 20 * time.Second
	}
	if p.Timeout <= 0 {
		p.Timeout = 15 * time.Second
	}
	return p
}

// retryAfter reads a Retry-After header (seconds or an HTTP date); 1 s when
// absent or unreadable.
func retryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Second
	}
	var secs float64
	if _, err := fmt.Sscanf(v, "%g", &secs); err == nil && secs >= 0 {
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
		return 0
	}
	return time.Second
}

// backoff is the wait before re-sending after failed attempt n: the
// engine's retry policy, with the client's own bounds.
func (c *Client) backoff(attempt int) time.Duration {
	return engine.RetryPolicy{Base: c.policy.Base, Max: c.policy.Max}.Backoff(attempt, c.jitter())
}
