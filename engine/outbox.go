package engine

import (
	"strconv"
	"time"
)

// The transactional outbox: a delivery record names what happened (an
// operation or order, the event type, the endpoint) and is written in the
// same commit as the transition that caused it, so that a crash between
// the commit and the send loses nothing. It holds a reference, not a body:
// the body is rendered from the resource when the delivery is sent.

// DeliveryStatus is where a delivery stands.
type DeliveryStatus string

const (
	DeliveryPending   DeliveryStatus = "pending"   // waiting for its next attempt
	DeliveryDelivered DeliveryStatus = "delivered" // a 2xx answered it
	DeliveryFailed    DeliveryStatus = "failed"    // out of attempts, or the endpoint is gone or disabled
)

// MaxDeliveryResponse caps the part of a receiver's answer a delivery keeps.
const MaxDeliveryResponse = 1 << 10

// Delivery is one event queued for one endpoint, and its attempts.
type Delivery struct {
	ID uint64 `json:"id"`
	// WebhookID is the webhook-id of every attempt (MessageID), chosen
	// when the delivery is queued.
	WebhookID   string `json:"webhook_id,omitempty"`
	CompanyID   uint64 `json:"company_id"`
	EndpointID  uint64 `json:"endpoint_id"`
	Type        string `json:"type"`
	OperationID uint64 `json:"operation_id,omitempty"`
	OrderID     uint64 `json:"order_id,omitempty"`
	PhaseID     uint64 `json:"phase_id,omitempty"`
	PhaseName   string `json:"phase_name,omitempty"`
	// Version is the version of the resource's state that caused it.
	Version uint64         `json:"version"`
	Status  DeliveryStatus `json:"status"`
	// Attempts counts sends; ScheduleBase is Attempts when the retry
	// schedule last began (0, or a replay's start).
	Attempts      int        `json:"attempts"`
	ScheduleBase  int        `json:"schedule_base,omitempty"`
	NextAttemptAt time.Time  `json:"next_attempt_at"`
	LastAttemptAt *time.Time `json:"last_attempt_at,omitempty"`
	LastStatus    int        `json:"last_status,omitempty"`   // HTTP status of the last answer; 0 without one
	LastResponse  string     `json:"last_response,omitempty"` // at most MaxDeliveryResponse bytes of it
	LastError     string     `json:"last_error,omitempty"`    // why the last attempt failed
	CreatedAt     time.Time  `json:"created_at"`
	// ReplayedAt is when a finished delivery was last sent again (POST
	// …/retry): its wait as a pending delivery counts from then.
	ReplayedAt *time.Time `json:"replayed_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// PendingSince is when d last became pending: its creation, or its
// replay.
func (d *Delivery) PendingSince() time.Time {
	if d.ReplayedAt != nil && d.ReplayedAt.After(d.CreatedAt) {
		return *d.ReplayedAt
	}
	return d.CreatedAt
}

// MessageID is the webhook-id of every attempt of d: stable across retries
// and replays, so receivers deduplicate on it. It names the installation
// ("msg_<installation>_<id>") so that two installations (staging and
// production, or a data folder started afresh) sending to one receiver
// never share one.
func (d *Delivery) MessageID() string {
	if d.WebhookID != "" {
		return d.WebhookID
	}
	return "msg_" + strconv.FormatUint(d.ID, 10)
}

// DeliveryQuery lists deliveries of one endpoint or one company.
type DeliveryQuery struct {
	CompanyID  uint64
	EndpointID uint64
	Before     uint64 // newest first, ids below it (0: from the newest)
	After      uint64 // with Ascending: ids above it
	Ascending  bool   // oldest first (the feed)
	Limit      int
}

// outboxEvent is one thing that happened, before it meets the endpoints.
type outboxEvent struct {
	typ       string
	companyID uint64
	opID      uint64
	orderID   uint64
	phaseID   uint64
	phaseName string
	version   uint64
}

// operationEvents are the events of an operation's transition from prev to
// next: its end, and each top-level phase that completed in it.
func operationEvents(prev, next *Operation) []outboxEvent {
	var out []outboxEvent
	ev := outboxEvent{companyID: next.CompanyID, opID: next.ID, version: next.Version}
	for _, p := range next.Phases {
		if p.Status != StatusCompleted {
			continue
		}
		if prev != nil {
			if old := prev.FindPhase(p.ID); old != nil && old.Status == StatusCompleted {
				continue
			}
		}
		pe := ev
		pe.typ, pe.phaseID, pe.phaseName = EventOperationPhaseCompleted, p.ID, p.Name
		out = append(out, pe)
	}
	if next.Status.Terminal() && (prev == nil || !prev.Status.Terminal()) {
		switch {
		case next.Status == StatusCompleted:
			ev.typ = EventOperationCompleted
		case next.Error != nil && next.Error.Code == CodeOperationCanceled:
			ev.typ = EventOperationCanceled
		default:
			ev.typ = EventOperationFailed
		}
		out = append(out, ev)
	}
	return out
}

// queueDeliveries writes a delivery per event and endpoint that wants it,
// in tx. A store without outbound webhooks queues nothing.
func queueDeliveries(tx Tx, now time.Time, evs []outboxEvent) error {
	if len(evs) == 0 {
		return nil
	}
	wtx, ok := tx.(WebhookTx)
	if !ok {
		return nil
	}
	var inst string // read once something is queued
	var eps []*WebhookEndpoint
	var loaded uint64
	for _, ev := range evs {
		if ev.companyID != loaded || eps == nil {
			var err error
			if eps, err = wtx.WebhookEndpoints(ev.companyID); err != nil {
				return err
			}
			loaded = ev.companyID
		}
		for _, ep := range eps {
			if !ep.Wants(ev.typ, ev.phaseName) {
				continue
			}
			d := &Delivery{CompanyID: ev.companyID, EndpointID: ep.ID, Type: ev.typ,
				OperationID: ev.opID, OrderID: ev.orderID, PhaseID: ev.phaseID, PhaseName: ev.phaseName,
				Version: ev.version, Status: DeliveryPending, NextAttemptAt: now, CreatedAt: now}
			var err error
			if inst == "" {
				if inst, err = tx.InstallationID(); err != nil {
					return err
				}
			}
			if d.ID, err = tx.NextID(SeqDelivery); err != nil {
				return err
			}
			d.WebhookID = "msg_" + inst + "_" + strconv.FormatUint(d.ID, 10)
			if err := wtx.PutDelivery(d); err != nil {
				return err
			}
		}
	}
	return nil
}

// queueOperation is commitOp's staged write of the outbox: the deliveries
// of the transition from prev to next.
func queueOperation(tx Tx, prev, next *Operation, now time.Time) error {
	return queueDeliveries(tx, now, operationEvents(prev, next))
}

// putOrder writes an order with its version raised and, in the same
// transaction, the deliveries of what changed: order.created for a new paid
// order, order.refunded when it becomes refunded. Every order write of the
// engine goes through it.
func putOrder(tx Tx, o *Order) error {
	var prev *Order
	if o.ID != 0 {
		var err error
		if prev, err = tx.Order(o.ID); err != nil {
			return err
		}
	}
	o.Version = 1
	if prev != nil {
		o.Version = prev.Version + 1
	}
	if err := tx.PutOrder(o); err != nil {
		return err
	}
	ev := outboxEvent{companyID: o.CompanyID, orderID: o.ID, version: o.Version}
	var evs []outboxEvent
	if prev == nil && o.Status == OrderPaid {
		ev.typ = EventOrderCreated
		evs = append(evs, ev)
	}
	if o.Status == OrderRefunded && (prev == nil || prev.Status != OrderRefunded) {
		ev.typ = EventOrderRefunded
		evs = append(evs, ev)
	}
	now := o.CreatedAt
	if o.RefundedAt != nil && o.Status == OrderRefunded {
		now = *o.RefundedAt
	}
	return queueDeliveries(tx, now, evs)
}

// retrySchedule is the wait before each retry (the Standard Webhooks
// shape: at once, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h; about a
// day and a quarter in all).
var retrySchedule = []time.Duration{
	5 * time.Second, 5 * time.Minute, 30 * time.Minute,
	2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
}

// MaxDeliveryAttempts is the attempts of one delivery before it fails.
var MaxDeliveryAttempts = len(retrySchedule) + 1

// FailingLimit is how long an endpoint may fail without a success before
// it is disabled (scaled like the schedule).
const FailingLimit = 5 * 24 * time.Hour

// RetryDelays returns the schedule scaled, for documents and tests.
func RetryDelays(scale float64) []time.Duration {
	out := make([]time.Duration, len(retrySchedule))
	for i, d := range retrySchedule {
		out[i] = scaleDuration(d, scale)
	}
	return out
}

func scaleDuration(d time.Duration, scale float64) time.Duration {
	if scale <= 0 {
		scale = 1
	}
	return time.Duration(float64(d) * scale)
}

// nextDelay is the wait before the retry after attempt n (1-based) of a
// schedule, with ±20 % jitter so that an endpoint's retries spread out;
// false when the schedule is spent.
func nextDelay(n int, scale, jitter float64) (time.Duration, bool) {
	if n < 1 || n > len(retrySchedule) {
		return 0, false
	}
	d := scaleDuration(retrySchedule[n-1], scale)
	return time.Duration(float64(d) * (0.8 + 0.4*jitter)), true
}
