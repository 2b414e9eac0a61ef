package engine_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"eventops/engine"
)

// A product title fits Shopify's 255 characters whatever the names, keeps
// the occurrence's date whole, and is untouched when it fits.
func TestProductTitle(t *testing.T) {
	long := strings.Repeat("é", engine.MaxNameLen) // 2 bytes each: counted in characters
	date := "Sat 5 Dec 2026 19:00"
	tests := []struct {
		name, date, typ string
		want            string // "" checks only the length and the parts kept
	}{
		{"Jazz Night", "", "", "Jazz Night"},
		{"Jazz Night", date, "", "Jazz Night — " + date},
		{"Jazz Night", date, "VIP", "Jazz Night — " + date + " — VIP"},
		{long, date, "", long + " — " + date}, // 223 characters: fits
		{long, date, long, ""},
		{long, "", long, ""},
		{"Jazz Night", date, long, "Jazz Night — " + date + " — " + long}, // 236: fits
	}
	for _, tc := range tests {
		got := engine.ProductTitle(tc.name, tc.date, tc.typ)
		if n := utf8.RuneCountInString(got); n > engine.MaxShopTitleLen {
			t.Errorf("ProductTitle(%d, %q, %d chars) has %d characters", len(tc.name), tc.date, len(tc.typ), n)
		}
		if tc.want != "" && got != tc.want {
			t.Errorf("ProductTitle(%q, %q, %q) = %q, want %q", tc.name, tc.date, tc.typ, got, tc.want)
		}
		if tc.date != "" && !strings.Contains(got, " — "+tc.date) {
			t.Errorf("ProductTitle lost the date: %q", got)
		}
		if tc.typ != "" && !strings.HasPrefix(got, string([]rune(tc.name)[:min(40, utf8.RuneCountInString(tc.name))])) {
			t.Errorf("ProductTitle lost the event's name: %q", got)
		}
	}
}

// Handles are within Shopify's 255 characters by construction.
func TestProductHandleLength(t *testing.T) {
	h := engine.ProductHandle("abcdefgh", ^uint64(0), ^uint64(0))
	if h != "eventops-abcdefgh-18446744073709551615-18446744073709551615" || len(h) > engine.MaxShopHandleLen {
		t.Errorf("ProductHandle = %q (%d)", h, len(h))
	}
}
