package engine

// currencyDigits is the ISO 4217 minor unit of the currencies we accept.
var currencyDigits = map[string]int{
	"AED": 2, "ARS": 2, "AUD": 2, "BGN": 2, "BHD": 3, "BRL": 2, "CAD": 2, "CHF": 2, "CLP": 0,
	"CNY": 2, "COP": 2, "CZK": 2, "DKK": 2, "EGP": 2, "EUR": 2, "GBP": 2, "HKD": 2, "HUF": 2,
	"IDR": 2, "ILS": 2, "INR": 2, "ISK": 0, "JOD": 3, "JPY": 0, "KRW": 0, "KWD": 3, "MXN": 2,
	"MYR": 2, "NOK": 2, "NZD": 2, "OMR": 3, "PHP": 2, "PLN": 2, "QAR": 2, "RON": 2, "SAR": 2,
	"SEK": 2, "SGD": 2, "THB": 2, "TND": 3, "TRY": 2, "TWD": 2, "UAH": 2, "USD": 2, "VND": 0,
	"ZAR": 2,
}

// CurrencyDigits is the number of decimals of a currency's minor unit (2 for
// USD, 0 for JPY); ok is false for a currency we do not accept.
func CurrencyDigits(code string) (digits int, ok bool) {
	d, ok := currencyDigits[code]
	return d, ok
}
