package shopify_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"eventops/storage/pgtest"
)

// One Shopify delivery sent to two nodes at once (a load balancer spreading
// the shop's retries, or two subscriptions) records its order once: the
// delivery id and the shop order id are claimed in the commit that records
// it, and the node that loses the race reads the other's record when its
// transaction runs again.
func TestWebhookDeduplicatedAcrossNodes(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	a := setupHooksOn(t, url, nil)
	b := setupHooksOn(t, url, a)
	ev := a.event("Race", 7)
	sku := fmt.Sprintf("eventops-%d-%d", ev.ID, ev.RegistrationTypes[0].ID)
	for round, ids := range [][]string{
		{"same", "same", "same", "same", "same", "same"},       // one delivery, retried on both nodes
		{"sub-1", "sub-2", "sub-3", "sub-4", "sub-5", "sub-6"}, // one order under several delivery ids
	} {
		body := orderBody(int64(100+round), line{id: int64(round + 1), sku: sku, qty: 1, price: "25.00"})
		var wg sync.WaitGroup
		var recorded, duplicates atomic.Int64
		for i, id := range ids {
			node := a
			if i%2 == 1 {
				node = b
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, err := node.deliver("orders/create", fmt.Sprint(round, "-", id), body)
				if err != nil || len(out) != 1 {
					t.Errorf("deliver: %v, %v", out, err)
					return
				}
				switch {
				case out[0].Duplicate:
					duplicates.Add(1)
				case !out[0].Ignored:
					recorded.Add(1)
					node.waitAll(out[0].Operations)
				}
			}()
		}
		wg.Wait()
		if n := recorded.Load(); n != 1 {
			t.Errorf("round %d: %d deliveries recorded the order, want 1", round, n)
		}
		if round == 0 && duplicates.Load() != int64(len(ids)-1) {
			t.Errorf("round %d: %d deliveries said duplicate, want %d", round, duplicates.Load(), len(ids)-1)
		}
	}
	for _, node := range []*hookBundle{a, b} {
		if os := node.orders(ev.ID); len(os) != 2 {
			t.Errorf("%d orders, want 2 (one per shop order): %+v", len(os), os)
		}
	}
}
