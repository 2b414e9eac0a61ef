package sandbox

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
)

// The objects of the schema (schema.graphql) over the shop's model.

// appNamespace is what "$app" resolves to: app-owned metafield namespaces
// are spelled "$app:events" by the app and stored as "app--9000--events".
const appNamespace = "app--9000"

func resolveNamespace(ns string) string {
	switch {
	case ns == "" || ns == "$app":
		return appNamespace
	case strings.HasPrefix(ns, "$app:"):
		return appNamespace + "--" + strings.TrimPrefix(ns, "$app:")
	}
	return ns
}

// --- query root ------------------------------------------------------------------

type queryRoot struct{}

func (queryRoot) typeName() string { return "QueryRoot" }

func (queryRoot) field(x *execCtx, f *ast.Field, a map[string]any) (any, error) {
	st := x.st
	switch f.Name {
	case "shop":
		return shopR{}, nil
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
		return x.orderObj(st.Orders[idOf(a["id"], "Order")]), nil
	case "orders":
		var items []page
		for _, id := range sortedKeys(st.Orders) {
			items = append(items, page{id, orderR{st.Orders[id]}})
		}
		return paginate("Order", items, a)
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

// --- metafield owners --------------------------------------------------------------

// metafieldField answers metafield/metafields for any owner.
func (x *execCtx) metafieldField(owner ownerRef, f *ast.Field, a map[string]any) (any, error) {
	if f.Name == "metafield" {
		return x.metafieldObj(x.st.metafieldOf(owner, resolveNamespace(strArg(a, "namespace")), strArg(a, "key"))), nil
	}
	ns := ""
	if s, ok := a["namespace"].(string); ok {
		ns = resolveNamespace(s)
	}
	keys := map[string]bool{}
	for _, k := range stringList(a["keys"]) {
		keys[k] = true
	}
	var items []page
	for _, m := range x.st.metafieldsOf(owner) {
		if ns != "" && m.Namespace != ns {
			continue
		}
		if len(keys) > 0 && !keys[m.Namespace+"."+m.Key] && !keys[m.Key] {
			continue
		}
		items = append(items, page{m.ID, metafieldR{m}})
	}
	return paginate("Metafield", items, a)
}

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

// --- products ------------------------------------------------------------------------

type productR struct{ p *product }

func (productR) typeName() string { return "Product" }

var htmlTag = regexp.MustCompile(`<[^>]*>`)

func (r productR) field(x *execCtx, f *ast.Field, a map[string]any) (any, error) {
	p, st := r.p, x.st
	switch f.Name {
	case "id":
		return gid("Product", p.ID), nil
	case "title":
		return p.Title, nil
	case "handle":
		return p.Handle, nil
	case "status":
		return p.Status, nil
	case "vendor":
		return p.Vendor, nil
	case "productType":
		return p.ProductType, nil
	case "descriptionHtml":
		return p.DescriptionHTML, nil
	case "description":
		d := strings.TrimSpace(htmlTag.ReplaceAllString(p.DescriptionHTML, ""))
		if n, ok := intArg(a, "truncateAt"); ok && n >= 0 && len(d) > n {
			d = d[:n]
		}
		return d, nil
	case "tags":
		return append([]string{}, p.Tags...), nil
	case "templateSuffix":
		return nilString(p.TemplateSuffix), nil
	case "createdAt":
		return timeString(p.CreatedAt), nil
	case "updatedAt":
		return timeString(p.UpdatedAt), nil
	case "publishedAt":
		if pub := st.onlineStore(); pub != nil {
			if t, ok := p.Published[pub.ID]; ok {
				return timeString(t), nil
			}
		}
		return nil, nil
	case "options":
		n := len(p.Options)
		if v, ok := intArg(a, "first"); ok && v < n {
			n = v
		}
		out := make([]resolver, 0, n)
		for i := 0; i < n; i++ {
			out = append(out, optionR{p, &p.Options[i]})
		}
		return out, nil
	case "variants":
		items := make([]page, 0, len(p.VariantIDs))
		for _, v := range productVariants(st, p) {
			items = append(items, page{v.ID, variantR{v}})
		}
		return paginate("ProductVariant", items, a)
	case "variantsCount":
		return countR{len(p.VariantIDs)}, nil
	case "totalInventory":
		var total int64
		for _, v := range productVariants(st, p) {
			if it := st.Items[v.ItemID]; it != nil {
				for _, l := range it.Levels {
					total += l.Available
				}
			}
		}
		return total, nil
	case "tracksInventory":
		for _, v := range productVariants(st, p) {
			if it := st.Items[v.ItemID]; it != nil && it.Tracked {
				return true, nil
			}
		}
		return false, nil
	case "hasOnlyDefaultVariant":
		return len(p.Options) == 1 && p.Options[0].Name == "Title" && len(p.VariantIDs) == 1, nil
	case "onlineStoreUrl":
		if pub := st.onlineStore(); pub != nil && p.Status == "ACTIVE" {
			if _, ok := p.Published[pub.ID]; ok {
				return "https://" + st.domain() + "/products/" + p.Handle, nil
			}
		}
		return nil, nil
	case "metafield", "metafields":
		return x.metafieldField(ownerRef{"Product", p.ID}, f, a)
	case "publishedOnPublication":
		_, ok := p.Published[idOf(a["publicationId"], "Publication")]
		return ok, nil
	case "publishedOnCurrentPublication":
		if pub := st.onlineStore(); pub != nil {
			_, ok := p.Published[pub.ID]
			return ok, nil
		}
		return false, nil
	case "resourcePublicationsCount":
		return countR{len(p.Published)}, nil
	}
	return nil, nil
}

// productVariants lists a product's variants in position order.
func productVariants(st *shopState, p *product) []*variant {
	out := make([]*variant, 0, len(p.VariantIDs))
	for _, id := range p.VariantIDs {
		if v := st.Variants[id]; v != nil {
			out = append(out, v)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Position < out[j].Position })
	return out
}

type optionR struct {
	p *product
	o *productOption
}

func (optionR) typeName() string { return "ProductOption" }

func (r optionR) field(x *execCtx, f *ast.Field, _ map[string]any) (any, error) {
	switch f.Name {
	case "id":
		return gid("ProductOption", r.o.ID), nil
	case "name":
		return r.o.Name, nil
	case "position":
		return int64(r.o.Position), nil
	case "values":
		out := make([]string, len(r.o.Values))
		for i, v := range r.o.Values {
			out[i] = v.Name
		}
		return out, nil
	case "optionValues":
		out := make([]resolver, len(r.o.Values))
		for i := range r.o.Values {
			out[i] = optionValueR{r.p, r.o, &r.o.Values[i]}
		}
		return out, nil
	}
	return nil, nil
}

type optionValueR struct {
	p *product
	o *productOption
	v *optionValue
}

func (optionValueR) typeName() string { return "ProductOptionValue" }

func (r optionValueR) field(x *execCtx, f *ast.Field, _ map[string]any) (any, error) {
	switch f.Name {
	case "id":
		return gid("ProductOptionValue", r.v.ID), nil
	case "name":
		return r.v.Name, nil
	case "hasVariants":
		idx := r.o.Position - 1
		for _, v := range productVariants(x.st, r.p) {
			if idx >= 0 && idx < len(v.Options) && v.Options[idx] == r.v.Name {
				return true, nil
			}
		}
		return false, nil
	}
	return nil, nil
}

type selectedOptionR struct {
	p     *product
	o     *productOption
	value string
}

func (selectedOptionR) typeName() string { return "SelectedOption" }

func (r selectedOptionR) field(_ *execCtx, f *ast.Field, _ map[string]any) (any, error) {
	switch f.Name {
	case "name":
		return r.o.Name, nil
	case "value":
		return r.value, nil
	case "optionValue":
		for i := range r.o.Values {
			if r.o.Values[i].Name == r.value {
				return optionValueR{r.p, r.o, &r.o.Values[i]}, nil
			}
		}
	}
	return nil, nil
}

type variantR struct{ v *variant }

func (variantR) typeName() string { return "ProductVariant" }

func (r variantR) field(x *execCtx, f *ast.Field, a map[string]any) (any, error) {
	v, st := r.v, x.st
	p := st.Products[v.ProductID]
	switch f.Name {
	case "id":
		return gid("ProductVariant", v.ID), nil
	case "title":
		return v.title(), nil
	case "displayName":
		if p == nil {
			return v.title(), nil
		}
		return p.Title + " - " + v.title(), nil
	case "sku":
		return nilString(v.SKU), nil
	case "barcode":
		return nilString(v.Barcode), nil
	case "price":
		return formatMoney(v.PriceCents, x.st.currency()), nil
	case "compareAtPrice":
		if v.CompareAtCents == nil {
			return nil, nil
		}
		return formatMoney(*v.CompareAtCents, x.st.currency()), nil
	case "position":
		return int64(v.Position), nil
	case "taxable":
		return v.Taxable, nil
	case "inventoryPolicy":
		return v.InventoryPolicy, nil
	case "inventoryQuantity":
		return variantAvailable(st, v), nil
	case "availableForSale":
		it := st.Items[v.ItemID]
		sellable := p != nil && p.Status == "ACTIVE"
		if it != nil && it.Tracked && v.InventoryPolicy == "DENY" {
			sellable = sellable && variantAvailable(st, v) > 0
		}
		return sellable, nil
	case "selectedOptions":
		if p == nil {
			return []resolver{}, nil
		}
		out := make([]resolver, 0, len(v.Options))
		for i, val := range v.Options {
			if i < len(p.Options) {
				out = append(out, selectedOptionR{p, &p.Options[i], val})
			}
		}
		return out, nil
	case "product":
		return x.productObj(p), nil
	case "inventoryItem":
		return x.itemObj(st.Items[v.ItemID]), nil
	case "createdAt":
		return timeString(v.CreatedAt), nil
	case "updatedAt":
		return timeString(v.UpdatedAt), nil
	case "metafield", "metafields":
		return x.metafieldField(ownerRef{"ProductVariant", v.ID}, f, a)
	}
	return nil, nil
}

func variantAvailable(st *shopState, v *variant) int64 {
	var n int64
	if it := st.Items[v.ItemID]; it != nil {
		for _, l := range it.Levels {
			n += l.Available
		}
	}
	return n
}

// --- inventory -------------------------------------------------------------------------

type itemR struct{ it *invItem }

func (itemR) typeName() string { return "InventoryItem" }

func (r itemR) field(x *execCtx, f *ast.Field, a map[string]any) (any, error) {
	it, st := r.it, x.st
	switch f.Name {
	case "id":
		return gid("InventoryItem", it.ID), nil
	case "sku":
		if v := st.Variants[it.VariantID]; v != nil {
			return nilString(v.SKU), nil
		}
		return nilString(it.SKU), nil
	case "tracked":
		return it.Tracked, nil
	case "requiresShipping":
		return it.RequiresShipping, nil
	case "createdAt":
		return timeString(it.CreatedAt), nil
	case "updatedAt":
		return timeString(it.UpdatedAt), nil
	case "variant":
		return x.variantObj(st.Variants[it.VariantID]), nil
	case "inventoryLevel":
		if l := it.Levels[idOf(a["locationId"], "Location")]; l != nil {
			return levelR{it, l}, nil
		}
		return nil, nil
	case "inventoryLevels":
		var items []page
		for _, loc := range it.levelIDs() {
			items = append(items, page{loc, levelR{it, it.Levels[loc]}})
		}
		return paginate("InventoryLevel", items, a)
	case "locationsCount":
		return countR{len(it.Levels)}, nil
	}
	return nil, nil
}

type levelR struct {
	it *invItem
	l  *invLevel
}

func (levelR) typeName() string { return "InventoryLevel" }

func (r levelR) field(x *execCtx, f *ast.Field, a map[string]any) (any, error) {
	switch f.Name {
	case "id":
		return levelGID(r.it.ID, r.l.LocationID), nil
	case "quantities":
		var out []resolver
		for _, name := range stringList(a["names"]) {
			if q, ok := r.l.quantity(name); ok {
				out = append(out, quantityR{r.l, name, q})
			}
		}
		if out == nil {
			out = []resolver{}
		}
		return out, nil
	case "item":
		return itemR{r.it}, nil
	case "location":
		return x.locationObj(x.st.Locations[r.l.LocationID]), nil
	case "canDeactivate":
		return r.l.Committed == 0, nil
	case "createdAt":
		return timeString(r.l.CreatedAt), nil
	case "updatedAt":
		return timeString(r.l.UpdatedAt), nil
	}
	return nil, nil
}

type quantityR struct {
	l    *invLevel
	name string
	q    int64
}

func (quantityR) typeName() string { return "InventoryQuantity" }

func (r quantityR) field(_ *execCtx, f *ast.Field, _ map[string]any) (any, error) {
	switch f.Name {
	case "id":
		return fmt.Sprintf("%sInventoryQuantity/%d?inventory_item_id=%d&name=%s", gidPrefix, r.l.LocationID, r.l.ItemID, r.name), nil
	case "name":
		return r.name, nil
	case "quantity":
		return r.q, nil
	case "updatedAt":
		return timeString(r.l.UpdatedAt), nil
	}
	return nil, nil
}

type locationR struct{ l *location }

func (locationR) typeName() string { return "Location" }

func (r locationR) field(x *execCtx, f *ast.Field, a map[string]any) (any, error) {
	l, st := r.l, x.st
	switch f.Name {
	case "id":
		return gid("Location", l.ID), nil
	case "name":
		return l.Name, nil
	case "isActive":
		return l.Active, nil
	case "isFulfillmentService":
		return l.ServiceID != 0, nil
	case "fulfillsOnlineOrders":
		return true, nil
	case "fulfillmentService":
		return x.serviceObj(st.Services[l.ServiceID]), nil
	case "inventoryLevel":
		if it := st.Items[idOf(a["inventoryItemId"], "InventoryItem")]; it != nil {
			if lv := it.Levels[l.ID]; lv != nil {
				return levelR{it, lv}, nil
			}
		}
		return nil, nil
	case "inventoryLevels":
		var items []page
		for _, id := range sortedKeys(st.Items) {
			it := st.Items[id]
			if lv := it.Levels[l.ID]; lv != nil {
				items = append(items, page{id, levelR{it, lv}})
			}
		}
		return paginate("InventoryLevel", items, a)
	case "createdAt":
		return timeString(l.CreatedAt), nil
	case "updatedAt":
		return timeString(l.UpdatedAt), nil
	case "metafield", "metafields":
		return x.metafieldField(ownerRef{"Location", l.ID}, f, a)
	}
	return nil, nil
}

type serviceR struct{ f *fService }

func (serviceR) typeName() string { return "FulfillmentService" }

func (r serviceR) field(x *execCtx, f *ast.Field, _ map[string]any) (any, error) {
	s := r.f
	switch f.Name {
	case "id":
		return gid("FulfillmentService", s.ID), nil
	case "serviceName":
		return s.Name, nil
	case "handle":
		return s.Handle, nil
	case "callbackUrl":
		return nilString(s.CallbackURL), nil
	case "inventoryManagement":
		return s.InventoryManagement, nil
	case "trackingSupport":
		return s.TrackingSupport, nil
	case "requiresShippingMethod":
		return s.RequiresShippingMethod, nil
	case "fulfillmentOrdersOptIn":
		return s.FulfillmentOrdersOptIn, nil
	case "type":
		return "THIRD_PARTY", nil
	case "location":
		return x.locationObj(x.st.Locations[s.LocationID]), nil
	}
	return nil, nil
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

// --- metafields -----------------------------------------------------------------------

type metafieldR struct{ m *metafield }

func (metafieldR) typeName() string { return "Metafield" }

func (r metafieldR) field(x *execCtx, f *ast.Field, _ map[string]any) (any, error) {
	m := r.m
	switch f.Name {
	case "id":
		return gid("Metafield", m.ID), nil
	case "namespace":
		return m.Namespace, nil
	case "key":
		return m.Key, nil
	case "type":
		return m.Type, nil
	case "value":
		return m.Value, nil
	case "jsonValue":
		return jsonValue(m.Type, m.Value), nil
	case "compareDigest":
		return digest(m), nil
	case "ownerType":
		return strings.ToUpper(m.Owner.Type), nil
	case "owner":
		return x.resolveGID(m.Owner.gid()), nil
	case "createdAt":
		return timeString(m.CreatedAt), nil
	case "updatedAt":
		return timeString(m.UpdatedAt), nil
	}
	return nil, nil
}

// digest is a metafield's compareDigest: it changes whenever its value does.
func digest(m *metafield) string {
	sum := sha256.Sum256([]byte(m.Namespace + "\x00" + m.Key + "\x00" + m.Type + "\x00" + m.Value))
	return hex.EncodeToString(sum[:])
}

// jsonValue is a metafield's value as JSON: numbers and booleans as such,
// json as parsed, everything else as a string.
func jsonValue(typ, val string) any {
	switch typ {
	case "json":
		var v any
		if json.Unmarshal([]byte(val), &v) == nil {
			return v
		}
	case "number_integer":
		if n, err := strconv.ParseInt(val, 10, 64); err == nil {
			return n
		}
	case "number_decimal":
		if n, err := strconv.ParseFloat(val, 64); err == nil {
			return n
		}
	case "boolean":
		return val == "true"
	}
	return val
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

// --- orders ----------------------------------------------------------------------------

// moneyBagR is a MoneyBag: an amount in the shop's currency and the same
// in the currency presented to the buyer.
type moneyBagR struct {
	shop, pres        int64
	currency, presCur string
}

// bagOf is shopMinor of order o's shop currency with its presentment
// amount at the order's rate (o nil: no presentment currency apart).
func bagOf(o *order, shopMinor int64, currency string) moneyBagR {
	if o == nil {
		return moneyBagR{shopMinor, shopMinor, currency, currency}
	}
	return moneyBagR{shopMinor, o.presentment(shopMinor), o.Currency, o.presentmentCurrency()}
}

func (moneyBagR) typeName() string { return "MoneyBag" }

func (r moneyBagR) field(_ *execCtx, f *ast.Field, _ map[string]any) (any, error) {
	if f.Name == "presentmentMoney" {
		return moneyR{r.pres, r.presCur}, nil
	}
	return moneyR{r.shop, r.currency}, nil
}

type moneyR struct {
	minor    int64
	currency string
}

func (moneyR) typeName() string { return "MoneyV2" }

func (r moneyR) field(_ *execCtx, f *ast.Field, _ map[string]any) (any, error) {
	if f.Name == "amount" {
		return formatMoney(r.minor, r.currency), nil
	}
	return r.currency, nil
}

type orderR struct{ o *order }

func (orderR) typeName() string { return "Order" }

func (r orderR) field(x *execCtx, f *ast.Field, a map[string]any) (any, error) {
	o, st := r.o, x.st
	switch f.Name {
	case "id":
		return gid("Order", o.ID), nil
	case "name":
		return o.name(), nil
	case "createdAt", "processedAt":
		return timeString(o.CreatedAt), nil
	case "updatedAt":
		return timeString(o.UpdatedAt), nil
	case "cancelledAt":
		if o.CancelledAt == nil {
			return nil, nil
		}
		return timeString(*o.CancelledAt), nil
	case "cancelReason":
		return nilString(o.CancelReason), nil
	case "closed", "test":
		return false, nil
	case "currencyCode":
		return o.Currency, nil
	case "presentmentCurrencyCode":
		return o.presentmentCurrency(), nil
	case "displayFinancialStatus":
		return strings.ToUpper(o.financialStatus()), nil
	case "totalPriceSet":
		return moneyBagR{o.totalCents(), o.presentmentTotal(), o.Currency, o.presentmentCurrency()}, nil
	case "currentTotalPriceSet":
		return bagOf(o, o.totalCents()-o.refundedCents(st), o.Currency), nil
	case "totalRefundedSet":
		return bagOf(o, o.refundedCents(st), o.Currency), nil
	case "refundable":
		for _, l := range o.Lines {
			if l.Quantity > l.Refunded {
				return true, nil
			}
		}
		return false, nil
	case "lineItems":
		items := make([]page, len(o.Lines))
		for i := range o.Lines {
			items[i] = page{o.Lines[i].ID, lineR{o, &o.Lines[i]}}
		}
		return paginate("LineItem", items, a)
	case "refunds":
		var out []resolver
		for _, id := range o.RefundIDs {
			if rf := st.Refunds[id]; rf != nil {
				out = append(out, refundR{rf})
			}
		}
		if n, ok := intArg(a, "first"); ok && n < len(out) {
			out = out[:n]
		}
		if out == nil {
			out = []resolver{}
		}
		return out, nil
	}
	return nil, nil
}

type lineR struct {
	o *order
	l *lineItem
}

func (lineR) typeName() string { return "LineItem" }

func (r lineR) field(x *execCtx, f *ast.Field, _ map[string]any) (any, error) {
	l := r.l
	switch f.Name {
	case "id":
		return gid("LineItem", l.ID), nil
	case "name":
		if l.VariantTitle == "" {
			return l.Title, nil
		}
		return l.Title + " - " + l.VariantTitle, nil
	case "title":
		return l.Title, nil
	case "variantTitle":
		return nilString(l.VariantTitle), nil
	case "sku":
		return nilString(l.SKU), nil
	case "quantity":
		return l.Quantity, nil
	case "currentQuantity", "refundableQuantity":
		return l.Quantity - l.Refunded, nil
	case "requiresShipping":
		return l.RequiresShipping, nil
	case "originalUnitPriceSet":
		return moneyBagR{l.PriceCents, l.presentmentPrice(), r.o.Currency, r.o.presentmentCurrency()}, nil
	case "variant":
		return x.variantObj(x.st.Variants[l.VariantID]), nil
	case "product":
		return x.productObj(x.st.Products[l.ProductID]), nil
	}
	return nil, nil
}

type refundR struct{ r *refund }

func (refundR) typeName() string { return "Refund" }

func (r refundR) field(x *execCtx, f *ast.Field, a map[string]any) (any, error) {
	rf, st := r.r, x.st
	o := st.Orders[rf.OrderID]
	cur := st.currency()
	if o != nil {
		cur = o.Currency
	}
	switch f.Name {
	case "id":
		return gid("Refund", rf.ID), nil
	case "createdAt", "updatedAt":
		return timeString(rf.CreatedAt), nil
	case "note":
		return nilString(rf.Note), nil
	case "order":
		return x.orderObj(o), nil
	case "totalRefundedSet":
		return bagOf(o, rf.AmountCents, cur), nil
	case "refundLineItems":
		items := make([]page, len(rf.Lines))
		for i := range rf.Lines {
			items[i] = page{rf.Lines[i].ID, refundLineR{o, &rf.Lines[i], cur}}
		}
		return paginate("RefundLineItem", items, a)
	}
	return nil, nil
}

type refundLineR struct {
	o   *order
	l   *refundLine
	cur string
}

func (refundLineR) typeName() string { return "RefundLineItem" }

func (r refundLineR) field(x *execCtx, f *ast.Field, _ map[string]any) (any, error) {
	l := r.l
	var li *lineItem
	if r.o != nil {
		li = r.o.line(l.LineItemID)
	}
	switch f.Name {
	case "id":
		return gid("RefundLineItem", l.ID), nil
	case "lineItem":
		if li == nil {
			return nil, nil
		}
		return lineR{r.o, li}, nil
	case "quantity":
		return l.Quantity, nil
	case "restockType":
		return l.RestockType, nil
	case "restocked":
		return l.restocked(), nil
	case "location":
		return x.locationObj(x.st.Locations[l.LocationID]), nil
	case "priceSet":
		if li == nil {
			return bagOf(r.o, 0, r.cur), nil
		}
		return moneyBagR{li.PriceCents, li.presentmentPrice(), r.o.Currency, r.o.presentmentCurrency()}, nil
	case "subtotalSet":
		return bagOf(r.o, l.SubtotalCents, r.cur), nil
	}
	return nil, nil
}
