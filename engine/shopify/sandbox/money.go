package sandbox

import (
	"fmt"
	"strconv"
	"strings"
)

// Money in the sandbox. Every shop has one currency (Shopify's
// shop { currencyCode }: USD unless the shop was created with another);
// prices, order totals and refunds are held as integers in that
// currency's minor unit (the *Cents fields of the model are minor units:
// yen for a JPY shop). A price is refused when it has more decimals than
// the shop's currency holds ("5000.00" or "25.5" for yen), as a userError:
// a shop never rounds a price it was sent. Orders also carry the currency
// presented to the buyer and what they paid in it.
//
// The sandbox stands in for Shopify and imports nothing of eventops, so it
// keeps its own table: the codes of Shopify's CurrencyCode enum (see
// schema.graphql) with their decimals.

// DefaultCurrency is the currency of a shop created without one.
const DefaultCurrency = "USD"

// shopCurrencies are the codes of Shopify's CurrencyCode enum (Admin API
// 2026-04) a shop can sell in, each with 2 decimals unless listed in
// zeroDecimal or threeDecimal.
var shopCurrencies = strings.Fields(`
	USD EUR GBP CAD AFN ALL DZD AOA ARS AMD AWG AUD BBD AZN BDT BSD BHD BIF BYN BZD BMD BTN BAM BRL
	BOB BWP BND BGN MMK KHR CVE KYD XAF CLP CNY COP KMF CDF CRC HRK CZK DKK DJF DOP XCD EGP ERN ETB
	FKP XPF FJD GIP GMD GHS GTQ GYD GEL GNF HTG HNL HKD HUF ISK INR IDR ILS IRR IQD JMD JPY JEP JOD
	KZT KES KID KWD KGS LAK LVL LBP LSL LRD LYD LTL MGA MKD MOP MWK MVR MRU MXN MYR MUR MDL MAD MNT
	MZN NAD NPR ANG NZD NIO NGN NOK OMR PAB PKR PGK PYG PEN PHP PLN QAR RON RUB RWF WST SHP SAR RSD
	SCR SLL SGD SDG SOS SYP ZAR KRW SSP SBD LKR SRD SZL SEK CHF TWD THB TJS TZS TOP TTD TND TRY TMT
	UGX UAH AED UYU UZS VUV VES VND XOF YER ZMW BYR STD STN VED VEF`)

var (
	zeroDecimal    = strings.Fields("BIF BYR CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF")
	threeDecimal   = strings.Fields("BHD IQD JOD KWD LYD OMR TND")
	currencyDigits = func() map[string]int {
		m := make(map[string]int, len(shopCurrencies))
		for _, c := range shopCurrencies {
			m[c] = 2
		}
		for _, c := range zeroDecimal {
			m[c] = 0
		}
		for _, c := range threeDecimal {
			m[c] = 3
		}
		return m
	}()
)

// digitsOf is the number of decimals of a currency the sandbox knows; 2 for
// one it does not (only reachable from a data file edited by hand).
func digitsOf(currency string) int {
	if d, ok := currencyDigits[currency]; ok {
		return d
	}
	return 2
}

// validCurrency reports whether a shop can sell in the code.
func validCurrency(code string) bool {
	_, ok := currencyDigits[code]
	return ok
}

// parseMoney reads a decimal amount ("25", "25.5", "25.00") in currency
// into its minor unit. It refuses (with the message of a userError) a
// value that is not a plain decimal, and one with more decimals than the
// currency holds.
func parseMoney(v any, currency string) (int64, string) {
	var s string
	switch t := v.(type) {
	case string:
		s = strings.TrimSpace(t)
	case float64:
		s = strconv.FormatFloat(t, 'f', -1, 64)
	case int64:
		s = strconv.FormatInt(t, 10)
	case int:
		s = strconv.Itoa(t)
	default:
		return 0, "is invalid"
	}
	digits := digitsOf(currency)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" {
		whole = "0"
	}
	if strings.Trim(whole+frac, "0123456789") != "" {
		return 0, "is invalid"
	}
	if len(frac) > digits {
		return 0, fmt.Sprintf("has more decimals than %s allows (%d)", currency, digits)
	}
	frac += strings.Repeat("0", digits-len(frac))
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil || n > 1e15 {
		return 0, "is too large"
	}
	if neg {
		n = -n
	}
	return n, ""
}

// formatMoney writes minor units of currency with its decimals, as
// Shopify's Money and Decimal scalars do: "25.00", "5000" for yen.
func formatMoney(minor int64, currency string) string {
	digits := digitsOf(currency)
	sign := ""
	if minor < 0 {
		sign, minor = "-", -minor
	}
	s := strconv.FormatInt(minor, 10)
	if digits == 0 {
		return sign + s
	}
	if len(s) <= digits {
		s = strings.Repeat("0", digits-len(s)+1) + s
	}
	return sign + s[:len(s)-digits] + "." + s[len(s)-digits:]
}

// presentment converts an amount in the shop's currency of order o into
// the buyer's presentment currency, at the order's own rate (its
// presentment total over its shop total), rounding down.
func (o *order) presentment(shopMinor int64) int64 {
	shop, pres := o.totalCents(), o.presentmentTotal()
	if o.presentmentCurrency() == o.Currency || shop == 0 {
		return shopMinor
	}
	return shopMinor * pres / shop
}

func (o *order) presentmentCurrency() string {
	if o.PresentmentCurrency == "" {
		return o.Currency
	}
	return o.PresentmentCurrency
}

func (o *order) presentmentTotal() int64 {
	var t int64
	for _, l := range o.Lines {
		t += l.presentmentPrice() * l.Quantity
	}
	return t
}

// presentmentPrice is the unit price the buyer paid in the presentment
// currency.
func (l *lineItem) presentmentPrice() int64 {
	if l.PresentmentCents == nil {
		return l.PriceCents
	}
	return *l.PresentmentCents
}
