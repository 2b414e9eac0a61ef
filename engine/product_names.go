package engine

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Shopify's length limits on what the catalog writes, in characters. A
// product's title, handle and SKUs are built within them (ProductTitle,
// ProductHandle, and the shopify package's SKUs, as long as handles), so
// no save is refused for their length.
const (
	MaxShopTitleLen  = 255
	MaxShopHandleLen = 255
	MaxShopSKULen    = 255
)

// titleSep joins the parts of a product title.
const titleSep = " — "

// ProductTitle is the title of a shop product: the event's name, then the
// occurrence's date (of a recurring event's occurrence, "" otherwise), then
// the registration type's name (of a split product, "" otherwise). Within
// MaxShopTitleLen characters by construction: what is too long is the names
// (each at most MaxNameLen), so the type's name and then the event's are
// shortened, ending in "…", and the date, which tells occurrences apart, is
// always kept whole.
func ProductTitle(name, date, typeName string) string {
	budget := MaxShopTitleLen
	if date != "" {
		budget -= utf8.RuneCountInString(titleSep + date)
	}
	if typeName != "" {
		budget -= utf8.RuneCountInString(titleSep)
		// The event's name keeps at least half of what is left.
		keep := max(budget-utf8.RuneCountInString(name), budget/2)
		typeName = shorten(typeName, keep)
		budget -= utf8.RuneCountInString(typeName)
	}
	parts := []string{shorten(name, budget)}
	if date != "" {
		parts = append(parts, date)
	}
	if typeName != "" {
		parts = append(parts, typeName)
	}
	return strings.Join(parts, titleSep)
}

// shorten cuts s to at most n characters, ending in "…" when cut.
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	r := []rune(s)[:n-1]
	return strings.TrimRight(string(r), " ") + "…"
}

// ProductHandle is the handle of a shop product:
// eventops-{installation}-{event} or, for a split product,
// eventops-{installation}-{event}-{registration type}. At most 59
// characters.
func ProductHandle(installation string, eventID, regTypeID uint64) string {
	h := "eventops-" + installation + "-" + strconv.FormatUint(eventID, 10)
	if regTypeID != 0 {
		h += "-" + strconv.FormatUint(regTypeID, 10)
	}
	return h
}
