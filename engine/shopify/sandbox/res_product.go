package sandbox

// Products (mut_product.go writes them): Product, its options and option
// values, and ProductVariant.

import (
	"regexp"
	"sort"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
)

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
