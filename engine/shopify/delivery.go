package shopify

import (
	"context"

	"eventops/engine"
)

// deliveryWork makes sure tickets ship as what they are, digital goods
// fulfilled by the app's fulfillment service: the service and its location
// still exist in the shop (DELIVERY_SERVICE_MISSING otherwise), and no
// variant's inventory item requires shipping (fixed if one does).
//
// Variants this operation's catalog phase just created need no call: the
// shop created them stocked at the service's location (so it existed) and
// answered that they do not require shipping (see engine.Variant.CreatedBy).
type deliveryWork struct{ s *service }

// Expand implements engine.Expander: one child per product.
func (w deliveryWork) Expand(ctx context.Context, r *engine.PhaseRun) ([]*engine.Phase, error) {
	return expandTargets(r)
}

// Run implements engine.Work.
func (w deliveryWork) Run(ctx context.Context, r *engine.PhaseRun) error {
	if r.Op.Action != engine.ActionSave {
		return nil
	}
	sr, ts, err := w.s.begin(r)
	if err != nil {
		return err
	}
	su, err := sr.ensureSetup(ctx)
	if err != nil {
		return err
	}
	var items []string
	for _, t := range ts {
		for _, v := range t.product.Variants {
			if v.InventoryItemID != "" {
				items = append(items, v.InventoryItemID)
			}
		}
	}
	r.SetUnits(len(items))
	if len(items) > 0 && allCreatedHere(r, ts) {
		return nil
	}
	var out struct {
		FulfillmentService *struct {
			ID       string `json:"id"`
			Location *struct {
				ID string `json:"id"`
			} `json:"location"`
		} `json:"fulfillmentService"`
		Nodes []*struct {
			ID               string `json:"id"`
			RequiresShipping bool   `json:"requiresShipping"`
		} `json:"nodes"`
	}
	if items == nil {
		items = []string{}
	}
	err = sr.client.Do(ctx, Call{Name: "Delivery", Query: qDelivery, Resendable: true,
		Variables: map[string]any{"service": su.FulfillmentServiceID, "items": items}}, &out)
	if err != nil {
		return phaseErr(ctx, err, engine.CodeDeliveryServiceMissing, "read the fulfillment service")
	}
	fs := out.FulfillmentService
	if fs == nil || fs.Location == nil || fs.Location.ID != su.LocationID {
		// Forget it, so that the next save sets the shop up again.
		forgotten := *su
		forgotten.FulfillmentServiceID, forgotten.LocationID = "", ""
		if err := sr.rememberSetup(ctx, &forgotten); err != nil {
			return err
		}
		return engine.Errorf(engine.CodeDeliveryServiceMissing,
			"the app's fulfillment service %s or its location %s is gone from the shop; the next save sets it up again",
			su.FulfillmentServiceID, su.LocationID)
	}
	for i, n := range out.Nodes {
		if n == nil {
			return errVanished("the product of inventory item %s", items[i])
		}
		if !n.RequiresShipping {
			continue
		}
		var upd struct {
			InventoryItemUpdate struct {
				UserErrors UserErrors `json:"userErrors"`
			} `json:"inventoryItemUpdate"`
		}
		err := sr.client.Do(ctx, Call{Name: "InventoryItemUpdate", Query: mInventoryItemUpdate, Resendable: true,
			Variables: map[string]any{"id": n.ID}}, &upd)
		if err != nil {
			return phaseErr(ctx, err, engine.CodeDeliveryServiceMissing, "mark "+n.ID+" as not shipped")
		}
		if ue := upd.InventoryItemUpdate.UserErrors; len(ue) > 0 {
			return engine.Errorf(engine.CodeDeliveryServiceMissing, "the shop refused to mark %s as not shipped: %v", n.ID, ue)
		}
	}
	return nil
}
