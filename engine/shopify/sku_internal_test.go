package shopify

import "testing"

// The SKU the catalog phase writes reads back as its ids, whatever the shop
// or a merchant did around it; anything else is not ours.
func TestSKU(t *testing.T) {
	if got := sku(71390, 7); got != "eventops-71390-7" {
		t.Errorf("sku(71390, 7) = %q", got)
	}
	tests := []struct {
		in      string
		occ, rt uint64
		ok      bool
	}{
		{sku(71390, 7), 71390, 7, true},
		{"eventops-1-2", 1, 2, true},
		{" eventops-1-2\t", 1, 2, true}, // blanks a merchant's edit left
		{"eventops-18446744073709551615-1", 18446744073709551615, 1, true},
		{"", 0, 0, false},
		{"eventops-1", 0, 0, false},
		{"eventops-1-", 0, 0, false},
		{"eventops--2", 0, 0, false},
		{"other-1-2", 0, 0, false},
		{"t-shirt", 0, 0, false},
		{"eventops-a-2", 0, 0, false},
		{"eventops-1-2-3", 0, 0, false},
		{"eventops-0-2", 0, 0, false}, // no event has id 0
		{"eventops-1-0", 0, 0, false}, // nor a registration type
		{"eventops--1-2", 0, 0, false},
		{"eventops-+1-2", 0, 0, false},
		{"eventops-18446744073709551616-1", 0, 0, false},
		{"EVENTOPS-1-2", 0, 0, false},
	}
	for _, tc := range tests {
		occ, rt, ok := parseSKU(tc.in)
		if occ != tc.occ || rt != tc.rt || ok != tc.ok {
			t.Errorf("parseSKU(%q) = %d, %d, %v; want %d, %d, %v", tc.in, occ, rt, ok, tc.occ, tc.rt, tc.ok)
		}
	}
}
