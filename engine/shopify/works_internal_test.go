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
