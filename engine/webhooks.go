package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Deliveries from the shop (DESIGN §7), as the domain sees them. Package
// engine/shopify reads a webhook delivery (its topic, its signature, its
// payload) and calls, for each company it is for, one of the domain
// commands: RecordShopSale (an order placed in the shop), RefundShopLines
// (a refund made in the shop), CancelShopOrder (an order cancelled there),
// RevokeShop (the app was uninstalled) or IgnoreShopDelivery (nothing of
// ours in it). Their common contract:
//
//   - Each delivery is handled once per company by its id (ShopDelivery.ID,
//     Shopify's X-Shopify-Webhook-Id): the id is remembered (WebhookRecord)
//     in the same commit as the delivery's effect, so a redelivery, even
//     one racing the first, changes nothing (the outcome says Duplicate).
//     The effects are idempotent by their own keys as well: a shop order is
//     recorded once whatever the delivery id (a second subscription to the
//     same topic delivers it under another id), and a shop refund is
//     applied once (Order.ShopifyRefundIDs).
//   - Everything is one store.Update per company (dedupe, orders, ticket
//     structures, operations), then the operations are launched; no shop
//     is called while the caller waits.
//   - The shop's ids (order, line item, refund, variant) are opaque strings
//     here: compared and stored, never built nor parsed (engine/shopify
//     owns their form).
//
// A refund or cancellation delivered before the order it concerns (a shop
// does not promise order across topics) finds no order and changes
// nothing; an event refund later finds that shop order already refunded
// (nothing refundable) and marks it refunded without a second refund.

// WebhookRetention is how long a delivery's id is remembered. Shopify
// retries a failed delivery 8 times over about 4 hours (and reconciliation
// reads orders back 60 days at a shop's first pass); a month leaves room
// for manual redeliveries. Beyond it, the effects' own keys (shop order and
// refund ids) still keep a late duplicate from counting twice.
const WebhookRetention = 30 * 24 * time.Hour

// WebhookRecord remembers a delivery a company received.
type WebhookRecord struct {
	CompanyID    uint64    `json:"company_id"`
	ID           string    `json:"id"` // the delivery's id (ShopDelivery.ID)
	Topic        string    `json:"topic"`
	ReceivedAt   time.Time `json:"received_at"`
	Outcome      string    `json:"outcome"`
	OrderIDs     []uint64  `json:"order_ids,omitempty"`
	OperationIDs []uint64  `json:"operation_ids,omitempty"`
}

// ShopDelivery names one delivery from the shop: ID is what makes it once
// (Shopify's X-Shopify-Webhook-Id; it must not be blank), Topic what it is
// about (kept in its record).
type ShopDelivery struct {
	ID    string
	Topic string
	// Mark, when set, is written on the company's shop connection
	// (Shop.Reconciled) in the same commit as the delivery's effect, or
	// alone when the delivery was handled before: the reconciliation's
	// high-water mark moves with what it recorded (see ShopMark).
	Mark *ShopMark
}

// WebhookOutcome is what a delivery did for one company.
type WebhookOutcome struct {
	CompanyID uint64
	// Duplicate: the delivery was handled before; nothing changed.
	Duplicate bool
	// Ignored: nothing of ours in it (another topic, other products, an
	// order or refund already recorded); Outcome says why.
	Ignored    bool
	Outcome    string
	Orders     []*Order     // orders recorded or changed
	Operations []*Operation // inventory-only saves started

	joins    *joins // queued inventory-only saves this delivery joined
	oversold int    // seats recorded beyond an occurrence's capacity
}

// IgnoreShopDelivery remembers a delivery that asks nothing of the company
// (say a cancellation of an order that is not cancelled), so that a
// redelivery answers Duplicate as for any other.
func (e *Engine) IgnoreShopDelivery(ctx context.Context, companyID uint64, d ShopDelivery, reason string) (*WebhookOutcome, error) {
	if err := checkDelivery(d); err != nil {
		return nil, err
	}
	var out *WebhookOutcome
	err := e.store.Update(ctx, func(tx Tx) error {
		out = &WebhookOutcome{CompanyID: companyID}
		rec, err := e.claimWebhook(tx, companyID, d, out)
		if err != nil || rec == nil {
			return err
		}
		out.Ignored, out.Outcome = true, reason
		rec.Outcome = out.Outcome
		return tx.PutWebhook(rec)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// checkDelivery refuses a delivery without an id (it could not be made
// once; engine/shopify refuses one before, naming the header), and one
// whose shop ids, given as attribute/value pairs, are blank: nothing could
// be matched to them later.
func checkDelivery(d ShopDelivery, ids ...string) error {
	var errs []FieldError
	if strings.TrimSpace(d.ID) == "" {
		errs = append(errs, FieldError{Attribute: "delivery_id", Code: "blank", Message: "can't be blank"})
	}
	for i := 0; i+1 < len(ids); i += 2 {
		if strings.TrimSpace(ids[i+1]) == "" {
			errs = append(errs, FieldError{Attribute: ids[i], Code: "blank", Message: "can't be blank"})
		}
	}
	if len(errs) > 0 {
		return Invalid(errs...)
	}
	return nil
}

// --- shared ------------------------------------------------------------------

// claimSale starts the handling of a delivery that changes a company's
// orders: it claims the delivery (rec nil: handled before, out says so) and
// reads the company, which must still exist.
func (e *Engine) claimSale(tx Tx, companyID uint64, d ShopDelivery, out *WebhookOutcome) (rec *WebhookRecord, c *Company, err error) {
	if rec, err = e.claimWebhook(tx, companyID, d, out); err != nil || rec == nil {
		return nil, nil, err
	}
	if c, err = tx.Company(companyID); err != nil {
		return nil, nil, err
	}
	if c == nil {
		return nil, nil, NotFound("company %d not found", companyID)
	}
	return rec, c, nil
}

// claimWebhook returns the record to write for a delivery not seen before,
// or nil (out marked Duplicate) for one already handled.
func (e *Engine) claimWebhook(tx Tx, companyID uint64, w ShopDelivery, out *WebhookOutcome) (*WebhookRecord, error) {
	if err := advanceShopMark(tx, companyID, w.Mark); err != nil {
		return nil, err
	}
	seen, err := tx.Webhook(companyID, w.ID)
	if err != nil {
		return nil, err
	}
	if seen != nil {
		out.Duplicate, out.Outcome = true, "already handled: "+seen.Outcome
		return nil, nil
	}
	return &WebhookRecord{CompanyID: companyID, ID: w.ID, Topic: w.Topic, ReceivedAt: e.now()}, nil
}

// finishWebhook writes the delivery's record with what it did.
func (e *Engine) finishWebhook(tx Tx, rec *WebhookRecord, out *WebhookOutcome) error {
	rec.Outcome = out.Outcome
	for _, o := range out.Orders {
		if !slices.Contains(rec.OrderIDs, o.ID) {
			rec.OrderIDs = append(rec.OrderIDs, o.ID)
		}
	}
	for _, op := range out.Operations {
		rec.OperationIDs = append(rec.OperationIDs, op.ID)
	}
	return tx.PutWebhook(rec)
}

// followSales recomputes what is left to sell of the occurrences whose
// orders changed and, for a Shopify company, starts an inventory-only save
// of each live one so that the shop's quantities follow (a revoked
// connection's fails with SHOPIFY_AUTH_REJECTED, visibly, and can be
// retried once the shop is reconnected).
//
// locked are the queues whose creation locks the caller holds: an
// operation may be created only on those, so that a queue's ids stay in
// creation order. An event of another queue (one the caller could not know
// before this transaction read it) answers errQueuesChanged naming it,
// and the caller locks it too and runs the transaction again.
func (e *Engine) followSales(tx Tx, c *Company, eventIDs []uint64, now time.Time, out *WebhookOutcome, locked []uint64) error {
	for _, id := range eventIDs {
		if err := refreshAvailability(tx, id, now); err != nil {
			return err
		}
		if !c.Shopify() {
			continue
		}
		ev, err := tx.Event(id)
		if err != nil {
			return err
		}
		if ev == nil || ev.Deleted || ev.Type != EventDate {
			continue
		}
		if !slices.Contains(locked, ev.QueueID()) {
			return &errQueuesChanged{queue: ev.QueueID()}
		}
		if joined, err := e.joinRebalance(tx, ev.ID, out.joins); err != nil || joined {
			if err != nil {
				return err
			}
			continue
		}
		op, err := newOperation(tx, ActionSave, ev, c, now, true)
		if err != nil {
			return err
		}
		out.Operations = append(out.Operations, op)
	}
	return nil
}

func (e *Engine) launchAll(ctx context.Context, ops []*Operation) {
	for _, op := range ops {
		e.launch(ctx, op)
	}
}

// lockQueues takes the creation locks of several queues in ascending order
// (so that two callers never wait on each other) and returns their release.
func (e *Engine) lockQueues(ids []uint64) func() { return e.disp.LockQueues(ids...) }

// errQueuesChanged aborts a transaction that found it must create an
// operation on a queue whose creation lock its caller does not hold.
type errQueuesChanged struct{ queue uint64 }

func (e *errQueuesChanged) Error() string {
	return fmt.Sprintf("queue %d is not locked by this write", e.queue)
}

// PruneWebhooks forgets deliveries received more than WebhookRetention ago,
// in small transactions, and reports how many it deleted.
func (e *Engine) PruneWebhooks(ctx context.Context) (int, error) {
	const batch = 500
	before := e.now().Add(-WebhookRetention)
	total := 0
	for {
		var n int
		err := e.store.Update(ctx, func(tx Tx) error {
			var err error
			n, err = tx.PruneWebhooks(before, batch)
			return err
		})
		total += n
		if err != nil || n < batch || ctx.Err() != nil {
			return total, err
		}
	}
}
