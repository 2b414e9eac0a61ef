package engine

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
)

// Money is an amount in the currency's minor unit (ISO 4217): cents for
// USD, yen for JPY, ten-thousandths for CLF.
//
// This file is the one money codec of eventops: every conversion between
// minor units and decimal strings (the API's "decimal", the dashboard, the
// prices written into a shop, the amounts read from a shop's webhooks, the
// import CLI) goes through Decimal and ParseDecimal, so that they all follow
// one rule: a decimal string has exactly the currency's ISO 4217 digits
// ("25.00" USD, "5000" JPY, "1.2340" CLF), computed on integers, never on
// floating point.
type Money struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

// CurrencyDigits is the number of decimals of a currency's minor unit (2
// for USD, 0 for JPY, 3 for KWD, 4 for CLF); ok is false for a code that
// is not an accepted ISO 4217 currency (see money_iso4217.go). Codes are
// upper case, as ISO writes them.
func CurrencyDigits(code string) (digits int, ok bool) {
	d, ok := iso4217Digits[code]
	return d, ok
}

// Currencies is the number of accepted currency codes.
func Currencies() int { return len(iso4217Digits) }

// ErrCurrency is returned for a currency code outside the ISO 4217 table.
var ErrCurrency = errors.New("is not an ISO 4217 currency code")

// Decimal is the amount in major units as an exact decimal string with
// exactly the currency's digits: 2500 USD is "25.00", 5000 JPY is "5000",
// 12340 CLF is "1.2340", -5 USD is "-0.05". A currency outside the table
// is an error (validation never lets one in).
func (m Money) Decimal() (string, error) {
	digits, ok := CurrencyDigits(m.Currency)
	if !ok {
		return "", fmt.Errorf("currency %q %w", m.Currency, ErrCurrency)
	}
	return decimal(m.Amount, digits), nil
}

// String is m for people and logs: "25.00 USD", "5000 JPY". An amount in
// a currency outside the table is shown in minor units with a warning
// word, never with guessed decimals: "2500 minor units of ABC".
func (m Money) String() string {
	d, err := m.Decimal()
	if err != nil {
		return strconv.FormatInt(m.Amount, 10) + " minor units of " + m.Currency
	}
	return d + " " + m.Currency
}

// decimal writes amount minor units with digits decimals.
func decimal(amount int64, digits int) string {
	// Through uint64 so that the most negative int64 has an absolute value.
	u := uint64(amount)
	sign := ""
	if amount < 0 {
		u, sign = -u, "-"
	}
	s := strconv.FormatUint(u, 10)
	if digits == 0 {
		return sign + s
	}
	if len(s) <= digits {
		s = strings.Repeat("0", digits-len(s)+1) + s
	}
	return sign + s[:len(s)-digits] + "." + s[len(s)-digits:]
}

// DecimalError says why a decimal string was refused; its text completes a
// sentence about the value, which callers put before it ("25.001": has 3
// decimals; USD has 2).
type DecimalError struct{ Reason string }

func (e *DecimalError) Error() string { return e.Reason }

// ParseDecimal reads a decimal amount in major units into minor units,
// exactly and strictly: an optional "-", digits, and optionally "." with
// one or more digits, at most as many as the currency has ("25", "25.5",
// "25.50" for USD; "5000" for JPY; "1.234" or "1.2340" for CLF). Refused,
// with a *DecimalError: more decimals than the currency holds ("25.001"
// USD, "5000.00" JPY: the digits of a price are the currency's, a wrong
// count is a wrong currency or a typo), thousands separators, exponents,
// spaces, "+", a missing whole part (".5"), and amounts beyond 2^53 minor
// units (the largest integer every JSON client reads exactly). An unknown
// currency is ErrCurrency.
func ParseDecimal(s, currency string) (Money, error) {
	return parseDecimal(s, currency, false)
}

// ParseShopDecimal is ParseDecimal for amounts another system wrote with a
// fixed number of decimals for every currency (Shopify's webhook payloads
// write "5000.00" for yen): decimals beyond the currency's are accepted
// when they are zeros, since the value is still exact; any other digit
// there is refused, never rounded.
func ParseShopDecimal(s, currency string) (Money, error) {
	return parseDecimal(s, currency, true)
}

// MaxAmount is the largest amount, in minor units, that ParseDecimal
// accepts: 2^53, beyond which JSON clients in JavaScript lose digits.
const MaxAmount = 1 << 53

func parseDecimal(s, currency string, zeroPadded bool) (Money, error) {
	digits, ok := CurrencyDigits(currency)
	if !ok {
		return Money{}, fmt.Errorf("currency %q %w", currency, ErrCurrency)
	}
	neg := strings.HasPrefix(s, "-")
	body := strings.TrimPrefix(s, "-")
	whole, frac, dot := strings.Cut(body, ".")
	if whole == "" || !allDigits(whole) || (dot && (frac == "" || !allDigits(frac))) {
		return Money{}, &DecimalError{"is not a decimal amount such as 25.00 (digits, at most one point, no separators)"}
	}
	if len(frac) > digits {
		if !zeroPadded || strings.Trim(frac[digits:], "0") != "" {
			return Money{}, &DecimalError{fmt.Sprintf("has %d decimals; %s has %d", len(frac), currency, digits)}
		}
		frac = frac[:digits]
	}
	n, err := strconv.ParseUint(whole+frac+strings.Repeat("0", digits-len(frac)), 10, 64)
	if err != nil || n > MaxAmount {
		return Money{}, &DecimalError{"is too large"}
	}
	amount := int64(n)
	if neg {
		amount = -amount
	}
	return Money{Amount: amount, Currency: currency}, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// scaleAmount is amount × num / den, rounded toward zero, exact for every
// amount and count an order holds: the product is taken in 128 bits, so a
// split of a large order never overflows (amount ≥ 0, 0 ≤ num ≤ den, den > 0).
func scaleAmount(amount int64, num, den int) int64 {
	if amount <= 0 || num <= 0 || den <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(amount), uint64(num))
	q, _ := bits.Div64(hi, lo, uint64(den))
	return int64(q)
}

// timesQuantity is amount × quantity, saturating at math.MaxInt64 rather
// than wrapping: a shop line's count is the shop's, not ours to cap
// (amount ≥ 0, quantity ≥ 0).
func timesQuantity(amount int64, quantity int) int64 {
	if amount <= 0 || quantity <= 0 {
		return 0
	}
	if amount > math.MaxInt64/int64(quantity) {
		return math.MaxInt64
	}
	return amount * int64(quantity)
}
