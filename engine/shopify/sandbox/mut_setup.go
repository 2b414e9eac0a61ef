package sandbox

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Shop set-up: fulfillment services (each with its own location), webhook
// subscriptions, and publishing products to publications.

func fulfillmentServiceCreate(x *execCtx, a map[string]any) *mutResult {
	st := x.st
	name := strings.TrimSpace(strArg(a, "name"))
	if name == "" {
		return failed(uerr("", "Name can't be blank", "name"))
	}
	for _, f := range st.Services {
		if strings.EqualFold(f.Name, name) {
			return failed(uerr("", "Name has already been taken", "name"))
		}
	}
	cb := strArg(a, "callbackUrl")
	if cb != "" && !httpURL(cb) {
		return failed(uerr("", "Callback url is not a valid URL", "callbackUrl"))
	}
	b := func(k string, def bool) bool {
		if v, ok := boolArg(a, k); ok {
			return v
		}
		return def
	}
	now := x.now
	loc := &location{ID: st.next(seqLocation), Name: name, Active: true, CreatedAt: now, UpdatedAt: now}
	f := &fService{
		ID:                     st.next(seqService),
		Name:                   name,
		Handle:                 slugify(name),
		CallbackURL:            cb,
		InventoryManagement:    b("inventoryManagement", false),
		TrackingSupport:        b("trackingSupport", false),
		RequiresShippingMethod: b("requiresShippingMethod", true),
		FulfillmentOrdersOptIn: b("fulfillmentOrdersOptIn", true),
		LocationID:             loc.ID,
		CreatedAt:              now,
	}
	loc.ServiceID = f.ID
	st.Locations[loc.ID] = loc
	st.Services[f.ID] = f
	st.markID(kindLocation, loc.ID)
	st.markID(kindService, f.ID)
	return (&mutResult{}).ref("fulfillmentService", gid("FulfillmentService", f.ID))
}

func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// webhookTopics maps the GraphQL topics the sandbox sends to their REST
// spelling (the X-Shopify-Topic header and the default URL's suffix).
var webhookTopics = map[string]string{
	"ORDERS_CREATE":    "orders/create",
	"ORDERS_CANCELLED": "orders/cancelled",
	"REFUNDS_CREATE":   "refunds/create",
	"APP_UNINSTALLED":  "app/uninstalled",
}

func webhookSubscriptionCreate(x *execCtx, a map[string]any) *mutResult {
	st := x.st
	topic := strArg(a, "topic")
	in := objArg(a, "webhookSubscription")
	uri := strArg(in, "uri")
	field := "uri"
	if uri == "" {
		uri, field = strArg(in, "callbackUrl"), "callbackUrl"
	}
	if uri == "" {
		return failed(uerr("", "Address can't be blank", "webhookSubscription", "callbackUrl"))
	}
	if !httpURL(uri) {
		return failed(uerr("", "Address is invalid: the sandbox delivers to http and https URLs", "webhookSubscription", field))
	}
	for _, w := range st.Webhooks {
		if w.Topic == topic && w.URI == uri {
			return failed(uerr("", "Address for this topic has already been taken", "webhookSubscription", field))
		}
	}
	format := strArg(in, "format")
	if format == "" {
		format = "JSON"
	}
	w := &webhookSub{
		ID:                  st.next(seqWebhook),
		Topic:               topic,
		URI:                 uri,
		Format:              format,
		IncludeFields:       stringList(in["includeFields"]),
		MetafieldNamespaces: stringList(in["metafieldNamespaces"]),
		Filter:              strArg(in, "filter"),
		APIVersion:          x.version,
		CreatedAt:           x.now,
		UpdatedAt:           x.now,
	}
	st.Webhooks[w.ID] = w
	st.markID(kindWebhook, w.ID)
	return (&mutResult{}).ref("webhookSubscription", gid("WebhookSubscription", w.ID))
}

func webhookSubscriptionDelete(x *execCtx, a map[string]any) *mutResult {
	st := x.st
	w := st.Webhooks[idOf(a["id"], "WebhookSubscription")]
	if w == nil {
		return failed(uerr("", "Webhook subscription does not exist", "id"))
	}
	delete(st.Webhooks, w.ID)
	st.markID(kindWebhook, w.ID)
	return (&mutResult{}).id("deletedWebhookSubscriptionId", gid("WebhookSubscription", w.ID))
}

func publishablePublish(x *execCtx, a map[string]any) *mutResult {
	return publishToggle(x, a, true)
}

func publishableUnpublish(x *execCtx, a map[string]any) *mutResult {
	return publishToggle(x, a, false)
}

// publishToggle publishes a product to (or withdraws it from) publications.
// Only products are publishable in the sandbox.
func publishToggle(x *execCtx, a map[string]any, publish bool) *mutResult {
	st := x.st
	id := strArg(a, "id")
	typ, n, _, ok := parseGID(id)
	if !ok || typ != "Product" || st.Products[n] == nil {
		return failed(uerr("", "Product does not exist", "id"))
	}
	p := st.Products[n]
	in, _ := listArg(a, "input")
	if len(in) == 0 {
		return failed(uerr("", "At least one publication is required", "input"))
	}
	var errs []userError
	pubs := make([]int64, 0, len(in))
	for i, raw := range in {
		m, _ := raw.(map[string]any)
		if m["publicationId"] == nil {
			errs = append(errs, uerr("", "Publication can't be blank", fieldPath("input", i, "publicationId")...))
			continue
		}
		pub := st.Publications[idOf(m["publicationId"], "Publication")]
		if pub == nil {
			errs = append(errs, uerr("", fmt.Sprintf("Publication %v does not exist", m["publicationId"]), fieldPath("input", i, "publicationId")...))
			continue
		}
		pubs = append(pubs, pub.ID)
	}
	if len(errs) > 0 {
		return failed(errs...)
	}
	if p.Published == nil {
		p.Published = map[int64]time.Time{}
	}
	changed := false
	for _, pid := range pubs {
		_, on := p.Published[pid]
		switch {
		case publish && !on:
			p.Published[pid] = x.now
			changed = true
		case !publish && on:
			delete(p.Published, pid)
			changed = true
		}
	}
	if changed {
		p.UpdatedAt = x.now
		st.markID(kindProduct, p.ID)
	}
	return (&mutResult{}).ref("publishable", id)
}
