package sandbox

import (
	"testing"
)

const mInventorySet = `mutation($input: InventorySetQuantitiesInput!, $key: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $key) {
    inventoryAdjustmentGroup { id reason changes { name delta quantityAfterChange } }
    userErrors { field message code }
  }
}`

const qLevel = `query($item: ID!, $loc: ID!) {
  inventoryItem(id: $item) { inventoryLevel(locationId: $loc) { quantities(names: ["available", "committed", "on_hand"]) { name quantity } } }
}`

func setQuantity(item, loc string, quantity int, changeFrom any) map[string]any {
	return map[string]any{
		"name":                 "available",
		"reason":               "correction",
		"referenceDocumentUri": "gid://eventops/Operation/1",
		"quantities": []any{map[string]any{
			"inventoryItemId": item, "locationId": loc, "quantity": quantity, "changeFromQuantity": changeFrom,
		}},
	}
}

// quantities reads an item's quantities at a location by name.
func (b *bundle) quantities(item, loc string) map[string]int {
	b.t.Helper()
	a := b.mustData(qLevel, map[string]any{"item": item, "loc": loc})
	out := map[string]int{}
	for _, q := range a.list("data.inventoryItem.inventoryLevel.quantities") {
		out[dig(q, "name").(string)] = int(dig(q, "quantity").(float64))
	}
	return out
}

func TestInventorySetQuantitiesCompareAndSet(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	ids := b.catalog()

	a := b.mustData(mInventorySet, map[string]any{"input": setQuantity(ids.items[0], ids.location, 7, 10), "key": "k1"})
	if errs := a.list("data.inventorySetQuantities.userErrors"); len(errs) > 0 {
		t.Fatalf("userErrors: %v", errs)
	}
	mustEqual(t, "delta", a.num("data.inventorySetQuantities.inventoryAdjustmentGroup.changes.0.delta"), -3)
	mustEqual(t, "available", b.quantities(ids.items[0], ids.location)["available"], 7)

	// A stale changeFromQuantity changes nothing, in the whole batch.
	both := setQuantity(ids.items[0], ids.location, 1, 10)
	both["quantities"] = append(both["quantities"].([]any), map[string]any{
		"inventoryItemId": ids.items[1], "locationId": ids.location, "quantity": 1, "changeFromQuantity": 5,
	})
	stale := b.mustData(mInventorySet, map[string]any{"input": both, "key": "k2"})
	errs := stale.list("data.inventorySetQuantities.userErrors")
	mustEqual(t, "stale code", codes(errs), "CHANGE_FROM_QUANTITY_STALE")
	mustEqual(t, "stale field", dig(errs[0], "field.3").(string), "changeFromQuantity")
	if stale.get("data.inventorySetQuantities.inventoryAdjustmentGroup") != nil {
		t.Fatal("an adjustment group came back with userErrors")
	}
	mustEqual(t, "first item unchanged", b.quantities(ids.items[0], ids.location)["available"], 7)
	mustEqual(t, "second item unchanged (all or nothing)", b.quantities(ids.items[1], ids.location)["available"], 5)

	// null opts out of the check.
	b.mustData(mInventorySet, map[string]any{"input": setQuantity(ids.items[0], ids.location, 3, nil), "key": "k3"})
	mustEqual(t, "after opt-out", b.quantities(ids.items[0], ids.location)["available"], 3)

	// From 2026-04, leaving changeFromQuantity out is refused.
	in := setQuantity(ids.items[0], ids.location, 4, nil)
	delete(in["quantities"].([]any)[0].(map[string]any), "changeFromQuantity")
	missing := b.mustData(mInventorySet, map[string]any{"input": in, "key": "k4"})
	mustEqual(t, "missing changeFrom", codes(missing.list("data.inventorySetQuantities.userErrors")), "COMPARE_QUANTITY_REQUIRED")
}

func TestInventorySetQuantitiesUserErrors(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	ids := b.catalog()
	cases := []struct {
		name string
		in   map[string]any
		code string
	}{
		{"negative", setQuantity(ids.items[0], ids.location, -1, 10), "INVALID_QUANTITY_NEGATIVE"},
		{"too high", setQuantity(ids.items[0], ids.location, 1_000_000_001, 10), "INVALID_QUANTITY_TOO_HIGH"},
		{"not stocked", setQuantity(ids.items[0], "gid://shopify/Location/1", 1, 0), "ITEM_NOT_STOCKED_AT_LOCATION"},
		{"no location", setQuantity(ids.items[0], "gid://shopify/Location/99", 1, 0), "INVALID_LOCATION"},
		{"no item", setQuantity("gid://shopify/InventoryItem/99", ids.location, 1, 0), "INVALID_INVENTORY_ITEM"},
	}
	for _, c := range cases {
		a := b.mustData(mInventorySet, map[string]any{"input": c.in, "key": "key-" + c.name})
		mustEqual(t, c.name, codes(a.list("data.inventorySetQuantities.userErrors")), c.code)
	}
	badName := setQuantity(ids.items[0], ids.location, 1, 10)
	badName["name"] = "incoming"
	a := b.mustData(mInventorySet, map[string]any{"input": badName, "key": "bad-name"})
	mustEqual(t, "name", codes(a.list("data.inventorySetQuantities.userErrors")), "INVALID_NAME")
	mustEqual(t, "nothing changed", b.quantities(ids.items[0], ids.location)["available"], 10)
}

func TestInventoryIdempotencyKey(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	ids := b.catalog()

	vars := map[string]any{"input": setQuantity(ids.items[0], ids.location, 6, 10), "key": "same"}
	first := b.mustData(mInventorySet, vars)
	// A replay answers the first result, although changeFromQuantity is
	// stale by now: nothing is applied twice.
	again := b.mustData(mInventorySet, vars)
	mustEqual(t, "replayed group", again.str("data.inventorySetQuantities.inventoryAdjustmentGroup.id"),
		first.str("data.inventorySetQuantities.inventoryAdjustmentGroup.id"))
	mustEqual(t, "no userErrors on replay", len(again.list("data.inventorySetQuantities.userErrors")), 0)

	other := b.mustData(mInventorySet, map[string]any{"input": setQuantity(ids.items[0], ids.location, 2, 6), "key": "same"})
	mustEqual(t, "mismatch", codes(other.list("data.inventorySetQuantities.userErrors")), "IDEMPOTENCY_KEY_PARAMETER_MISMATCH")
	mustEqual(t, "available", b.quantities(ids.items[0], ids.location)["available"], 6)

	calls, _ := b.sb.Calls(b.shop.Name, "inventorySetQuantities")
	mustEqual(t, "calls logged", len(calls), 3)
	mustEqual(t, "key logged", calls[1].IdempotencyKey, "same")
	mustEqual(t, "replay logged", calls[1].Replayed, true)
}

// Shopify's schema: "As of 2026-04, the idempotency key is required" on
// inventorySetQuantities, as on inventoryActivate and refundCreate.
func TestInventorySetQuantitiesNeedsKeyFrom202604(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	ids := b.catalog()
	q := `mutation($input: InventorySetQuantitiesInput!) { inventorySetQuantities(input: $input) { userErrors { code } } }`
	a := b.gql(q, map[string]any{"input": setQuantity(ids.items[0], ids.location, 7, nil)})
	mustEqual(t, "without a key", a.str("errors.0.extensions.code"), "BAD_REQUEST")
	mustEqual(t, "unchanged", b.quantities(ids.items[0], ids.location)["available"], 10)
}

func TestInventoryActivateNeedsKeyFrom202604(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	ids := b.catalog()
	q := `mutation($i: ID!, $l: ID!) { inventoryActivate(inventoryItemId: $i, locationId: $l) { inventoryLevel { id } userErrors { field message } } }`
	a := b.gql(q, map[string]any{"i": ids.items[0], "l": "gid://shopify/Location/1"})
	mustEqual(t, "without a key", a.str("errors.0.extensions.code"), "BAD_REQUEST")

	withKey := `mutation($i: ID!, $l: ID!) { inventoryActivate(inventoryItemId: $i, locationId: $l) @idempotent(key: "a1") { inventoryLevel { id quantities(names: ["available"]) { quantity } } userErrors { field message } } }`
	ok := b.mustData(withKey, map[string]any{"i": ids.items[0], "l": "gid://shopify/Location/1"})
	mustEqual(t, "level", ok.str("data.inventoryActivate.inventoryLevel.id"), "gid://shopify/InventoryLevel/1?inventory_item_id=1")

	// productSet takes no idempotency key.
	bad := b.gql(`mutation { productSet(input: {title: "x"}) @idempotent(key: "k") { product { id } } }`, nil)
	mustEqual(t, "not idempotent", bad.str("errors.0.extensions.code"), "BAD_REQUEST")
}

// A merchant can stop stocking an item at a location, but not at its only
// one; the level is gone afterwards and inventoryActivate brings it back.
func TestInventoryDeactivate(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	ids := b.catalog()
	const deactivate = `mutation($id: ID!) { inventoryDeactivate(inventoryLevelId: $id) { userErrors { field message } } }`
	const level = `query($item: ID!, $loc: ID!) { inventoryItem(id: $item) { inventoryLevel(locationId: $loc) { id } } }`
	ours := b.mustData(level, map[string]any{"item": ids.items[0], "loc": ids.location}).str("data.inventoryItem.inventoryLevel.id")

	only := b.mustData(deactivate, map[string]any{"id": ours})
	mustEqual(t, "only location refused", len(only.list("data.inventoryDeactivate.userErrors")), 1)
	unknown := b.mustData(deactivate, map[string]any{"id": "gid://shopify/InventoryLevel/99?inventory_item_id=1"})
	mustEqual(t, "unknown level", dig(unknown.list("data.inventoryDeactivate.userErrors")[0], "message").(string), "Inventory level does not exist")

	b.mustData(`mutation($i: ID!) { inventoryActivate(inventoryItemId: $i, locationId: "gid://shopify/Location/1") @idempotent(key: "d1") { userErrors { message } } }`,
		map[string]any{"i": ids.items[0]})
	done := b.mustData(deactivate, map[string]any{"id": ours})
	mustEqual(t, "deactivated", len(done.list("data.inventoryDeactivate.userErrors")), 0)
	if got := b.mustData(level, map[string]any{"item": ids.items[0], "loc": ids.location}).get("data.inventoryItem.inventoryLevel"); got != nil {
		t.Fatalf("level still there: %v", got)
	}
}
