package dash

import (
	"net/http"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"eventops/engine"
	"eventops/views"
)

// A company's outbound webhooks: its endpoints with their newest
// deliveries, and a replay for admins.

const webhookDeliveriesShown = 20

func (d *Dashboard) webhooks(c *fiber.Ctx, sess *staffSession) error {
	id, err := dashPathID(c, "id")
	if err != nil {
		return err
	}
	co, err := d.eng.Company(id)
	if err != nil {
		return err
	}
	eps, err := d.eng.WebhookEndpoints(co.ID)
	if err != nil {
		return err
	}
	page := views.WebhooksPage{Company: co, Admin: sess.admin(), CSRF: sess.csrf}
	for _, ep := range eps {
		ds, err := d.eng.Deliveries(engine.DeliveryQuery{CompanyID: co.ID, EndpointID: ep.ID, Limit: webhookDeliveriesShown})
		if err != nil {
			return err
		}
		page.Endpoints = append(page.Endpoints, views.WebhookEndpointRow{Endpoint: ep, Deliveries: ds})
	}
	p := d.pageOf(c, sess, "Webhooks of "+co.Name, "companies", false)
	return dashRender(c, http.StatusOK, views.WebhooksView(p, page))
}

// retryDelivery sends a delivery again (admin), recorded in the audit log.
func (d *Dashboard) retryDelivery(c *fiber.Ctx, sess *staffSession) error {
	ctx, cancel := actionContext()
	defer cancel()
	cid, err := dashPathID(c, "id")
	if err != nil {
		return err
	}
	epID, err := dashPathID(c, "ep")
	if err != nil {
		return err
	}
	id, err := dashPathID(c, "delivery")
	if err != nil {
		return err
	}
	_, err = d.eng.RetryDelivery(ctx, cid, epID, id)
	d.record(c, sess, "webhook.retry", "webhook delivery "+strconv.FormatUint(id, 10), "", err)
	if err != nil {
		return err
	}
	return c.Redirect("/companies/"+strconv.FormatUint(cid, 10)+"/webhooks", http.StatusSeeOther)
}
