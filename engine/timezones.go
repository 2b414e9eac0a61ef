package engine

import (
	"sync"
	"time"
)

// Time zones: venues name an IANA zone (validated when the venue is
// written, see VenueInput); events are shown and recurrences expanded in
// it. This is the one cache of loaded zones in the tree (web and the
// Shopify work use it too).

var locations sync.Map // zone name → *time.Location

// LoadLocation is time.LoadLocation with a cache (loading reads the zone
// database each time). An unknown zone is UTC, and so is "Local": it names
// the server's own zone, not one a venue can be in (venues refuse it), so a
// stored name never depends on where the server runs.
func LoadLocation(name string) *time.Location {
	if l, ok := locations.Load(name); ok {
		return l.(*time.Location)
	}
	loc, err := time.LoadLocation(name)
	if err != nil || name == "Local" {
		loc = time.UTC
	}
	locations.Store(name, loc)
	return loc
}

// KnownTimeZone reports whether name is an IANA zone a venue may be in:
// one the zone database knows, and not "" nor "Local" (which time accepts
// as UTC and the server's zone). It does not fill the cache: the names it
// checks come from clients.
func KnownTimeZone(name string) bool {
	if name == "" || name == "Local" {
		return false
	}
	_, err := time.LoadLocation(name)
	return err == nil
}
