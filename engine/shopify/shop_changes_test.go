package shopify_test

import (
	"context"
	"strings"
	"testing"

	"eventops/engine"
)

// What a merchant (or an older eventops) changed in the shop or in the
// remembered set-up, and the next save puts right.

// callsOf counts the calls of the log that sent document (matched by its
// first line: "mutation InventoryActivate(").
func (b *bundle) callsOf(document string) int {
	n := 0
	for _, c := range b.calls() {
		if strings.HasPrefix(c.Query, document) {
			n++
		}
	}
	return n
}

// A merchant who stops stocking a ticket at the app's location (moving it
// to the shop's own) finds it stocked there again after the next save,
// with what is left to sell.
func TestUnstockedTicketIsStockedAgain(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	ev, op := b.create(b.input("Moved", nil, regType{"A", 1000, ptr(5)}))
	b.completed(op.ID)
	handle := b.handleOf(ev.ID)
	item := b.productByHandle(handle).Variants.Nodes[0].InventoryItem.ID
	ours := b.setupOf().LocationID

	var level struct {
		InventoryItem struct {
			InventoryLevel *struct {
				ID string `json:"id"`
			} `json:"inventoryLevel"`
		} `json:"inventoryItem"`
	}
	b.gql(`query Level($item: ID!, $loc: ID!) { inventoryItem(id: $item) { inventoryLevel(locationId: $loc) { id } } }`,
		map[string]any{"item": item, "loc": ours}, &level)
	mustf(t, level.InventoryItem.InventoryLevel != nil, "not stocked at our location after the save")
	var moved map[string]struct {
		UserErrors []map[string]any `json:"userErrors"`
	}
	b.gql(`mutation Move($item: ID!, $level: ID!) {
  inventoryActivate(inventoryItemId: $item, locationId: "gid://shopify/Location/1") @idempotent(key: "merchant-move") { userErrors { message } }
  inventoryDeactivate(inventoryLevelId: $level) { userErrors { message } }
}`, map[string]any{"item": item, "level": level.InventoryItem.InventoryLevel.ID}, &moved)
	for field, p := range moved {
		mustf(t, len(p.UserErrors) == 0, "merchant's %s refused: %v", field, p.UserErrors)
	}
	if got, ok := b.productByHandle(handle).Variants.Nodes[0].available()[ours]; ok {
		t.Fatalf("still stocked at our location (%d available)", got)
	}

	_, op = b.update(ev.ID, engine.EventInput{Name: ptr("Moved, renamed")})
	b.completed(op.ID)
	if n := b.callsOf("mutation InventoryActivate("); n != 1 {
		t.Errorf("inventoryActivate sent %d times, want 1", n)
	}
	if got := b.productByHandle(handle).Variants.Nodes[0].available(); got[ours] != 5 {
		t.Errorf("available by location = %v, want 5 at ours (%s)", got, ours)
	}
}

// A set-up that did not remember the online store (a shop that had no
// online store channel then, or a set-up made before eventops remembered
// it) is completed by the next save's publish phase, which looks the
// channel up, publishes, and remembers it.
func TestPublishFindsTheOnlineStoreLate(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	_, op := b.create(b.input("First", nil, regType{"A", 1000, ptr(5)}))
	b.completed(op.ID)
	want := b.setupOf().PublicationID
	err := b.db.Update(context.Background(), func(tx engine.Tx) error {
		c, err := tx.Company(b.company.ID)
		if err != nil {
			return err
		}
		c.Shop.Setup.PublicationID = ""
		return tx.PutCompany(c)
	})
	if err != nil {
		t.Fatal(err)
	}

	ev, op := b.create(b.input("Second", nil, regType{"A", 1000, ptr(5)}))
	b.completed(op.ID)
	if n := b.callsOf("query Publications {"); n != 1 {
		t.Errorf("publications looked up %d times, want 1", n)
	}
	if got := b.setupOf().PublicationID; got != want {
		t.Errorf("remembered publication = %q, want %q", got, want)
	}
	if p := b.productByHandle(b.handleOf(ev.ID)); p == nil || !p.Published {
		t.Errorf("the second event's product is not published: %+v", p)
	}
}
