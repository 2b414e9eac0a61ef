package shopify

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	"eventops/engine"
)

// The mandatory compliance webhooks of a public app: customers/data_request,
// customers/redact and shop/redact. They are verified with the app's client
// secret (the installation's app set with `eventops shopify-app set`, or
// the client secret a custom-distribution app's connection holds), not
// with a company's webhook secret, which shop/redact may already have
// erased; a bad signature is 401 as for every delivery. A verified one is
// answered 200 even for a shop eventops no longer knows, and recorded in
// the audit log. eventops keeps no customer data beyond what orders name
// (ids and quantities), so customers/data_request and customers/redact are
// recorded for the operator to act on; shop/redact erases the shop's
// credentials from the companies connected to it through the app whose
// secret verified the delivery (same client id): another app's connection
// to the same shop, and a legacy token connection, are not that app's to
// erase.

// Compliance topics.
const (
	TopicCustomersDataRequest = "customers/data_request"
	TopicCustomersRedact      = "customers/redact"
	TopicShopRedact           = "shop/redact"
)

func isCompliance(topic string) bool {
	return topic == TopicCustomersDataRequest || topic == TopicCustomersRedact || topic == TopicShopRedact
}

// signer is a client secret a compliance delivery may be signed with, and
// the client id of its app.
type signer struct {
	secret   engine.Secret
	clientID string
}

// complianceSecrets are the client secrets a compliance delivery may be
// signed with, and the companies connected to the shop.
func (r *WebhookReceiver) complianceSecrets(domain string) ([]signer, []*engine.Company, error) {
	var signers []signer
	app, secret, err := r.eng.ShopifyApp()
	if err != nil {
		return nil, nil, err
	}
	if app != nil && secret != "" {
		signers = append(signers, signer{secret, app.ClientID})
	}
	all, err := r.eng.Companies()
	if err != nil {
		return nil, nil, err
	}
	var shops []*engine.Company
	for _, c := range all {
		if !c.Shopify() || !slices.Contains(shopDomains(c.Shop), domain) {
			continue
		}
		shops = append(shops, c)
		if c.Shop.Kind() == engine.ShopAuthToken {
			continue
		}
		if _, s, err := r.eng.OpenShopCredentials(c.Shop); err == nil && s != "" {
			signers = append(signers, signer{s, c.Shop.ClientID})
		}
	}
	return signers, shops, nil
}

// receiveCompliance handles a compliance delivery (see above).
func (r *WebhookReceiver) receiveCompliance(ctx context.Context, w Delivery) ([]*engine.WebhookOutcome, error) {
	domain := normalDomain(w.ShopDomain)
	if domain == "" || w.HMAC == "" {
		return nil, ErrWebhookUnauthorized
	}
	signers, companies, err := r.complianceSecrets(domain)
	if err != nil {
		return nil, err
	}
	// The apps whose secret verified the delivery: shop/redact concerns
	// their connections only.
	apps := map[string]bool{}
	for _, s := range signers {
		if validSignature(s.secret, w.Body, w.HMAC) {
			apps[s.clientID] = true
		}
	}
	if len(apps) == 0 {
		r.log.Info("shopify webhook refused", "reason", "bad signature", "shop", domain, "topic", w.Topic)
		return nil, ErrWebhookUnauthorized
	}
	if strings.TrimSpace(w.ID) == "" {
		return nil, engine.Invalid(engine.FieldError{Attribute: headerWebhookID, Code: "blank", Message: "can't be blank"})
	}
	var p struct {
		ShopDomain string `json:"shop_domain"`
		Customer   struct {
			ID int64 `json:"id"`
		} `json:"customer"`
		OrdersRequested []int64 `json:"orders_requested"`
		OrdersToRedact  []int64 `json:"orders_to_redact"`
	}
	if err := json.Unmarshal(w.Body, &p); err != nil {
		return nil, invalidPayload("is not JSON")
	}
	detail := "shop " + domain
	if p.Customer.ID != 0 {
		detail += ", customer " + jsonNumber(p.Customer.ID)
	}
	var out []*engine.WebhookOutcome
	outcome := "recorded: eventops keeps no customer data beyond the order lines it mirrors"
	if w.Topic == TopicShopRedact {
		outcome = "no company is connected to this shop"
		d := engine.ShopDelivery{ID: w.ID, Topic: w.Topic}
		for _, c := range companies {
			if c.Shop.Kind() == engine.ShopAuthToken || !apps[c.Shop.ClientID] {
				continue // another app's connection, or a legacy token's
			}
			o, err := r.eng.EraseShopCredentials(ctx, c.ID, d, func(s *engine.Shop) bool { return slices.Contains(shopDomains(s), domain) })
			if err != nil {
				return out, err
			}
			out = append(out, o)
			outcome = o.Outcome
		}
	}
	if _, err := r.eng.RecordAudit(ctx, engine.AuditEntry{Email: "shopify", Action: "shopify." + strings.ReplaceAll(w.Topic, "/", "."),
		Target: "webhook " + w.ID, Detail: detail, Outcome: outcome}); err != nil {
		return out, err
	}
	r.log.Info("shopify compliance webhook", "topic", w.Topic, "shop", domain, "webhook", w.ID, "outcome", outcome)
	if len(out) == 0 {
		out = append(out, &engine.WebhookOutcome{Outcome: outcome})
	}
	return out, nil
}

func jsonNumber(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
