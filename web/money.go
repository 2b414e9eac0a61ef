package web

import (
	"strings"

	"eventops/engine"
)

// moneyJSON is a price as the API shows it: amount in the currency's minor
// unit (ISO 4217: cents for USD, yen for JPY), decimal as an exact string in
// major units, and formatted for people (en-US conventions: symbol, grouped
// thousands).
type moneyJSON struct {
	Amount    int64  `json:"amount"`
	Currency  string `json:"currency"`
	Decimal   string `json:"decimal"`
	Formatted string `json:"formatted"`
}

// currencySymbols are the symbols of the accepted currencies whose symbol
// is unambiguous in en-US text; the others are written with their code.
var currencySymbols = map[string]string{
	"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CAD": "CA$", "AUD": "A$", "NZD": "NZ$",
	"MXN": "MX$", "HKD": "HK$", "SGD": "S$", "BRL": "R$", "INR": "₹", "KRW": "₩", "CNY": "CN¥",
	"ILS": "₪", "TWD": "NT$", "VND": "₫", "PHP": "₱", "THB": "฿", "UAH": "₴", "TRY": "₺", "PLN": "zł",
}

// money is the API's view of m. The decimal comes from the engine's codec
// (engine.Money.Decimal: exactly the currency's ISO 4217 digits); an
// amount in a currency outside the table, which validation never lets in,
// shows an empty decimal and its amount in minor units rather than
// guessed decimals.
func money(m engine.Money) moneyJSON {
	dec, err := m.Decimal()
	if err != nil {
		return moneyJSON{Amount: m.Amount, Currency: m.Currency, Formatted: m.String()}
	}
	sign, abs := "", dec
	if strings.HasPrefix(dec, "-") {
		sign, abs = "-", dec[1:]
	}
	grouped := groupThousands(abs)
	var f string
	if sym, ok := currencySymbols[m.Currency]; ok {
		f = sign + sym + grouped
	} else {
		f = sign + m.Currency + " " + grouped
	}
	return moneyJSON{Amount: m.Amount, Currency: m.Currency, Decimal: dec, Formatted: f}
}

func groupThousands(dec string) string {
	whole, frac, hasFrac := strings.Cut(dec, ".")
	var b strings.Builder
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if hasFrac {
		b.WriteByte('.')
		b.WriteString(frac)
	}
	return b.String()
}
