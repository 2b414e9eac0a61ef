package views

import (
	"time"

	"eventops/engine"
)

// Event times are the venue's: an event starts at 19:00 where it happens,
// whoever looks. venueWhen shows t in the first known venue's zone, the zone
// named (its abbreviation, and the IANA name where the abbreviation is only
// an offset); UTC, named, when no venue or zone is known. Operation times,
// which happen on the server, are shown in the browser's zone instead (see
// LocalTime and static/js/conn.js).
func venueWhen(t time.Time, venues ...*engine.Venue) string {
	if t.IsZero() {
		return "—"
	}
	for _, v := range venues {
		if v == nil || v.TimeZone == "" {
			continue
		}
		loc, err := time.LoadLocation(v.TimeZone)
		if err != nil {
			break
		}
		lt := t.In(loc)
		s := lt.Format("2006-01-02 15:04 MST")
		if abbr := lt.Format("MST"); abbr != "" && (abbr[0] == '+' || abbr[0] == '-') {
			s += " (" + v.TimeZone + ")"
		}
		return s
	}
	return t.UTC().Format("2006-01-02 15:04") + " UTC"
}
