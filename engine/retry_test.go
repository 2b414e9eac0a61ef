package engine

import (
	"context"
	"testing"
	"time"
)

func TestRetryPolicyBackoff(t *testing.T) {
	p := RetryPolicy{Base: 200 * time.Millisecond, Max: 8 * time.Second, Attempts: 8}
	for _, tc := range []struct {
		name    string
		policy  RetryPolicy
		attempt int
		jitter  float64
		want    time.Duration
	}{
		{"first attempt, no jitter", p, 1, 0.5, 200 * time.Millisecond},
		{"doubles", p, 3, 0.5, 800 * time.Millisecond},
		{"capped at Max", p, 7, 0.5, 8 * time.Second},
		{"lowest jitter halves", p, 2, 0, 200 * time.Millisecond},
		{"highest jitter is half as much again", p, 2, 0.999, time.Duration(float64(400*time.Millisecond) * 1.499)},
		{"shift past the width waits Max", p, 80, 0.5, 8 * time.Second},
		{"overflowing shift waits Max", RetryPolicy{Base: time.Hour, Max: 1 << 62}, 40, 0.5, 1 << 62},
		{"attempt 0 waits Max", p, 0, 0.5, 8 * time.Second},
		{"Base above Max waits Max", RetryPolicy{Base: time.Minute, Max: time.Second}, 1, 0.5, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.policy.Backoff(tc.attempt, tc.jitter); got != tc.want {
				t.Fatalf("Backoff(%d, %v) = %v, want %v", tc.attempt, tc.jitter, got, tc.want)
			}
		})
	}
}

func TestSleepCtx(t *testing.T) {
	live := context.Background()
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		d    time.Duration
		want bool
	}{
		{"no wait, live", live, 0, true},
		{"no wait, ended", ended, 0, false},
		{"short wait, live", live, time.Millisecond, true},
		{"long wait, ended", ended, time.Hour, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := SleepCtx(tc.ctx, tc.d); got != tc.want {
				t.Fatalf("SleepCtx = %v, want %v", got, tc.want)
			}
		})
	}
}
