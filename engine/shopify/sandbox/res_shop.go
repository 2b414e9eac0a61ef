package sandbox

// The shop and its set-up (mut_setup.go writes it): Shop, Count,
// publications and the app's catalog, and webhook subscriptions.

import (
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
)

// --- shop ----------------------------------------------------------------------------

type shopR struct{}

func (shopR) typeName() string { return "Shop" }

func (shopR) field(x *execCtx, f *ast.Field, a map[string]any) (any, error) {
	st := x.st
	switch f.Name {
	case "id":
		return gid("Shop", st.Meta.Number), nil
	case "name":
		return st.Meta.Name, nil
	case "email":
		return "owner@" + st.domain(), nil
	case "myshopifyDomain":
		return st.domain(), nil
	case "url":
		return "https://" + st.domain(), nil
	case "currencyCode":
		return st.currency(), nil
	case "ianaTimezone":
		return "UTC", nil
	case "fulfillmentServices":
		var out []resolver
		for _, id := range sortedKeys(st.Services) {
			out = append(out, serviceR{st.Services[id]})
		}
		return out, nil
	case "metafield", "metafields":
		return x.metafieldField(ownerRef{"Shop", st.Meta.Number}, f, a)
	}
	return nil, nil
}

type countR struct{ n int }

func (countR) typeName() string { return "Count" }

func (c countR) field(_ *execCtx, f *ast.Field, _ map[string]any) (any, error) {
	if f.Name == "count" {
		return int64(c.n), nil
	}
	return "EXACT", nil
}

// --- publications ----------------------------------------------------------------------

type publicationR struct{ p *publication }

func (publicationR) typeName() string { return "Publication" }

func (r publicationR) field(x *execCtx, f *ast.Field, a map[string]any) (any, error) {
	switch f.Name {
	case "id":
		return gid("Publication", r.p.ID), nil
	case "name":
		return r.p.Name, nil
	case "autoPublish":
		return r.p.AutoPublish, nil
	case "supportsFuturePublishing":
		return false, nil
	case "catalog":
		return catalogR{r.p}, nil
	case "products":
		var items []page
		for _, id := range sortedKeys(x.st.Products) {
			p := x.st.Products[id]
			if _, ok := p.Published[r.p.ID]; ok {
				items = append(items, page{id, productR{p}})
			}
		}
		return paginate("Product", items, a)
	}
	return nil, nil
}

type catalogR struct{ p *publication }

func (catalogR) typeName() string { return "AppCatalog" }

func (r catalogR) field(_ *execCtx, f *ast.Field, _ map[string]any) (any, error) {
	switch f.Name {
	case "id":
		return gid("AppCatalog", r.p.CatalogID), nil
	case "title":
		return r.p.CatalogTitle, nil
	case "status":
		return "ACTIVE", nil
	case "publication":
		return publicationR{r.p}, nil
	}
	return nil, nil
}

// --- webhooks ------------------------------------------------------------------------

type webhookR struct{ w *webhookSub }

func (webhookR) typeName() string { return "WebhookSubscription" }

func (r webhookR) field(_ *execCtx, f *ast.Field, _ map[string]any) (any, error) {
	w := r.w
	switch f.Name {
	case "id":
		return gid("WebhookSubscription", w.ID), nil
	case "topic":
		return w.Topic, nil
	case "uri", "callbackUrl":
		return w.URI, nil
	case "endpoint":
		return httpEndpointR{w.URI}, nil
	case "format":
		return w.Format, nil
	case "includeFields":
		return append([]string{}, w.IncludeFields...), nil
	case "metafieldNamespaces":
		return append([]string{}, w.MetafieldNamespaces...), nil
	case "filter":
		return nilString(w.Filter), nil
	case "apiVersion":
		return apiVersionR{w.APIVersion}, nil
	case "createdAt":
		return timeString(w.CreatedAt), nil
	case "updatedAt":
		return timeString(w.UpdatedAt), nil
	}
	return nil, nil
}

type httpEndpointR struct{ url string }

func (httpEndpointR) typeName() string { return "WebhookHttpEndpoint" }

func (r httpEndpointR) field(_ *execCtx, f *ast.Field, _ map[string]any) (any, error) {
	return r.url, nil
}

type apiVersionR struct{ handle string }

func (apiVersionR) typeName() string { return "ApiVersion" }

func (r apiVersionR) field(_ *execCtx, f *ast.Field, _ map[string]any) (any, error) {
	switch f.Name {
	case "handle", "displayName":
		return r.handle, nil
	case "supported":
		return isSupportedVersion(r.handle), nil
	}
	return nil, nil
}

// --- the app's installation ----------------------------------------------------------

type appInstallationR struct{}

func (appInstallationR) typeName() string { return "AppInstallation" }

func (appInstallationR) field(x *execCtx, f *ast.Field, _ map[string]any) (any, error) {
	switch f.Name {
	case "id":
		return gid("AppInstallation", x.st.Meta.Number), nil
	case "accessScopes":
		var out []resolver
		for _, h := range x.st.grantedScopes() {
			out = append(out, accessScopeR{h})
		}
		return out, nil
	}
	return nil, nil
}

type accessScopeR struct{ handle string }

func (accessScopeR) typeName() string { return "AccessScope" }

func (a accessScopeR) field(_ *execCtx, f *ast.Field, _ map[string]any) (any, error) {
	if f.Name == "handle" {
		return a.handle, nil
	}
	return "The " + strings.ReplaceAll(a.handle, "_", " ") + " access scope", nil
}
