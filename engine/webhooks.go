package engine

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Webhooks from the shop (DESIGN §7). A delivery is taken in by
// ReceiveShopifyWebhook, which the HTTP layer calls with the raw body and the
// X-Shopify-* headers. The contract:
//
//   - The company is found by X-Shopify-Shop-Domain (see shopDomains) and the
//     body verified with HMAC-SHA256 under the company's webhook secret,
//     compared in constant time. An unknown shop and a bad or missing
//     signature are the same Unauthorized error, so that a caller cannot
//     probe which shops are connected; nothing is recorded.
//   - Each delivery is handled once per company by X-Shopify-Webhook-Id: the
//     id is remembered (WebhookRecord) in the same commit as the delivery's
//     effect, so a redelivery, even one racing the first, changes nothing.
//     The effects are idempotent by their own keys as well: a shop order is
//     recorded once whatever the webhook id (a second subscription to the
//     same topic delivers it under another id), and a shop refund is
//     applied once (Order.ShopifyRefundIDs).
//   - Everything is one store.Update per company (dedupe, orders, ticket
//     structures, operations), then the operations are launched; no shop is
//     called while the request waits.
//
// Topics:
//
//   - orders/create: each line item whose SKU is eventops-{occurrence}-{type}
//     (catalog sets it), or, failing that, whose variant id is one of a
//     ticket structure's, becomes a paid Order (quantity, the amount the
//     buyer paid, the shop order and line item ids); what is left to sell is
//     recomputed, and an inventory-only save is started for each occurrence
//     sold, on every shop sale and not only when other variants share a
//     capacity: an inventory write racing the sale may have read the shop
//     after the sale but our store before it, and so put the sold units back
//     on sale; the save after the order is recorded corrects that. A sale
//     is recorded even when it exceeds what we had left (the buyer has
//     paid; a warning is logged) and even on a deleted event (no save is
//     started for it: its products are being withdrawn).
//   - refunds/create: each refund line takes its quantity off the paid
//     orders of its line item: an order refunded whole is marked refunded;
//     a partial refund splits the order into a paid part and a refunded
//     part (amount shared pro rata), so that sold counts stay sums of paid
//     orders. Every refunded quantity returns to what is left to sell,
//     whatever the line's restock_type: a refunded ticket is void, so its
//     place is for sale again, and the inventory save that follows sets the
//     shop's quantity to match (the shop itself puts only cancel and return
//     restocks back). A refund without line items (money only) changes no
//     quantity. An inventory-only save follows for each live occurrence
//     touched.
//   - orders/cancelled: every paid order of the shop order is refunded (a
//     cancellation refunds what was left); a payload without cancelled_at
//     is ignored.
//   - app/uninstalled: the company's shop connection is marked revoked; its
//     Shopify phases then fail with SHOPIFY_AUTH_REJECTED until ConnectShop
//     reconnects it.
//   - Any other topic is ignored (and not recorded).
//
// A refund or cancellation delivered before the order it concerns (Shopify
// does not promise order across topics) finds no order and changes
// nothing; an event refund later finds that shop order already refunded
// (nothing refundable) and marks it refunded without a second refund.

// Topics eventops subscribes to (engine/shopify set-up) and handles.
const (
	TopicOrdersCreate    = "orders/create"
	TopicRefundsCreate   = "refunds/create"
	TopicOrdersCancelled = "orders/cancelled"
	TopicAppUninstalled  = "app/uninstalled"
)

// WebhookRetention is how long a delivery's id is remembered. Shopify
// retries a failed delivery for up to 48 hours; a month leaves room for
// manual redeliveries. Beyond it, the effects' own keys (shop order and
// refund ids) still keep a late duplicate from counting twice.
const WebhookRetention = 30 * 24 * time.Hour

// WebhookRecord remembers a delivery a company received.
type WebhookRecord struct {
	CompanyID    uint64    `json:"company_id"`
	ID           string    `json:"id"` // X-Shopify-Webhook-Id
	Topic        string    `json:"topic"`
	ReceivedAt   time.Time `json:"received_at"`
	Outcome      string    `json:"outcome"`
	OrderIDs     []uint64  `json:"order_ids,omitempty"`
	OperationIDs []uint64  `json:"operation_ids,omitempty"`
}

// ShopifyWebhook is one delivery as it arrived.
type ShopifyWebhook struct {
	Topic      string // orders/create, refunds/create, orders/cancelled, app/uninstalled, ...
	ShopDomain string // X-Shopify-Shop-Domain: "{shop}.myshopify.com"
	ID         string // X-Shopify-Webhook-Id
	HMAC       string // X-Shopify-Hmac-Sha256: base64 HMAC-SHA256 of Body
	Body       []byte // the raw body, exactly as received
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
}

// ErrWebhookUnauthorized answers a delivery from an unknown shop or with a
// bad signature: the two are not told apart.
var ErrWebhookUnauthorized = Unauthorized("webhook signature does not verify")

// ReceiveShopifyWebhook verifies a delivery and hands it to the company (or
// companies, when several are connected to the shop and the signature
// verifies for each) it is for. See the contract above.
func (e *Engine) ReceiveShopifyWebhook(ctx context.Context, w ShopifyWebhook) ([]*WebhookOutcome, error) {
	w.Topic = strings.Trim(strings.ToLower(strings.TrimSpace(w.Topic)), "/")
	companies, err := e.webhookCompanies(w)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(w.ID) == "" {
		return nil, Invalid(FieldError{Attribute: "X-Shopify-Webhook-Id", Code: "blank", Message: "can't be blank"})
	}
	var handle func(ctx context.Context, c *Company, w ShopifyWebhook) (*WebhookOutcome, error)
	switch w.Topic {
	case TopicOrdersCreate:
		var o restOrder
		if err := decodePayload(w.Body, &o); err != nil {
			return nil, err
		}
		if o.gid() == "" {
			return nil, invalidPayload("names no order id")
		}
		handle = func(ctx context.Context, c *Company, w ShopifyWebhook) (*WebhookOutcome, error) {
			return e.shopOrderCreated(ctx, c, w, &o)
		}
	case TopicRefundsCreate:
		var r restRefund
		if err := decodePayload(w.Body, &r); err != nil {
			return nil, err
		}
		if r.gid() == "" || r.orderGID() == "" {
			return nil, invalidPayload("names no refund id or no order_id")
		}
		handle = func(ctx context.Context, c *Company, w ShopifyWebhook) (*WebhookOutcome, error) {
			return e.shopRefundCreated(ctx, c, w, &r)
		}
	case TopicOrdersCancelled:
		var o restOrder
		if err := decodePayload(w.Body, &o); err != nil {
			return nil, err
		}
		if o.gid() == "" {
			return nil, invalidPayload("names no order id")
		}
		handle = func(ctx context.Context, c *Company, w ShopifyWebhook) (*WebhookOutcome, error) {
			return e.shopOrderCancelled(ctx, c, w, &o)
		}
	case TopicAppUninstalled:
		handle = e.shopUninstalled
	default:
		out := make([]*WebhookOutcome, len(companies))
		for i, c := range companies {
			out[i] = &WebhookOutcome{CompanyID: c.ID, Ignored: true, Outcome: "topic " + strconv.Quote(w.Topic) + " is not handled"}
		}
		return out, nil
	}
	out := make([]*WebhookOutcome, 0, len(companies))
	for _, c := range companies {
		o, err := handle(ctx, c, w)
		if err != nil {
			return out, fmt.Errorf("webhook %s %s for company %d: %w", w.Topic, w.ID, c.ID, err)
		}
		e.log.Info("shopify webhook", "company", c.ID, "topic", w.Topic, "webhook", w.ID,
			"duplicate", o.Duplicate, "outcome", o.Outcome, "orders", len(o.Orders), "operations", len(o.Operations))
		out = append(out, o)
	}
	return out, nil
}

// webhookCompanies finds the companies connected to the delivery's shop
// whose webhook secret verifies its signature.
func (e *Engine) webhookCompanies(w ShopifyWebhook) ([]*Company, error) {
	domain := normalDomain(w.ShopDomain)
	if domain == "" || w.HMAC == "" {
		e.log.Info("shopify webhook refused", "reason", "no shop domain or no signature", "topic", w.Topic)
		return nil, ErrWebhookUnauthorized
	}
	var all []*Company
	if err := e.store.View(func(tx Tx) error {
		var err error
		all, err = tx.Companies()
		return err
	}); err != nil {
		return nil, err
	}
	var found []*Company
	known := false
	var openErr error
	for _, c := range all {
		if !c.Shopify() || !slices.Contains(shopDomains(c.Shop), domain) {
			continue
		}
		known = true
		_, secret, err := e.OpenShopCredentials(c.Shop)
		if err != nil {
			e.log.Error("open webhook secret", "company", c.ID, "err", err)
			openErr = err
			continue
		}
		if validSignature(secret, w.Body, w.HMAC) {
			found = append(found, c)
		}
	}
	if len(found) > 0 {
		return found, nil
	}
	if openErr != nil {
		return nil, openErr // ours to fix: an error (5xx) lets the shop retry
	}
	reason := "bad signature"
	if !known {
		reason = "unknown shop"
	}
	e.log.Info("shopify webhook refused", "reason", reason, "shop", domain, "topic", w.Topic)
	return nil, ErrWebhookUnauthorized
}

// validSignature checks a base64 HMAC-SHA256 of body under secret in
// constant time. An empty secret verifies nothing.
func validSignature(secret Secret, body []byte, signature string) bool {
	if secret == "" {
		return false
	}
	got, err := base64.StdEncoding.DecodeString(strings.TrimSpace(signature))
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret.Reveal()))
	mac.Write(body)
	return hmac.Equal(mac.Sum(nil), got)
}

// SignWebhook is the X-Shopify-Hmac-Sha256 value of body under secret, as
// the shop computes it (tests and tools that send deliveries).
func SignWebhook(secret Secret, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret.Reveal()))
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func normalDomain(d string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
}

// shopDomains are the X-Shopify-Shop-Domain values that name a connected
// shop: a sandbox shop "demo" is "demo.myshopify.com" (or "demo"); a real
// shop given as a myshopify domain is that domain (a bare handle without a
// dot gets ".myshopify.com"); a shop given by base URL is the URL's host,
// and for a URL of a sandbox running as its own process
// (".../sandbox/shopify/{shop}") also "{shop}.myshopify.com".
func shopDomains(s *Shop) []string {
	d := normalDomain(s.Domain)
	if d == "" {
		return nil
	}
	if s.Sandbox {
		return []string{d + ".myshopify.com", d}
	}
	if strings.HasPrefix(d, "http://") || strings.HasPrefix(d, "https://") {
		u, err := url.Parse(d)
		if err != nil {
			return nil
		}
		out := []string{u.Hostname()}
		if _, rest, ok := strings.Cut(u.Path, "/sandbox/shopify/"); ok {
			if name, _, _ := strings.Cut(rest, "/"); name != "" {
				out = append(out, name+".myshopify.com")
			}
		}
		return out
	}
	d = strings.TrimRight(d, "/")
	if !strings.Contains(d, ".") {
		d += ".myshopify.com"
	}
	return []string{d}
}

func decodePayload(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return invalidPayload("is not the topic's JSON payload: " + err.Error())
	}
	return nil
}

func invalidPayload(msg string) *Error {
	return Invalid(FieldError{Attribute: "body", Code: "invalid", Message: msg})
}

// --- Shopify's REST webhook payloads (the fields eventops reads) ------------

type restOrder struct {
	ID                int64  `json:"id"`
	AdminGraphqlAPIID string `json:"admin_graphql_api_id"`
	// Currency is the shop's currency, the one prices are set in;
	// PresentmentCurrency the buyer's.
	Currency            string         `json:"currency"`
	PresentmentCurrency string         `json:"presentment_currency"`
	CancelledAt         *string        `json:"cancelled_at"`
	LineItems           []restLineItem `json:"line_items"`
	Refunds             []restRefund   `json:"refunds"`
}

func (o *restOrder) gid() string { return gidOf("Order", o.AdminGraphqlAPIID, o.ID) }

type restLineItem struct {
	ID                int64   `json:"id"`
	AdminGraphqlAPIID string  `json:"admin_graphql_api_id"`
	VariantID         *int64  `json:"variant_id"`
	SKU               *string `json:"sku"`
	Quantity          int64   `json:"quantity"`
	// Price is the unit price in the shop's currency; PriceSet carries it
	// with its currency, beside the buyer's (presentment) price.
	Price    string        `json:"price"`
	PriceSet *restMoneySet `json:"price_set"`
}

// restMoneySet is Shopify's REST MoneyBag: an amount in the shop's
// currency and the same in the currency presented to the buyer.
type restMoneySet struct {
	ShopMoney        restMoney `json:"shop_money"`
	PresentmentMoney restMoney `json:"presentment_money"`
}

type restMoney struct {
	Amount       string `json:"amount"`
	CurrencyCode string `json:"currency_code"`
}

func (l *restLineItem) gid() string { return gidOf("LineItem", l.AdminGraphqlAPIID, l.ID) }

type restRefund struct {
	ID                int64            `json:"id"`
	AdminGraphqlAPIID string           `json:"admin_graphql_api_id"`
	OrderID           int64            `json:"order_id"`
	RefundLineItems   []restRefundLine `json:"refund_line_items"`
}

func (r *restRefund) gid() string      { return gidOf("Refund", r.AdminGraphqlAPIID, r.ID) }
func (r *restRefund) orderGID() string { return gidOf("Order", "", r.OrderID) }

type restRefundLine struct {
	LineItemID int64        `json:"line_item_id"`
	Quantity   int64        `json:"quantity"`
	LineItem   restLineItem `json:"line_item"`
}

func (l *restRefundLine) lineGID() string {
	if g := l.LineItem.gid(); g != "" {
		return g
	}
	return gidOf("LineItem", "", l.LineItemID)
}

// gidOf is a resource's global id: the payload's admin_graphql_api_id, else
// built from its numeric id (the GraphQL API, which the refund work calls,
// takes gids).
func gidOf(typ, gid string, id int64) string {
	if gid != "" {
		return gid
	}
	if id == 0 {
		return ""
	}
	return "gid://shopify/" + typ + "/" + strconv.FormatInt(id, 10)
}

// ticketSKU parses the SKU catalog gives a variant: eventops-{occ}-{rt}.
func ticketSKU(sku *string) (occ, rt uint64, ok bool) {
	if sku == nil {
		return 0, 0, false
	}
	rest, found := strings.CutPrefix(strings.TrimSpace(*sku), "eventops-")
	if !found {
		return 0, 0, false
	}
	a, b, found := strings.Cut(rest, "-")
	if !found {
		return 0, 0, false
	}
	o, err1 := strconv.ParseUint(a, 10, 64)
	r, err2 := strconv.ParseUint(b, 10, 64)
	return o, r, err1 == nil && err2 == nil && o != 0 && r != 0
}

// lineMoney is what the buyer paid for a line item: in the shop's currency
// (price_set.shop_money, else price in the order's currency, else in
// shopCurrency: the currency of the company's shop, or of the type's
// price when unknown), and in the presentment currency when the payload
// says. Amounts are read by the engine's codec; one that cannot be read
// exactly is left out (nil), never rounded.
func lineMoney(o *restOrder, li *restLineItem, shopCurrency string) (paid, presented *Money) {
	times := func(unit Money) *Money {
		if unit.Amount < 0 || (li.Quantity > 0 && unit.Amount > MaxAmount/li.Quantity) {
			return nil
		}
		unit.Amount *= li.Quantity
		return &unit
	}
	shopAmount, cur := li.Price, o.Currency
	if li.PriceSet != nil && li.PriceSet.ShopMoney.CurrencyCode != "" {
		shopAmount, cur = li.PriceSet.ShopMoney.Amount, li.PriceSet.ShopMoney.CurrencyCode
	}
	if cur == "" {
		cur = shopCurrency
	}
	if unit, err := ParseShopDecimal(strings.TrimSpace(shopAmount), cur); err == nil {
		paid = times(unit)
	}
	if li.PriceSet != nil && li.PriceSet.PresentmentMoney.CurrencyCode != "" {
		pm := li.PriceSet.PresentmentMoney
		if unit, err := ParseShopDecimal(strings.TrimSpace(pm.Amount), pm.CurrencyCode); err == nil {
			presented = times(unit)
		}
	}
	return paid, presented
}

// --- orders/create ----------------------------------------------------------

// soldLine is a line item of a shop order that sells one of our
// registration types.
type soldLine struct {
	lineID   string // the line item's gid
	eventID  uint64 // the occurrence (date event)
	queueID  uint64
	rtID     uint64
	quantity int
	amount   *Money // what the buyer paid for the line; nil: the type's price
	// presented is the same in the buyer's currency, when the shop says.
	presented *Money
}

// resolveLines maps a shop order's line items to our occurrences and
// registration types: by SKU, else by variant id through the company's
// ticket structures (read only when a line needs it). shopCurrency is the
// company's shop currency ("" when not known yet).
func resolveLines(tx Tx, companyID uint64, shopCurrency string, o *restOrder) ([]soldLine, error) {
	var byVariant map[string][2]uint64
	var out []soldLine
	for _, li := range o.LineItems {
		if li.Quantity <= 0 {
			continue
		}
		occ, rt, ok := ticketSKU(li.SKU)
		if !ok && li.VariantID != nil {
			if byVariant == nil {
				var err error
				if byVariant, err = companyVariants(tx, companyID); err != nil {
					return nil, err
				}
			}
			k, found := byVariant[gidOf("ProductVariant", "", *li.VariantID)]
			occ, rt, ok = k[0], k[1], found
		}
		if !ok {
			continue
		}
		ev, err := tx.Event(occ)
		if err != nil {
			return nil, err
		}
		if ev == nil || ev.CompanyID != companyID || ev.Type != EventDate || regType(ev, rt) == nil {
			continue
		}
		l := soldLine{lineID: li.gid(), eventID: ev.ID, queueID: ev.QueueID(), rtID: rt, quantity: int(li.Quantity)}
		cur := shopCurrency
		if cur == "" {
			cur = regType(ev, rt).Price.Currency
		}
		l.amount, l.presented = lineMoney(o, &li, cur)
		out = append(out, l)
	}
	return out, nil
}

// companyVariants maps the shop variant ids of every live occurrence's
// ticket structure to (occurrence, registration type). Its cost grows with
// the company's events: it serves only line items whose SKU was changed in
// the shop.
func companyVariants(tx Tx, companyID uint64) (map[string][2]uint64, error) {
	out := map[string][2]uint64{}
	q := EventQuery{CompanyID: companyID, Sort: SortID, Limit: 100}
	for {
		evs, next, err := tx.Events(q)
		if err != nil {
			return nil, err
		}
		for _, ev := range evs {
			if ev.Type != EventDate {
				continue
			}
			s, err := tx.TicketStructure(ev.ID)
			if err != nil {
				return nil, err
			}
			if s == nil {
				continue
			}
			for _, p := range s.Products {
				for _, v := range p.Variants {
					if v.ShopifyVariantID != "" {
						out[v.ShopifyVariantID] = [2]uint64{ev.ID, v.RegistrationTypeID}
					}
				}
			}
		}
		if next == "" {
			return out, nil
		}
		q.Cursor = next
	}
}

func regType(ev *Event, id uint64) *RegistrationType {
	for i := range ev.RegistrationTypes {
		if ev.RegistrationTypes[i].ID == id {
			return &ev.RegistrationTypes[i]
		}
	}
	return nil
}

// shopOrderCreated records the lines of a shop order that sell our tickets.
func (e *Engine) shopOrderCreated(ctx context.Context, c *Company, w ShopifyWebhook, so *restOrder) (*WebhookOutcome, error) {
	var lines []soldLine
	if err := e.store.View(func(tx Tx) error {
		var err error
		lines, err = resolveLines(tx, c.ID, c.Shop.Currency, so)
		return err
	}); err != nil {
		return nil, err
	}
	queues := make([]uint64, len(lines))
	for i, l := range lines {
		queues[i] = l.queueID
	}
	unlock := e.lockQueues(queues)
	defer unlock()
	shopOrderID := so.gid()
	var out *WebhookOutcome
	err := e.store.Update(ctx, func(tx Tx) error {
		out = &WebhookOutcome{CompanyID: c.ID}
		rec, err := e.claimWebhook(tx, c.ID, w, out)
		if err != nil || rec == nil {
			return err
		}
		cur, err := tx.Company(c.ID)
		if err != nil {
			return err
		}
		if cur == nil {
			return NotFound("company %d not found", c.ID)
		}
		existing, err := tx.ShopOrders(c.ID, shopOrderID)
		if err != nil {
			return err
		}
		switch {
		case len(existing) > 0:
			out.Ignored, out.Outcome = true, "shop order "+shopOrderID+" is already recorded"
		case len(lines) == 0:
			out.Ignored, out.Outcome = true, "no line item of shop order "+shopOrderID+" sells our tickets"
		}
		if out.Ignored {
			rec.Outcome = out.Outcome
			return tx.PutWebhook(rec)
		}
		now := e.now()
		var touched []uint64
		for _, l := range lines {
			ev, err := tx.Event(l.eventID)
			if err != nil {
				return err
			}
			var rt *RegistrationType
			if ev != nil {
				rt = regType(ev, l.rtID)
			}
			if rt == nil {
				e.log.Warn("shop sale of a registration type removed meanwhile: not recorded",
					"company", c.ID, "shop_order", shopOrderID, "event", l.eventID, "registration_type", l.rtID)
				continue
			}
			sold, err := soldCounts(tx, ev)
			if err != nil {
				return err
			}
			if left := Available(rt.Quantity, sold[rt.ID], ev.Capacity, sold[0]); left != nil && *left < l.quantity {
				e.log.Warn("shop sale exceeds what was left to sell: recorded all the same (the buyer paid)",
					"company", c.ID, "shop_order", shopOrderID, "event", ev.ID, "registration_type", rt.ID,
					"quantity", l.quantity, "left", *left)
			}
			if ev.Deleted {
				e.log.Warn("shop sale of a deleted event: recorded for its refund",
					"company", c.ID, "shop_order", shopOrderID, "event", ev.ID)
			}
			amount := Money{Amount: rt.Price.Amount * int64(l.quantity), Currency: rt.Price.Currency}
			if l.amount != nil {
				amount = *l.amount
			}
			o := &Order{CompanyID: c.ID, EventID: ev.ID, RegistrationTypeID: rt.ID, Quantity: l.quantity,
				Amount: amount, Presentment: l.presented, Status: OrderPaid, ShopifyOrderID: shopOrderID,
				ShopifyLineItemID: l.lineID, CreatedAt: now}
			if o.ID, err = tx.NextID(SeqOrder); err != nil {
				return err
			}
			if err := tx.PutOrder(o); err != nil {
				return err
			}
			if err := tx.IndexShopOrder(o); err != nil {
				return err
			}
			out.Orders = append(out.Orders, o)
			if !slices.Contains(touched, ev.ID) {
				touched = append(touched, ev.ID)
			}
		}
		if err := e.followSales(tx, cur, touched, now, out); err != nil {
			return err
		}
		out.Outcome = fmt.Sprintf("recorded %d order(s) of shop order %s", len(out.Orders), shopOrderID)
		return e.finishWebhook(tx, rec, out)
	})
	if err != nil {
		return nil, err
	}
	e.launchAll(ctx, out.Operations)
	return out, nil
}

// --- refunds/create and orders/cancelled ------------------------------------

// shopRefundCreated applies a refund made in the shop to the orders of its
// line items.
func (e *Engine) shopRefundCreated(ctx context.Context, c *Company, w ShopifyWebhook, r *restRefund) (*WebhookOutcome, error) {
	return e.changeShopOrder(ctx, c, w, r.orderGID(), func(tx Tx, orders []*Order, now time.Time, out *WebhookOutcome) ([]uint64, error) {
		refundID := r.gid()
		for _, o := range orders {
			if slices.Contains(o.ShopifyRefundIDs, refundID) {
				out.Ignored, out.Outcome = true, "refund "+refundID+" is already applied"
				return nil, nil
			}
		}
		var touched []uint64
		for _, line := range r.RefundLineItems {
			n, err := refundLine(tx, orders, line, refundID, now, out)
			if err != nil {
				return nil, err
			}
			touched = append(touched, n...)
		}
		if len(out.Orders) == 0 {
			out.Ignored, out.Outcome = true, "refund "+refundID+" refunds no ticket of ours"
			return nil, nil
		}
		out.Outcome = "applied refund " + refundID
		return touched, nil
	})
}

// refundLine takes a refund line's quantity off the paid orders of its line
// item (orders recorded without a line item id are matched by SKU), whole
// orders first in id order, splitting the last one when the refund is
// partial.
func refundLine(tx Tx, orders []*Order, line restRefundLine, refundID string, now time.Time, out *WebhookOutcome) ([]uint64, error) {
	left := int(line.Quantity)
	lineID := line.lineGID()
	occ, rt, bySKU := ticketSKU(line.LineItem.SKU)
	var touched []uint64
	for _, o := range orders {
		if left <= 0 {
			break
		}
		if o.Status != OrderPaid {
			continue
		}
		mine := o.ShopifyLineItemID == lineID ||
			(o.ShopifyLineItemID == "" && bySKU && o.EventID == occ && o.RegistrationTypeID == rt)
		if !mine {
			continue
		}
		take := min(left, o.Quantity)
		left -= take
		t := now
		if take == o.Quantity {
			o.Status, o.RefundedAt = OrderRefunded, &t
			o.ShopifyRefundIDs = append(o.ShopifyRefundIDs, refundID)
			if err := tx.PutOrder(o); err != nil {
				return nil, err
			}
			out.Orders = append(out.Orders, o)
		} else {
			keep := o.Quantity - take
			kept := o.Amount.Amount * int64(keep) / int64(o.Quantity)
			part := &Order{CompanyID: o.CompanyID, EventID: o.EventID, RegistrationTypeID: o.RegistrationTypeID,
				Quantity: take, Amount: Money{Amount: o.Amount.Amount - kept, Currency: o.Amount.Currency},
				Status: OrderRefunded, ShopifyOrderID: o.ShopifyOrderID, ShopifyLineItemID: o.ShopifyLineItemID,
				ShopifyRefundIDs: []string{refundID}, CreatedAt: o.CreatedAt, RefundedAt: &t}
			if p := o.Presentment; p != nil {
				pk := p.Amount * int64(keep) / int64(o.Quantity)
				part.Presentment = &Money{Amount: p.Amount - pk, Currency: p.Currency}
				o.Presentment = &Money{Amount: pk, Currency: p.Currency}
			}
			var err error
			if part.ID, err = tx.NextID(SeqOrder); err != nil {
				return nil, err
			}
			o.Quantity, o.Amount.Amount = keep, kept
			if err := tx.PutOrder(o); err != nil {
				return nil, err
			}
			if err := tx.PutOrder(part); err != nil {
				return nil, err
			}
			if err := tx.IndexShopOrder(part); err != nil {
				return nil, err
			}
			out.Orders = append(out.Orders, o, part)
		}
		touched = append(touched, o.EventID)
	}
	return touched, nil
}

// shopOrderCancelled refunds every paid order of a cancelled shop order.
func (e *Engine) shopOrderCancelled(ctx context.Context, c *Company, w ShopifyWebhook, so *restOrder) (*WebhookOutcome, error) {
	return e.changeShopOrder(ctx, c, w, so.gid(), func(tx Tx, orders []*Order, now time.Time, out *WebhookOutcome) ([]uint64, error) {
		if so.CancelledAt == nil {
			out.Ignored, out.Outcome = true, "shop order "+so.gid()+" is not cancelled"
			return nil, nil
		}
		var refundIDs []string
		for i := range so.Refunds {
			if id := so.Refunds[i].gid(); id != "" {
				refundIDs = append(refundIDs, id)
			}
		}
		var touched []uint64
		for _, o := range orders {
			if o.Status != OrderPaid {
				continue
			}
			t := now
			o.Status, o.RefundedAt = OrderRefunded, &t
			for _, id := range refundIDs {
				if !slices.Contains(o.ShopifyRefundIDs, id) {
					o.ShopifyRefundIDs = append(o.ShopifyRefundIDs, id)
				}
			}
			if err := tx.PutOrder(o); err != nil {
				return nil, err
			}
			out.Orders = append(out.Orders, o)
			touched = append(touched, o.EventID)
		}
		if len(out.Orders) == 0 {
			out.Ignored, out.Outcome = true, "shop order "+so.gid()+" has no paid order of ours"
			return nil, nil
		}
		out.Outcome = fmt.Sprintf("refunded %d order(s) of cancelled shop order %s", len(out.Orders), so.gid())
		return touched, nil
	})
}

// changeShopOrder runs change over the orders of one shop order under the
// queue locks of their events, in the commit that remembers the delivery:
// change returns the occurrences whose orders it changed, whose left to sell
// is then recomputed and followed by inventory-only saves.
func (e *Engine) changeShopOrder(ctx context.Context, c *Company, w ShopifyWebhook, shopOrderID string,
	change func(tx Tx, orders []*Order, now time.Time, out *WebhookOutcome) ([]uint64, error)) (*WebhookOutcome, error) {
	var queues []uint64
	if err := e.store.View(func(tx Tx) error {
		orders, err := tx.ShopOrders(c.ID, shopOrderID)
		if err != nil {
			return err
		}
		for _, o := range orders {
			ev, err := tx.Event(o.EventID)
			if err != nil {
				return err
			}
			if ev != nil {
				queues = append(queues, ev.QueueID())
			}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	unlock := e.lockQueues(queues)
	defer unlock()
	var out *WebhookOutcome
	err := e.store.Update(ctx, func(tx Tx) error {
		out = &WebhookOutcome{CompanyID: c.ID}
		rec, err := e.claimWebhook(tx, c.ID, w, out)
		if err != nil || rec == nil {
			return err
		}
		cur, err := tx.Company(c.ID)
		if err != nil {
			return err
		}
		if cur == nil {
			return NotFound("company %d not found", c.ID)
		}
		orders, err := tx.ShopOrders(c.ID, shopOrderID)
		if err != nil {
			return err
		}
		if len(orders) == 0 {
			out.Ignored, out.Outcome = true, "shop order "+shopOrderID+" has no order of ours"
			rec.Outcome = out.Outcome
			return tx.PutWebhook(rec)
		}
		now := e.now()
		touched, err := change(tx, orders, now, out)
		if err != nil {
			return err
		}
		if out.Ignored {
			out.Orders = nil
			rec.Outcome = out.Outcome
			return tx.PutWebhook(rec)
		}
		slices.Sort(touched)
		if err := e.followSales(tx, cur, slices.Compact(touched), now, out); err != nil {
			return err
		}
		return e.finishWebhook(tx, rec, out)
	})
	if err != nil {
		return nil, err
	}
	e.launchAll(ctx, out.Operations)
	return out, nil
}

// --- app/uninstalled --------------------------------------------------------

// shopUninstalled marks the company's shop connection revoked.
func (e *Engine) shopUninstalled(ctx context.Context, c *Company, w ShopifyWebhook) (*WebhookOutcome, error) {
	var out *WebhookOutcome
	err := e.store.Update(ctx, func(tx Tx) error {
		out = &WebhookOutcome{CompanyID: c.ID}
		rec, err := e.claimWebhook(tx, c.ID, w, out)
		if err != nil || rec == nil {
			return err
		}
		cur, err := tx.Company(c.ID)
		if err != nil {
			return err
		}
		switch {
		case cur == nil || !cur.Shopify() || !slices.Contains(shopDomains(cur.Shop), normalDomain(w.ShopDomain)):
			out.Ignored, out.Outcome = true, "the company is no longer connected to this shop"
		case cur.Shop.Revoked:
			out.Ignored, out.Outcome = true, "the shop connection is already revoked"
		default:
			cur.Shop.Revoked = true
			if err := tx.PutCompany(cur); err != nil {
				return err
			}
			out.Outcome = "the shop connection is revoked (the app was uninstalled): reconnect the shop"
		}
		rec.Outcome = out.Outcome
		return tx.PutWebhook(rec)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// --- shared ------------------------------------------------------------------

// claimWebhook returns the record to write for a delivery not seen before,
// or nil (out marked Duplicate) for one already handled.
func (e *Engine) claimWebhook(tx Tx, companyID uint64, w ShopifyWebhook, out *WebhookOutcome) (*WebhookRecord, error) {
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
func (e *Engine) followSales(tx Tx, c *Company, eventIDs []uint64, now time.Time, out *WebhookOutcome) error {
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
func (e *Engine) lockQueues(ids []uint64) func() {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	unlocks := make([]func(), 0, len(ids))
	for _, id := range ids {
		unlocks = append(unlocks, e.lockQueue(id))
	}
	return func() {
		for i := len(unlocks) - 1; i >= 0; i-- {
			unlocks[i]()
		}
	}
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
