package shopify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"eventops/engine"
)

// Webhooks from the shop (DESIGN §7): the protocol side. A delivery is
// taken in by WebhookReceiver, which the HTTP layer (web, through its
// ShopWebhooks interface, wired in serve.go) calls with the topic of the
// path, the request's headers and the raw body. Here: which companies a
// delivery is for, its signature, its payload; the engine's domain
// commands (engine/webhooks.go) keep the rules of what it changes. The
// contract:
//
//   - The companies are found by X-Shopify-Shop-Domain (see shopDomains)
//     and the body verified with HMAC-SHA256 under each company's webhook
//     secret (sealed in the store, opened by the engine), compared in
//     constant time. An unknown shop and a bad or missing signature are the
//     same Unauthorized error (ErrWebhookUnauthorized), so that a caller
//     cannot probe which shops are connected; nothing is recorded.
//   - A signed delivery without X-Shopify-Webhook-Id, with a body that is
//     not its topic's payload, or with an X-Shopify-Topic header naming
//     another topic than the path is Invalid; nothing is recorded.
//   - Then, for each company it is for, one domain command, under the
//     delivery's id (the engine makes each delivery once per company):
//
//     orders/create: the line items become a shop sale
//     (engine.RecordShopSale): a line is ours when its SKU is
//     eventops-{occurrence}-{type} (catalog sets it), or, failing that,
//     when its variant id is one of a ticket structure's.
//     refunds/create: each refund line refunds its line item's orders
//     (engine.RefundShopLines); restock_type is not read (a refunded
//     ticket returns to sale whatever the shop did with its stock).
//     orders/cancelled: every paid order of the shop order is refunded
//     (engine.CancelShopOrder); a payload without cancelled_at is
//     remembered and ignored.
//     app/uninstalled: the company's shop connection is marked revoked
//     (engine.RevokeShop).
//     Any other topic is ignored (and not recorded).

// Topics eventops subscribes to (shop set-up) and handles.
const (
	TopicOrdersCreate    = "orders/create"
	TopicRefundsCreate   = "refunds/create"
	TopicOrdersCancelled = "orders/cancelled"
	TopicAppUninstalled  = "app/uninstalled"
)

// Shopify's webhook headers.
const (
	headerTopic     = "X-Shopify-Topic"
	headerShop      = "X-Shopify-Shop-Domain"
	headerWebhookID = "X-Shopify-Webhook-Id"
	headerHMAC      = "X-Shopify-Hmac-Sha256"
)

// ErrWebhookUnauthorized answers a delivery from an unknown shop or with a
// bad signature: the two are not told apart.
var ErrWebhookUnauthorized = engine.Unauthorized("webhook signature does not verify")

// Delivery is one webhook delivery as it arrived.
type Delivery struct {
	Topic      string // orders/create, refunds/create, orders/cancelled, app/uninstalled, ...
	ShopDomain string // X-Shopify-Shop-Domain: "{shop}.myshopify.com"
	ID         string // X-Shopify-Webhook-Id
	HMAC       string // X-Shopify-Hmac-Sha256: base64 HMAC-SHA256 of Body
	Body       []byte // the raw body, exactly as received (decoded of any Content-Encoding)
}

// WebhookReceiver takes in the shop's webhook deliveries for an engine.
type WebhookReceiver struct {
	eng *engine.Engine
	log *slog.Logger
	// sales, when set, is told of each sale recorded (its ticket lines
	// are then fulfilled in the shop: fulfil.go).
	sales *Reconciler
}

// FulfilWith makes the receiver hand each sale it records to rec, which
// fulfils its ticket lines in the shop; it returns r.
func (r *WebhookReceiver) FulfilWith(rec *Reconciler) *WebhookReceiver {
	r.sales = rec
	return r
}

// NewWebhookReceiver is the receiver of eng's deliveries; log nil is
// slog.Default().
func NewWebhookReceiver(eng *engine.Engine, log *slog.Logger) *WebhookReceiver {
	if log == nil {
		log = slog.Default()
	}
	return &WebhookReceiver{eng: eng, log: log}
}

// ReceiveWebhook reads a delivery from an HTTP request: topic is the one
// the path names ("" when it names none), header reads the request's
// headers, body is its body. X-Shopify-Topic, when sent, must name the
// same topic.
func (r *WebhookReceiver) ReceiveWebhook(ctx context.Context, topic string, header func(name string) string, body []byte) ([]*engine.WebhookOutcome, error) {
	topic = strings.Trim(topic, "/")
	if h := strings.Trim(header(headerTopic), "/"); h != "" {
		if topic != "" && !strings.EqualFold(h, topic) {
			return nil, engine.Invalid(engine.FieldError{Attribute: headerTopic, Code: "invalid", Message: "names another topic than the path"})
		}
		topic = h
	}
	return r.Receive(ctx, Delivery{Topic: topic, ShopDomain: header(headerShop), ID: header(headerWebhookID),
		HMAC: header(headerHMAC), Body: body})
}

// Receive verifies a delivery and hands it to the company (or companies,
// when several are connected to the shop and the signature verifies for
// each) it is for. See the contract above.
func (r *WebhookReceiver) Receive(ctx context.Context, w Delivery) ([]*engine.WebhookOutcome, error) {
	w.Topic = strings.Trim(strings.ToLower(strings.TrimSpace(w.Topic)), "/")
	if isCompliance(w.Topic) {
		return r.receiveCompliance(ctx, w)
	}
	companies, err := r.companies(w)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(w.ID) == "" {
		return nil, engine.Invalid(engine.FieldError{Attribute: headerWebhookID, Code: "blank", Message: "can't be blank"})
	}
	d := engine.ShopDelivery{ID: w.ID, Topic: w.Topic}
	inst, err := r.eng.InstallationID()
	if err != nil {
		return nil, err
	}
	var handle func(ctx context.Context, c *engine.Company) (*engine.WebhookOutcome, error)
	switch w.Topic {
	case TopicOrdersCreate:
		var o restOrder
		if err := decodePayload(w.Body, &o); err != nil {
			return nil, err
		}
		if o.gid() == "" {
			return nil, invalidPayload("names no order id")
		}
		sale := o.sale(inst)
		handle = func(ctx context.Context, c *engine.Company) (*engine.WebhookOutcome, error) {
			return r.eng.RecordShopSale(ctx, c.ID, d, sale)
		}
	case TopicRefundsCreate:
		var rf restRefund
		if err := decodePayload(w.Body, &rf); err != nil {
			return nil, err
		}
		if rf.gid() == "" || rf.orderGID() == "" {
			return nil, invalidPayload("names no refund id or no order_id")
		}
		refund := rf.refund(inst)
		handle = func(ctx context.Context, c *engine.Company) (*engine.WebhookOutcome, error) {
			return r.eng.RefundShopLines(ctx, c.ID, d, refund)
		}
	case TopicOrdersCancelled:
		var o restOrder
		if err := decodePayload(w.Body, &o); err != nil {
			return nil, err
		}
		if o.gid() == "" {
			return nil, invalidPayload("names no order id")
		}
		cancel := o.cancellation()
		handle = func(ctx context.Context, c *engine.Company) (*engine.WebhookOutcome, error) {
			if o.CancelledAt == nil {
				return r.eng.IgnoreShopDelivery(ctx, c.ID, d, "shop order "+cancel.OrderID+" is not cancelled")
			}
			return r.eng.CancelShopOrder(ctx, c.ID, d, cancel)
		}
	case TopicAppUninstalled:
		handle = func(ctx context.Context, c *engine.Company) (*engine.WebhookOutcome, error) {
			return r.eng.RevokeShop(ctx, c.ID, d, c.Shop)
		}
	default:
		out := make([]*engine.WebhookOutcome, len(companies))
		for i, c := range companies {
			out[i] = &engine.WebhookOutcome{CompanyID: c.ID, Ignored: true, Outcome: "topic " + strconv.Quote(w.Topic) + " is not handled"}
		}
		return out, nil
	}
	out := make([]*engine.WebhookOutcome, 0, len(companies))
	for _, c := range companies {
		o, err := handle(ctx, c)
		if err != nil {
			return out, fmt.Errorf("webhook %s %s for company %d: %w", w.Topic, w.ID, c.ID, err)
		}
		r.log.Info("shopify webhook", "company", c.ID, "topic", w.Topic, "webhook", w.ID,
			"duplicate", o.Duplicate, "outcome", o.Outcome, "orders", len(o.Orders), "operations", len(o.Operations))
		if w.Topic == TopicOrdersCreate && r.sales != nil && !o.Duplicate && !o.Ignored {
			r.sales.SaleRecorded(c.ID)
		}
		out = append(out, o)
	}
	return out, nil
}

// companies finds the companies connected to the delivery's shop whose
// webhook secret verifies its signature.
func (r *WebhookReceiver) companies(w Delivery) ([]*engine.Company, error) {
	domain := normalDomain(w.ShopDomain)
	if domain == "" || w.HMAC == "" {
		r.log.Info("shopify webhook refused", "reason", "no shop domain or no signature", "topic", w.Topic)
		return nil, ErrWebhookUnauthorized
	}
	all, err := r.eng.Companies()
	if err != nil {
		return nil, err
	}
	var found []*engine.Company
	known := false
	var openErr error
	for _, c := range all {
		if !c.Shopify() || !slices.Contains(shopDomains(c.Shop), domain) {
			continue
		}
		known = true
		_, secret, err := r.eng.OpenShopCredentials(c.Shop)
		if err != nil {
			r.log.Error("open webhook secret", "company", c.ID, "err", err)
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
	r.log.Info("shopify webhook refused", "reason", reason, "shop", domain, "topic", w.Topic)
	return nil, ErrWebhookUnauthorized
}

// validSignature checks a base64 HMAC-SHA256 of body under secret in
// constant time. An empty secret verifies nothing.
func validSignature(secret engine.Secret, body []byte, signature string) bool {
	if secret == "" {
		return false
	}
	got, err := base64.StdEncoding.DecodeString(strings.TrimSpace(signature))
	if err != nil {
		return false
	}
	return hmac.Equal(mac(secret, body), got)
}

// SignWebhook is the X-Shopify-Hmac-Sha256 value of body under secret, as
// the shop computes it (tests and tools that send deliveries).
func SignWebhook(secret engine.Secret, body []byte) string {
	return base64.StdEncoding.EncodeToString(mac(secret, body))
}

func mac(secret engine.Secret, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret.Reveal()))
	m.Write(body)
	return m.Sum(nil)
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
func shopDomains(s *engine.Shop) []string {
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
