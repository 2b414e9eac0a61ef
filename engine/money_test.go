package engine_test

import (
	"errors"
	"math"
	"testing"

	"eventops/engine"
)

// The ISO 4217 minor units of currencies whose digits are easy to get
// wrong (CLDR rounding, which x/text follows, differs for several of them),
// and currencies a shop may well sell in that a short table left out.
func TestCurrencyDigitsFollowISO4217(t *testing.T) {
	for code, want := range map[string]int{
		"JPY": 0, "KRW": 0, "CLP": 0, "XOF": 0, "XAF": 0, "XPF": 0, "UGX": 0,
		"USD": 2, "EUR": 2, "PKR": 2, "COP": 2, "IDR": 2, "NGN": 2, "KES": 2, "PEN": 2, "MAD": 2, "XCD": 2,
		"IQD": 3, "KWD": 3, "BHD": 3, "TND": 3,
		"CLF": 4, "UYW": 4,
	} {
		got, ok := engine.CurrencyDigits(code)
		if !ok || got != want {
			t.Errorf("CurrencyDigits(%s) = %d, %v; want %d, true", code, got, ok, want)
		}
	}
	// Precious metals, test and "no currency" codes, special drawing
	// rights: no price is in them. Lower case is not a code.
	for _, code := range []string{"XAU", "XAG", "XPT", "XPD", "XTS", "XXX", "XDR", "XSU", "XUA", "XBA", "usd", "", "US", "USDC"} {
		if d, ok := engine.CurrencyDigits(code); ok {
			t.Errorf("CurrencyDigits(%q) = %d, true; want it refused", code, d)
		}
	}
	if n := engine.Currencies(); n < 150 {
		t.Errorf("%d currencies accepted; ISO 4217 List One has over 150 with a minor unit", n)
	}
}

func TestMoneyDecimalHasExactlyTheCurrencysDigits(t *testing.T) {
	for _, tc := range []struct {
		m    engine.Money
		want string
	}{
		{engine.Money{Amount: 2500, Currency: "USD"}, "25.00"},
		{engine.Money{Amount: 5, Currency: "USD"}, "0.05"},
		{engine.Money{Amount: 0, Currency: "USD"}, "0.00"},
		{engine.Money{Amount: -5, Currency: "USD"}, "-0.05"},
		{engine.Money{Amount: -250, Currency: "EUR"}, "-2.50"},
		{engine.Money{Amount: 5000, Currency: "JPY"}, "5000"},
		{engine.Money{Amount: 0, Currency: "JPY"}, "0"},
		{engine.Money{Amount: 1234, Currency: "KWD"}, "1.234"},
		{engine.Money{Amount: 7, Currency: "IQD"}, "0.007"},
		{engine.Money{Amount: 12340, Currency: "CLF"}, "1.2340"},
		{engine.Money{Amount: 150000, Currency: "PKR"}, "1500.00"},
		{engine.Money{Amount: math.MaxInt64, Currency: "USD"}, "92233720368547758.07"},
		{engine.Money{Amount: math.MinInt64, Currency: "USD"}, "-92233720368547758.08"},
	} {
		got, err := tc.m.Decimal()
		if err != nil || got != tc.want {
			t.Errorf("%d %s: Decimal() = %q, %v; want %q", tc.m.Amount, tc.m.Currency, got, err, tc.want)
		}
	}
	if _, err := (engine.Money{Amount: 1, Currency: "XAU"}).Decimal(); !errors.Is(err, engine.ErrCurrency) {
		t.Errorf("XAU: err = %v; want ErrCurrency", err)
	}
	if s := (engine.Money{Amount: 5000, Currency: "JPY"}).String(); s != "5000 JPY" {
		t.Errorf("String() = %q", s)
	}
	if s := (engine.Money{Amount: 2500, Currency: "ABC"}).String(); s != "2500 minor units of ABC" {
		t.Errorf("String() of an unknown currency = %q", s)
	}
}

func TestParseDecimalIsExactAndStrict(t *testing.T) {
	ok := []struct {
		s, cur string
		want   int64
	}{
		{"25", "USD", 2500}, {"25.5", "USD", 2550}, {"25.50", "USD", 2550}, {"0.05", "USD", 5},
		{"-0.05", "USD", -5}, {"5000", "JPY", 5000}, {"1.234", "KWD", 1234}, {"1.2340", "CLF", 12340},
		{"1.234", "CLF", 12340}, {"0", "XOF", 0}, {"90071992547409.92", "USD", 1 << 53},
		// 0.1 + 0.2 is not 0.3 in floating point; here it is read exactly.
		{"0.30", "USD", 30},
	}
	for _, tc := range ok {
		m, err := engine.ParseDecimal(tc.s, tc.cur)
		if err != nil || m.Amount != tc.want || m.Currency != tc.cur {
			t.Errorf("ParseDecimal(%q, %s) = %+v, %v; want %d", tc.s, tc.cur, m, err, tc.want)
		}
		// Round trip: what Decimal writes, ParseDecimal reads back.
		d, _ := m.Decimal()
		if back, err := engine.ParseDecimal(d, tc.cur); err != nil || back != m {
			t.Errorf("round trip of %+v through %q: %+v, %v", m, d, back, err)
		}
	}
	bad := []struct{ s, cur string }{
		{"25.001", "USD"}, {"5000.00", "JPY"}, {"5000.", "JPY"}, {"1.23401", "CLF"}, {"1,000.00", "USD"},
		{"1e3", "USD"}, {" 25", "USD"}, {"+25", "USD"}, {".5", "USD"}, {"", "USD"}, {"-", "USD"},
		{"25.00 USD", "USD"}, {"0x10", "USD"}, {"90071992547409.93", "USD"}, {"99999999999999999999", "JPY"},
		{"２５", "USD"},
	}
	for _, tc := range bad {
		var de *engine.DecimalError
		if m, err := engine.ParseDecimal(tc.s, tc.cur); !errors.As(err, &de) {
			t.Errorf("ParseDecimal(%q, %s) = %+v, %v; want a DecimalError", tc.s, tc.cur, m, err)
		}
	}
	if _, err := engine.ParseDecimal("25", "XTS"); !errors.Is(err, engine.ErrCurrency) {
		t.Errorf("XTS: err = %v; want ErrCurrency", err)
	}
}

// A shop writes every amount with two decimals, even for yen: zeros past
// the currency's digits are read, any other digit there is refused.
func TestParseShopDecimalAcceptsOnlyZeroPadding(t *testing.T) {
	if m, err := engine.ParseShopDecimal("5000.00", "JPY"); err != nil || m.Amount != 5000 {
		t.Errorf("5000.00 JPY = %+v, %v; want 5000", m, err)
	}
	if m, err := engine.ParseShopDecimal("25.500", "USD"); err != nil || m.Amount != 2550 {
		t.Errorf("25.500 USD = %+v, %v; want 2550", m, err)
	}
	for _, s := range []string{"5000.50", "25.005"} {
		cur := "JPY"
		if s == "25.005" {
			cur = "USD"
		}
		if m, err := engine.ParseShopDecimal(s, cur); err == nil {
			t.Errorf("ParseShopDecimal(%q, %s) = %+v; want it refused, not rounded", s, cur, m)
		}
	}
}

// Splitting an order's amount by quantities is exact and never wraps, even
// for amounts and counts whose product passes int64 (it wrapped negative).
func TestOrderAmountArithmeticNeverWraps(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		amount   int64
		num, den int
		want     int64
	}{
		{1000, 1, 4, 250},
		{999, 1, 2, 499},
		{1 << 53, 1100, 1101, 8999018328987367}, // amount × keep passes 2^63
		{engine.MaxPriceAmount * 9_000_000, 4_500_000, 9_000_000, engine.MaxPriceAmount * 4_500_000},
		{0, 3, 4, 0},
		{500, 0, 4, 0},
	} {
		if got := engine.ScaleAmount(tc.amount, tc.num, tc.den); got != tc.want {
			t.Errorf("%d × %d / %d = %d, want %d", tc.amount, tc.num, tc.den, got, tc.want)
		}
	}
	if got := engine.TimesQuantity(engine.MaxPriceAmount, 10_000_000); got != math.MaxInt64 {
		t.Errorf("10^12 × 10^7 = %d, want saturated at MaxInt64", got)
	}
	if got := engine.TimesQuantity(2500, 4); got != 10000 {
		t.Errorf("2500 × 4 = %d", got)
	}
}
