package web

import (
	"context"
	"testing"
	"time"

	"eventops/web/client"
)

// A quiet long-poll of the deliveries feed ends with an empty page when its
// wait is over, not with the client's timeout (review finding: the client
// gave up first on every quiet poll, so `webhooks listen` printed a
// timeout every 30 s).
func TestDeliveriesFeedWaitOutlastsTheClientTimeout(t *testing.T) {
	t.Parallel()
	f := setup(t)
	api, err := client.New("http://"+f.listen(), f.keyA, client.WithTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ds, _, err := api.DeliveriesFeed(context.Background(), "", 2*time.Second)
	if err != nil || len(ds) != 0 {
		t.Fatalf("a quiet poll waiting longer than the client's timeout: %d deliveries, %v", len(ds), err)
	}
}
