package web

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"eventops/engine"
	"eventops/web/httperr"
	"eventops/web/metrics"
)

// Outbound webhooks (issue 17): a company's endpoints, their deliveries,
// and the deliveries feed that `eventops webhooks listen` long-polls.

type endpointJSON struct {
	ID             uint64     `json:"id"`
	URL            string     `json:"url"`
	Events         []string   `json:"events"`
	Phases         []string   `json:"phases"`
	Description    string     `json:"description"`
	Enabled        bool       `json:"enabled"`
	DisabledReason *string    `json:"disabled_reason"`
	FailingSince   *timestamp `json:"failing_since"`
	// PreviousSecretUntil is when a rotated-out secret stops signing.
	PreviousSecretUntil *timestamp `json:"previous_secret_until"`
	CreatedAt           timestamp  `json:"created_at"`
	UpdatedAt           timestamp  `json:"updated_at"`
	// Secret is shown once: in the answer to a create or a rotation.
	Secret string `json:"secret,omitempty"`
}

func endpoint(ep *engine.WebhookEndpoint, now time.Time) endpointJSON {
	j := endpointJSON{ID: ep.ID, URL: ep.URL, Events: ep.Events, Phases: ep.Phases, Description: ep.Description,
		Enabled: ep.Enabled, DisabledReason: nonEmpty(ep.DisabledReason), FailingSince: tsPtr(ep.FailingSince),
		CreatedAt: ts(ep.CreatedAt), UpdatedAt: ts(ep.UpdatedAt)}
	if j.Phases == nil {
		j.Phases = []string{}
	}
	if ep.PrevUntil != nil && now.Before(*ep.PrevUntil) {
		j.PreviousSecretUntil = tsPtr(ep.PrevUntil)
	}
	return j
}

type deliveryPhaseJSON struct {
	ID   uint64 `json:"id"`
	Name string `json:"name"`
}

type deliveryJSON struct {
	ID             uint64             `json:"id"`
	WebhookID      string             `json:"webhook_id"`
	EndpointID     uint64             `json:"endpoint_id"`
	Type           string             `json:"type"`
	OperationID    *uint64            `json:"operation_id"`
	OrderID        *uint64            `json:"order_id"`
	Phase          *deliveryPhaseJSON `json:"phase,omitempty"`
	Version        uint64             `json:"version"`
	Status         string             `json:"status"`
	Attempts       int                `json:"attempts"`
	NextAttemptAt  *timestamp         `json:"next_attempt_at"`
	LastAttemptAt  *timestamp         `json:"last_attempt_at"`
	LastStatus     *int               `json:"last_response_status"`
	LastResponse   *string            `json:"last_response_body"`
	LastError      *string            `json:"last_error"`
	CreatedAt      timestamp          `json:"created_at"`
	FinishedAt     *timestamp         `json:"finished_at"`
	Payload        json.RawMessage    `json:"payload,omitempty"` // the feed only
	PayloadMissing bool               `json:"payload_missing,omitempty"`
}

func delivery(d *engine.Delivery) deliveryJSON {
	j := deliveryJSON{ID: d.ID, WebhookID: d.MessageID(), EndpointID: d.EndpointID, Type: d.Type,
		Version: d.Version, Status: string(d.Status), Attempts: d.Attempts, LastAttemptAt: tsPtr(d.LastAttemptAt),
		LastResponse: nonEmpty(d.LastResponse), LastError: nonEmpty(d.LastError),
		CreatedAt: ts(d.CreatedAt), FinishedAt: tsPtr(d.FinishedAt)}
	if d.OperationID != 0 {
		id := d.OperationID
		j.OperationID = &id
	}
	if d.OrderID != 0 {
		id := d.OrderID
		j.OrderID = &id
	}
	if d.PhaseID != 0 {
		j.Phase = &deliveryPhaseJSON{ID: d.PhaseID, Name: d.PhaseName}
	}
	if d.Status == engine.DeliveryPending {
		j.NextAttemptAt = tsPtr(&d.NextAttemptAt)
	}
	if d.LastStatus != 0 {
		st := d.LastStatus
		j.LastStatus = &st
	}
	return j
}

// MaxWebhookPhases bounds the phase nodes a delivery's operation carries;
// past it the children are cut (phases_truncated) and the body links to
// the operation in the API.
const MaxWebhookPhases = 100

type webhookBody struct {
	Type      string    `json:"type"`
	Timestamp timestamp `json:"timestamp"`
	// Version is the rendered state's: events sent together (the last
	// phase_completed and the completed of one commit) share it, so
	// receivers drop only a lower one (webhooks.md, Ordering).
	Version uint64             `json:"version"`
	Phase   *deliveryPhaseJSON `json:"phase,omitempty"`
	Data    any                `json:"data"`
	Links   map[string]string  `json:"links"`
}

// WebhookPayload renders a delivery's body: the resource as the API
// returns it now (public is the server's base URL, for links).
func WebhookPayload(public string, m *engine.WebhookMessage) ([]byte, error) {
	d := m.Delivery
	b := webhookBody{Type: d.Type, Timestamp: ts(d.CreatedAt), Links: map[string]string{}}
	switch {
	case m.Operation != nil:
		op := operation(m.Operation)
		link := public + "/api/v2/events/" + strconv.FormatUint(m.Operation.EventID, 10) + "/operations/" + strconv.FormatUint(m.Operation.ID, 10)
		if countPhases(m.Operation.Phases) > MaxWebhookPhases {
			for i := range op.Phases {
				op.Phases[i].Phases = []phaseJSON{}
			}
			op.PhasesTruncated = true
		}
		b.Version, b.Data, b.Links["operation"] = m.Operation.Version, op, link
		if d.PhaseID != 0 {
			b.Phase = &deliveryPhaseJSON{ID: d.PhaseID, Name: d.PhaseName}
		}
	case m.Order != nil:
		b.Version, b.Data = m.Order.Version, order(m.Order)
		b.Links["orders"] = public + "/api/v2/events/" + strconv.FormatUint(m.Order.EventID, 10) + "/orders"
	}
	return json.Marshal(b)
}

func countPhases(ps []*engine.Phase) int {
	n := len(ps)
	for _, p := range ps {
		n += countPhases(p.Phases)
	}
	return n
}

func (s *Server) listWebhookEndpoints(c *fiber.Ctx) error {
	p, err := listParams(c)
	if err != nil {
		return err
	}
	eps, err := s.eng.WebhookEndpoints(companyID(c))
	if err != nil {
		return err
	}
	now := s.eng.Now()
	out := make([]endpointJSON, len(eps))
	for i, ep := range eps {
		out[i] = endpoint(ep, now)
	}
	return s.sendList(c, p, out, len(out), "")
}

func (s *Server) getWebhookEndpoint(c *fiber.Ctx) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	ep, err := s.eng.WebhookEndpoint(companyID(c), id)
	if err != nil {
		return err
	}
	return sendJSON(c, http.StatusOK, endpoint(ep, s.eng.Now()))
}

// createWebhookEndpoint answers 201 with the endpoint and its secret, the
// only time the secret is shown.
func (s *Server) createWebhookEndpoint(c *fiber.Ctx) error {
	var in engine.WebhookEndpointInput
	if err := decodeEnvelope(c.Body(), "webhook_endpoint", &in); err != nil {
		return err
	}
	ep, secret, err := s.eng.CreateWebhookEndpoint(c.UserContext(), companyID(c), in)
	if err != nil {
		return err
	}
	j := endpoint(ep, s.eng.Now())
	j.Secret = secret.Reveal()
	c.Set(fiber.HeaderLocation, s.url("/api/v2/webhook_endpoints/"+strconv.FormatUint(ep.ID, 10)))
	c.Set(fiber.HeaderCacheControl, "no-store")
	return sendJSON(c, http.StatusCreated, j)
}

func (s *Server) updateWebhookEndpoint(c *fiber.Ctx) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	var in engine.WebhookEndpointInput
	if err := decodeEnvelope(c.Body(), "webhook_endpoint", &in); err != nil {
		return err
	}
	ep, err := s.eng.UpdateWebhookEndpoint(c.UserContext(), companyID(c), id, in)
	if err != nil {
		return err
	}
	return sendJSON(c, http.StatusOK, endpoint(ep, s.eng.Now()))
}

func (s *Server) deleteWebhookEndpoint(c *fiber.Ctx) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	if err := s.eng.DeleteWebhookEndpoint(c.UserContext(), companyID(c), id); err != nil {
		return err
	}
	return c.SendStatus(http.StatusNoContent)
}

// rotateWebhookSecret answers the endpoint with its new secret (shown
// once); the previous one signs beside it for 24 hours.
func (s *Server) rotateWebhookSecret(c *fiber.Ctx) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	ep, secret, err := s.eng.RotateWebhookSecret(c.UserContext(), companyID(c), id)
	if err != nil {
		return err
	}
	j := endpoint(ep, s.eng.Now())
	j.Secret = secret.Reveal()
	c.Set(fiber.HeaderCacheControl, "no-store")
	return sendJSON(c, http.StatusOK, j)
}

// listEndpointDeliveries answers an endpoint's deliveries, newest first.
func (s *Server) listEndpointDeliveries(c *fiber.Ctx) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	p, err := listParams(c)
	if err != nil {
		return err
	}
	var before uint64
	if p.Cursor != "" {
		if before, err = strconv.ParseUint(p.Cursor, 10, 64); err != nil {
			return httperr.InvalidParam("page[cursor]", "invalid", "is not a cursor of this list")
		}
	}
	ds, err := s.eng.Deliveries(engine.DeliveryQuery{CompanyID: companyID(c), EndpointID: id, Before: before, Limit: p.Size})
	if err != nil {
		return err
	}
	out := make([]deliveryJSON, len(ds))
	next := ""
	for i, d := range ds {
		out[i] = delivery(d)
	}
	if len(ds) == p.Size {
		next = strconv.FormatUint(ds[len(ds)-1].ID, 10)
	}
	return s.sendList(c, p, out, len(out), next)
}

// retryDelivery sends a delivery again now (202, the delivery).
func (s *Server) retryDelivery(c *fiber.Ctx) error {
	epID, err := pathID(c, "id")
	if err != nil {
		return err
	}
	id, err := pathID(c, "delivery")
	if err != nil {
		return err
	}
	d, err := s.eng.RetryDelivery(c.UserContext(), companyID(c), epID, id)
	if err != nil {
		return err
	}
	return sendJSON(c, http.StatusAccepted, delivery(d))
}

// deliveriesFeed answers the company's deliveries after the cursor, oldest
// first, each with its payload as it would be sent now; with ?wait=N it
// holds an empty answer up to N seconds for the next one. Without a cursor
// it starts after the newest delivery: a listener sees what comes next.
// ?endpoint_id=N narrows it to one endpoint's deliveries (an event is
// queued once per endpoint that receives it).
func (s *Server) deliveriesFeed(c *fiber.Ctx) error {
	p, err := listParams(c)
	if err != nil {
		return err
	}
	wait, err := waitParam(c)
	if err != nil {
		return err
	}
	var epID uint64
	if v := c.Query("endpoint_id"); v != "" {
		if epID, err = strconv.ParseUint(v, 10, 64); err != nil || epID == 0 {
			return httperr.InvalidParam("endpoint_id", "invalid", "must be the id of one of the company's webhook endpoints")
		}
	}
	cid := companyID(c)
	var after uint64
	if p.Cursor != "" {
		if after, err = strconv.ParseUint(p.Cursor, 10, 64); err != nil {
			return httperr.InvalidParam("page[cursor]", "invalid", "is not a cursor of this list")
		}
	} else {
		newest, err := s.eng.Deliveries(engine.DeliveryQuery{CompanyID: cid, EndpointID: epID, Limit: 1})
		if err != nil {
			return err
		}
		if len(newest) > 0 {
			after = newest[0].ID
		}
	}
	ds, err := s.eng.WaitDeliveries(s.ctx, cid, epID, after, p.Size, wait)
	if err != nil {
		return err
	}
	out := make([]deliveryJSON, len(ds))
	for i, d := range ds {
		out[i] = delivery(d)
		m, err := s.eng.DeliveryMessage(d)
		if err != nil {
			return err
		}
		if m == nil {
			out[i].PayloadMissing = true
			continue
		}
		body, err := WebhookPayload(s.public, m)
		if err != nil {
			return err
		}
		out[i].Payload = body
		after = d.ID
	}
	if len(ds) > 0 {
		after = ds[len(ds)-1].ID
	}
	p.Cursor = "" // the feed always hands a cursor on, even when empty
	return s.sendList(c, p, out, len(out), strconv.FormatUint(after, 10))
}

// webhookFigures are the webhook series of /metrics.
func (s *Server) webhookFigures() (metrics.WebhookFigures, error) {
	c := s.eng.DeliveryCounts()
	age, err := s.eng.OldestPendingDelivery()
	return metrics.WebhookFigures{Delivered: c.Delivered, Retried: c.Retried, Failed: c.Failed,
		OldestPendingSeconds: age.Seconds()}, err
}
