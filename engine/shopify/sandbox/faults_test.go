package sandbox

import (
	"bytes"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"
)

const mService = `mutation($n: String!) { fulfillmentServiceCreate(name: $n) { fulfillmentService { id } userErrors { field message } } }`

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestThrottledAtHTTP200WithCostReport(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	b := setup(t, Options{BucketSize: 30, RestoreRate: 1, Clock: clock.now})

	for i, name := range []string{"a", "b"} {
		a := b.mustData(mService, map[string]any{"n": name})
		mustEqual(t, "requested", a.num("extensions.cost.requestedQueryCost"), 11)
		mustEqual(t, "left", a.num("extensions.cost.throttleStatus.currentlyAvailable"), float64(30-11*(i+1)))
	}
	a := b.gql(mService, map[string]any{"n": "c"})
	mustEqual(t, "status", a.status, http.StatusOK)
	mustEqual(t, "code", a.str("errors.0.extensions.code"), "THROTTLED")
	mustEqual(t, "message", a.str("errors.0.message"), "Throttled")
	if _, has := a.body["data"]; has {
		t.Fatalf("a throttled answer carries data: %s", a.raw)
	}
	mustEqual(t, "requested", a.num("extensions.cost.requestedQueryCost"), 11)
	if v, ok := a.body["extensions"].(map[string]any)["cost"].(map[string]any)["actualQueryCost"]; !ok || v != nil {
		t.Fatalf("actualQueryCost should be null: %s", a.raw)
	}
	mustEqual(t, "currentlyAvailable", a.num("extensions.cost.throttleStatus.currentlyAvailable"), 8)
	mustEqual(t, "maximumAvailable", a.num("extensions.cost.throttleStatus.maximumAvailable"), 30)
	mustEqual(t, "restoreRate", a.num("extensions.cost.throttleStatus.restoreRate"), 1)
	mustEqual(t, "not applied", len(b.state().FulfillmentServices), 2)

	// (11 − 8) / 1 = 3 seconds later it goes through.
	clock.advance(3 * time.Second)
	b.mustData(mService, map[string]any{"n": "c"})
	mustEqual(t, "applied", len(b.state().FulfillmentServices), 3)
}

func TestUnlimitedBucket(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{BucketSize: 20, RestoreRate: 0})
	for i := 0; i < 10; i++ {
		a := b.mustData(mService, map[string]any{"n": string(rune('a' + i))})
		mustEqual(t, "full", a.num("extensions.cost.throttleStatus.currentlyAvailable"), 20)
		mustEqual(t, "rate", a.num("extensions.cost.throttleStatus.restoreRate"), 0)
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{TimeoutHold: 50 * time.Millisecond})

	// throttled: twice, then through.
	b.faults(FaultRule{Operation: "fulfillmentServiceCreate", Fault: FaultThrottled, Times: 2})
	for i := 0; i < 2; i++ {
		a := b.gql(mService, map[string]any{"n": "svc"})
		mustEqual(t, "throttled status", a.status, http.StatusOK)
		mustEqual(t, "throttled code", a.str("errors.0.extensions.code"), "THROTTLED")
		mustEqual(t, "throttled available", a.num("extensions.cost.throttleStatus.currentlyAvailable"), 0)
	}
	b.mustData(mService, map[string]any{"n": "svc"})
	mustEqual(t, "one service after two throttles", len(b.state().FulfillmentServices), 1)

	// HTTP statuses; "*" matches queries too.
	for _, c := range []struct {
		fault  string
		status int
	}{{FaultHTTP429, 429}, {FaultHTTP500, 500}, {FaultHTTP503, 503}, {FaultTimeout, 504}} {
		b.faults(FaultRule{Operation: "*", Fault: c.fault})
		a := b.gql(`{ shop { id } }`, nil)
		mustEqual(t, c.fault, a.status, c.status)
		if c.fault == FaultHTTP429 {
			mustEqual(t, "Retry-After", a.header.Get("Retry-After"), "1")
		}
		mustEqual(t, c.fault+" then fine", b.gql(`{ shop { id } }`, nil).status, http.StatusOK)
	}

	calls, _ := b.sb.Calls(b.shop.Name, "")
	faulted := 0
	for _, c := range calls {
		if c.Fault != "" {
			faulted++
		}
	}
	mustEqual(t, "faulted calls logged", faulted, 6)
}

func TestFaultTimeoutLetsGoWhenTheClientDoes(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	b.faults(FaultRule{Operation: "fulfillmentServiceCreate", Fault: FaultTimeout})
	client := &http.Client{Timeout: 200 * time.Millisecond}
	body, _ := json.Marshal(map[string]any{"query": mService, "variables": map[string]any{"n": "slow"}})
	req, _ := http.NewRequest(http.MethodPost, b.endpoint(), bytes.NewReader(body))
	req.Header.Set("X-Shopify-Access-Token", b.shop.AccessToken)
	start := time.Now()
	if resp, err := client.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("the timeout fault answered %d", resp.StatusCode)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("the client's deadline was not what ended the call")
	}
	mustEqual(t, "not applied", len(b.state().FulfillmentServices), 0)
}

func TestFaultApplyThenDrop(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	b.faults(FaultRule{Operation: "productSet", Fault: FaultApplyThenDrop})
	body, _ := json.Marshal(map[string]any{"query": mProductSet, "variables": map[string]any{
		"identifier": map[string]any{"handle": "gig"}, "input": map[string]any{"title": "Gig"}}})
	req, _ := http.NewRequest(http.MethodPost, b.endpoint(), bytes.NewReader(body))
	req.Header.Set("X-Shopify-Access-Token", b.shop.AccessToken)
	if resp, err := b.srv.Client().Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("the answer was not dropped: %d", resp.StatusCode)
	}
	mustEqual(t, "applied although the answer was lost", len(b.state().Products), 1)

	// The retry (an upsert by handle) finds it: still one product.
	b.mustData(mProductSet, map[string]any{"identifier": map[string]any{"handle": "gig"}, "input": map[string]any{"title": "Gig"}})
	mustEqual(t, "one product", len(b.state().Products), 1)
	calls, _ := b.sb.Calls(b.shop.Name, "productSet")
	mustEqual(t, "calls", len(calls), 2)
	mustEqual(t, "dropped call logged", calls[0].Fault, FaultApplyThenDrop)
	mustEqual(t, "dropped status", calls[0].Status, 0)
	if len(calls[0].Response) == 0 {
		t.Fatal("the lost answer is not in the call log")
	}
}

func TestFaultSellBetween(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	ids := b.catalog()
	b.faults(FaultRule{Operation: "inventorySetQuantities", Fault: FaultSellBetween, Units: 2})

	// We read 10 and write 7; a buyer takes 2 between our read and write.
	a := b.mustData(mInventorySet, map[string]any{"input": setQuantity(ids.items[0], ids.location, 7, 10), "key": "sb-1"})
	mustEqual(t, "stale", codes(a.list("data.inventorySetQuantities.userErrors")), "CHANGE_FROM_QUANTITY_STALE")
	q := b.quantities(ids.items[0], ids.location)
	mustEqual(t, "available after the sale", q["available"], 8)
	mustEqual(t, "committed after the sale", q["committed"], 2)
	mustEqual(t, "on hand", q["on_hand"], 10)

	st := b.state()
	mustEqual(t, "orders", len(st.Orders), 1)
	mustEqual(t, "sold", st.Orders[0].LineItems[0].Quantity, 2)
	h := b.hooks.wait(t, "orders/create", 1)
	if !validHMAC(b.shop.WebhookSecret, h[0]) {
		t.Fatal("bad signature")
	}

	// Re-read, recompute, re-send (a new key: other arguments).
	b.mustData(mInventorySet, map[string]any{"input": setQuantity(ids.items[0], ids.location, 5, 8), "key": "sb-2"})
	mustEqual(t, "reconciled", b.quantities(ids.items[0], ids.location)["available"], 5)
}
