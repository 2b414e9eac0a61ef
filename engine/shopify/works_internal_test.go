package shopify

import (
	"testing"

	"eventops/engine"
)

func TestPriceFromMinorUnits(t *testing.T) {
	tests := []struct {
		m    engine.Money
		want string
	}{
		{engine.Money{Amount: 2500, Currency: "USD"}, "25.00"},
		{engine.Money{Amount: 5, Currency: "USD"}, "0.05"},
		{engine.Money{Amount: 0, Currency: "EUR"}, "0.00"},
		{engine.Money{Amount: 2500, Currency: "JPY"}, "2500"},
		{engine.Money{Amount: 12345, Currency: "KWD"}, "12.345"},
	}
	for _, tc := range tests {
		if got, err := price(tc.m); err != nil || got != tc.want {
			t.Errorf("price(%+v) = %q, %v; want %q", tc.m, got, err, tc.want)
		}
	}
	if _, err := price(engine.Money{Amount: 1, Currency: "XXX"}); err == nil {
		t.Errorf("an unknown currency was accepted")
	}
}

func TestSKURoundTrip(t *testing.T) {
	occ, rt, ok := parseSKU(sku(71390, 7))
	if !ok || occ != 71390 || rt != 7 {
		t.Errorf("parseSKU(sku(71390, 7)) = %d, %d, %v", occ, rt, ok)
	}
	for _, bad := range []string{"", "eventops-1", "other-1-2", "eventops-a-2"} {
		if _, _, ok := parseSKU(bad); ok {
			t.Errorf("parseSKU(%q) accepted", bad)
		}
	}
}

// Keys are stable for the same parts (a resumed phase re-sends the same
// key) and differ otherwise; they look like UUIDs.
func TestIdempotencyKeys(t *testing.T) {
	a, b := idemKey("refund", uint64(12), "gid://shopify/Order/1"), idemKey("refund", uint64(12), "gid://shopify/Order/1")
	if a != b || len(a) != 36 || a[14] != '5' {
		t.Errorf("keys %q, %q", a, b)
	}
	if idemKey("refund", uint64(12), "gid://shopify/Order/2") == a || idemKey("refund", uint64(13), "gid://shopify/Order/1") == a {
		t.Errorf("different parts gave the same key")
	}
}
