package shopify

import "testing"

// The SKU the catalog phase writes reads back as its ids, whatever the shop
// or a merchant did around it; anything else is not ours.
func TestSKU(t *testing.T) {
	if got := sku(71390, 7); got != "eventops-71390-7" {
		t.Errorf("sku(71390, 7) = %q", got)
	}
	if got := skuOf("ab2c7xyz", 71390, 7); got != "eventops-ab2c7xyz-71390-7" {
		t.Errorf("skuOf(ab2c7xyz, 71390, 7) = %q", got)
	}
	tests := []struct {
		in      string
		inst    string
		occ, rt uint64
		ok      bool
	}{
		{sku(71390, 7), "", 71390, 7, true},
		{skuOf("ab2c7xyz", 71390, 7), "ab2c7xyz", 71390, 7, true},
		{"eventops-22222222-1-2", "22222222", 1, 2, true}, // an all-digit id
		{" eventops-ab2c7xyz-1-2 ", "ab2c7xyz", 1, 2, true},
		{"eventops-ab2c7xy-1-2", "", 0, 0, false},   // 7 characters
		{"eventops-ab2c7xyzz-1-2", "", 0, 0, false}, // 9
		{"eventops-Ab2c7xyz-1-2", "", 0, 0, false},  // not lowercase
		{"eventops-ab2c8xyz-1-2", "", 0, 0, false},  // 8 is not base32
		{"eventops-ab2c7xyz-0-2", "", 0, 0, false},
		{"eventops-ab2c7xyz-1", "", 0, 0, false},
		{"eventops-ab2c7xyz-1-2-3", "", 0, 0, false},
		{"eventops-1-2", "", 1, 2, true},
		{" eventops-1-2\t", "", 1, 2, true}, // blanks a merchant's edit left
		{"eventops-18446744073709551615-1", "", 18446744073709551615, 1, true},
		{"", "", 0, 0, false},
		{"eventops-1", "", 0, 0, false},
		{"eventops-1-", "", 0, 0, false},
		{"eventops--2", "", 0, 0, false},
		{"other-1-2", "", 0, 0, false},
		{"t-shirt", "", 0, 0, false},
		{"eventops-a-2", "", 0, 0, false},
		{"eventops-1-2-3", "", 0, 0, false},
		{"eventops-0-2", "", 0, 0, false}, // no event has id 0
		{"eventops-1-0", "", 0, 0, false}, // nor a registration type
		{"eventops--1-2", "", 0, 0, false},
		{"eventops-+1-2", "", 0, 0, false},
		{"eventops-18446744073709551616-1", "", 0, 0, false},
		{"EVENTOPS-1-2", "", 0, 0, false},
	}
	for _, tc := range tests {
		occ, rt, ok := parseSKU(tc.in)
		if occ != tc.occ || rt != tc.rt || ok != tc.ok {
			t.Errorf("parseSKU(%q) = %d, %d, %v; want %d, %d, %v", tc.in, occ, rt, ok, tc.occ, tc.rt, tc.ok)
		}
		inst, occ, rt, ok := parseSKUOf(tc.in)
		if inst != tc.inst || occ != tc.occ || rt != tc.rt || ok != tc.ok {
			t.Errorf("parseSKUOf(%q) = %q, %d, %d, %v; want %q, %d, %d, %v", tc.in, inst, occ, rt, ok, tc.inst, tc.occ, tc.rt, tc.ok)
		}
	}
}
