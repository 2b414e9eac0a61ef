package dash

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"eventops/engine"
)

// heldRefund holds a refund until released, then does it.
type heldRefund struct {
	started, release chan struct{}
}

func (h heldRefund) Refund(ctx context.Context, r *engine.PhaseRun) error {
	h.started <- struct{}{}
	select {
	case <-h.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return engine.LocalRefund{}.Refund(ctx, r)
}

// A refund followed live ends showing the orders it refunded, pushed with
// its last transition; its running transitions do not read the event's
// orders (the hub did, for every one, for lines a delta did not show).
func TestDashboardRefundFollowedLive(t *testing.T) {
	t.Parallel()
	held := heldRefund{started: make(chan struct{}, 1), release: make(chan struct{})}
	f := setupDash(t, dashListen(), dashEngine(func(c *engine.Config) { c.Refund = held }))
	var reads atomic.Int64
	f.dash.orders = func(companyID, eventID uint64) ([]*engine.Order, error) {
		reads.Add(1)
		return f.eng.Orders(companyID, eventID)
	}
	ev, save := f.createEvent("Refund Night")
	f.waitOp(save.ID, func(o *engine.Operation) bool { return o.Status.Terminal() })
	full, err := f.eng.Event(f.company.ID, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	order, _, err := f.eng.CreateOrder(context.Background(), f.company.ID, ev.ID,
		engine.OrderInput{RegistrationTypeID: full.RegistrationTypes[0].ID, Quantity: 2})
	if err != nil {
		t.Fatal(err)
	}
	refund, err := f.eng.RefundEvent(context.Background(), f.company.ID, ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	<-held.started

	admin := f.admin()
	header := http.Header{}
	header.Set("Origin", f.base)
	header.Set("Cookie", sessionCookie+"="+admin.cookies[sessionCookie])
	u := "ws" + strings.TrimPrefix(f.base, "http") + "/ws?page=" + url.QueryEscape(opPage(refund.ID))
	conn, _, err := websocket.DefaultDialer.Dial(u, header)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, _, err := conn.ReadMessage(); err != nil { // the page's state on joining
		t.Fatal(err)
	}
	joined := reads.Load()
	close(held.release)
	done := f.waitOp(refund.ID, func(o *engine.Operation) bool { return o.Status.Terminal() })
	if done.Status != engine.StatusCompleted {
		t.Fatalf("refund ended %s: %+v", done.Status, done.Error)
	}
	var last string
	for {
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, msg, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("reading pushes: %v", err)
		}
		if versionOf(msg) == done.Version {
			last = string(msg)
			break
		}
	}
	if !strings.Contains(last, "Orders refunded") || !strings.Contains(last, fmt.Sprintf("<td>#%d</td>", order.ID)) {
		t.Fatalf("the refund's last push does not show the orders refunded:\n%s", last)
	}
	if n := reads.Load() - joined; n != 1 {
		t.Fatalf("following the refund read the event's orders %d times, want once (at its end)", n)
	}
}
