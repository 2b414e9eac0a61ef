package client

import (
	"context"
	"time"
)

// Until says when a wait for an operation may stop before the operation is
// terminal. Wait always stops at a terminal operation, whatever Until says.
type Until func(*Operation) bool

// Finished waits for the operation to be completed or failed.
func Finished(*Operation) bool { return false }

// PhaseSettled stops once the phase named name (found anywhere in the tree)
// is completed or failed: e.g. PhaseSettled("tickets") is the partial
// readiness of DESIGN §4.1, where the ticket structure and products exist
// and are readable and editable through the API. An operation without such
// a phase is waited for until it is terminal: the planner picks the phases,
// and a client must not assume one is there.
func PhaseSettled(name string) Until {
	return func(op *Operation) bool {
		p := op.Phase(name)
		return p != nil && Terminal(p.Status)
	}
}

// waitConfig is what WaitOptions set.
type waitConfig struct {
	hold     time.Duration
	onChange func(*Operation)
}

// WaitOption tunes Wait.
type WaitOption func(*waitConfig)

// Hold sets how long each long-poll asks the server to hold the request
// (default 30 s, at most 60 s).
func Hold(d time.Duration) WaitOption { return func(w *waitConfig) { w.hold = d } }

// OnChange calls fn with every new state of the operation seen (the first
// one included), e.g. to show progress.
func OnChange(fn func(*Operation)) WaitOption { return func(w *waitConfig) { w.onChange = fn } }

// Wait follows operation opID of event eventID until until(op) holds or the
// operation is terminal (completed or failed: nothing else is), and returns
// its last state. A failed operation is not an error of Wait: look at
// op.Status and op.Error.
//
// It polls the way DESIGN §3 asks: one plain GET for the current state and
// its ETag, then long-polls with If-None-Match and ?wait=, each answered at
// the next transition (200) or when the hold passes (304, polled again at
// once). An answer that comes back unchanged well before its hold is polled
// again at once the first time (a spurious wake-up), and after Retry-After
// (1 s when absent) when it happens again in a row, as from a server or
// proxy that does not hold requests: Wait never spins. 429s and failures
// are handled by the client's retry policy; when that gives up, Wait
// returns the last state seen (nil if none) with the error.
func (c *Client) Wait(ctx context.Context, eventID, opID uint64, until Until, opts ...WaitOption) (*Operation, error) {
	cfg := waitConfig{hold: 30 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	cfg.hold = min(max(cfg.hold, time.Second), 60*time.Second)
	if until == nil {
		until = Finished
	}
	var (
		op    *Operation
		etag  string
		hold  time.Duration // none on the first request: it reads the current state
		early int           // unchanged answers in a row that came back before their hold
	)
	for {
		started := c.now()
		p, err := c.Operation(ctx, eventID, opID, PollOptions{ETag: etag, Wait: hold})
		if err != nil {
			return op, err
		}
		changed := !p.NotModified && (p.ETag == "" || p.ETag != etag || op == nil)
		if !p.NotModified {
			op, etag = p.Operation, p.ETag
		}
		if changed && cfg.onChange != nil {
			cfg.onChange(op)
		}
		if op.Terminal() || until(op) {
			return op, nil
		}
		if !changed && c.now().Sub(started) < hold/2 {
			early++
		} else {
			early = 0
		}
		// Without an ETag nothing can be held on: poll at the suggested
		// interval.
		if early > 1 || etag == "" {
			pause := p.RetryAfter
			if pause <= 0 {
				pause = time.Second
			}
			if err := c.sleep(ctx, min(pause, c.retry.MaxRetryAfter)); err != nil {
				return op, err
			}
		}
		hold = cfg.hold
	}
}
