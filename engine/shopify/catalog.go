package shopify

import (
	"context"
	"fmt"
	"strconv"

	"eventops/engine"
)

// optionName is the one product option our variants differ by.
const optionName = "Ticket"

// catalogWork mirrors products into the shop (save) or deletes them
// (delete). A save first makes sure the shop is set up.
type catalogWork struct{ s *service }

// withdrawnChild names the child of an expanded catalog phase that deletes
// the event's withdrawn products (engine.Event.Withdrawn); it is the one
// child without a Subject.
const withdrawnChild = "withdrawn products"

// Expand implements engine.Expander: one child per product, and one for
// the withdrawn products if there are any. A phase that does not split
// deletes those itself.
func (w catalogWork) Expand(ctx context.Context, r *engine.PhaseRun) ([]*engine.Phase, error) {
	kids, err := expandTargets(r)
	if err != nil || len(kids) == 0 {
		return kids, err
	}
	wd, err := withdrawalOf(r)
	if err != nil {
		return nil, err
	}
	if len(wd.refs) > 0 {
		kids = append(kids, &engine.Phase{Name: withdrawnChild, Status: engine.StatusPending})
	}
	return kids, nil
}

// Run implements engine.Work.
func (w catalogWork) Run(ctx context.Context, r *engine.PhaseRun) error {
	if r.Phase.Subject == 0 && r.Phase.Name == withdrawnChild {
		sr, err := w.s.open(r)
		if err != nil {
			return err
		}
		return w.withdraw(ctx, sr)
	}
	sr, ts, err := w.s.begin(r)
	if err != nil {
		return err
	}
	if err := w.lowerFirst(ctx, sr, ts); err != nil {
		return err
	}
	if r.Phase.Subject == 0 {
		if err := w.withdraw(ctx, sr); err != nil {
			return err
		}
	}
	if r.Op.Action == engine.ActionDelete {
		return w.deleteAll(ctx, sr, ts)
	}
	if err := sr.checkCurrency(ctx, ts); err != nil {
		return err
	}
	su, err := sr.ensureSetup(ctx)
	if err != nil {
		return err
	}
	r.SetUnits(len(ts))
	for i, t := range ts {
		if err := w.upsert(ctx, sr, su, t); err != nil {
			return err
		}
		if len(ts) > 1 {
			r.Progress(i+1, len(ts))
		}
	}
	return nil
}

// shopProduct is a product as productSet and the lookups answer it.
type shopProduct struct {
	ID       string `json:"id"`
	Variants struct {
		Nodes []struct {
			ID            string `json:"id"`
			SKU           string `json:"sku"`
			InventoryItem *struct {
				ID               string `json:"id"`
				RequiresShipping *bool  `json:"requiresShipping"` // nil: not asked
			} `json:"inventoryItem"`
		} `json:"nodes"`
	} `json:"variants"`
}

// bySKU maps the product's variants by SKU to (variant id, inventory item id).
func (p *shopProduct) bySKU() map[string][2]string {
	out := map[string][2]string{}
	for _, v := range p.Variants.Nodes {
		item := ""
		if v.InventoryItem != nil {
			item = v.InventoryItem.ID
		}
		out[v.SKU] = [2]string{v.ID, item}
	}
	return out
}

// digital is the SKUs whose inventory item the shop answered does not
// require shipping.
func (p *shopProduct) digital() map[string]bool {
	out := map[string]bool{}
	for _, v := range p.Variants.Nodes {
		if v.InventoryItem != nil && v.InventoryItem.RequiresShipping != nil && !*v.InventoryItem.RequiresShipping {
			out[v.SKU] = true
		}
	}
	return out
}

// upsert makes the shop's product match ours with productSet by its
// recorded id (by handle before we hold one), so a re-run never duplicates
// it, and stages the ids it answers. A product we
// hold an id of but the shop lost (deleted behind our back) is recreated
// once; CATALOG_PRODUCT_VANISHED only if that fails too.
func (w catalogWork) upsert(ctx context.Context, sr *shopRun, su *engine.ShopSetup, t *target) error {
	p := t.product
	held := p.ShopifyProductID != ""
	if !held && sr.r.Attempt > 1 {
		// An earlier attempt (or a run cut short by a crash) may have
		// created the product without our recording its ids: learn them,
		// so that its variants are updated rather than replaced.
		found, err := sr.productByHandle(ctx, p.Handle, len(p.Variants))
		if err != nil {
			return err
		}
		if found != nil {
			p.ShopifyProductID = found.ID
			ids := found.bySKU()
			for i := range p.Variants {
				v := &p.Variants[i]
				got := ids[t.sku(v.RegistrationTypeID)]
				v.ShopifyVariantID, v.InventoryItemID = got[0], got[1]
			}
		}
	}
	got, uerrs, err := w.productSet(ctx, sr, su, t, p)
	if err != nil {
		return err
	}
	if len(uerrs) > 0 {
		if !held {
			return engine.Errorf(engine.CodeCatalogUpsertRejected, "the shop refused product %q: %v", p.Handle, uerrs)
		}
		exists, err := sr.productExists(ctx, p.ShopifyProductID)
		if err != nil {
			return err
		}
		if exists {
			return engine.Errorf(engine.CodeCatalogUpsertRejected, "the shop refused product %q: %v", p.Handle, uerrs)
		}
		sr.log.Warn("product deleted in the shop behind our back: recreating it", "product", p.ShopifyProductID, "handle", p.Handle)
		forgetIDs(&p)
		got, uerrs, err = w.productSet(ctx, sr, su, t, p)
		if err != nil {
			return err
		}
		if len(uerrs) > 0 {
			return engine.Errorf(engine.CodeCatalogProductVanished,
				"product %q was deleted in the shop and could not be recreated: %v", p.Handle, uerrs)
		}
	} else if held && got.ID != t.product.ShopifyProductID {
		sr.log.Warn("product deleted in the shop behind our back: recreated", "old", t.product.ShopifyProductID, "new", got.ID, "handle", p.Handle)
	}
	ids := got.bySKU()
	digital := got.digital()
	variants := map[uint64][2]string{}
	created := map[uint64]bool{}
	for _, v := range p.Variants {
		// productInput stocked a variant sent without an id at our
		// location with 0 available, as a digital good.
		created[v.RegistrationTypeID] = v.ShopifyVariantID == "" && su.LocationID != "" &&
			digital[t.sku(v.RegistrationTypeID)]
		id, ok := ids[t.sku(v.RegistrationTypeID)]
		if !ok || id[0] == "" || id[1] == "" {
			return engine.Errorf(engine.CodeCatalogUpsertRejected,
				"the shop's answer for product %q lacks variant %q", p.Handle, v.Title)
		}
		variants[v.RegistrationTypeID] = id
	}
	stageProductIDs(sr.r, t.occ.ID, p.Key, got.ID, variants, created)
	return nil
}

func forgetIDs(p *engine.Product) {
	p.ShopifyProductID = ""
	vs := make([]engine.Variant, len(p.Variants))
	copy(vs, p.Variants)
	for i := range vs {
		vs[i].ShopifyVariantID, vs[i].InventoryItemID = "", ""
	}
	p.Variants = vs
}

// productIdentifier is how productSet finds the product: by the id we
// recorded, so that a merchant editing the handle in the shop changes
// nothing (the save finds the product and sets our handle again), and by
// handle only for a product we hold no id of (first save, or ids never
// recorded: the handle then finds what an earlier attempt created).
func productIdentifier(p engine.Product) map[string]any {
	if p.ShopifyProductID != "" {
		return map[string]any{"id": p.ShopifyProductID}
	}
	return map[string]any{"handle": p.Handle}
}

// productSet sends one upsert. It is resendable: by id or handle
// (productIdentifier), with the whole desired state, so sending it twice
// leaves the shop as sending it once.
func (w catalogWork) productSet(ctx context.Context, sr *shopRun, su *engine.ShopSetup, t *target, p engine.Product) (*shopProduct, UserErrors, error) {
	input, err := productInput(t, p, su.LocationID)
	if err != nil {
		return nil, nil, engine.Errorf(engine.CodeCatalogUpsertRejected, "product %q: %v", p.Handle, err)
	}
	var out struct {
		ProductSet struct {
			Product    *shopProduct `json:"product"`
			UserErrors UserErrors   `json:"userErrors"`
		} `json:"productSet"`
	}
	err = sr.client.Do(ctx, Call{Name: "ProductSet", Query: mProductSet, Resendable: true, Variables: map[string]any{
		"input": input, "identifier": productIdentifier(p), "n": max(len(p.Variants), 1),
	}}, &out)
	if err != nil {
		return nil, nil, phaseErr(ctx, err, engine.CodeCatalogUpsertRejected, "upsert product "+p.Handle)
	}
	ps := out.ProductSet
	if len(ps.UserErrors) > 0 {
		return nil, ps.UserErrors, nil
	}
	if ps.Product == nil {
		return nil, nil, engine.Transientf(engine.CodeShopifyUnavailable, "productSet answered no product for %q", p.Handle)
	}
	return ps.Product, nil, nil
}

// productInput is the ProductSetInput of a product: one option, a variant
// per registration type with its price, SKU, DENY policy and tracked
// inventory that needs no shipping. A variant new to the shop is stocked at
// the fulfillment service's location with 0 available: the inventory phase
// alone sets quantities, with compare-and-set.
func productInput(t *target, p engine.Product, location string) (map[string]any, error) {
	values := make([]map[string]any, 0, len(p.Variants))
	variants := make([]map[string]any, 0, len(p.Variants))
	used := map[string]bool{}
	for _, v := range p.Variants {
		amount, err := price(v.Price)
		if err != nil {
			return nil, err
		}
		opt := v.Title
		if opt == "" || used[opt] {
			opt = fmt.Sprintf("%s #%d", v.Title, v.RegistrationTypeID)
		}
		used[opt] = true
		values = append(values, map[string]any{"name": opt})
		vi := map[string]any{
			"optionValues":    []map[string]any{{"optionName": optionName, "name": opt}},
			"price":           amount,
			"sku":             t.sku(v.RegistrationTypeID),
			"inventoryPolicy": "DENY",
			"inventoryItem":   map[string]any{"tracked": true, "requiresShipping": false},
		}
		if v.ShopifyVariantID != "" {
			vi["id"] = v.ShopifyVariantID
		} else if location != "" {
			vi["inventoryQuantities"] = []map[string]any{{"locationId": location, "name": "available", "quantity": 0}}
		}
		variants = append(variants, vi)
	}
	return map[string]any{
		"handle":         p.Handle,
		"title":          p.Title,
		"status":         "ACTIVE",
		"productType":    "Event ticket",
		"tags":           productTags(t),
		"productOptions": []map[string]any{{"name": optionName, "values": values}},
		"variants":       variants,
	}, nil
}

// sku is the SKU of the target's variant of a registration type.
func (t *target) sku(rt uint64) string { return skuOf(t.inst, t.occ.ID, rt) }

// productTags let a merchant (and we) find every product of an event.
func productTags(t *target) []string {
	root := t.occ.ID
	if t.occ.ParentID != 0 {
		root = t.occ.ParentID
	}
	return []string{"eventops", "eventops-event-" + strconv.FormatUint(root, 10),
		"eventops-occurrence-" + strconv.FormatUint(t.occ.ID, 10)}
}

// productByHandle finds a product by its handle; nil when there is none.
func (sr *shopRun) productByHandle(ctx context.Context, handle string, variants int) (*shopProduct, error) {
	var out struct {
		ProductByIdentifier *shopProduct `json:"productByIdentifier"`
	}
	err := sr.client.Do(ctx, Call{Name: "ProductByHandle", Query: qProductByHandle, Resendable: true,
		Variables: map[string]any{"handle": handle, "n": max(variants, 1)}}, &out)
	if err != nil {
		return nil, phaseErr(ctx, err, engine.CodeCatalogUpsertRejected, "look up product "+handle)
	}
	return out.ProductByIdentifier, nil
}

// productExists reads whether the shop still has a product.
func (sr *shopRun) productExists(ctx context.Context, id string) (bool, error) {
	var out struct {
		Product *struct {
			ID string `json:"id"`
		} `json:"product"`
	}
	err := sr.client.Do(ctx, Call{Name: "ProductExists", Query: qProductExists, Resendable: true,
		Variables: map[string]any{"id": id}}, &out)
	if err != nil {
		return false, phaseErr(ctx, err, engine.CodeCatalogUpsertRejected, "read product "+id)
	}
	return out.Product != nil, nil
}

// errVanished is the error of every phase that finds a product of ours
// deleted in the shop behind our back (or one of its variants' inventory
// items gone with it): one condition, one code, CATALOG_PRODUCT_VANISHED,
// whichever phase meets it. The next save's catalog phase recreates it.
func errVanished(format string, args ...any) error {
	return engine.Errorf(engine.CodeCatalogProductVanished,
		"%s was deleted in the shop: save the event again to recreate it", fmt.Sprintf(format, args...))
}

// vanished explains a refusal naming products of ours: the first of ids
// the shop no longer has, "" when it has them all (the refusal is then
// about something else).
func (sr *shopRun) vanished(ctx context.Context, ids ...string) (string, error) {
	seen := map[string]bool{}
	for _, id := range ids {
		if id == "" || seen[id] {
			continue
		}
		seen[id] = true
		ok, err := sr.productExists(ctx, id)
		if err != nil || !ok {
			return id, err
		}
	}
	return "", nil
}

// withdrawal is what an operation has to withdraw from the shop: the
// withdrawn products of its event and, for a recurring event, of its
// occurrences, each with the event that lists it; and the products that
// ticket structures hold (again), by id and by handle.
type withdrawal struct {
	refs  []engine.ShopProductRef
	owner []uint64 // the event listing refs[i]
	held  map[string]bool
}

// withdrawalOf reads the operation's withdrawal.
func withdrawalOf(r *engine.PhaseRun) (*withdrawal, error) {
	wd := &withdrawal{held: map[string]bool{}}
	err := r.View(func(tx engine.Tx) error {
		root, err := tx.Event(r.Op.EventID)
		if err != nil || root == nil {
			return err
		}
		evs := []*engine.Event{root}
		if root.Type == engine.EventRecurring {
			occs, err := tx.ChildEvents(root.ID)
			if err != nil {
				return err
			}
			evs = append(evs, occs...)
		}
		for _, ev := range evs {
			for _, ref := range ev.Withdrawn {
				wd.refs, wd.owner = append(wd.refs, ref), append(wd.owner, ev.ID)
			}
		}
		if len(wd.refs) == 0 {
			return nil
		}
		for _, ev := range evs {
			s, err := tx.TicketStructure(ev.ID)
			if err != nil || s == nil {
				if err != nil {
					return err
				}
				continue
			}
			for _, p := range s.Products {
				wd.held[p.Handle] = true
				if p.ShopifyProductID != "" {
					wd.held[p.ShopifyProductID] = true
				}
			}
		}
		return nil
	})
	return wd, err
}

// withdraw deletes the operation's withdrawn products from the shop (one
// that is gone already is done) and forgets them as the phase completes. A
// product a ticket structure holds again (split_products switched back:
// the upsert by handle takes it back) is only forgotten: catalog may be
// upserting it beside this run.
func (w catalogWork) withdraw(ctx context.Context, sr *shopRun) error {
	wd, err := withdrawalOf(sr.r)
	if err != nil || len(wd.refs) == 0 {
		return err
	}
	done := map[string]bool{}
	for _, ref := range wd.refs {
		if done[ref.ID] {
			continue
		}
		done[ref.ID] = true
		if ref.ID == "" || wd.held[ref.ID] || wd.held[ref.Handle] {
			continue
		}
		if err := sr.deleteProduct(ctx, ref.ID); err != nil {
			return err
		}
		sr.log.Info("withdrawn product deleted from the shop", "product", ref.ID, "handle", ref.Handle)
	}
	owners := map[uint64]bool{}
	for _, id := range wd.owner {
		owners[id] = true
	}
	sr.r.Stage(func(tx engine.Tx) error {
		for id := range owners {
			ev, err := tx.Event(id)
			if err != nil || ev == nil {
				if err != nil {
					return err
				}
				continue
			}
			kept := ev.Withdrawn[:0:0]
			for _, ref := range ev.Withdrawn {
				if !done[ref.ID] {
					kept = append(kept, ref) // withdrawn meanwhile: the next save
				}
			}
			if len(kept) == len(ev.Withdrawn) {
				continue
			}
			ev.Withdrawn = kept
			if err := tx.PutEvent(ev); err != nil {
				return err
			}
		}
		return nil
	})
	return nil
}

// deleteAll removes the products of a deleted event; a product already gone
// is done. The ids are cleared from our records as the phase completes.
func (w catalogWork) deleteAll(ctx context.Context, sr *shopRun, ts []*target) error {
	sr.r.SetUnits(len(ts))
	for i, t := range ts {
		id := t.product.ShopifyProductID
		if id == "" {
			// Maybe created by a save whose ids were never recorded.
			found, err := sr.productByHandle(ctx, t.product.Handle, 1)
			if err != nil {
				return err
			}
			if found != nil {
				id = found.ID
			}
		}
		if id != "" {
			if err := sr.deleteProduct(ctx, id); err != nil {
				return err
			}
		}
		stageProductIDs(sr.r, t.occ.ID, t.product.Key, "", nil, nil)
		if len(ts) > 1 {
			sr.r.Progress(i+1, len(ts))
		}
	}
	return nil
}

// deleteProduct deletes a product; one that no longer exists is success.
// productDelete by id is idempotent in effect (a second one finds nothing),
// so a lost answer may be re-sent.
func (sr *shopRun) deleteProduct(ctx context.Context, id string) error {
	var out struct {
		ProductDelete struct {
			DeletedProductID *string    `json:"deletedProductId"`
			UserErrors       UserErrors `json:"userErrors"`
		} `json:"productDelete"`
	}
	err := sr.client.Do(ctx, Call{Name: "ProductDelete", Query: mProductDelete, Resendable: true,
		Variables: map[string]any{"id": id}}, &out)
	if err != nil {
		return phaseErr(ctx, err, engine.CodeCatalogUpsertRejected, "delete product "+id)
	}
	if ue := out.ProductDelete.UserErrors; len(ue) > 0 {
		exists, err := sr.productExists(ctx, id)
		if err != nil {
			return err
		}
		if exists {
			return engine.Errorf(engine.CodeCatalogUpsertRejected, "the shop refused to delete product %s: %v", id, ue)
		}
	}
	return nil
}
