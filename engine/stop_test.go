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

// TestStopEndsARetryBackoffAtOnce: a phase waiting out its retry backoff
// has no call in flight, so a soft stop does not wait for it (nor reach
// the hard deadline): Stop returns, nothing failed, and the next start
// resumes the phase.
func TestStopEndsARetryBackoffAtOnce(t *testing.T) {
	t.Parallel()
	logs := &lockedBuffer{}
	tried := make(chan struct{}, 1)
	var mu sync.Mutex
	succeed := false
	work := workFunc(func(ctx context.Context, r *engine.PhaseRun) error {
		select {
		case tried <- struct{}{}:
		default:
		}
		mu.Lock()
		defer mu.Unlock()
		if succeed {
			return nil
		}
		return engine.Transientf(engine.CodeShopifyUnavailable, "shop busy")
	})
	cfg := engine.Config{Logger: slog.New(slog.NewTextHandler(logs, nil)),
		Retry: engine.RetryPolicy{Base: time.Hour, Max: time.Hour, Attempts: 5},
		Work:  map[string]engine.Work{engine.PhaseTickets: work}}
	b := setup(t, cfg)
	_, op := b.createDate("Gala", 5)
	<-tried // the first attempt failed (or is failing): a backoff of an hour follows

	done := make(chan struct{})
	go func() { b.eng.Stop(safety); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * safety):
		t.Fatal("engine.Stop did not return")
	}
	if strings.Contains(logs.String(), "deadline passed") {
		t.Fatalf("Stop waited for a phase in its retry backoff until the deadline:\n%s", logs.String())
	}
	b.eng = nil

	// Nothing failed: the next start resumes the phase, which now succeeds.
	mu.Lock()
	succeed = true
	mu.Unlock()
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
	tried := make(chan struct{}, 1)
	var mu sync.Mutex
	succeed := false
	refund := refundFunc(func(ctx context.Context, r *engine.PhaseRun) error {
		select {
		case tried <- struct{}{}:
		default:
		}
		mu.Lock()
		defer mu.Unlock()
		if succeed {
			return engine.LocalRefund{}.Refund(ctx, r)
		}
		return engine.Transientf(engine.CodeShopifyUnavailable, "shop busy")
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
	<-tried // the first attempt failed: a backoff of an hour follows
	done := make(chan struct{})
	go func() { b.eng.Stop(safety); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * safety):
		t.Fatal("engine.Stop did not return")
	}
	if got := b.stored(rop.ID); got.Status.Terminal() {
		t.Fatalf("the refund ended %s at the stop (%v), want it left to resume", got.Status, got.Error)
	}
	b.eng = nil
	mu.Lock()
	succeed = true
	mu.Unlock()
	b.restart(cfg)
	if got := b.wait(rop.ID); got.Status != engine.StatusCompleted {
		t.Fatalf("resumed refund ended %s (%v), want completed", got.Status, got.Error)
	}
}
