package sandbox

// Inventory (mut_inventory.go writes it): InventoryItem, InventoryLevel,
// InventoryQuantity, and the places stock is held: Location and
// FulfillmentService.

import (
	"fmt"

	"github.com/vektah/gqlparser/v2/ast"
)

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
