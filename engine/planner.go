package engine

// Phase names (DESIGN §4.1). Clients must not assume a fixed set.
const (
	PhaseRecurrence = "recurrence"
	PhaseTickets    = "tickets"
	PhaseCatalog    = "catalog"
	PhaseInventory  = "inventory"
	PhaseMetafields = "metafields"
	PhaseDelivery   = "delivery"
	PhasePublish    = "publish"
)

// ShopifyPhases are the phases that talk to the shop.
var ShopifyPhases = []string{PhaseCatalog, PhaseInventory, PhaseMetafields, PhaseDelivery, PhasePublish}

type phaseSpec struct {
	name string
	deps []string
}

var (
	saveLocal = []phaseSpec{
		{PhaseRecurrence, nil},
		{PhaseTickets, []string{PhaseRecurrence}},
	}
	saveShopify = []phaseSpec{
		{PhaseRecurrence, nil},
		{PhaseTickets, []string{PhaseRecurrence}},
		{PhaseCatalog, []string{PhaseTickets}},
		{PhaseInventory, []string{PhaseCatalog}},
		{PhaseMetafields, []string{PhaseCatalog}},
		{PhaseDelivery, []string{PhaseCatalog}},
		{PhasePublish, []string{PhaseInventory, PhaseMetafields, PhaseDelivery}},
	}
	deleteLocal = []phaseSpec{
		{PhaseTickets, nil},
		{PhaseRecurrence, []string{PhaseTickets}},
	}
	deleteShopify = []phaseSpec{
		{PhasePublish, nil},
		{PhaseCatalog, []string{PhasePublish}},
		{PhaseTickets, []string{PhaseCatalog}},
		{PhaseRecurrence, []string{PhaseTickets}},
	}
	inventoryOnly = []phaseSpec{
		{PhaseInventory, nil},
	}
)

// Plan picks the phases of an operation (DESIGN §4.1), in the order the API
// shows them, without ids. The recurrence phase exists only for recurring
// events; dependencies on a phase that is not planned are dropped. A refund
// is a leaf and has no phases.
func Plan(action Action, shopify bool, ev *Event, inventoryOnlySave bool) []*Phase {
	var specs []phaseSpec
	switch {
	case action == ActionSave && inventoryOnlySave:
		specs = inventoryOnly
	case action == ActionSave && shopify:
		specs = saveShopify
	case action == ActionSave:
		specs = saveLocal
	case action == ActionDelete && shopify:
		specs = deleteShopify
	case action == ActionDelete:
		specs = deleteLocal
	default:
		return nil
	}
	present := make(map[string]bool, len(specs))
	for _, s := range specs {
		if s.name == PhaseRecurrence && ev.Type != EventRecurring {
			continue
		}
		present[s.name] = true
	}
	phases := make([]*Phase, 0, len(specs))
	for _, s := range specs {
		if !present[s.name] {
			continue
		}
		p := &Phase{Name: s.name, Status: StatusPending, Phases: []*Phase{}}
		for _, d := range s.deps {
			if present[d] {
				p.DependsOn = append(p.DependsOn, d)
			}
		}
		phases = append(phases, p)
	}
	return phases
}
