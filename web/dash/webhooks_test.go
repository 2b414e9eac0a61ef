package dash

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"eventops/engine"
)

// A company's webhooks page lists its endpoints and their deliveries; an
// admin can send a delivery again, a viewer sees no button and is refused.
func TestWebhooksPageShowsDeliveriesWithReplay(t *testing.T) {
	t.Parallel()
	f := setupDash(t)
	u, events := "https://hooks.example/in", []string{engine.EventOperationCompleted}
	ep, _, err := f.eng.CreateWebhookEndpoint(context.Background(), f.company.ID, engine.WebhookEndpointInput{URL: &u, Events: &events})
	if err != nil {
		t.Fatal(err)
	}
	_, op := f.createEvent("Jazz Night")
	f.waitOp(op.ID, func(o *engine.Operation) bool { return o.Status.Terminal() })
	ds, err := f.eng.Deliveries(engine.DeliveryQuery{CompanyID: f.company.ID, EndpointID: ep.ID})
	if err != nil || len(ds) != 1 {
		t.Fatalf("deliveries: %v %d", err, len(ds))
	}
	page := fmt.Sprintf("/companies/%d/webhooks", f.company.ID)
	retry := fmt.Sprintf("%s/%d/deliveries/%d/retry", page, ep.ID, ds[0].ID)

	admin := f.admin()
	admin.get("/companies").expect(t, http.StatusOK).contains(t, `href="`+page+`"`)
	admin.get(page).expect(t, http.StatusOK).contains(t, u, ds[0].MessageID(), "operation.completed", "pending", "Send again", `action="`+retry+`"`,
		// The button names the delivery it sends again.
		`aria-label="Send delivery `+ds[0].MessageID()+` (operation.completed) again"`)
	admin.post(retry, url.Values{"_csrf": {admin.token(page)}}).expect(t, http.StatusSeeOther)
	admin.get("/audit").expect(t, http.StatusOK).contains(t, "webhook.retry")

	// Its time is an operation time: in the browser's zone, not a UTC column.
	admin.get(page).lacks(t, "Last attempt (UTC)")
	if ds, _ = f.eng.Deliveries(engine.DeliveryQuery{CompanyID: f.company.ID, EndpointID: ep.ID}); ds[0].LastAttemptAt != nil {
		admin.get(page).contains(t, `<time datetime="`+ds[0].LastAttemptAt.UTC().Format("2006-01-02T15:04:05"))
	}

	viewer := f.viewer()
	viewer.get(page).expect(t, http.StatusOK).contains(t, ds[0].MessageID()).lacks(t, "Send again")
	viewer.post(retry, url.Values{"_csrf": {viewer.token(page)}}).expect(t, http.StatusForbidden)
	f.admin().get(fmt.Sprintf("/companies/%d/webhooks", f.company.ID+100)).expect(t, http.StatusNotFound)
}
