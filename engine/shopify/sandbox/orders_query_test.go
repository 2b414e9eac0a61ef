package sandbox

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

const qOrdersSince = `query($q: String, $after: String) {
  orders(first: 2, after: $after, query: $q, sortKey: UPDATED_AT) {
    nodes { id updatedAt }
    pageInfo { hasNextPage endCursor }
  }
}`

// ordersPage reads one page of orders and returns their ids, the cursor
// after them and whether more follow.
func (b *bundle) ordersPage(q, after string) ([]string, string, bool) {
	b.t.Helper()
	vars := map[string]any{"q": q}
	if after != "" {
		vars["after"] = after
	}
	a := b.mustData(qOrdersSince, vars)
	var ids []string
	for _, n := range a.list("data.orders.nodes") {
		ids = append(ids, n.(map[string]any)["id"].(string))
	}
	end, _ := a.get("data.orders.pageInfo.endCursor").(string)
	more, _ := a.get("data.orders.pageInfo.hasNextPage").(bool)
	return ids, end, more
}

// orders(query: "updated_at:>=…", sortKey: UPDATED_AT) answers what a
// reconciliation needs: the orders updated since a time, oldest update
// first (ties by id), whole seconds, paged with cursors that hold the sort
// value, so that an order updated between two pages neither hides the
// ones after it nor is lost (it comes again at its new place).
func TestOrdersUpdatedSinceSortedAndPaged(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	b := setup(t, Options{Clock: clock.now})
	ids := b.catalog()
	var orders []string
	for _, step := range []time.Duration{0, time.Second, 200 * time.Millisecond, 2 * time.Second} {
		clock.advance(step)
		orders = append(orders, b.order(ids.variants[0], 1)["id"].(string))
	}
	// orders[1] and orders[2] share 12:00:01; orders[3] is 12:00:03.

	got, _, _ := b.ordersPage("updated_at:>='2026-11-01T12:00:01Z'", "")
	mustEqual(t, "first page from 12:00:01", join(got), join(orders[1:3]))
	got, _, _ = b.ordersPage("updated_at:>'2026-11-01T12:00:01Z'", "")
	mustEqual(t, "strictly after 12:00:01", join(got), join(orders[3:]))
	got, _, _ = b.ordersPage("updated_at:<=2026-11-01T12:00:00Z", "")
	mustEqual(t, "up to 12:00:00", join(got), join(orders[:1]))
	got, _, _ = b.ordersPage("status:any updated_at:>='2026-11-01T12:00:01Z'", "")
	mustEqual(t, "unknown terms are ignored", join(got), join(orders[1:3]))

	page1, cursor, more := b.ordersPage("", "")
	mustEqual(t, "page 1", join(page1), join(orders[:2]))
	mustEqual(t, "more after page 1", more, true)
	// The last order of page 1 is updated (refunded) before page 2 is read.
	clock.advance(5 * time.Second)
	status, _ := b.control(http.MethodPost, "/orders/"+strings.TrimPrefix(orders[1], "gid://shopify/Order/")+"/refund", map[string]any{})
	mustEqual(t, "refund", status, http.StatusCreated)
	page2, cursor, more := b.ordersPage("", cursor)
	mustEqual(t, "page 2 continues after page 1", join(page2), join(orders[2:4]))
	mustEqual(t, "more after page 2", more, true)
	page3, _, more := b.ordersPage("", cursor)
	mustEqual(t, "the updated order comes again, last", join(page3), orders[1])
	mustEqual(t, "no more", more, false)

	a := b.gql(qOrdersSince, map[string]any{"after": "not a cursor"})
	if len(a.list("errors")) == 0 {
		t.Fatal("a bad cursor is not refused")
	}
}

func join(ss []string) string {
	out := ""
	for i, s := range ss {
		if i > 0 {
			out += ","
		}
		out += s
	}
	return out
}

// Shopify retries a failed delivery 8 times over 4 hours with exponential
// backoff; with WebhookRetryScale the sandbox does the same, scaled.
func TestWebhookRetriesOnShopifysSchedule(t *testing.T) {
	t.Parallel()
	sb := &Sandbox{opts: Options{WebhookRetryScale: 1}}
	var total time.Duration
	for attempt := 1; attempt < shopifyWebhookAttempts; attempt++ {
		d := sb.retryDelay(attempt)
		if attempt > 1 && (d-2*sb.retryDelay(attempt-1) > time.Microsecond || 2*sb.retryDelay(attempt-1)-d > time.Microsecond) {
			t.Fatalf("wait %d is %v, not double the one before", attempt, d)
		}
		total += d
	}
	if total < 4*time.Hour-time.Second || total > 4*time.Hour {
		t.Fatalf("the 8 retries span %v, want 4 h", total)
	}

	b := setup(t, Options{WebhookRetryScale: 0.0001}) // about 1.4 s in all
	ids := b.catalog()
	b.hooks.failNext(100)
	b.order(ids.variants[0], 1)
	var last Delivery
	eventually(t, func() bool {
		ds, _ := b.sb.Deliveries(b.shop.Name)
		last = ds[len(ds)-1]
		return last.Status != "pending"
	})
	mustEqual(t, "gave up", last.Status, "failed")
	mustEqual(t, "attempts: the first and 8 retries", last.Attempts, 9)
}

// drop_webhooks makes the shop give up on a topic's deliveries for good,
// without sending them; other topics still arrive.
func TestFaultDropWebhooks(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	ids := b.catalog()
	status, _ := b.control(http.MethodPost, "/faults", map[string]any{"rules": []FaultRule{{Operation: "orders/create", Fault: FaultDropWebhooks}}})
	mustEqual(t, "add rule", status, http.StatusOK)
	o := b.order(ids.variants[0], 1)
	b.order(ids.variants[0], 1)
	eventually(t, func() bool {
		ds, _ := b.sb.Deliveries(b.shop.Name)
		n := 0
		for _, d := range ds {
			if d.Topic == "orders/create" && d.Status == "failed" && d.Attempts == 0 {
				n++
			}
		}
		return n == 2
	})
	status, _ = b.control(http.MethodPost, "/orders/"+strings.TrimPrefix(o["id"].(string), "gid://shopify/Order/")+"/cancel", map[string]any{})
	mustEqual(t, "cancel", status, http.StatusOK)
	b.hooks.wait(t, "orders/cancelled", 1)
	for _, h := range b.hooks.all() {
		if h.header.Get("X-Shopify-Topic") == "orders/create" {
			t.Fatal("a dropped topic was delivered")
		}
	}
	fs, _ := b.sb.Faults(b.shop.Name)
	mustEqual(t, "the rule stays", len(fs), 1)
}
