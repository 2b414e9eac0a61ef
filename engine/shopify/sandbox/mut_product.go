package sandbox

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// productSet upserts a product. The target is found by identifier (id,
// handle or customId) or input.id; without either a new product is made.
// List fields are replaced: variants left out are deleted with their
// inventory items, productOptions become the product's options, and a
// metafields list replaces the owner's metafields. Omitted scalar fields
// stay as they are.

const (
	maxVariantsPerInput = 250
	maxOptions          = 3
	maxQuantity         = 1_000_000_000
	// Shopify's length limits, in characters: a longer title, handle or
	// SKU is refused with a userError (nothing is cut).
	maxTitle  = 255
	maxHandle = 255
	maxSKU    = 255
)

// variantPlan is one variant input, validated.
type variantPlan struct {
	in         map[string]any
	existing   *variant
	options    []string
	price      *int64
	compareAt  *int64
	quantities []quantityPlan
	metafields []mfPlan
	hasMF      bool
}

type quantityPlan struct {
	location int64
	name     string
	quantity int64
}

func productSet(x *execCtx, a map[string]any) *mutResult {
	st := x.st
	in := objArg(a, "input")
	ident := objArg(a, "identifier")
	sync := true
	if b, ok := boolArg(a, "synchronous"); ok {
		sync = b
	}

	// The target.
	var p *product
	var identHandle string
	var customID map[string]any
	switch {
	case ident != nil:
		switch {
		case ident["id"] != nil:
			if p = st.Products[idOf(ident["id"], "Product")]; p == nil {
				return failed(uerr("PRODUCT_DOES_NOT_EXIST", "Product does not exist", "identifier", "id"))
			}
			if in["id"] != nil && idOf(in["id"], "Product") != p.ID {
				return failed(uerr("INPUT_MISMATCH", "The input id does not match the identifier", "input", "id"))
			}
		case ident["handle"] != nil:
			identHandle = strArg(ident, "handle")
			p = st.Products[st.handles[identHandle]]
		case ident["customId"] != nil:
			customID = objArg(ident, "customId")
			p = x.findProduct(map[string]any{"customId": customID})
		default:
			return failed(uerr("INVALID_INPUT", "The identifier needs one of id, handle or customId", "identifier"))
		}
	case in["id"] != nil:
		if p = st.Products[idOf(in["id"], "Product")]; p == nil {
			return failed(uerr("PRODUCT_DOES_NOT_EXIST", "Product does not exist", "input", "id"))
		}
	}
	creating := p == nil

	var errs []userError
	title := strPtr(in, "title")
	if creating && (title == nil || strings.TrimSpace(*title) == "") {
		errs = append(errs, uerr("MISSING_FIELD_REQUIRED", "Title can't be blank", "input", "title"))
	} else if title != nil && strings.TrimSpace(*title) == "" {
		errs = append(errs, uerr("INVALID_PRODUCT", "Title can't be blank", "input", "title"))
	} else if title != nil && utf8.RuneCountInString(*title) > maxTitle {
		errs = append(errs, uerr("INVALID_PRODUCT", fmt.Sprintf("Title is too long (maximum is %d characters)", maxTitle), "input", "title"))
	}

	// The handle.
	handle := ""
	if p != nil {
		handle = p.Handle
	}
	explicit := false
	if h := strPtr(in, "handle"); h != nil {
		handle, explicit = slugify(*h), true
		if handle == "" {
			errs = append(errs, uerr("INVALID_INPUT", "Handle is invalid", "input", "handle"))
		}
	} else if creating && identHandle != "" {
		handle, explicit = slugify(identHandle), true
	} else if creating && title != nil {
		handle = slugify(*title)
		if handle == "" {
			handle = "product"
		}
	}
	if utf8.RuneCountInString(handle) > maxHandle {
		errs = append(errs, uerr("INVALID_INPUT", fmt.Sprintf("Handle is too long (maximum is %d characters)", maxHandle), "input", "handle"))
	}
	if explicit && handle != "" {
		if other, ok := st.handles[handle]; ok && (p == nil || other != p.ID) {
			errs = append(errs, uerr("HANDLE_NOT_UNIQUE", fmt.Sprintf("Handle '%s' already in use. Please provide a new handle.", handle), "input", "handle"))
		}
	} else if creating && handle != "" {
		handle = uniqueHandle(st, handle)
	}

	// Options.
	optsIn, hasOpts := listArg(in, "productOptions")
	variantsIn, hasVariants := listArg(in, "variants")
	if len(variantsIn) > maxVariantsPerInput {
		return failed(uerr("VARIANTS_OVER_LIMIT",
			fmt.Sprintf("The input has %d variants: at most %d are allowed per productSet input", len(variantsIn), maxVariantsPerInput),
			"input", "variants"))
	}
	var options []productOption
	switch {
	case hasOpts:
		var oerrs []userError
		options, oerrs = planOptions(p, optsIn)
		errs = append(errs, oerrs...)
	case creating && hasVariants && len(variantsIn) > 0:
		errs = append(errs, uerr("PRODUCT_OPTIONS_INPUT_MISSING", "Options must be provided when variants are given", "input", "productOptions"))
	case creating:
		options = []productOption{{Name: "Title", Position: 1, Values: []optionValue{{Name: "Default Title"}}}}
	default:
		options = p.Options
	}

	// Variants.
	var plans []*variantPlan
	if len(errs) == 0 {
		switch {
		case hasVariants:
			var verrs []userError
			plans, verrs = x.planVariants(p, options, variantsIn)
			errs = append(errs, verrs...)
		case creating:
			plans = []*variantPlan{{in: map[string]any{}, options: []string{options[0].Values[0].Name}}}
			if len(options) > 1 {
				vals := make([]string, len(options))
				for i, o := range options {
					vals[i] = o.Values[0].Name
				}
				plans[0].options = vals
			}
		default:
			for _, v := range productVariants(st, p) {
				if !fitsOptions(v.Options, options) {
					errs = append(errs, uerr("VARIANTS_INPUT_MISSING", "Variants must be given when the options no longer fit the existing variants", "input", "variants"))
					break
				}
				plans = append(plans, &variantPlan{in: map[string]any{}, existing: v, options: v.Options})
			}
		}
	}

	// Product metafields.
	var productMF []mfPlan
	mfIn, hasMF := listArg(in, "metafields")
	if hasMF {
		var owner ownerRef
		if p != nil {
			owner = ownerRef{"Product", p.ID}
		}
		var merrs []userError
		productMF, merrs = x.planMetafieldInputs(owner, mfIn, []any{"input", "metafields"})
		errs = append(errs, merrs...)
	}
	if customID != nil && strArg(customID, "key") == "" {
		errs = append(errs, uerr("INVALID_INPUT", "customId needs a key", "identifier", "customId", "key"))
	}
	if len(errs) > 0 {
		return failed(errs...)
	}

	// Apply.
	now := x.now
	if creating {
		p = &product{ID: st.next(seqProduct), Status: "ACTIVE", Published: map[int64]time.Time{}, CreatedAt: now}
		st.Products[p.ID] = p
	}
	if title != nil {
		p.Title = strings.TrimSpace(*title)
	}
	if p.Handle != handle {
		if st.handles[p.Handle] == p.ID {
			delete(st.handles, p.Handle)
		}
		p.Handle = handle
		st.handles[handle] = p.ID
	}
	if s := strPtr(in, "descriptionHtml"); s != nil {
		p.DescriptionHTML = *s
	}
	if s := strPtr(in, "vendor"); s != nil {
		p.Vendor = *s
	}
	if s := strPtr(in, "productType"); s != nil {
		p.ProductType = *s
	}
	if s := strPtr(in, "status"); s != nil {
		p.Status = *s
	}
	if s := strPtr(in, "templateSuffix"); s != nil {
		p.TemplateSuffix = *s
	}
	if _, ok := in["tags"]; ok {
		p.Tags = normalizeTags(stringList(in["tags"]))
	}
	if options != nil {
		x.assignOptionIDs(options)
		p.Options = options
	}
	if p.Tags == nil {
		p.Tags = []string{}
	}

	keep := map[int64]bool{}
	ids := make([]int64, 0, len(plans))
	for i, pl := range plans {
		v := x.applyVariant(p, pl, i+1)
		keep[v.ID] = true
		ids = append(ids, v.ID)
	}
	for _, vid := range p.VariantIDs {
		if !keep[vid] {
			if v := st.Variants[vid]; v != nil {
				st.deleteVariant(v)
			}
		}
	}
	p.VariantIDs = ids
	if hasMF {
		x.replaceMetafields(ownerRef{"Product", p.ID}, productMF)
	}
	if customID != nil {
		ns := resolveNamespace(strArg(customID, "namespace"))
		x.upsertMetafield(ownerRef{"Product", p.ID}, ns, strArg(customID, "key"), "single_line_text_field", strArg(customID, "value"))
	}
	p.UpdatedAt = now
	st.markID(kindProduct, p.ID)

	res := &mutResult{}
	if sync {
		return res.ref("product", gid("Product", p.ID))
	}
	res.Op = &opInfo{Field: "productSetOperation", ID: st.next(seqSetOperation), Product: gid("Product", p.ID)}
	return res
}

func uniqueHandle(st *shopState, base string) string {
	h := base
	for n := 1; ; n++ {
		if _, taken := st.handles[h]; !taken {
			return h
		}
		h = fmt.Sprintf("%s-%d", base, n)
	}
}

func normalizeTags(tags []string) []string {
	seen := map[string]bool{}
	out := []string{}
	for _, t := range tags {
		for _, part := range strings.Split(t, ",") {
			part = strings.TrimSpace(part)
			if part != "" && !seen[part] {
				seen[part] = true
				out = append(out, part)
			}
		}
	}
	return out
}

// planOptions validates productOptions; ids of options and values that keep
// their names are kept (assignOptionIDs fills the rest).
func planOptions(p *product, in []any) ([]productOption, []userError) {
	var errs []userError
	if len(in) > maxOptions {
		return nil, []userError{uerr("OPTIONS_OVER_LIMIT", fmt.Sprintf("A product can have at most %d options", maxOptions), "input", "productOptions")}
	}
	var old []productOption
	if p != nil {
		old = p.Options
	}
	out := make([]productOption, 0, len(in))
	names := map[string]bool{}
	for i, raw := range in {
		o, _ := raw.(map[string]any)
		name := strings.TrimSpace(strArg(o, "name"))
		if name == "" {
			errs = append(errs, uerr("INVALID_INPUT", "Option name can't be blank", fieldPath("input", "productOptions", i, "name")...))
			continue
		}
		if names[strings.ToLower(name)] {
			errs = append(errs, uerr("DUPLICATED_OPTION_NAME", fmt.Sprintf("Duplicated option name '%s'", name), fieldPath("input", "productOptions", i, "name")...))
			continue
		}
		names[strings.ToLower(name)] = true
		opt := productOption{Name: name, Position: i + 1}
		if pos, ok := intArg(o, "position"); ok && pos > 0 {
			opt.Position = pos
		}
		var prev *productOption
		for j := range old {
			if old[j].Name == name {
				prev = &old[j]
				opt.ID = old[j].ID
			}
		}
		vals, _ := listArg(o, "values")
		if len(vals) == 0 {
			errs = append(errs, uerr("OPTION_VALUES_MISSING", fmt.Sprintf("Option '%s' needs at least one value", name), fieldPath("input", "productOptions", i, "values")...))
			continue
		}
		seen := map[string]bool{}
		for j, rv := range vals {
			v, _ := rv.(map[string]any)
			vn := strings.TrimSpace(strArg(v, "name"))
			if vn == "" {
				errs = append(errs, uerr("INVALID_INPUT", "Option value name can't be blank", fieldPath("input", "productOptions", i, "values", j, "name")...))
				continue
			}
			if seen[vn] {
				errs = append(errs, uerr("DUPLICATED_OPTION_VALUE", fmt.Sprintf("Duplicated option value '%s'", vn), fieldPath("input", "productOptions", i, "values", j, "name")...))
				continue
			}
			seen[vn] = true
			ov := optionValue{Name: vn}
			if prev != nil {
				for _, pv := range prev.Values {
					if pv.Name == vn {
						ov.ID = pv.ID
					}
				}
			}
			opt.Values = append(opt.Values, ov)
		}
		out = append(out, opt)
	}
	for i := range out {
		out[i].Position = i + 1
	}
	return out, errs
}

func (x *execCtx) assignOptionIDs(opts []productOption) {
	for i := range opts {
		if opts[i].ID == 0 {
			opts[i].ID = x.st.next(seqOption)
		}
		for j := range opts[i].Values {
			if opts[i].Values[j].ID == 0 {
				opts[i].Values[j].ID = x.st.next(seqOptionValue)
			}
		}
	}
}

func fitsOptions(vals []string, opts []productOption) bool {
	if len(vals) != len(opts) {
		return false
	}
	for i, o := range opts {
		found := false
		for _, v := range o.Values {
			if v.Name == vals[i] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// planVariants validates the variants input against the options and
// matches each entry to an existing variant (by id, else by its option
// values).
func (x *execCtx) planVariants(p *product, opts []productOption, in []any) ([]*variantPlan, []userError) {
	st := x.st
	var errs []userError
	plans := make([]*variantPlan, 0, len(in))
	combos := map[string]int{}
	used := map[int64]bool{}
	for i, raw := range in {
		v, _ := raw.(map[string]any)
		base := []any{"input", "variants", i}
		pl := &variantPlan{in: v}
		at := func(more ...any) []string { return fieldPath(append(append([]any{}, base...), more...)...) }

		if v["id"] != nil {
			ex := st.Variants[idOf(v["id"], "ProductVariant")]
			if ex == nil || p == nil || ex.ProductID != p.ID {
				errs = append(errs, userError{Field: at("id"), Code: "PRODUCT_VARIANT_DOES_NOT_EXIST", Message: "Product variant does not exist"})
				continue
			}
			pl.existing = ex
			used[ex.ID] = true
		}

		// Option values, one per option.
		vals := make([]string, len(opts))
		ovs, _ := listArg(v, "optionValues")
		bad := false
		for j, rov := range ovs {
			ov, _ := rov.(map[string]any)
			oi := -1
			for k, o := range opts {
				if (ov["optionName"] != nil && strArg(ov, "optionName") == o.Name) ||
					(ov["optionId"] != nil && o.ID != 0 && idOf(ov["optionId"], "ProductOption") == o.ID) {
					oi = k
				}
			}
			if oi < 0 {
				errs = append(errs, userError{Field: at("optionValues", j), Code: "OPTION_DOES_NOT_EXIST", Message: "Option does not exist"})
				bad = true
				continue
			}
			name := strArg(ov, "name")
			if ov["id"] != nil {
				for _, val := range opts[oi].Values {
					if val.ID != 0 && val.ID == idOf(ov["id"], "ProductOptionValue") {
						name = val.Name
					}
				}
			}
			ok := false
			for _, val := range opts[oi].Values {
				if val.Name == name {
					ok = true
				}
			}
			if !ok {
				errs = append(errs, userError{Field: at("optionValues", j), Code: "OPTION_VALUE_DOES_NOT_EXIST",
					Message: fmt.Sprintf("Option value '%s' does not exist on option '%s'", name, opts[oi].Name)})
				bad = true
				continue
			}
			vals[oi] = name
		}
		for k, val := range vals {
			if val == "" && !bad {
				errs = append(errs, userError{Field: at("optionValues"), Code: "OPTION_VALUES_MISSING",
					Message: fmt.Sprintf("The variant needs a value for option '%s'", opts[k].Name)})
				bad = true
			}
		}
		if bad {
			continue
		}
		key := strings.Join(vals, "\x00")
		if _, dup := combos[key]; dup {
			errs = append(errs, userError{Field: at("optionValues"), Code: "INVALID_VARIANT",
				Message: fmt.Sprintf("The variant '%s' already exists", strings.Join(vals, " / "))})
			continue
		}
		combos[key] = i
		pl.options = vals

		if raw, ok := v["price"]; ok && raw != nil {
			c, why := parseMoney(raw, st.currency())
			switch {
			case why != "":
				errs = append(errs, userError{Field: at("price"), Code: "INVALID_VARIANT", Message: "Price " + why})
			case c < 0:
				errs = append(errs, userError{Field: at("price"), Code: "INVALID_VARIANT", Message: "Price must be greater than or equal to 0"})
			default:
				pl.price = &c
			}
		}
		for _, sk := range []struct {
			v     string
			field []string
		}{{strArg(v, "sku"), at("sku")}, {strArg(objArg(v, "inventoryItem"), "sku"), at("inventoryItem", "sku")}} {
			if utf8.RuneCountInString(sk.v) > maxSKU {
				errs = append(errs, userError{Field: sk.field, Code: "INVALID_VARIANT",
					Message: fmt.Sprintf("SKU is too long (maximum is %d characters)", maxSKU)})
			}
		}
		if raw, ok := v["compareAtPrice"]; ok && raw != nil {
			c, why := parseMoney(raw, st.currency())
			if why != "" || c < 0 {
				errs = append(errs, userError{Field: at("compareAtPrice"), Code: "INVALID_VARIANT", Message: "Compare at price is invalid"})
			} else {
				pl.compareAt = &c
			}
		}
		qs, _ := listArg(v, "inventoryQuantities")
		for j, rq := range qs {
			q, _ := rq.(map[string]any)
			loc := idOf(q["locationId"], "Location")
			if st.Locations[loc] == nil {
				errs = append(errs, userError{Field: at("inventoryQuantities", j, "locationId"), Code: "NOT_FOUND", Message: "Location does not exist"})
				continue
			}
			name := strArg(q, "name")
			if name != "available" && name != "on_hand" {
				errs = append(errs, userError{Field: at("inventoryQuantities", j, "name"), Code: "INVALID_INPUT",
					Message: "The quantity name must be either 'available' or 'on_hand'"})
				continue
			}
			n, _ := int64Arg(q, "quantity")
			if n > maxQuantity || n < -maxQuantity {
				errs = append(errs, userError{Field: at("inventoryQuantities", j, "quantity"), Code: "INVALID_INPUT", Message: "The quantity is out of range"})
				continue
			}
			pl.quantities = append(pl.quantities, quantityPlan{loc, name, n})
		}
		if mf, ok := listArg(v, "metafields"); ok {
			var owner ownerRef
			if pl.existing != nil {
				owner = ownerRef{"ProductVariant", pl.existing.ID}
			}
			plan, merrs := x.planMetafieldInputs(owner, mf, append(append([]any{}, base...), "metafields"))
			errs = append(errs, merrs...)
			pl.metafields, pl.hasMF = plan, true
		}
		plans = append(plans, pl)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	// Entries without an id take over the existing variant with the same
	// option values, so a re-set keeps ids, inventory items and levels.
	if p != nil {
		byCombo := map[string]*variant{}
		for _, v := range productVariants(st, p) {
			if !used[v.ID] {
				byCombo[strings.Join(v.Options, "\x00")] = v
			}
		}
		for _, pl := range plans {
			if pl.existing == nil {
				if ex := byCombo[strings.Join(pl.options, "\x00")]; ex != nil {
					pl.existing = ex
					delete(byCombo, strings.Join(pl.options, "\x00"))
				}
			}
		}
	}
	return plans, nil
}

// applyVariant creates or updates one variant of p from its plan.
func (x *execCtx) applyVariant(p *product, pl *variantPlan, position int) *variant {
	st, now := x.st, x.now
	v := pl.existing
	var it *invItem
	if v == nil {
		v = &variant{ID: st.next(seqVariant), ProductID: p.ID, Taxable: true, InventoryPolicy: "DENY", CreatedAt: now}
		it = &invItem{ID: st.next(seqItem), VariantID: v.ID, RequiresShipping: true, Levels: map[int64]*invLevel{}, CreatedAt: now}
		v.ItemID = it.ID
		st.Variants[v.ID] = v
		st.Items[it.ID] = it
		if len(pl.quantities) == 0 {
			// New variants are stocked at the shop's own location.
			if loc := st.defaultLocation(); loc != nil {
				it.Levels[loc.ID] = &invLevel{ItemID: it.ID, LocationID: loc.ID, CreatedAt: now, UpdatedAt: now}
			}
		}
	} else {
		it = st.Items[v.ItemID]
		if it == nil {
			it = &invItem{ID: st.next(seqItem), VariantID: v.ID, RequiresShipping: true, Levels: map[int64]*invLevel{}, CreatedAt: now}
			v.ItemID = it.ID
			st.Items[it.ID] = it
		}
	}
	in := pl.in
	v.Options = pl.options
	v.Position = position
	if n, ok := intArg(in, "position"); ok && n > 0 {
		v.Position = n
	}
	if pl.price != nil {
		v.PriceCents = *pl.price
	}
	if pl.compareAt != nil {
		v.CompareAtCents = pl.compareAt
	} else if _, ok := in["compareAtPrice"]; ok {
		v.CompareAtCents = nil
	}
	if s := strPtr(in, "sku"); s != nil {
		v.SKU = *s
	}
	if s := strPtr(in, "barcode"); s != nil {
		v.Barcode = *s
	}
	if b, ok := boolArg(in, "taxable"); ok {
		v.Taxable = b
	}
	if s := strPtr(in, "inventoryPolicy"); s != nil {
		v.InventoryPolicy = *s
	}
	if ii := objArg(in, "inventoryItem"); ii != nil {
		if b, ok := boolArg(ii, "tracked"); ok {
			it.Tracked = b
		}
		if b, ok := boolArg(ii, "requiresShipping"); ok {
			it.RequiresShipping = b
		}
		if s := strPtr(ii, "sku"); s != nil {
			v.SKU = *s
		}
	}
	it.SKU = v.SKU
	for _, q := range pl.quantities {
		l := it.Levels[q.location]
		if l == nil {
			l = &invLevel{ItemID: it.ID, LocationID: q.location, CreatedAt: now}
			it.Levels[q.location] = l
		}
		if q.name == "on_hand" {
			l.Available = q.quantity - l.Committed
		} else {
			l.Available = q.quantity
		}
		l.UpdatedAt = now
	}
	if pl.hasMF {
		x.replaceMetafields(ownerRef{"ProductVariant", v.ID}, pl.metafields)
	}
	v.UpdatedAt, it.UpdatedAt = now, now
	st.markID(kindVariant, v.ID)
	st.markID(kindItem, it.ID)
	return v
}

// productDelete removes a product and everything hanging from it.
func productDelete(x *execCtx, a map[string]any) *mutResult {
	st := x.st
	in := objArg(a, "input")
	p := st.Products[idOf(in["id"], "Product")]
	if p == nil {
		return failed(uerr("", "Product does not exist", "id"))
	}
	id := gid("Product", p.ID)
	st.deleteProduct(p)
	res := &mutResult{}
	if b, ok := boolArg(a, "synchronous"); ok && !b {
		res.Op = &opInfo{Field: "productDeleteOperation", ID: st.next(seqDeleteOp), DeletedID: id}
		return res
	}
	return res.id("deletedProductId", id)
}
