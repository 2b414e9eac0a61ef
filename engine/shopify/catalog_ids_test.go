package shopify_test

import (
	"net/http"
	"testing"

	"eventops/engine"
)

// Catalog robustness: products are upserted by the id eventops recorded,
// whatever a merchant did to their handles.

// A merchant who edits a product's handle in the shop does not break the
// next save: it updates the same product (no duplicate), by its recorded id.
func TestEditedHandleKeepsTheProduct(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	ev, op := b.create(b.input("Renamed URL", nil, regType{"A", 1000, ptr(5)}))
	b.completed(op.ID)
	before := b.products()
	mustf(t, len(before) == 1, "after the first save: %+v", before)
	b.control(http.MethodPost, "/products/"+numericID(before[0].ID)+"/handle", map[string]string{"handle": "my-own-url"})

	_, op = b.update(ev.ID, engine.EventInput{Name: ptr("Renamed URL, again")})
	done := b.wait(op.ID)
	if done.Status != engine.StatusCompleted {
		t.Fatalf("save after the handle edit: %s", opJSON(done))
	}
	after := b.products()
	if len(after) != 1 || after[0].ID != before[0].ID || after[0].Title != "Renamed URL, again" {
		t.Fatalf("after the save: %+v, want the one product %s", after, before[0].ID)
	}
	if s := b.structure(ev.ID); s.Products[0].ShopifyProductID != before[0].ID {
		t.Errorf("recorded id %s, want %s", s.Products[0].ShopifyProductID, before[0].ID)
	}
}
