package sandbox

// The objects of the schema (schema.graphql) over the shop's model: here
// the query root, global ids (gid://shopify/...) and the object of each
// model type; the types themselves are in res_*.go, one file per kind of
// object, beside the mut_*.go file that writes it.

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
)

// --- query root ------------------------------------------------------------------

type queryRoot struct{}

func (queryRoot) typeName() string { return "QueryRoot" }

func (queryRoot) field(x *execCtx, f *ast.Field, a map[string]any) (any, error) {
	st := x.st
	switch f.Name {
	case "shop":
		return shopR{}, nil
	case "currentAppInstallation":
		return appInstallationR{}, nil
	case "node":
		return x.resolveGID(strArg(a, "id")), nil
	case "nodes":
		ids, _ := listArg(a, "ids")
		if len(ids) > maxPage {
			return nil, errorf("MAX_INPUT_SIZE_EXCEEDED", "The input array size of %d is greater than the maximum allowed of %d.", len(ids), maxPage)
		}
		out := make([]resolver, len(ids))
		for i, id := range ids {
			s, _ := id.(string)
			out[i] = x.resolveGID(s)
		}
		return out, nil
	case "product":
		return x.productObj(st.Products[idOf(a["id"], "Product")]), nil
	case "productByIdentifier":
		return x.productObj(x.findProduct(objArg(a, "identifier"))), nil
	case "productByHandle":
		return x.productObj(st.Products[st.handles[strArg(a, "handle")]]), nil
	case "products":
		return x.productConn(filterProducts(st, strArg(a, "query")), a)
	case "productVariant":
		return x.variantObj(st.Variants[idOf(a["id"], "ProductVariant")]), nil
	case "inventoryItem":
		return x.itemObj(st.Items[idOf(a["id"], "InventoryItem")]), nil
	case "inventoryLevel":
		return x.resolveGID(strArg(a, "id")), nil
	case "location":
		if a["id"] == nil {
			return x.locationObj(st.defaultLocation()), nil
		}
		return x.locationObj(st.Locations[idOf(a["id"], "Location")]), nil
	case "locations":
		inactive, _ := boolArg(a, "includeInactive")
		var items []page
		for _, id := range sortedKeys(st.Locations) {
			if l := st.Locations[id]; l.Active || inactive {
				items = append(items, page{id, locationR{l}})
			}
		}
		return paginate("Location", items, a)
	case "publication":
		return x.publicationObj(st.Publications[idOf(a["id"], "Publication")]), nil
	case "publications":
		var items []page
		for _, id := range sortedKeys(st.Publications) {
			items = append(items, page{id, publicationR{st.Publications[id]}})
		}
		return paginate("Publication", items, a)
	case "fulfillmentService":
		return x.serviceObj(st.Services[idOf(a["id"], "FulfillmentService")]), nil
	case "webhookSubscription":
		return x.webhookObj(st.Webhooks[idOf(a["id"], "WebhookSubscription")]), nil
	case "webhookSubscriptions":
		topics := map[string]bool{}
		for _, t := range stringList(a["topics"]) {
			topics[t] = true
		}
		var items []page
		for _, id := range sortedKeys(st.Webhooks) {
			w := st.Webhooks[id]
			if len(topics) > 0 && !topics[w.Topic] {
				continue
			}
			if u := strArg(a, "uri"); u != "" && u != w.URI {
				continue
			}
			if fm := strArg(a, "format"); fm != "" && fm != w.Format {
				continue
			}
			items = append(items, page{id, webhookR{w}})
		}
		return paginate("WebhookSubscription", items, a)
	case "order":
		o := st.Orders[idOf(a["id"], "Order")]
		if !x.visible(o) {
			return nil, nil
		}
		return x.orderObj(o), nil
	case "orders":
		return x.ordersPage(a)
	}
	return nil, errorf("undefinedField", "Field '%s' is not supported by the sandbox", f.Name)
}

// findProduct looks a product up by {id}, {handle} or {customId}.
func (x *execCtx) findProduct(ident map[string]any) *product {
	st := x.st
	if id, ok := ident["id"].(string); ok {
		return st.Products[idOf(id, "Product")]
	}
	if h, ok := ident["handle"].(string); ok {
		return st.Products[st.handles[h]]
	}
	if c := objArg(ident, "customId"); c != nil {
		ns, key, val := resolveNamespace(strArg(c, "namespace")), strArg(c, "key"), strArg(c, "value")
		for _, id := range sortedKeys(st.Products) {
			if m := st.metafieldOf(ownerRef{"Product", id}, ns, key); m != nil && m.Value == val {
				return st.Products[id]
			}
		}
	}
	return nil
}

var productQueryTerm = regexp.MustCompile(`(\w+):("[^"]*"|\S+)|"[^"]*"|\S+`)

// filterProducts applies a products(query:) search: handle:, title:,
// status:, sku:, id: terms and bare words (matched against the title).
func filterProducts(st *shopState, q string) []*product {
	type term struct{ field, value string }
	var terms []term
	for _, m := range productQueryTerm.FindAllStringSubmatch(q, -1) {
		if m[1] != "" {
			terms = append(terms, term{strings.ToLower(m[1]), strings.Trim(m[2], `"`)})
		} else if w := strings.Trim(m[0], `"`); w != "" && !strings.EqualFold(w, "AND") {
			terms = append(terms, term{"", w})
		}
	}
	var out []*product
	for _, id := range sortedKeys(st.Products) {
		p := st.Products[id]
		ok := true
		for _, t := range terms {
			switch t.field {
			case "handle":
				ok = p.Handle == t.value
			case "title":
				ok = strings.Contains(strings.ToLower(p.Title), strings.ToLower(strings.Trim(t.value, "*")))
			case "status":
				ok = strings.EqualFold(p.Status, t.value)
			case "id":
				ok = strconv.FormatInt(p.ID, 10) == t.value
			case "sku":
				ok = false
				for _, vid := range p.VariantIDs {
					if v := st.Variants[vid]; v != nil && v.SKU == t.value {
						ok = true
					}
				}
			case "":
				ok = strings.Contains(strings.ToLower(p.Title), strings.ToLower(t.value))
			}
			if !ok {
				break
			}
		}
		if ok {
			out = append(out, p)
		}
	}
	return out
}

func (x *execCtx) productConn(ps []*product, a map[string]any) (any, error) {
	items := make([]page, len(ps))
	for i, p := range ps {
		items[i] = page{p.ID, productR{p}}
	}
	return paginate("Product", items, a)
}

// resolveGID finds any object by its global id; nil when it does not exist.
func (x *execCtx) resolveGID(s string) resolver {
	typ, id, params, ok := parseGID(s)
	if !ok {
		return nil
	}
	st := x.st
	switch typ {
	case "Shop":
		if id == st.Meta.Number {
			return shopR{}
		}
	case "Product":
		return x.productObj(st.Products[id])
	case "ProductVariant":
		return x.variantObj(st.Variants[id])
	case "InventoryItem":
		return x.itemObj(st.Items[id])
	case "InventoryLevel":
		item, _ := strconv.ParseInt(strings.TrimPrefix(params, "inventory_item_id="), 10, 64)
		if it := st.Items[item]; it != nil {
			if l := it.Levels[id]; l != nil {
				return levelR{it, l}
			}
		}
	case "Location":
		return x.locationObj(st.Locations[id])
	case "FulfillmentService":
		return x.serviceObj(st.Services[id])
	case "Publication":
		return x.publicationObj(st.Publications[id])
	case "AppCatalog":
		for _, p := range st.Publications {
			if p.CatalogID == id {
				return catalogR{p}
			}
		}
	case "Metafield":
		return x.metafieldObj(st.Metafields[id])
	case "WebhookSubscription":
		return x.webhookObj(st.Webhooks[id])
	case "Order":
		return x.orderObj(st.Orders[id])
	case "LineItem":
		for _, oid := range sortedKeys(st.Orders) {
			o := st.Orders[oid]
			if l := o.line(id); l != nil {
				return lineR{o, l}
			}
		}
	case "Refund":
		if r := st.Refunds[id]; r != nil {
			return refundR{r}
		}
	case "FulfillmentOrder":
		if o := st.orderOfFulfillment(id); o != nil {
			return fulfillmentOrderR{o}
		}
	case "Fulfillment":
		return st.fulfillmentObj(id)
	case "ProductOption":
		for _, p := range st.Products {
			for i := range p.Options {
				if p.Options[i].ID == id {
					return optionR{p, &p.Options[i]}
				}
			}
		}
	}
	return nil
}

func (x *execCtx) productObj(p *product) resolver {
	if p == nil {
		return nil
	}
	return productR{p}
}

func (x *execCtx) variantObj(v *variant) resolver {
	if v == nil {
		return nil
	}
	return variantR{v}
}

func (x *execCtx) itemObj(it *invItem) resolver {
	if it == nil {
		return nil
	}
	return itemR{it}
}

func (x *execCtx) locationObj(l *location) resolver {
	if l == nil {
		return nil
	}
	return locationR{l}
}

func (x *execCtx) serviceObj(f *fService) resolver {
	if f == nil {
		return nil
	}
	return serviceR{f}
}

func (x *execCtx) publicationObj(p *publication) resolver {
	if p == nil {
		return nil
	}
	return publicationR{p}
}

func (x *execCtx) metafieldObj(m *metafield) resolver {
	if m == nil {
		return nil
	}
	return metafieldR{m}
}

func (x *execCtx) webhookObj(w *webhookSub) resolver {
	if w == nil {
		return nil
	}
	return webhookR{w}
}

func (x *execCtx) orderObj(o *order) resolver {
	if o == nil {
		return nil
	}
	return orderR{o}
}
