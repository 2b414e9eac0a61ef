package engine_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"eventops/engine"
)

// lockedBuffer is a log destination safe for the engine's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// busyShop fails every attempt transiently ("shop busy") until allow; then
// its attempts run done. tried takes a signal at the first attempt.
type busyShop struct {
	tried chan struct{}
	mu    sync.Mutex
	ok    bool
}

func newBusyShop() *busyShop { return &busyShop{tried: make(chan struct{}, 1)} }

func (b *busyShop) attempt(done func() error) error {
	select {
	case b.tried <- struct{}{}:
	default:
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ok {
		return done()
	}
	return engine.Transientf(engine.CodeShopifyUnavailable, "shop busy")
}

func (b *busyShop) allow() {
	b.mu.Lock()
	b.ok = true
	b.mu.Unlock()
}

// stopWithinSafety stops the engine, failing the test if Stop does not
// return.
func stopWithinSafety(t *testing.T, eng *engine.Engine) {
	t.Helper()
	done := make(chan struct{})
	go func() { eng.Stop(safety); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * safety):
		t.Fatal("engine.Stop did not return")
	}
}

// TestStopEndsARetryBackoffAtOnce: a phase waiting out its retry backoff
// has no call in flight, so a soft stop does not wait for it (nor reach
// the hard deadline): Stop returns, nothing failed, and the next start
// resumes the phase.
func TestStopEndsARetryBackoffAtOnce(t *testing.T) {
	t.Parallel()
	logs := &lockedBuffer{}
	shop := newBusyShop()
	work := workFunc(func(ctx context.Context, r *engine.PhaseRun) error {
		return shop.attempt(func() error { return nil })
	})
	cfg := engine.Config{Logger: slog.New(slog.NewTextHandler(logs, nil)),
		Retry: engine.RetryPolicy{Base: time.Hour, Max: time.Hour, Attempts: 5},
		Work:  map[string]engine.Work{engine.PhaseTickets: work}}
	b := setup(t, cfg)
	_, op := b.createDate("Gala", 5)
	<-shop.tried // the first attempt failed (or is failing): a backoff of an hour follows
	stopWithinSafety(t, b.eng)
	if strings.Contains(logs.String(), "deadline passed") {
		t.Fatalf("Stop waited for a phase in its retry backoff until the deadline:\n%s", logs.String())
	}
	b.eng = nil

	// Nothing failed: the next start resumes the phase, which now succeeds.
	shop.allow()
	b.restart(cfg)
	if got := b.wait(op.ID); got.Status != engine.StatusCompleted {
		t.Fatalf("resumed operation ended %s (%v), want completed", got.Status, got.Error)
	}
}

// A refund waiting out its retry backoff when the stop begins is left to
// resume at the next start, like a phase: not ended as failed (it read a
// nil error and panicked, taking the process down mid-shutdown).
func TestStopDuringARefundBackoff(t *testing.T) {
	t.Parallel()
	shop := newBusyShop()
	refund := refundFunc(func(ctx context.Context, r *engine.PhaseRun) error {
		return shop.attempt(func() error { return engine.LocalRefund{}.Refund(ctx, r) })
	})
	cfg := engine.Config{Logger: quiet,
		Retry:  engine.RetryPolicy{Base: time.Hour, Max: time.Hour, Attempts: 5},
		Refund: refund}
	b := setup(t, cfg)
	ev, save := b.createDate("Rained out", 5)
	b.wait(save.ID)
	rop, err := b.eng.RefundEvent(context.Background(), b.company.ID, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	<-shop.tried // the first attempt failed: a backoff of an hour follows
	stopWithinSafety(t, b.eng)
	if got := b.stored(rop.ID); got.Status.Terminal() {
		t.Fatalf("the refund ended %s at the stop (%v), want it left to resume", got.Status, got.Error)
	}
	b.eng = nil
	shop.allow()
	b.restart(cfg)
	if got := b.wait(rop.ID); got.Status != engine.StatusCompleted {
		t.Fatalf("resumed refund ended %s (%v), want completed", got.Status, got.Error)
	}
}
