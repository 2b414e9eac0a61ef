package shopify

import (
	"context"
	"testing"
	"time"
)

// Nodes sharing a shop each spend within their share of its bucket: with
// two nodes and a full bucket of 100 points, a node spends 50 at once and
// waits for the shop to restore the rest; alone it spends all 100.
func TestBucketKeepsTheOtherNodesShare(t *testing.T) {
	clock := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		nodes     int
		immediate float64 // points spent before a wait
	}{{1, 100}, {2, 50}, {4, 25}} {
		b := newBucket(func() time.Time { return clock })
		b.nodes = func() int { return tc.nodes }
		c := &Cost{}
		c.ThrottleStatus.MaximumAvailable, c.ThrottleStatus.CurrentlyAvailable, c.ThrottleStatus.RestoreRate = 100, 100, 50
		b.observe("Q", c)
		ctx, cancel := context.WithDeadline(context.Background(), clock) // any wait fails at once
		spent := 0.0
		for b.wait(ctx, 5) == nil {
			spent += 5
		}
		cancel()
		if spent != tc.immediate {
			t.Errorf("%d nodes: spent %v points before waiting, want %v", tc.nodes, spent, tc.immediate)
		}
	}
}
