package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"
)

// A write whose first request with the same Idempotency-Key is still being
// handled (409 with Retry-After) is sent again, same key and body, after
// the Retry-After; the answer's operation and replay mark are read.
func TestWriteRetriesTheInFlightConflict(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []string
	c, sl := setup(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path+" "+r.Header.Get(HeaderIdempotencyKey)+" "+string(b))
		n := len(seen)
		mu.Unlock()
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			problemJSON(w, http.StatusConflict, TypeConflict, "a request with this Idempotency-Key is still being handled")
			return
		}
		w.Header().Set(HeaderOperationID, "77")
		w.Header().Set(HeaderReplayed, "true")
		fmt.Fprint(w, `{"id": 9}`)
	})
	a, err := c.Write(context.Background(), http.MethodPatch, "/events/9", map[string]any{"event": map[string]any{"name": "B"}}, "key-1")
	if err != nil {
		t.Fatal(err)
	}
	var ev struct{ ID uint64 }
	if a.Status != http.StatusOK || a.OperationID != 77 || !a.Replayed || a.Decode(&ev) != nil || ev.ID != 9 {
		t.Fatalf("answer %+v (decoded id %d)", a, ev.ID)
	}
	want := `PATCH /api/v2/events/9 key-1 {"event":{"name":"B"}}`
	if len(seen) != 2 || seen[0] != want || seen[1] != want {
		t.Fatalf("requests %q, want twice %q", seen, want)
	}
	if d := sl.all(); len(d) != 1 || d[0] < time.Second {
		t.Fatalf("waits %v, want one of at least the Retry-After (1s)", d)
	}
}

// A 409 without Retry-After is the state refusing the write (deleting an
// event with paid orders): it is returned at once, not retried.
func TestWriteReturnsAStateConflict(t *testing.T) {
	t.Parallel()
	var n int
	var mu sync.Mutex
	c, _ := setup(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		mu.Unlock()
		problemJSON(w, http.StatusConflict, TypeConflict, "the event has paid orders")
	})
	_, err := c.Write(context.Background(), http.MethodDelete, "/events/9", nil, "key-2")
	if e, ok := AsError(err); !ok || e.StatusCode != http.StatusConflict || e.Problem.Detail != "the event has paid orders" {
		t.Fatalf("err %v, want the 409 problem", err)
	}
	if n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
}

// AllOrders walks an event's orders page by page.
func TestAllOrdersFollowsCursors(t *testing.T) {
	t.Parallel()
	c, _ := setup(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v2/events/3/orders" || r.URL.Query().Get("page[size]") != "100" {
			http.Error(w, "unexpected "+r.URL.String(), http.StatusTeapot)
			return
		}
		if r.URL.Query().Get("page[cursor]") == "" {
			fmt.Fprint(w, `{"data":[{"id":1,"event_id":3,"quantity":2,"status":"paid","shopify_order_id":null}],"meta":{"page":{"next_cursor":"c2","last":false}}}`)
			return
		}
		fmt.Fprint(w, `{"data":[{"id":2,"event_id":3,"quantity":1,"status":"refunded","shopify_order_id":"5001"}],"meta":{"page":{"next_cursor":null,"last":true}}}`)
	})
	orders, err := c.AllOrders(context.Background(), 3)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]string, len(orders))
	for i, o := range orders {
		shop := "box office"
		if o.ShopifyOrderID != nil {
			shop = *o.ShopifyOrderID
		}
		got[i] = fmt.Sprintf("%d %s %d %s", o.ID, o.Status, o.Quantity, shop)
	}
	if want := []string{"1 paid 2 box office", "2 refunded 1 5001"}; !slices.Equal(got, want) {
		t.Fatalf("orders %q, want %q", got, want)
	}
}
