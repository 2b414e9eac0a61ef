package engine

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"
)

// stopLogEvery is how often Stop repeats what it is still waiting for.
const stopLogEvery = 3 * time.Second

// inFlight is the set of attempts whose work is running (a call may be in
// flight), for Stop to say what it waits for.
type inFlight struct {
	mu  sync.Mutex
	n   uint64
	set map[uint64][2]uint64 // attempt serial -> (op, phase)
}

// begin records an attempt of phase phaseID of operation op (phaseID 0 for
// a refund) and returns the function that ends it.
func (f *inFlight) begin(op, phaseID uint64) func() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.set == nil {
		f.set = map[uint64][2]uint64{}
	}
	f.n++
	id := f.n
	f.set[id] = [2]uint64{op, phaseID}
	return func() {
		f.mu.Lock()
		delete(f.set, id)
		f.mu.Unlock()
	}
}

// list is the "op/phase" of every attempt in flight, sorted.
func (f *inFlight) list() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, 0, len(f.set))
	for _, p := range f.set {
		out = append(out, fmt.Sprintf("%d/%d", p[0], p[1]))
	}
	sort.Strings(out)
	return out
}

// backoff waits d before a retry, the one SleepCtx under a context that
// also ends when the engine's stop begins: it reports false, at once, if
// ctx ends or the stop begins first.
func (e *Engine) backoff(ctx context.Context, d time.Duration) bool {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-e.soft:
			cancel()
		case <-ctx.Done():
		}
	}()
	return SleepCtx(ctx, d)
}

// logWaiting says at info level, once and then every stopLogEvery until
// done closes, which phases and webhook sends the stop is waiting for
// (sends are cancelled when the stop begins: they are listed while they
// end).
func (e *Engine) logWaiting(done <-chan struct{}, timeout time.Duration) {
	t := time.NewTicker(stopLogEvery)
	defer t.Stop()
	start := time.Now()
	for {
		cancelIn := (timeout - time.Since(start)).Round(time.Second).String()
		if ids := e.inFlight.list(); len(ids) > 0 {
			e.log.Info("engine stop: waiting for phases in flight", "count", len(ids), "phases", ids,
				"cancel_in", cancelIn)
		}
		if ids := e.outbox.sending(); len(ids) > 0 {
			e.log.Info("engine stop: waiting for webhook sends to end", "count", len(ids), "deliveries", ids,
				"cancel_in", cancelIn)
		}
		select {
		case <-done:
			return
		case <-t.C:
		}
	}
}
