package shopify

import "testing"

// Global ids are built as the GraphQL Admin API writes them, from a REST
// payload's gid when it has one, else from its number; no number is no id.
func TestGlobalIDs(t *testing.T) {
	tests := []struct {
		name     string
		gid, typ string
		id       int64
		want     string
	}{
		{"from the number", "", "Order", 450789469, "gid://shopify/Order/450789469"},
		{"the payload's gid wins", "gid://shopify/LineItem/9", "LineItem", 1, "gid://shopify/LineItem/9"},
		{"a gid without a number", "gid://shopify/Refund/5", "Refund", 0, "gid://shopify/Refund/5"},
		{"no gid, no number", "", "Order", 0, ""},
		{"a variant", "", "ProductVariant", 77, "gid://shopify/ProductVariant/77"},
	}
	for _, tc := range tests {
		if got := gidOr(tc.gid, tc.typ, tc.id); got != tc.want {
			t.Errorf("%s: gidOr(%q, %q, %d) = %q, want %q", tc.name, tc.gid, tc.typ, tc.id, got, tc.want)
		}
	}
	if got := globalID("eventops", "Operation", "12"); got != "gid://eventops/Operation/12" {
		t.Errorf("our own global id = %q", got)
	}
}
