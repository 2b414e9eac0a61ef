package engine

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Outbound webhooks (DESIGN §8, issue 17): a company's endpoints receive
// Standard Webhooks deliveries of its operations and orders. This file holds
// the endpoints; outbox.go the delivery records written with the
// transitions; outbox_worker.go the worker that sends them through a
// WebhookSender (engine/outbound implements it: the engine knows no HTTP).

// Event types an endpoint may subscribe to.
const (
	EventOperationCompleted      = "operation.completed"
	EventOperationFailed         = "operation.failed"
	EventOperationCanceled       = "operation.canceled"
	EventOperationPhaseCompleted = "operation.phase_completed"
	EventOrderCreated            = "order.created"
	EventOrderRefunded           = "order.refunded"
)

// WebhookEventTypes lists every event type, in documentation order.
var WebhookEventTypes = []string{
	EventOperationCompleted, EventOperationFailed, EventOperationCanceled,
	EventOperationPhaseCompleted, EventOrderCreated, EventOrderRefunded,
}

// SeqWebhookEndpoint and SeqDelivery number endpoints and deliveries.
const (
	SeqWebhookEndpoint Sequence = "webhook_endpoint"
	SeqDelivery        Sequence = "webhook_delivery"
)

// Limits of an endpoint's fields.
const (
	MaxWebhookURLLen         = 2000
	MaxWebhookDescriptionLen = 500
	MaxWebhookEndpoints      = 20 // per company: each commit of a transition reads them all
	// SecretOverlap is how long a rotated-out secret keeps signing beside
	// the new one.
	SecretOverlap = 24 * time.Hour
	// webhookSecretBytes is the size of a signing key (the spec allows
	// 24 to 64 bytes).
	webhookSecretBytes = 32
)

// WebhookEndpoint is a URL of a company that receives signed deliveries.
type WebhookEndpoint struct {
	ID          uint64   `json:"id"`
	CompanyID   uint64   `json:"company_id"`
	URL         string   `json:"url"`
	Events      []string `json:"events"`
	Phases      []string `json:"phases,omitempty"` // narrows operation.phase_completed; empty: every phase
	Description string   `json:"description,omitempty"`
	Enabled     bool     `json:"enabled"`
	// DisabledReason says why the engine disabled it ("gone": the receiver
	// answered 410; "failing": it failed for FailingLimit in a row); ""
	// when enabled or disabled through the API.
	DisabledReason string `json:"disabled_reason,omitempty"`
	// Secret and PrevSecret are sealed ("whsec_..." once opened).
	// PrevSecret signs beside Secret until PrevUntil (rotation).
	Secret     []byte     `json:"secret"`
	PrevSecret []byte     `json:"prev_secret,omitempty"`
	PrevUntil  *time.Time `json:"prev_until,omitempty"`
	// FailingSince is the first failed attempt since the last success.
	FailingSince *time.Time `json:"failing_since,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
}

// Wants reports whether the endpoint receives an event of type typ (for a
// phase_completed, of the phase named phase).
func (ep *WebhookEndpoint) Wants(typ, phase string) bool {
	if !ep.Enabled || !slices.Contains(ep.Events, typ) {
		return false
	}
	if typ == EventOperationPhaseCompleted && len(ep.Phases) > 0 {
		return slices.Contains(ep.Phases, phase)
	}
	return true
}

// WebhookEndpointInput creates or changes an endpoint; nil fields are left
// as they are on a change.
type WebhookEndpointInput struct {
	URL         *string   `json:"url"`
	Events      *[]string `json:"events"`
	Phases      *[]string `json:"phases"`
	Description *string   `json:"description"`
	Enabled     *bool     `json:"enabled"`
}

// URLGuard checks an endpoint URL before it is stored: scheme and the
// addresses its host resolves to (engine/outbound implements it; nil checks
// only the syntax).
type URLGuard interface {
	CheckURL(ctx context.Context, raw string) error
}

// WebhookTx is what a store's transaction implements to keep outbound
// webhooks. Like AuditTx it is asserted on the Tx, so stores without it
// keep compiling; with such a store no endpoint can be made and nothing is
// ever queued.
type WebhookTx interface {
	WebhookEndpoint(id uint64) (*WebhookEndpoint, error)
	PutWebhookEndpoint(ep *WebhookEndpoint) error
	DeleteWebhookEndpoint(id uint64) error
	// WebhookEndpoints lists a company's endpoints in id order (0: every
	// company's).
	WebhookEndpoints(companyID uint64) ([]*WebhookEndpoint, error)

	Delivery(id uint64) (*Delivery, error)
	PutDelivery(d *Delivery) error
	// DueDeliveries lists the ids of pending deliveries whose next
	// attempt is at or before t, soonest first, at most limit, and when the
	// next one after them is due (zero when none is).
	DueDeliveries(t time.Time, limit int) ([]uint64, time.Time, error)
	// Deliveries lists deliveries newest first (EndpointID or CompanyID
	// set), or, with After set, oldest first after that id.
	Deliveries(q DeliveryQuery) ([]*Delivery, error)
	// OldestPendingDelivery is the pending delivery created first, or nil.
	OldestPendingDelivery() (*Delivery, error)
	// PruneDeliveries deletes up to limit finished deliveries that
	// finished before t, oldest first.
	PruneDeliveries(before time.Time, limit int) (int, error)
}

// ErrNoWebhooks is returned when the store keeps no outbound webhooks.
var ErrNoWebhooks = Conflict("this store keeps no outbound webhooks")

func webhookTx(tx Tx) (WebhookTx, error) {
	wtx, ok := tx.(WebhookTx)
	if !ok {
		return nil, ErrNoWebhooks
	}
	return wtx, nil
}

// newWebhookSecret is a fresh signing secret as the spec writes it.
func newWebhookSecret() (Secret, error) {
	b := make([]byte, webhookSecretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return Secret("whsec_" + base64.StdEncoding.EncodeToString(b)), nil
}

func (e *Engine) checkEndpoint(ctx context.Context, ep *WebhookEndpoint) error {
	var errs []FieldError
	u, err := url.Parse(ep.URL)
	switch {
	case strings.TrimSpace(ep.URL) == "":
		errs = append(errs, FieldError{Attribute: "url", Code: "blank", Message: "can't be blank"})
	case len(ep.URL) > MaxWebhookURLLen:
		errs = append(errs, FieldError{Attribute: "url", Code: "too_long", Message: fmt.Sprintf("is longer than %d characters", MaxWebhookURLLen)})
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.User != nil:
		errs = append(errs, FieldError{Attribute: "url", Code: "invalid", Message: "must be an absolute https URL without credentials"})
	}
	if len(ep.Events) == 0 {
		errs = append(errs, FieldError{Attribute: "events", Code: "blank", Message: "must name at least one event type"})
	}
	for _, t := range ep.Events {
		if !slices.Contains(WebhookEventTypes, t) {
			errs = append(errs, FieldError{Attribute: "events", Code: "invalid",
				Message: fmt.Sprintf("%q is not an event type (%s)", truncate(t, 60), strings.Join(WebhookEventTypes, ", "))})
			break
		}
	}
	for _, p := range ep.Phases {
		if !slices.Contains(PhaseNames, p) {
			errs = append(errs, FieldError{Attribute: "phases", Code: "invalid",
				Message: fmt.Sprintf("%q is not a phase (%s)", truncate(p, 60), strings.Join(PhaseNames, ", "))})
			break
		}
	}
	errs = append(errs, CheckText("description", ep.Description, MaxWebhookDescriptionLen)...)
	if len(errs) > 0 {
		return Invalid(errs...)
	}
	if e.urlGuard != nil {
		if err := e.urlGuard.CheckURL(ctx, ep.URL); err != nil {
			return Invalid(FieldError{Attribute: "url", Code: "invalid", Message: err.Error()})
		}
	}
	return nil
}

func dedupe(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		s = strings.TrimSpace(s)
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// CreateWebhookEndpoint stores an endpoint, enabled, and returns it with its
// signing secret: the one time the secret is shown.
func (e *Engine) CreateWebhookEndpoint(ctx context.Context, companyID uint64, in WebhookEndpointInput) (*WebhookEndpoint, Secret, error) {
	now := e.now()
	ep := &WebhookEndpoint{CompanyID: companyID, Enabled: true, CreatedAt: now, UpdatedAt: now}
	in.applyTo(ep)
	if err := e.checkEndpoint(ctx, ep); err != nil {
		return nil, "", err
	}
	secret, err := newWebhookSecret()
	if err != nil {
		return nil, "", err
	}
	if e.sealer == nil {
		return nil, "", Errorf(CodeOperationStorageFailed, "no sealer configured for webhook secrets")
	}
	if ep.Secret, err = e.sealer.Seal(secret.Reveal()); err != nil {
		return nil, "", err
	}
	err = e.store.Update(ctx, func(tx Tx) error {
		wtx, err := webhookTx(tx)
		if err != nil {
			return err
		}
		if c, err := tx.Company(companyID); err != nil || c == nil {
			if err == nil {
				err = NotFound("company %d not found", companyID)
			}
			return err
		}
		eps, err := wtx.WebhookEndpoints(companyID)
		if err != nil {
			return err
		}
		if len(eps) >= MaxWebhookEndpoints {
			return Conflict("a company has at most %d webhook endpoints", MaxWebhookEndpoints)
		}
		if ep.ID, err = tx.NextID(SeqWebhookEndpoint); err != nil {
			return err
		}
		return wtx.PutWebhookEndpoint(ep)
	})
	if err != nil {
		return nil, "", err
	}
	return ep, secret, nil
}

// WebhookEndpoint reads an endpoint of a company (companyID 0: any, for
// staff).
func (e *Engine) WebhookEndpoint(companyID, id uint64) (*WebhookEndpoint, error) {
	var ep *WebhookEndpoint
	err := e.store.View(func(tx Tx) error {
		var err error
		ep, err = endpointOf(tx, companyID, id)
		return err
	})
	return ep, err
}

func endpointOf(tx Tx, companyID, id uint64) (*WebhookEndpoint, error) {
	wtx, err := webhookTx(tx)
	if err != nil {
		return nil, err
	}
	ep, err := wtx.WebhookEndpoint(id)
	if err != nil {
		return nil, err
	}
	if ep == nil || (companyID != 0 && ep.CompanyID != companyID) {
		return nil, NotFound("webhook endpoint %d not found", id)
	}
	return ep, nil
}

// WebhookEndpoints lists a company's endpoints (0: every company's).
func (e *Engine) WebhookEndpoints(companyID uint64) ([]*WebhookEndpoint, error) {
	var out []*WebhookEndpoint
	err := e.store.View(func(tx Tx) error {
		wtx, err := webhookTx(tx)
		if err != nil {
			return err
		}
		out, err = wtx.WebhookEndpoints(companyID)
		return err
	})
	return out, err
}

// UpdateWebhookEndpoint changes an endpoint's url, events, phases,
// description or enabled flag. Enabling it clears the reason it was
// disabled and its failing streak. The input is checked first (the URL
// guard resolves names, outside any transaction), then applied to the
// endpoint as it is in the commit: what the worker wrote meanwhile (a 410
// disable, a failing streak) is kept.
func (e *Engine) UpdateWebhookEndpoint(ctx context.Context, companyID, id uint64, in WebhookEndpointInput) (*WebhookEndpoint, error) {
	cur, err := e.WebhookEndpoint(companyID, id)
	if err != nil {
		return nil, err
	}
	if in.URL != nil || in.Events != nil || in.Phases != nil || in.Description != nil {
		next := *cur
		in.applyTo(&next)
		if err := e.checkEndpoint(ctx, &next); err != nil {
			return nil, err
		}
	}
	now := e.now()
	return e.changeEndpoint(ctx, companyID, id, func(ep *WebhookEndpoint) error {
		in.applyTo(ep)
		ep.UpdatedAt = now
		return nil
	})
}

// applyTo sets the fields the input names on ep.
func (in WebhookEndpointInput) applyTo(ep *WebhookEndpoint) {
	if in.URL != nil {
		ep.URL = strings.TrimSpace(*in.URL)
	}
	if in.Events != nil {
		ep.Events = dedupe(*in.Events)
	}
	if in.Phases != nil {
		ep.Phases = dedupe(*in.Phases)
	}
	if in.Description != nil {
		ep.Description = strings.TrimSpace(*in.Description)
	}
	if in.Enabled != nil {
		ep.Enabled = *in.Enabled
		if ep.Enabled {
			ep.DisabledReason, ep.FailingSince = "", nil
		}
	}
}

// changeEndpoint reads an endpoint, applies fn and writes it in one commit.
func (e *Engine) changeEndpoint(ctx context.Context, companyID, id uint64, fn func(ep *WebhookEndpoint) error) (*WebhookEndpoint, error) {
	var out *WebhookEndpoint
	err := e.store.Update(ctx, func(tx Tx) error {
		ep, err := endpointOf(tx, companyID, id)
		if err != nil {
			return err
		}
		if err := fn(ep); err != nil {
			return err
		}
		out = ep
		wtx, _ := webhookTx(tx)
		return wtx.PutWebhookEndpoint(ep)
	})
	if err != nil {
		return nil, err
	}
	e.outbox.kick()
	return out, nil
}

// DeleteWebhookEndpoint removes an endpoint; deliveries still pending for
// it are dropped when they come due.
func (e *Engine) DeleteWebhookEndpoint(ctx context.Context, companyID, id uint64) error {
	return e.store.Update(ctx, func(tx Tx) error {
		if _, err := endpointOf(tx, companyID, id); err != nil {
			return err
		}
		wtx, _ := webhookTx(tx)
		return wtx.DeleteWebhookEndpoint(id)
	})
}

// RotateWebhookSecret gives an endpoint a new secret, returned once; the
// previous one keeps signing beside it for SecretOverlap, unless it can no
// longer be opened (the way out after sealer.key was lost).
func (e *Engine) RotateWebhookSecret(ctx context.Context, companyID, id uint64) (*WebhookEndpoint, Secret, error) {
	secret, err := newWebhookSecret()
	if err != nil {
		return nil, "", err
	}
	if e.sealer == nil {
		return nil, "", Errorf(CodeOperationStorageFailed, "no sealer configured for webhook secrets")
	}
	sealed, err := e.sealer.Seal(secret.Reveal())
	if err != nil {
		return nil, "", err
	}
	now := e.now()
	ep, err := e.changeEndpoint(ctx, companyID, id, func(ep *WebhookEndpoint) error {
		until := now.Add(SecretOverlap)
		ep.PrevSecret, ep.PrevUntil, ep.Secret, ep.UpdatedAt = ep.Secret, &until, sealed, now
		if _, err := e.sealer.Open(ep.PrevSecret); err != nil {
			// The old secret cannot be opened (sealer.key was lost or
			// replaced): it cannot sign beside the new one, and keeping it
			// would fail every send for the overlap.
			ep.PrevSecret, ep.PrevUntil = nil, nil
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return ep, secret, nil
}

// SigningSecrets opens the secrets that sign a delivery to ep at now: the
// current one, then the previous one while it overlaps.
func (e *Engine) SigningSecrets(ep *WebhookEndpoint, now time.Time) ([]Secret, error) {
	if e.sealer == nil {
		return nil, Errorf(CodeOperationStorageFailed, "no sealer configured for webhook secrets")
	}
	cur, err := e.sealer.Open(ep.Secret)
	if err != nil {
		return nil, fmt.Errorf("open webhook secret of endpoint %d: %w", ep.ID, err)
	}
	out := []Secret{Secret(cur)}
	if len(ep.PrevSecret) > 0 && ep.PrevUntil != nil && now.Before(*ep.PrevUntil) {
		prev, err := e.sealer.Open(ep.PrevSecret)
		if err != nil {
			return nil, fmt.Errorf("open previous webhook secret of endpoint %d: %w", ep.ID, err)
		}
		out = append(out, Secret(prev))
	}
	return out, nil
}

// PhaseNames are the top-level phase names an endpoint's phases filter may
// name.
var PhaseNames = []string{PhaseRecurrence, PhaseTickets, PhaseCatalog, PhaseInventory, PhaseMetafields, PhaseDelivery, PhasePublish}
