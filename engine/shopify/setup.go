package shopify

import (
	"context"
	"fmt"
	"strings"

	"eventops/engine"
)

// onlineStore is the catalog title of the online store's publication.
const onlineStore = "Online Store"

// webhookTopics are the subscriptions shop set-up makes, with the path each
// is delivered to under WebhookBaseURL + "/webhooks/shopify/".
var webhookTopics = []struct{ topic, path string }{
	{"ORDERS_CREATE", TopicOrdersCreate},
	{"REFUNDS_CREATE", TopicRefundsCreate},
	{"ORDERS_CANCELLED", TopicOrdersCancelled},
	{"APP_UNINSTALLED", TopicAppUninstalled},
}

// setupDone reports whether su holds everything set-up makes.
func (s *service) setupDone(su *engine.ShopSetup) bool {
	return su != nil && su.FulfillmentServiceID != "" && su.LocationID != "" &&
		(su.Webhooks || s.cfg.WebhookBaseURL == "")
}

// ensureSetup makes the one-time shop set-up (DESIGN §4.1) and remembers it
// on the company: the app's fulfillment service (its location is where
// inventory lives), the online store publication and the webhook
// subscriptions. One phase per shop does it at a time (the others wait and
// find it done); it is idempotent across crashes because it looks up what
// exists before creating anything, and those creations are never re-sent
// blindly.
func (sr *shopRun) ensureSetup(ctx context.Context) (*engine.ShopSetup, error) {
	if su := sr.company.Shop.Setup; sr.s.setupDone(su) {
		return su, nil
	}
	mu := sr.s.setupLock(sr.company.ID)
	mu.Lock()
	defer mu.Unlock()
	// One node at a time too: the lookups and creations below are not
	// safe to interleave with another node's for the same shop.
	held, err := sr.st.Locks().Lock(ctx, fmt.Sprintf("shop-setup:%d", sr.company.ID))
	if err != nil {
		return nil, engine.Transientf(engine.CodeShopifyUnavailable, "wait for the shop's set-up on another node: %v", err)
	}
	defer held.Unlock()
	ctx, cancel := engine.Guard(ctx, held)
	defer cancel()
	// Another phase (here or on another node) may have finished it while
	// we waited.
	c, err := sr.st.Company(sr.company.ID)
	if err != nil {
		return nil, err
	}
	if c.Shop != nil && c.Shop.Domain == sr.company.Shop.Domain && sr.s.setupDone(c.Shop.Setup) {
		sr.company.Shop.Setup = c.Shop.Setup
		return c.Shop.Setup, nil
	}
	su := &engine.ShopSetup{}
	if c.Shop != nil && c.Shop.Setup != nil {
		*su = *c.Shop.Setup
	}

	var look struct {
		Shop struct {
			FulfillmentServices []struct {
				ID          string `json:"id"`
				ServiceName string `json:"serviceName"`
				Location    *struct {
					ID string `json:"id"`
				} `json:"location"`
			} `json:"fulfillmentServices"`
		} `json:"shop"`
		Publications struct {
			Nodes []publicationNode `json:"nodes"`
		} `json:"publications"`
	}
	if err := sr.client.Do(ctx, Call{Name: "SetupLookup", Query: qSetupLookup, Resendable: true}, &look); err != nil {
		return nil, phaseErr(ctx, err, engine.CodeDeliveryServiceMissing, "look up the shop's set-up")
	}
	su.FulfillmentServiceID, su.LocationID = "", ""
	for _, fs := range look.Shop.FulfillmentServices {
		if fs.ServiceName == sr.s.cfg.FulfillmentServiceName && fs.Location != nil {
			su.FulfillmentServiceID, su.LocationID = fs.ID, fs.Location.ID
			break
		}
	}
	if su.FulfillmentServiceID == "" {
		var out struct {
			FulfillmentServiceCreate struct {
				FulfillmentService *struct {
					ID       string `json:"id"`
					Location *struct {
						ID string `json:"id"`
					} `json:"location"`
				} `json:"fulfillmentService"`
				UserErrors UserErrors `json:"userErrors"`
			} `json:"fulfillmentServiceCreate"`
		}
		// Not resendable: a lost answer makes the attempt fail, and the
		// next one finds the service by name before creating it.
		err := sr.client.Do(ctx, Call{Name: "FulfillmentServiceCreate", Query: mFulfillmentServiceCreate,
			Variables: map[string]any{"name": sr.s.cfg.FulfillmentServiceName}}, &out)
		if err != nil {
			return nil, phaseErr(ctx, err, engine.CodeDeliveryServiceMissing, "create the fulfillment service")
		}
		p := out.FulfillmentServiceCreate
		if len(p.UserErrors) > 0 || p.FulfillmentService == nil || p.FulfillmentService.Location == nil {
			return nil, engine.Errorf(engine.CodeDeliveryServiceMissing,
				"the shop refused the fulfillment service: %v", p.UserErrors)
		}
		su.FulfillmentServiceID, su.LocationID = p.FulfillmentService.ID, p.FulfillmentService.Location.ID
		sr.log.Info("fulfillment service created", "service", su.FulfillmentServiceID, "location", su.LocationID)
	}
	if id := findOnlineStore(look.Publications.Nodes); id != "" {
		su.PublicationID = id
	}
	if base := sr.s.cfg.WebhookBaseURL; base != "" && !su.Webhooks {
		if !sr.company.Shop.Sandbox {
			if err := engine.CheckPublicURL(base); err != nil {
				return nil, err
			}
		}
		if err := sr.subscribeWebhooks(ctx, strings.TrimRight(base, "/")+"/webhooks/shopify/"); err != nil {
			return nil, err
		}
		su.Webhooks = true
	}
	if err := sr.rememberSetup(ctx, su); err != nil {
		return nil, err
	}
	return su, nil
}

// rememberSetup writes su on the company, unless the company was connected
// to another shop meanwhile.
func (sr *shopRun) rememberSetup(ctx context.Context, su *engine.ShopSetup) error {
	if err := sr.st.RememberShopSetup(ctx, sr.company.ID, sr.company.Shop.Domain, su); err != nil {
		return err
	}
	cp := *su
	sr.company.Shop.Setup = &cp
	return nil
}

// subscribeWebhooks creates the subscriptions that do not exist yet.
func (sr *shopRun) subscribeWebhooks(ctx context.Context, prefix string) error {
	var list struct {
		WebhookSubscriptions struct {
			Nodes []struct {
				ID    string `json:"id"`
				Topic string `json:"topic"`
				URI   string `json:"uri"`
			} `json:"nodes"`
		} `json:"webhookSubscriptions"`
	}
	if err := sr.client.Do(ctx, Call{Name: "WebhookSubscriptions", Query: qWebhookSubscriptions, Resendable: true}, &list); err != nil {
		return phaseErr(ctx, err, engine.CodeShopifyUnavailable, "list webhook subscriptions")
	}
	have := map[string]bool{}
	for _, n := range list.WebhookSubscriptions.Nodes {
		have[n.Topic+" "+n.URI] = true
	}
	for _, w := range webhookTopics {
		uri := prefix + w.path
		if have[w.topic+" "+uri] {
			continue
		}
		var out struct {
			WebhookSubscriptionCreate struct {
				WebhookSubscription *struct {
					ID string `json:"id"`
				} `json:"webhookSubscription"`
				UserErrors UserErrors `json:"userErrors"`
			} `json:"webhookSubscriptionCreate"`
		}
		err := sr.client.Do(ctx, Call{Name: "WebhookSubscriptionCreate", Query: mWebhookSubscriptionCreate,
			Variables: map[string]any{"topic": w.topic, "sub": map[string]any{"uri": uri, "format": "JSON"}}}, &out)
		if err != nil {
			return phaseErr(ctx, err, engine.CodeShopifyUnavailable, "subscribe to "+w.path)
		}
		if ue := out.WebhookSubscriptionCreate.UserErrors; len(ue) > 0 {
			// A subscription that exists already is what we want.
			if strings.Contains(strings.ToLower(ue.Error()), "taken") || strings.Contains(strings.ToLower(ue.Error()), "already") {
				continue
			}
			return engine.Errorf(engine.CodeShopifyUnavailable, "the shop refused the %s subscription: %v", w.path, ue)
		}
	}
	return nil
}

type publicationNode struct {
	ID      string `json:"id"`
	Catalog *struct {
		Title string `json:"title"`
	} `json:"catalog"`
}

func findOnlineStore(ns []publicationNode) string {
	for _, n := range ns {
		if n.Catalog != nil && n.Catalog.Title == onlineStore {
			return n.ID
		}
	}
	return ""
}

// setupStore is where the shop set-up reads its company again and
// remembers what it made (with the token calls' needs: TokenStore).
type setupStore interface {
	TokenStore
	RememberShopSetup(ctx context.Context, companyID uint64, domain string, su *engine.ShopSetup) error
}

// SetUpShop makes a freshly connected company's one-time shop set-up at
// once (the fulfillment service and its location, the publication, the
// webhook subscriptions), as Connect with Shopify promises, instead of at
// the company's first save; the saves find it done. eng is the engine the
// company lives in.
func (o *OAuth) SetUpShop(ctx context.Context, eng *engine.Engine, companyID uint64) error {
	c, err := eng.Company(companyID)
	if err != nil {
		return err
	}
	if !c.Shopify() || c.Shop.Revoked {
		return engine.Errorf(engine.CodeShopifyAuthRejected, "company %d is not connected to a shop", companyID)
	}
	log := o.s.log.With("shop", c.Shop.Domain)
	cl, err := o.s.shopClient(c, eng, log)
	if err != nil {
		return err
	}
	sr := &shopRun{s: o.s, st: eng, company: c, log: log, client: cl}
	_, err = sr.ensureSetup(ctx)
	return err
}
