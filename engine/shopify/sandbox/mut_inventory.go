package sandbox

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Inventory: inventorySetQuantities (absolute quantities with
// compare-and-set, all or nothing), inventoryActivate,
// inventoryDeactivate and inventoryItemUpdate.

var inventoryReasons = map[string]bool{
	"correction": true, "cycle_count_available": true, "damaged": true, "movement_created": true,
	"movement_updated": true, "movement_received": true, "movement_canceled": true, "other": true,
	"promotion": true, "quality_control": true, "received": true, "reservation_created": true,
	"reservation_deleted": true, "reservation_updated": true, "restock": true, "safety_stock": true,
	"shrinkage": true,
}

// changeFromRequiredFrom is the version from which every quantity must
// carry changeFromQuantity (null opting out explicitly). Before it, a
// quantity without one is set unchecked: the sandbox does not model
// compareQuantity and ignoreCompareQuantity, which 2026-04 removed.
const changeFromRequiredFrom = "2026-04"

func inventorySetQuantities(x *execCtx, a map[string]any) *mutResult {
	st := x.st
	in := objArg(a, "input")
	name := strArg(in, "name")
	reason := strArg(in, "reason")
	ref := strArg(in, "referenceDocumentUri")
	qs, _ := listArg(in, "quantities")

	var errs []userError
	if name != "available" && name != "on_hand" {
		errs = append(errs, uerr("INVALID_NAME", "The quantity name must be either 'available' or 'on_hand'.", "input", "name"))
	}
	if !inventoryReasons[reason] {
		errs = append(errs, uerr("INVALID_REASON", fmt.Sprintf("The specified reason '%s' is invalid.", reason), "input", "reason"))
	}
	if ref != "" {
		if u, err := url.Parse(ref); err != nil || u.Scheme == "" {
			errs = append(errs, uerr("INVALID_REFERENCE_DOCUMENT", "The specified reference document is invalid: it must be a URI with a scheme.", "input", "referenceDocumentUri"))
		}
	}
	if len(errs) > 0 {
		return failed(errs...)
	}

	type target struct {
		it    *invItem
		l     *invLevel
		value int64
	}
	targets := make([]target, 0, len(qs))
	pairs := map[[2]int64]bool{}
	for i, raw := range qs {
		q, _ := raw.(map[string]any)
		at := func(f string) []string { return fieldPath("input", "quantities", i, f) }
		it := st.Items[idOf(q["inventoryItemId"], "InventoryItem")]
		if it == nil {
			errs = append(errs, userError{Field: at("inventoryItemId"), Code: "INVALID_INVENTORY_ITEM", Message: "The specified inventory item could not be found."})
			continue
		}
		loc := st.Locations[idOf(q["locationId"], "Location")]
		if loc == nil {
			errs = append(errs, userError{Field: at("locationId"), Code: "INVALID_LOCATION", Message: "The specified location could not be found."})
			continue
		}
		pair := [2]int64{it.ID, loc.ID}
		if pairs[pair] {
			errs = append(errs, userError{Field: at("inventoryItemId"), Code: "NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR",
				Message: "The combination of inventoryItemId and locationId must be unique."})
			continue
		}
		pairs[pair] = true
		l := it.Levels[loc.ID]
		if l == nil {
			errs = append(errs, userError{Field: at("locationId"), Code: "ITEM_NOT_STOCKED_AT_LOCATION",
				Message: "The specified inventory item is not stocked at the location."})
			continue
		}
		value, _ := int64Arg(q, "quantity")
		switch {
		case value < 0:
			errs = append(errs, userError{Field: at("quantity"), Code: "INVALID_QUANTITY_NEGATIVE", Message: "The quantity can't be negative."})
			continue
		case value > maxQuantity:
			errs = append(errs, userError{Field: at("quantity"), Code: "INVALID_QUANTITY_TOO_HIGH", Message: "The quantity can't be higher than 1,000,000,000."})
			continue
		}
		current, _ := l.quantity(name)
		if raw, present := q["changeFromQuantity"]; present {
			// Given, even as null: null opts out of the check.
			if raw != nil {
				want, _ := toInt64(raw)
				if want != current {
					errs = append(errs, userError{Field: at("changeFromQuantity"), Code: "CHANGE_FROM_QUANTITY_STALE",
						Message: fmt.Sprintf("The changeFromQuantity value does not match the persisted value (%d).", current)})
					continue
				}
			}
		} else if x.version >= changeFromRequiredFrom {
			errs = append(errs, userError{Field: at("changeFromQuantity"), Code: "COMPARE_QUANTITY_REQUIRED",
				Message: "changeFromQuantity must be given for each quantity; pass null to opt out of the check."})
			continue
		}
		targets = append(targets, target{it, l, value})
	}
	if len(errs) > 0 {
		return failed(errs...)
	}

	g := &adjGroup{ID: st.next(seqAdjustment), Reason: reason, Reference: ref, CreatedAt: x.now}
	for _, t := range targets {
		before := t.l.Available
		if name == "on_hand" {
			t.l.Available = t.value - t.l.Committed
		} else {
			t.l.Available = t.value
		}
		delta := t.l.Available - before
		t.l.UpdatedAt, t.it.UpdatedAt = x.now, x.now
		st.markID(kindItem, t.it.ID)
		g.Changes = append(g.Changes,
			adjChange{Name: "available", Delta: delta, After: t.l.Available, ItemID: t.it.ID, LocationID: t.l.LocationID},
			adjChange{Name: "on_hand", Delta: delta, After: t.l.Available + t.l.Committed, ItemID: t.it.ID, LocationID: t.l.LocationID},
		)
	}
	return &mutResult{Group: g}
}

func inventoryActivate(x *execCtx, a map[string]any) *mutResult {
	st := x.st
	it := st.Items[idOf(a["inventoryItemId"], "InventoryItem")]
	if it == nil {
		return failed(uerr("", "Inventory item does not exist", "inventoryItemId"))
	}
	loc := st.Locations[idOf(a["locationId"], "Location")]
	if loc == nil || !loc.Active {
		return failed(uerr("", "Location does not exist", "locationId"))
	}
	avail, hasAvail := int64Arg(a, "available")
	onHand, hasOnHand := int64Arg(a, "onHand")
	if (hasAvail && avail < 0) || (hasOnHand && onHand < 0) {
		return failed(uerr("", "Quantity can't be negative", "available"))
	}
	if it.Levels[loc.ID] == nil {
		l := &invLevel{ItemID: it.ID, LocationID: loc.ID, CreatedAt: x.now, UpdatedAt: x.now}
		switch {
		case hasAvail:
			l.Available = avail
		case hasOnHand:
			l.Available = onHand
		}
		it.Levels[loc.ID] = l
		it.UpdatedAt = x.now
		st.markID(kindItem, it.ID)
	}
	return (&mutResult{}).ref("inventoryLevel", levelGID(it.ID, loc.ID))
}

// inventoryDeactivate stops stocking an item at a location, as a merchant's
// "stop stocking at this location" does: the level and its quantities
// there are gone. The sandbox refuses it for the item's only location (an
// item is stocked somewhere).
func inventoryDeactivate(x *execCtx, a map[string]any) *mutResult {
	st := x.st
	typ, locID, params, _ := parseGID(strArg(a, "inventoryLevelId"))
	itemID, _ := strconv.ParseInt(strings.TrimPrefix(params, "inventory_item_id="), 10, 64)
	it := st.Items[itemID]
	if typ != "InventoryLevel" || it == nil || it.Levels[locID] == nil {
		return failed(uerr("", "Inventory level does not exist", "inventoryLevelId"))
	}
	if len(it.Levels) == 1 {
		return failed(uerr("", "The item can't stop being stocked at its only location.", "inventoryLevelId"))
	}
	delete(it.Levels, locID)
	it.UpdatedAt = x.now
	st.markID(kindItem, it.ID)
	return &mutResult{}
}

func inventoryItemUpdate(x *execCtx, a map[string]any) *mutResult {
	st := x.st
	it := st.Items[idOf(a["id"], "InventoryItem")]
	if it == nil {
		return failed(uerr("", "Inventory item does not exist", "id"))
	}
	in := objArg(a, "input")
	if b, ok := boolArg(in, "tracked"); ok {
		it.Tracked = b
	}
	if b, ok := boolArg(in, "requiresShipping"); ok {
		it.RequiresShipping = b
	}
	if s := strPtr(in, "sku"); s != nil {
		it.SKU = *s
		if v := st.Variants[it.VariantID]; v != nil {
			v.SKU = *s
			v.UpdatedAt = x.now
			st.markID(kindVariant, v.ID)
		}
	}
	it.UpdatedAt = x.now
	st.markID(kindItem, it.ID)
	return (&mutResult{}).ref("inventoryItem", gid("InventoryItem", it.ID))
}
