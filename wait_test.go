package main

import (
	"testing"
	"time"
)

// pollUntil checks cond every interval until it holds or within has
// passed, and reports whether it held. Tests wait on a condition, never on
// a fixed sleep: the interval only paces the checks.
func pollUntil(within, interval time.Duration, cond func() bool) bool {
	if cond() {
		return true
	}
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-deadline.C:
			return cond()
		case <-tick.C:
			if cond() {
				return true
			}
		}
	}
}

// waitFor fails the test unless cond holds within the given time.
func waitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	if !pollUntil(within, 5*time.Millisecond, cond) {
		t.Fatalf("%s: not within %v", what, within)
	}
}
