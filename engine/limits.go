package engine

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits of a write (static/docs/api.md, "Limits"). Each is checked before anything is
// stored: a write over a limit answers a validation error and changes
// nothing.
const (
	// MaxNameLen is the longest name (events, registration types, venues,
	// ticket types, companies, API keys), in characters (runes), not bytes.
	MaxNameLen = 200
	// MaxSlugLen is the longest slug, in characters.
	MaxSlugLen = 200
	// MaxKindLen is the longest ticket type kind, in characters.
	MaxKindLen = 50

	// MinYear and MaxYear bound every date a write sends or a rule yields
	// (starts_at, ends_at, published_at, recurrence until, occurrences):
	// from 1970-01-01T00:00:00Z to 2199-12-31T23:59:59Z. Nothing an event
	// platform sells lies outside, and inside it every date has an RFC 3339
	// form and a Unix time that every client can hold.
	MinYear = 1970
	MaxYear = 2199

	// MaxTicketRecords caps occurrences × registration types of one event:
	// each pair is a record the tickets phase writes (and, for a shop
	// company, a variant the catalog phase mirrors), so a 25 KB request
	// could otherwise write 125,000 records.
	MaxTicketRecords = 5000
	// MaxShopVariants is the most variants a product of a shop company
	// holds: Shopify's input lists take at most 250 items. A product per
	// event or occurrence holds a variant per registration type, unless
	// split_products gives each type its own product.
	MaxShopVariants = 250

	// MaxQuantity bounds a capacity, a registration type's quantity and an
	// order's quantity: a million seats per occurrence is beyond any venue,
	// and with MaxPriceAmount it keeps an order's amount (price ×
	// quantity) within int64 (10^12 × 10^6 = 10^18 < 9.2 × 10^18).
	MaxQuantity = 1_000_000
	// MaxPriceAmount bounds a price, in minor units (10 billion dollars,
	// 10^12 yen): beyond it an amount could overflow once multiplied.
	MaxPriceAmount = 1_000_000_000_000
)

var (
	minTime = time.Date(MinYear, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(MaxYear+1, 1, 1, 0, 0, 0, 0, time.UTC) // exclusive
)

// CheckName validates a required name (already trimmed): not blank, and
// CheckText with MaxNameLen. Every name the engine stores passes it, and
// clients that check before sending (the import's dry run) call it too.
func CheckName(attr, name string) []FieldError {
	if name == "" {
		return []FieldError{{Attribute: attr, Code: "blank", Message: "can't be blank"}}
	}
	return CheckText(attr, name, MaxNameLen)
}

// CheckTimeZone validates a required time zone name (already trimmed), a
// venue's time_zone: an IANA name such as America/Chicago. "Local" is
// refused: it names the server's own zone, which is no venue's.
func CheckTimeZone(attr, tz string) []FieldError {
	if tz == "" {
		return []FieldError{{Attribute: attr, Code: "blank", Message: "can't be blank"}}
	}
	if fe := CheckText(attr, tz, MaxNameLen); fe != nil {
		return fe
	}
	if !KnownTimeZone(tz) {
		return []FieldError{{Attribute: attr, Code: "invalid", Message: "is not an IANA time zone"}}
	}
	return nil
}

// CheckText validates a single-line text attribute: valid UTF-8, no control
// characters (tabs and line breaks included: every text attribute is one
// line), no U+FFFD (what a JSON decoder leaves of invalid UTF-8 or a lone
// surrogate escape, so a name never silently holds it), and at most max
// characters. An empty s is fine here; callers that need a value say so.
func CheckText(attr, s string, max int) []FieldError {
	if !utf8.ValidString(s) {
		return []FieldError{{Attribute: attr, Code: "invalid", Message: "is not valid UTF-8"}}
	}
	for _, r := range s {
		switch {
		case unicode.IsControl(r):
			return []FieldError{{Attribute: attr, Code: "invalid",
				Message: fmt.Sprintf("contains the control character %U", r)}}
		case r == utf8.RuneError:
			return []FieldError{{Attribute: attr, Code: "invalid",
				Message: "contains U+FFFD, the mark of invalid UTF-8"}}
		}
	}
	if utf8.RuneCountInString(s) > max {
		return []FieldError{{Attribute: attr, Code: "too_long",
			Message: fmt.Sprintf("is too long (maximum is %d characters)", max)}}
	}
	return nil
}

// CheckTime refuses a time outside MinYear–MaxYear.
func CheckTime(attr string, t time.Time) []FieldError {
	if t.Before(minTime) || !t.Before(maxTime) {
		return []FieldError{outOfYears(attr)}
	}
	return nil
}

func outOfYears(attr string) FieldError {
	return FieldError{Attribute: attr, Code: "out_of_range",
		Message: fmt.Sprintf("must be between %d-01-01 and %d-12-31 (UTC)", MinYear, MaxYear)}
}

// deriveSlug is the slug of a name or of a slug as sent: Slugify, cut to
// MaxSlugLen characters (lower-casing may lengthen a string). It may be
// empty; CreateEvent then names the event "event-<id>".
func deriveSlug(s string) string {
	slug := Slugify(s)
	if utf8.RuneCountInString(slug) <= MaxSlugLen {
		return slug
	}
	r := []rune(slug)[:MaxSlugLen]
	return strings.TrimRight(string(r), "-")
}

// fallbackSlug names an event whose name has no letters or digits.
func fallbackSlug(id uint64) string { return fmt.Sprintf("event-%d", id) }

// CheckFanOut refuses an event whose occurrences × registration types
// exceed MaxTicketRecords, and, for a shop company, a product of more than
// MaxShopVariants variants. occurrences is how many the rule yields (1 for
// a date event). The zero Company is one without a shop, so a client that
// does not know the company checks the MaxTicketRecords limit alone.
func CheckFanOut(c *Company, ev *Event, occurrences int) []FieldError {
	types := len(ev.RegistrationTypes)
	if c.Shopify() && !ev.SplitProducts && types > MaxShopVariants {
		return []FieldError{{Attribute: "registration_types", Code: "limit_exceeded",
			Message: fmt.Sprintf("has %d entries; a shop product holds at most %d variants, one per registration type (set split_products for a product per type)",
				types, MaxShopVariants)}}
	}
	if occurrences*types > MaxTicketRecords {
		return []FieldError{{Attribute: "registration_types", Code: "limit_exceeded",
			Message: fmt.Sprintf("%d occurrences × %d registration types is %d; an event may have at most %d (occurrences × registration types)",
				occurrences, types, occurrences*types, MaxTicketRecords)}}
	}
	return nil
}
