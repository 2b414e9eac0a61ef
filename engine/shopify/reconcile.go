package shopify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"eventops/engine"
)

// Reconciliation (issue 14 §2). Webhooks are not guaranteed: Shopify gives
// up on a delivery after its retries, and a delivery may be dropped. So,
// per connected shop (a company's shop connection), eventops reads the
// orders updated since the last one it saw and records what it missed:
//
//   - When: at start-up, every Reconciler interval (serve's
//     --shop-reconcile-interval; 0: never on a timer), and whenever a
//     phase asks (reconcileShop: the inventory phase found the shop's
//     numbers lower than it wrote and unexplained).
//   - What: orders(query: "updated_at:>=T", sortKey: UPDATED_AT), paged
//     with cursors, T from the company's high-water mark (engine.ShopMark:
//     the last updatedAt read and the ids read at that second, so that
//     orders sharing a timestamp are neither skipped nor read twice); no
//     mark yet: the last 60 days (firstPassWindow). Each order not covered by the
//     mark is read whole (line items, refunds) and handed to the same
//     engine commands as its webhooks, under delivery ids of their own
//     ("reconcile:{topic}:{gid}"): RecordShopSale, then RefundShopLines for
//     each refund, then CancelShopOrder when it is cancelled. Their
//     deduplication by effect (a shop order recorded once, a refund applied
//     once by its id, a cancellation refunds only what is still paid) makes
//     an order seen by both a webhook and the poll count once.
//   - The mark moves in the commit of the order's last command
//     (ShopDelivery.Mark), so a crash at any moment loses nothing and
//     doubles nothing: the next pass reads again from the mark, and the
//     commands already committed answer Duplicate or Ignored. Only orders
//     updated more than a minute before the pass began move it
//     (markSettle): Shopify's timestamps are whole seconds, so an order
//     read in the second of its update could change again unseen under
//     the same updatedAt; newer orders are recorded at once and read again
//     by the next pass.
//   - One node at a time per shop: a pass holds the company's lock
//     (engine.Locks, "reconcile:{company id}") across the nodes sharing
//     the store, and reads the mark once it holds it.
//   - Single flight per shop: one pass at a time per company; a caller
//     arriving while a pass runs waits for the next pass (which starts
//     after the running one and serves every caller that arrived during
//     it), so that what it gets back has read the shop after it asked.
//
// A connection that is revoked or has no token is skipped (its phases
// fail visibly with SHOPIFY_AUTH_REJECTED).

// Reconciler reads connected shops' orders to record what webhooks missed.
// Create it with NewReconciler, give it to Works through
// Config.Reconciler, Bind it to the engine before the engine starts, and
// Start it once the engine runs; Stop ends it.
type Reconciler struct {
	interval time.Duration
	pageSize int

	mu      sync.Mutex
	s       *service
	eng     *engine.Engine
	flights map[uint64]*shopFlights
	// fulfilling: a fulfilment runs for the company; true: run once more.
	fulfilling map[uint64]bool
	clock      func() time.Time // nil: the engine's
	ctx        context.Context
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	started    bool
	startedUp  chan struct{} // closed once the start-up pass over every shop is done
}

// shopFlights is one company's running pass and the pass waiting for it.
type shopFlights struct {
	cur, next *flight
}

type flight struct {
	done  chan struct{}
	err   error
	res   ReconcileResult
	asked int // callers sharing it
}

// ReconcileResult is what one pass did.
type ReconcileResult struct {
	Orders   int // orders read whole (not covered by the mark)
	Recorded int // commands that changed something (not Duplicate, not Ignored)
}

// NewReconciler builds a reconciler that also runs every interval once
// started (0: only at start-up and when asked).
func NewReconciler(interval time.Duration) *Reconciler {
	ctx, cancel := context.WithCancel(context.Background())
	return &Reconciler{interval: interval, pageSize: 50, flights: map[uint64]*shopFlights{}, ctx: ctx, cancel: cancel,
		startedUp: make(chan struct{})}
}

// attach gives the reconciler the works' service (its clients share the
// works' pacing buckets).
func (r *Reconciler) attach(s *service) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.s == nil {
		r.s = s
	}
}

// Bind names the engine whose companies are reconciled and whose commands
// record what is found. Call it before the engine starts, so that a
// phase's request for a pass finds it.
func (r *Reconciler) Bind(eng *engine.Engine) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.eng = eng
}

// Start runs a pass over every connected shop now, in the background, and
// then every interval until Stop.
func (r *Reconciler) Start() {
	r.mu.Lock()
	if r.started || r.eng == nil {
		r.mu.Unlock()
		return
	}
	r.started = true
	r.mu.Unlock()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.All(r.ctx)
		close(r.startedUp)
		if r.interval <= 0 {
			return
		}
		t := time.NewTicker(r.interval)
		defer t.Stop()
		for {
			select {
			case <-r.ctx.Done():
				return
			case <-t.C:
				r.All(r.ctx)
			}
		}
	}()
}

// Stop cancels the passes under way (each resumes from its mark next
// time) and waits for them. Stopping twice is harmless.
func (r *Reconciler) Stop() {
	r.cancel()
	r.wg.Wait()
}

// All runs one pass over every connected shop, one shop after another;
// failures are logged (the next pass retries from the mark).
func (r *Reconciler) All(ctx context.Context) {
	eng, s := r.bound()
	if eng == nil {
		return
	}
	cs, err := eng.Companies()
	if err != nil {
		s.log.Error("shop reconciliation: list companies", "err", err)
		return
	}
	for _, c := range cs {
		if ctx.Err() != nil {
			return
		}
		if !c.Shopify() || c.Shop.Revoked {
			continue
		}
		if _, err := r.Shop(ctx, c.ID); err != nil {
			if ctx.Err() == nil {
				s.log.Warn("shop reconciliation failed: the next pass retries", "company", c.ID, "shop", c.Shop.Domain, "err", err)
			}
			continue
		}
		r.rebalance(ctx, eng, s, c)
	}
}

// rebalance starts (or joins) an inventory-only save for each of the
// company's events whose shop offers differ from the allocation, after a
// pass of the timer (issue 14: rebalance "on the reconciliation timer").
// Sales, refunds and cancellations rebalance as they are recorded; this
// catches what a crash or a race left behind, and seats a refund freed
// that no save has offered again yet. Failures are logged: the next pass
// looks again.
func (r *Reconciler) rebalance(ctx context.Context, eng *engine.Engine, s *service, c *engine.Company) {
	ids, err := eng.DriftedOffers(c.ID)
	if err != nil {
		s.log.Warn("shop rebalance: read the offers", "company", c.ID, "err", err)
		return
	}
	started := 0
	for _, id := range ids {
		if ctx.Err() != nil {
			return
		}
		op, err := eng.Rebalance(ctx, c.ID, id)
		switch {
		case engine.ErrorKind(err) == engine.KindNotFound:
			// Deleted since it was read: nothing to offer.
		case err != nil:
			s.log.Warn("shop rebalance failed: the next pass retries", "company", c.ID, "event", id, "err", err)
		case op != nil:
			started++
		}
	}
	if len(ids) > 0 {
		s.log.Info("shop rebalance after reconciliation", "company", c.ID, "drifted", len(ids), "started", started)
	}
}

// now is the reconciler's clock: the engine's, unless a test set one.
func (r *Reconciler) now() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.clock != nil {
		return r.clock()
	}
	return r.eng.Now()
}

func (r *Reconciler) bound() (*engine.Engine, *service) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.eng, r.s
}

// Shop runs a pass over the company's shop that starts after this call
// (single flight: see above) and waits for it.
func (r *Reconciler) Shop(ctx context.Context, companyID uint64) (ReconcileResult, error) {
	r.mu.Lock()
	if r.eng == nil || r.s == nil {
		r.mu.Unlock()
		return ReconcileResult{}, errors.New("shop reconciliation is not bound to an engine")
	}
	if err := r.ctx.Err(); err != nil {
		r.mu.Unlock()
		return ReconcileResult{}, fmt.Errorf("shop reconciliation is stopped: %w", err)
	}
	fs := r.flights[companyID]
	if fs == nil {
		fs = &shopFlights{}
		r.flights[companyID] = fs
	}
	var f *flight
	switch {
	case fs.cur == nil:
		f = &flight{done: make(chan struct{})}
		fs.cur = f
		r.wg.Add(1)
		go r.fly(companyID, fs)
	case fs.next != nil:
		f = fs.next
	default:
		f = &flight{done: make(chan struct{})}
		fs.next = f
	}
	f.asked++
	r.mu.Unlock()
	select {
	case <-f.done:
		return f.res, f.err
	case <-ctx.Done():
		return ReconcileResult{}, ctx.Err()
	}
}

// fly runs the company's passes while some are asked for. A pass runs
// under the reconciler's context, not a caller's: a caller that gives up
// waiting does not cut the pass short for the others.
func (r *Reconciler) fly(companyID uint64, fs *shopFlights) {
	defer r.wg.Done()
	for {
		r.mu.Lock()
		f := fs.cur
		r.mu.Unlock()
		f.res, f.err = r.pass(r.ctx, companyID)
		r.mu.Lock()
		close(f.done)
		fs.cur, fs.next = fs.next, nil
		if fs.cur == nil {
			delete(r.flights, companyID)
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
	}
}

// reconcileShop is a phase's request for a pass over its shop (the
// inventory phase's, before it writes over a difference that recorded
// sales do not explain). Without a reconciler nothing is read.
func (s *service) reconcileShop(ctx context.Context, sr *shopRun) error {
	rec := s.cfg.Reconciler
	if rec == nil {
		return nil
	}
	_, err := rec.Shop(ctx, sr.company.ID)
	if err != nil {
		return phaseErr(ctx, err, engine.CodeShopifyUnavailable, "reconcile the shop's orders")
	}
	return nil
}

// qOrdersSince lists the orders updated at or after a time, oldest update
// first: only what the pass needs to tell whether it has read them.
const qOrdersSince = `query OrdersSince($first: Int!, $after: String, $query: String) {
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {
    nodes { id updatedAt }
    pageInfo { hasNextPage endCursor }
  }
}`

// qReconcileOrder reads one order whole: what its webhooks would carry.
const qReconcileOrder = `query ReconcileOrder($id: ID!) {
  order(id: $id) {
    id
    updatedAt
    cancelledAt
    currencyCode
    presentmentCurrencyCode
    lineItems(first: 50) {
      nodes {
        id sku quantity title variantTitle
        variant { id }
        originalUnitPriceSet { shopMoney { amount currencyCode } presentmentMoney { amount currencyCode } }
      }
      pageInfo { hasNextPage }
    }
    refunds(first: 5) {
      id
      refundLineItems(first: 25) {
        nodes { quantity lineItem { id sku } }
        pageInfo { hasNextPage }
      }
    }
  }
}`

type gqlMoney struct {
	Amount       string `json:"amount"`
	CurrencyCode string `json:"currencyCode"`
}

type gqlOrder struct {
	ID                      string  `json:"id"`
	UpdatedAt               string  `json:"updatedAt"`
	CancelledAt             *string `json:"cancelledAt"`
	CurrencyCode            string  `json:"currencyCode"`
	PresentmentCurrencyCode string  `json:"presentmentCurrencyCode"`
	LineItems               struct {
		Nodes []struct {
			ID           string  `json:"id"`
			SKU          *string `json:"sku"`
			Quantity     int     `json:"quantity"`
			Title        string  `json:"title"`
			VariantTitle *string `json:"variantTitle"`
			Variant      *struct {
				ID string `json:"id"`
			} `json:"variant"`
			OriginalUnitPriceSet struct {
				ShopMoney        gqlMoney `json:"shopMoney"`
				PresentmentMoney gqlMoney `json:"presentmentMoney"`
			} `json:"originalUnitPriceSet"`
		} `json:"nodes"`
		PageInfo struct {
			HasNextPage bool `json:"hasNextPage"`
		} `json:"pageInfo"`
	} `json:"lineItems"`
	Refunds []struct {
		ID              string `json:"id"`
		RefundLineItems struct {
			Nodes []struct {
				Quantity int `json:"quantity"`
				LineItem struct {
					ID  string  `json:"id"`
					SKU *string `json:"sku"`
				} `json:"lineItem"`
			} `json:"nodes"`
			PageInfo struct {
				HasNextPage bool `json:"hasNextPage"`
			} `json:"pageInfo"`
		} `json:"refundLineItems"`
	} `json:"refunds"`
}

// markSettle is how old an order's updatedAt must be, when the pass
// starts, for the order to move the mark. Shopify's timestamps are whole
// seconds: an order read in the second it was updated may be updated
// again within that second, keeping its updatedAt; and the orders search
// may show an update a little late. Orders newer than the horizon are
// recorded at once but stay above the mark, so the next pass reads them
// again (their commands answer as duplicates); the margin also covers a
// skew between our clock and the shop's.
const markSettle = time.Minute

// firstPassWindow is how far back a shop's first pass reads (it has no
// mark yet): the 60 days Shopify shows without read_all_orders. Webhooks
// recorded what came before; reading a busy shop's whole history order
// by order would cost hours of query budget for nothing.
const firstPassWindow = 60 * 24 * time.Hour

// reconcileLockName names the lock of a company's reconciliation passes.
func reconcileLockName(companyID uint64) string { return fmt.Sprintf("reconcile:%d", companyID) }

// pass reads the company's shop from its mark and records what it finds.
func (r *Reconciler) pass(ctx context.Context, companyID uint64) (ReconcileResult, error) {
	var res ReconcileResult
	eng, s := r.bound()
	// One node at a time per shop: the pass reads the mark once the lock
	// is held, so a pass that waited for another node's starts where that
	// one left the mark.
	held, err := eng.Locks().Lock(ctx, reconcileLockName(companyID))
	if err != nil {
		return res, fmt.Errorf("wait for the shop's reconciliation on another node: %w", err)
	}
	defer held.Unlock()
	ctx, cancel := engine.Guard(ctx, held)
	defer cancel()
	c, err := eng.Company(companyID)
	if err != nil {
		return res, err
	}
	if c == nil || !c.Shopify() || c.Shop.Revoked {
		return res, nil
	}
	sec, err := eng.OpenShopSecrets(c.Shop)
	if err != nil {
		return res, err
	}
	if !hasToken(c, sec) {
		return res, nil
	}
	log := s.log.With("company", c.ID, "shop", c.Shop.Domain)
	client, err := s.shopClient(c, eng, log)
	if err != nil {
		return res, err
	}
	inst, err := eng.InstallationID()
	if err != nil {
		return res, err
	}
	mark := c.Shop.Reconciled
	now := r.now()
	horizon := now.Add(-markSettle)
	since := now.Add(-firstPassWindow)
	if mark != nil {
		since = mark.UpdatedAt
	}
	query := "updated_at:>='" + since.UTC().Format(time.RFC3339) + "'"
	after := ""
	for {
		var list struct {
			Orders struct {
				Nodes []struct {
					ID        string `json:"id"`
					UpdatedAt string `json:"updatedAt"`
				} `json:"nodes"`
				PageInfo struct {
					HasNextPage bool   `json:"hasNextPage"`
					EndCursor   string `json:"endCursor"`
				} `json:"pageInfo"`
			} `json:"orders"`
		}
		vars := map[string]any{"first": r.pageSize, "query": query}
		if after != "" {
			vars["after"] = after
		}
		if err := client.Do(ctx, Call{Name: "OrdersSince", Query: qOrdersSince, Resendable: true, Variables: vars}, &list); err != nil {
			return res, fmt.Errorf("list orders updated since %s: %w", query, err)
		}
		for _, n := range list.Orders.Nodes {
			at, err := time.Parse(time.RFC3339, n.UpdatedAt)
			if err != nil {
				return res, fmt.Errorf("order %s: updatedAt %q: %w", n.ID, n.UpdatedAt, err)
			}
			if mark.Covers(n.ID, at) {
				continue
			}
			// Only an order updated before the horizon moves the mark; a
			// newer one is recorded all the same and read again next time.
			var next *engine.ShopMark
			if !at.After(horizon) {
				next = mark.Next(n.ID, at)
			}
			recorded, err := r.order(ctx, eng, client, c.ID, inst, n.ID, next, log)
			if err != nil {
				return res, err
			}
			res.Orders++
			res.Recorded += recorded
			if next != nil {
				mark = next
			}
		}
		if !list.Orders.PageInfo.HasNextPage || list.Orders.PageInfo.EndCursor == "" {
			break
		}
		after = list.Orders.PageInfo.EndCursor
	}
	// Fulfil what is listed: the sales just recorded, and any a crash left.
	r.kickFulfil(companyID)
	if res.Recorded > 0 {
		log.Info("shop reconciliation recorded what webhooks missed", "orders", res.Orders, "recorded", res.Recorded)
	} else {
		log.Debug("shop reconciliation", "orders", res.Orders)
	}
	return res, nil
}

// order reads one order and hands it to the engine's commands, the last
// of them carrying the mark. It reports how many changed something.
func (r *Reconciler) order(ctx context.Context, eng *engine.Engine, client *Client, companyID uint64, inst, id string,
	mark *engine.ShopMark, log *slog.Logger) (int, error) {
	var read struct {
		Order *gqlOrder `json:"order"`
	}
	if err := client.Do(ctx, Call{Name: "ReconcileOrder", Query: qReconcileOrder, Resendable: true,
		Variables: map[string]any{"id": id}}, &read); err != nil {
		return 0, fmt.Errorf("read order %s: %w", id, err)
	}
	o := read.Order
	type step struct {
		d  engine.ShopDelivery
		do func(d engine.ShopDelivery) (*engine.WebhookOutcome, error)
	}
	var steps []step
	if o == nil {
		// Gone since it was listed (deleted): nothing to record; the mark
		// still moves past it.
		steps = append(steps, step{engine.ShopDelivery{ID: "reconcile:orders/gone:" + id, Topic: "orders/delete"},
			func(d engine.ShopDelivery) (*engine.WebhookOutcome, error) {
				return eng.IgnoreShopDelivery(ctx, companyID, d, "shop order "+id+" is gone from the shop")
			}})
	} else {
		if o.LineItems.PageInfo.HasNextPage {
			log.Warn("shop order has more line items than one read holds: the first 50 are recorded", "order", o.ID)
		}
		sale := o.sale(inst)
		steps = append(steps, step{engine.ShopDelivery{ID: "reconcile:" + TopicOrdersCreate + ":" + o.ID, Topic: TopicOrdersCreate},
			func(d engine.ShopDelivery) (*engine.WebhookOutcome, error) {
				return eng.RecordShopSale(ctx, companyID, d, sale)
			}})
		for i := range o.Refunds {
			rf := o.refund(i, inst)
			steps = append(steps, step{engine.ShopDelivery{ID: "reconcile:" + TopicRefundsCreate + ":" + rf.ID, Topic: TopicRefundsCreate},
				func(d engine.ShopDelivery) (*engine.WebhookOutcome, error) {
					return eng.RefundShopLines(ctx, companyID, d, rf)
				}})
		}
		if o.CancelledAt != nil {
			cancel := engine.ShopCancellation{OrderID: o.ID}
			for _, rf := range o.Refunds {
				cancel.RefundIDs = append(cancel.RefundIDs, rf.ID)
			}
			steps = append(steps, step{engine.ShopDelivery{ID: "reconcile:" + TopicOrdersCancelled + ":" + o.ID, Topic: TopicOrdersCancelled},
				func(d engine.ShopDelivery) (*engine.WebhookOutcome, error) {
					return eng.CancelShopOrder(ctx, companyID, d, cancel)
				}})
		}
	}
	recorded := 0
	for i, st := range steps {
		if i == len(steps)-1 {
			st.d.Mark = mark
		}
		out, err := st.do(st.d)
		if err != nil {
			return recorded, fmt.Errorf("reconcile shop order %s (%s): %w", id, st.d.Topic, err)
		}
		if !out.Duplicate && !out.Ignored {
			recorded++
			log.Info("shop reconciliation recorded", "topic", st.d.Topic, "order", id, "outcome", out.Outcome)
		}
	}
	return recorded, nil
}

// sale is the order as a shop sale, as its orders/create delivery reads
// (see restOrder.sale).
func (o *gqlOrder) sale(inst string) engine.ShopSale {
	s := engine.ShopSale{OrderID: o.ID}
	for _, li := range o.LineItems.Nodes {
		l := engine.ShopSaleLine{LineID: li.ID, Quantity: li.Quantity, Title: strings.TrimSpace(li.Title)}
		rl := restLineItem{SKU: li.SKU}
		l.EventID, l.RegistrationTypeID = rl.ticket(inst)
		if vt := li.VariantTitle; vt != nil && strings.TrimSpace(*vt) != "" && *vt != "Default Title" {
			l.Title = strings.TrimSpace(*vt)
		}
		if li.Variant != nil {
			l.VariantID = li.Variant.ID
		}
		sm, pm := li.OriginalUnitPriceSet.ShopMoney, li.OriginalUnitPriceSet.PresentmentMoney
		l.UnitPrice = engine.ShopMoney{Amount: strings.TrimSpace(sm.Amount), Currency: sm.CurrencyCode}
		if l.UnitPrice.Currency == "" {
			l.UnitPrice.Currency = o.CurrencyCode
		}
		if pm.CurrencyCode != "" {
			l.Presented = engine.ShopMoney{Amount: strings.TrimSpace(pm.Amount), Currency: pm.CurrencyCode}
		}
		s.Lines = append(s.Lines, l)
	}
	return s
}

// refund is the order's i-th refund as its refunds/create delivery reads.
func (o *gqlOrder) refund(i int, inst string) engine.ShopRefund {
	rf := o.Refunds[i]
	out := engine.ShopRefund{ID: rf.ID, OrderID: o.ID}
	for _, n := range rf.RefundLineItems.Nodes {
		l := engine.ShopRefundLine{LineID: n.LineItem.ID, Quantity: n.Quantity}
		rl := restLineItem{SKU: n.LineItem.SKU}
		l.EventID, l.RegistrationTypeID = rl.ticket(inst)
		out.Lines = append(out.Lines, l)
	}
	return out
}
