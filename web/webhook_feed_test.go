package web

import (
	"context"
	"errors"
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
	ds, _, err := api.DeliveriesFeed(context.Background(), 0, "", 2*time.Second)
	if err != nil || len(ds) != 0 {
		t.Fatalf("a quiet poll waiting longer than the client's timeout: %d deliveries, %v", len(ds), err)
	}
}

// An event is queued once per endpoint that receives it, so the company's
// feed lists it once per endpoint; endpoint_id narrows the feed to one
// endpoint's deliveries (`webhooks listen --endpoint`), and an endpoint of
// another company is not found.
func TestDeliveriesFeedOfOneEndpoint(t *testing.T) {
	t.Parallel()
	f := setup(t)
	epA := f.createEndpoint(f.keyA, "https://hooks.example/a", "operation.completed")
	f.createEndpoint(f.keyA, "https://hooks.example/b", "operation.completed")
	api, err := client.New("http://"+f.listen(), f.keyA)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, all, err := api.DeliveriesFeed(ctx, 0, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	_, one, err := api.DeliveriesFeed(ctx, epA.ID, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	ev := f.event(f.keyA)
	f.waitTerminal(ev.EventID, ev.OpID)
	ds, _, err := api.DeliveriesFeed(ctx, 0, all, 0)
	if err != nil || len(ds) != 2 {
		t.Fatalf("the company's feed: %d deliveries (%v), want one per endpoint", len(ds), err)
	}
	ds, _, err = api.DeliveriesFeed(ctx, epA.ID, one, 0)
	if err != nil || len(ds) != 1 || ds[0].EndpointID != epA.ID || ds[0].Type != "operation.completed" {
		t.Fatalf("endpoint %d's feed: %+v (%v), want its one delivery", epA.ID, ds, err)
	}

	other := f.createEndpoint(f.keyB, "https://hooks.example/c", "operation.completed")
	var e *client.Error
	if _, _, err := api.DeliveriesFeed(ctx, other.ID, "", 0); !errors.As(err, &e) || e.Problem.Type != client.TypeNotFound {
		t.Fatalf("another company's endpoint: %v, want not found", err)
	}
}
