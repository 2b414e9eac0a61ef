package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// WebhookMessage is what a WebhookSender sends: one attempt of a delivery.
// Exactly one of Operation and Order is set (the resource as it is now).
type WebhookMessage struct {
	Delivery  *Delivery
	Endpoint  *WebhookEndpoint
	Secrets   []Secret // the current secret first; a rotated-out one while it overlaps
	Operation *Operation
	Order     *Order
	At        time.Time // the time of this attempt (webhook-timestamp)
}

// WebhookResult is how an attempt ended: the receiver's status and the
// start of its answer, or Err when no answer came (refused address,
// timeout, connection failure).
type WebhookResult struct {
	Status int
	Body   string
	Err    error
	// Gone says the receiver asked never to be sent anything again (HTTP
	// 410): the endpoint is disabled.
	Gone bool
}

// OK reports a 2xx answer.
func (r WebhookResult) OK() bool { return r.Err == nil && r.Status >= 200 && r.Status < 300 }

// WebhookSender sends one attempt (engine/outbound implements it over
// HTTP). It returns when the attempt is over; ctx ends with the engine.
type WebhookSender interface {
	Send(ctx context.Context, m *WebhookMessage) WebhookResult
}

// DeliveryCounts are deliveries by how each attempt ended, since start.
type DeliveryCounts struct {
	Delivered, Retried, Failed uint64
}

// outbox is the delivery worker's state.
type outbox struct {
	sender  WebhookSender
	scale   float64
	workers int

	kickc chan struct{} // a commit happened: look for due deliveries

	mu       sync.Mutex
	inflight map[uint64]uint64    // delivery being sent -> its endpoint (0: unknown)
	sends    map[uint64]int       // endpoint -> its deliveries being sent
	epOf     map[uint64]uint64    // due delivery -> its endpoint, read once
	held     map[uint64]hold      // deliveries whose last try failed before an attempt could be recorded
	changed  chan struct{}        // closed at the next kick (the feed's long-poll)
	owned    map[uint64]Lock      // endpoints whose deliveries this node sends (outbox_claims.go)
	refused  map[uint64]time.Time // endpoints another node holds: not tried again before then

	delivered, retried, failed atomic.Uint64
}

func newOutbox(sender WebhookSender, scale float64, workers int) *outbox {
	if workers <= 0 {
		workers = 64
	}
	return &outbox{sender: sender, scale: scale, workers: workers,
		kickc: make(chan struct{}, 1), inflight: map[uint64]uint64{}, sends: map[uint64]int{}, epOf: map[uint64]uint64{},
		held: map[uint64]hold{}, changed: make(chan struct{}), owned: map[uint64]Lock{}, refused: map[uint64]time.Time{}}
}

// kick wakes the worker and the feed's waiters; it never blocks.
func (o *outbox) kick() {
	if o == nil {
		return
	}
	select {
	case o.kickc <- struct{}{}:
	default:
	}
	o.mu.Lock()
	close(o.changed)
	o.changed = make(chan struct{})
	o.mu.Unlock()
}

func (o *outbox) changedChan() <-chan struct{} {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.changed
}

// kickingStore wakes the outbox after every commit, since any commit may
// have queued deliveries (commitOp, putOrder).
type kickingStore struct {
	Store
	o *outbox
}

func (s kickingStore) Update(ctx context.Context, fn func(tx Tx) error) error {
	err := s.Store.Update(ctx, fn)
	if err == nil {
		s.o.kick()
	}
	return err
}

// DeliveryCounts reports deliveries by outcome since start.
func (e *Engine) DeliveryCounts() DeliveryCounts {
	return DeliveryCounts{Delivered: e.outbox.delivered.Load(), Retried: e.outbox.retried.Load(), Failed: e.outbox.failed.Load()}
}

// OldestPendingDelivery is the age of the oldest pending delivery, 0 when
// none waits: the one with the smallest id, aged from when it last became
// pending (a replay of an old delivery counts from the replay, not from
// its creation).
func (e *Engine) OldestPendingDelivery() (time.Duration, error) {
	var d *Delivery
	err := e.store.View(func(tx Tx) error {
		wtx, ok := tx.(WebhookTx)
		if !ok {
			return nil
		}
		var err error
		d, err = wtx.OldestPendingDelivery()
		return err
	})
	if err != nil || d == nil {
		return 0, err
	}
	return max(e.now().Sub(d.PendingSince()), 0), nil
}

// runOutbox sends due deliveries until the engine stops. A delivery being
// sent when the engine stops stays pending and is sent again at the next
// start: at least once.
func (e *Engine) runOutbox() {
	defer e.wg.Done()
	o := e.outbox
	// Sends end when the stop begins, not at its deadline: a send cut off
	// stays pending and goes again at the next start (its receiver
	// deduplicates on webhook-id), so Stop never waits on a slow receiver.
	sendCtx, cancelSends := context.WithCancel(e.ctx)
	defer cancelSends()
	go func() {
		select {
		case <-e.soft:
		case <-sendCtx.Done():
		}
		cancelSends()
	}()
	slots := make(chan struct{}, o.workers)
	defer func() {
		// The endpoints are let go once their sends have ended (they
		// end at once: the stop cancels them), never under a send.
		cancelSends()
		for range o.workers {
			slots <- struct{}{}
		}
		o.releaseEndpoints()
	}()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	base := 4 * o.workers
	limit := base
	var deepAt time.Time // when the last deep read began (the machine's clock: it spaces work)
	deepEvery := deepScanEvery
	var ready []dueCandidate // found by the last deep read, not sent yet
	for {
		if e.stopping() {
			return
		}
		now := e.now()
		due, next, n, err := e.dueDeliveries(now, limit)
		if err != nil {
			e.log.Error("webhooks: read due deliveries", "err", err)
		}
		cands := due
		if limit == base && len(ready) > 0 {
			cands = append(slices.Clip(due), ready...)
		}
		cands = e.claimEndpoints(cands, now)
		picks := o.pick(cands, now)
		if limit > base {
			ready = keepReady(due, picks, base)
		} else {
			ready = dropPicked(ready, picks)
		}
		for i, id := range picks {
			select {
			case slots <- struct{}{}:
			case <-e.soft:
				for _, id := range picks[i:] {
					o.settle(id, false, now)
				}
				return
			}
			e.wg.Add(1)
			go func(id uint64) {
				defer e.wg.Done()
				defer func() { <-slots }()
				o.settle(id, !e.deliver(sendCtx, id), e.now())
			}(id)
		}
		if len(picks) > 0 {
			if limit > base { // a deep read found work: the next may come soon
				deepEvery, limit = deepScanEvery, base
			}
			continue
		}
		// Slots are free but the deliveries read were all in flight,
		// held or of endpoints at their cap, and more are due behind
		// them: read further (doubling), so that a slow endpoint's
		// backlog never hides another endpoint's deliveries. A deep read
		// costs in proportion to the backlog, so a new one starts at most
		// every deepEvery: 50 ms, doubling up to a second while deep reads
		// find nothing to send (one endpoint's backlog alone).
		wait := time.Second
		if n >= limit && o.free() > 0 && limit < maxDueScan {
			if since := time.Since(deepAt); limit > base || since >= deepEvery {
				if limit == base {
					deepAt = time.Now()
				}
				limit = min(2*limit, maxDueScan)
				continue
			} else {
				wait = deepEvery - since
			}
		}
		if limit > base {
			deepEvery = min(2*deepEvery, time.Second)
		}
		limit = base
		if len(due) > 0 { // in flight or capped (their ends kick) or held (a second at most)
			next = time.Time{}
		}
		if !next.IsZero() {
			wait = min(max(next.Sub(e.now()), time.Millisecond), wait)
		}
		timer.Reset(wait)
		select {
		case <-o.kickc:
		case <-timer.C:
		case <-e.soft:
			return
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// deliver makes one attempt of delivery id and commits how it ended. It
// reports false when the delivery stays due with nothing recorded (the
// store failed): the worker then holds it back for a while.
func (e *Engine) deliver(ctx context.Context, id uint64) bool {
	var d *Delivery
	var m *WebhookMessage
	var drop string
	now := e.now()
	err := e.store.View(func(tx Tx) error {
		wtx := tx.(WebhookTx)
		cur, err := wtx.Delivery(id)
		// Not pending, or already rescheduled by an attempt that ended
		// after the scan that found it: not due now.
		if err != nil || cur == nil || cur.Status != DeliveryPending || cur.NextAttemptAt.After(now) {
			return err
		}
		if !e.outbox.owns(cur.EndpointID) {
			return nil // picked before its endpoint was known: the next scan claims it
		}
		d = cur
		ep, err := wtx.WebhookEndpoint(d.EndpointID)
		if err != nil {
			return err
		}
		switch {
		case ep == nil:
			drop = "the endpoint was deleted"
			return nil
		case !ep.Enabled:
			drop = "the endpoint is disabled"
			return nil
		}
		m = &WebhookMessage{Delivery: d, Endpoint: ep, At: now}
		if d.OperationID != 0 {
			m.Operation, err = tx.Operation(d.OperationID)
		} else {
			m.Order, err = tx.Order(d.OrderID)
		}
		if err == nil && m.Operation == nil && m.Order == nil {
			drop = "the resource no longer exists"
		}
		return err
	})
	if err != nil {
		e.log.Error("webhooks: read delivery", "delivery", id, "err", err)
		return false
	}
	if d == nil {
		return true
	}
	var res WebhookResult
	if drop == "" {
		if m.Secrets, err = e.SigningSecrets(m.Endpoint, now); err != nil {
			// Nothing can be signed (typically the data file was restored
			// without its sealer.key): an attempt that failed, so the
			// delivery follows the retry schedule and the endpoint's
			// failing streak, and its log says why.
			e.log.Error("webhooks: signing secrets", "endpoint", m.Endpoint.ID, "err", err)
			res = WebhookResult{Err: fmt.Errorf("%w: rotate the endpoint's secret", err)}
		} else {
			if e.outbox.sender == nil {
				return true
			}
			res = e.outbox.sender.Send(ctx, m)
			if ctx.Err() != nil {
				return true // stopped mid-send: it stays pending and goes again at the next start
			}
		}
	}
	if err := e.recordAttempt(d.ID, drop, res); err != nil {
		if !errors.Is(err, context.Canceled) {
			e.log.Error("webhooks: record attempt", "delivery", d.ID, "err", err)
		}
		return false
	}
	return true
}

// recordAttempt commits the end of an attempt (or the drop of a delivery
// whose endpoint or resource is gone) and what it means for the endpoint.
func (e *Engine) recordAttempt(id uint64, drop string, res WebhookResult) error {
	now := e.now()
	var outcome string
	err := e.store.Update(context.Background(), func(tx Tx) error {
		wtx := tx.(WebhookTx)
		d, err := wtx.Delivery(id)
		if err != nil || d == nil || d.Status != DeliveryPending {
			return err
		}
		if drop != "" {
			d.Status, d.LastError, d.FinishedAt, outcome = DeliveryFailed, drop, &now, "failed"
			return wtx.PutDelivery(d)
		}
		d.Attempts++
		t := now
		d.LastAttemptAt = &t
		d.LastStatus, d.LastResponse, d.LastError = res.Status, truncate(res.Body, MaxDeliveryResponse), ""
		if res.Err != nil {
			d.LastError = truncate(res.Err.Error(), 500)
		}
		ep, err := wtx.WebhookEndpoint(d.EndpointID)
		if err != nil {
			return err
		}
		epChanged := false
		switch {
		case res.OK():
			d.Status, d.FinishedAt, outcome = DeliveryDelivered, &t, "delivered"
			if ep != nil && ep.FailingSince != nil {
				ep.FailingSince, epChanged = nil, true
			}
		default:
			if ep != nil {
				if ep.FailingSince == nil {
					ep.FailingSince, epChanged = &t, true
				}
				if res.Gone {
					ep.Enabled, ep.DisabledReason, epChanged = false, "gone", true
				} else if now.Sub(*ep.FailingSince) >= scaleDuration(FailingLimit, e.outbox.scale) {
					ep.Enabled, ep.DisabledReason, epChanged = false, "failing", true
				}
			}
			delay, more := nextDelay(d.Attempts-d.ScheduleBase, e.outbox.scale, e.jitter())
			if !more || res.Gone || (ep != nil && !ep.Enabled) {
				d.Status, d.FinishedAt, outcome = DeliveryFailed, &t, "failed"
			} else {
				d.NextAttemptAt, outcome = now.Add(delay), "retried"
			}
		}
		if epChanged {
			ep.UpdatedAt = now
			if err := wtx.PutWebhookEndpoint(ep); err != nil {
				return err
			}
		}
		return wtx.PutDelivery(d)
	})
	if err == nil {
		switch outcome {
		case "delivered":
			e.outbox.delivered.Add(1)
		case "retried":
			e.outbox.retried.Add(1)
		case "failed":
			e.outbox.failed.Add(1)
		}
	}
	return err
}

// Deliveries lists deliveries of a company's endpoint (EndpointID) or of
// the company (the feed, with After).
func (e *Engine) Deliveries(q DeliveryQuery) ([]*Delivery, error) {
	if q.Limit <= 0 || q.Limit > 100 {
		q.Limit = 25
	}
	var out []*Delivery
	err := e.store.View(func(tx Tx) error {
		if q.EndpointID != 0 {
			if _, err := endpointOf(tx, q.CompanyID, q.EndpointID); err != nil {
				return err
			}
		}
		wtx, err := webhookTx(tx)
		if err != nil {
			return err
		}
		out, err = wtx.Deliveries(q)
		return err
	})
	return out, err
}

// WaitDeliveries is the feed: the company's deliveries (of its endpoint
// endpointID only, unless 0) after the id after, oldest first; when there
// are none it waits up to wait for one (or for ctx, or the engine's stop).
func (e *Engine) WaitDeliveries(ctx context.Context, companyID, endpointID, after uint64, limit int, wait time.Duration) ([]*Delivery, error) {
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		ch := e.outbox.changedChan()
		out, err := e.Deliveries(DeliveryQuery{CompanyID: companyID, EndpointID: endpointID, After: after, Ascending: true, Limit: limit})
		if err != nil || len(out) > 0 || wait <= 0 {
			return out, err
		}
		select {
		case <-ch:
		case <-t.C:
			return nil, nil
		case <-ctx.Done():
			return nil, nil
		case <-e.soft:
			return nil, nil
		}
	}
}

// Delivery reads one delivery of a company (0: any, for staff).
func (e *Engine) Delivery(companyID, id uint64) (*Delivery, error) {
	var d *Delivery
	err := e.store.View(func(tx Tx) error {
		wtx, err := webhookTx(tx)
		if err != nil {
			return err
		}
		d, err = wtx.Delivery(id)
		return err
	})
	if err == nil && (d == nil || (companyID != 0 && d.CompanyID != companyID)) {
		err = NotFound("webhook delivery %d not found", id)
	}
	return d, err
}

// RetryDelivery sends a delivery again now, whatever its status (a replay
// keeps its webhook-id); a pending one is moved to now. It answers 409 for
// a disabled endpoint.
func (e *Engine) RetryDelivery(ctx context.Context, companyID, endpointID, id uint64) (*Delivery, error) {
	now := e.now()
	var out *Delivery
	err := e.store.Update(ctx, func(tx Tx) error {
		ep, err := endpointOf(tx, companyID, endpointID)
		if err != nil {
			return err
		}
		if !ep.Enabled {
			return Conflict("webhook endpoint %d is disabled: enable it first", ep.ID)
		}
		wtx, _ := webhookTx(tx)
		d, err := wtx.Delivery(id)
		if err != nil {
			return err
		}
		if d == nil || d.EndpointID != ep.ID {
			return NotFound("webhook delivery %d not found", id)
		}
		if d.Status != DeliveryPending {
			d.ScheduleBase = d.Attempts
			d.ReplayedAt = &now
		}
		d.Status, d.NextAttemptAt, d.FinishedAt = DeliveryPending, now, nil
		out = d
		return wtx.PutDelivery(d)
	})
	return out, err
}

// pruneDeliveries deletes finished deliveries older than before, in small
// commits, beside Prune's operations.
func (e *Engine) pruneDeliveries(ctx context.Context, before time.Time) (int, error) {
	const batch = 500
	total := 0
	for {
		var n int
		err := e.store.Update(ctx, func(tx Tx) error {
			wtx, ok := tx.(WebhookTx)
			if !ok {
				return nil
			}
			var err error
			n, err = wtx.PruneDeliveries(before, batch)
			return err
		})
		total += n
		if err != nil || n < batch {
			return total, err
		}
	}
}

// DeliveryMessage is d with its resource as it is now (no endpoint or
// secrets: the feed's payload); nil when the resource is gone.
func (e *Engine) DeliveryMessage(d *Delivery) (*WebhookMessage, error) {
	m := &WebhookMessage{Delivery: d, At: e.now()}
	err := e.store.View(func(tx Tx) error {
		var err error
		if d.OperationID != 0 {
			m.Operation, err = tx.Operation(d.OperationID)
		} else {
			m.Order, err = tx.Order(d.OrderID)
		}
		return err
	})
	if err != nil || (m.Operation == nil && m.Order == nil) {
		return nil, err
	}
	return m, nil
}

// ViewOne passes a one-read function on to the store's ViewOne (see
// oneReader), which embedding the Store interface would hide.
func (s kickingStore) ViewOne(fn func(tx Tx) error) error {
	if o, ok := s.Store.(oneReader); ok {
		return o.ViewOne(fn)
	}
	return s.Store.View(fn)
}
