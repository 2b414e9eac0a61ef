package web

import (
	"context"
	"testing"
	"time"

	"eventops/web/client"
)

// A long-poll of the deliveries feed on node A answers when node B queues
// a delivery, rather than at the end of its wait.
func TestDeliveriesFeedWakesForAnotherNodesDelivery(t *testing.T) {
	a, b := twoCrossNodes(t, nil)
	a.createEndpoint(a.keyA, "https://hooks.example/a", "operation.completed")
	api, err := client.New("http://"+a.listen(), a.keyA)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, cursor, err := api.DeliveriesFeed(ctx, 0, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	const wait = 20 * time.Second
	type result struct {
		n    int
		took time.Duration
		err  error
	}
	done := make(chan result, 1)
	go func() {
		start := time.Now()
		ds, _, err := api.DeliveriesFeed(ctx, 0, cursor, wait)
		done <- result{len(ds), time.Since(start), err}
	}()
	time.Sleep(300 * time.Millisecond) // the poll waits on node A
	ev := b.event(b.keyA)              // node B runs the save and queues its delivery
	b.waitTerminal(ev.EventID, ev.OpID)
	r := <-done
	if r.err != nil || r.n == 0 {
		t.Fatalf("node A's feed answered %d deliveries, %v; want node B's", r.n, r.err)
	}
	if r.took >= wait {
		t.Errorf("node A's feed answered after its whole wait (%v), not when node B queued the delivery", r.took)
	}
}
