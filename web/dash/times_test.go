package dash

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"eventops/engine"
)

// Event times are the venue's, the zone named: an event at 19:00 UTC in a
// Chicago venue starts at 13:00 CST, on its page and in the events list.
// (Operation times are the browser's: TestDashboardFocusAndTimesInBrowser.)
func TestDashboardEventTimesInVenueZone(t *testing.T) {
	t.Parallel()
	f := setupDash(t)
	ev, _ := f.createEvent("Chicago Night")
	admin := f.admin()
	admin.get(fmt.Sprintf("/events/%d", ev.ID)).expect(t, http.StatusOK).
		contains(t, "2026-12-05 13:00 CST", "2026-12-05 17:00 CST").lacks(t, "19:00:00 UTC")
	admin.get("/events").expect(t, http.StatusOK).contains(t, "2026-12-05 13:00 CST")
}

// A refund's page says which orders it refunded and for how much.
func TestDashboardRefundLines(t *testing.T) {
	t.Parallel()
	f := setupDash(t)
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
	done := f.waitOp(refund.ID, func(o *engine.Operation) bool { return o.Status.Terminal() })
	if done.Status != engine.StatusCompleted {
		t.Fatalf("refund ended %s: %+v", done.Status, done.Error)
	}
	f.admin().get(opPage(refund.ID)).expect(t, http.StatusOK).
		contains(t, "Orders refunded", fmt.Sprintf("<td>#%d</td>", order.ID), "50.00 USD", "refunded")
}
