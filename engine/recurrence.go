package engine

import (
	"cmp"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"
)

// Recurrence is a recurring event's rule. The event's own starts_at/ends_at
// are the first occurrence; the rule says which local dates follow it.
type Recurrence struct {
	Frequency string   `json:"frequency"`          // "daily" | "weekly" | "monthly"
	Interval  int      `json:"interval,omitempty"` // >= 1; 0 means 1
	ByDay     []string `json:"by_day,omitempty"`   // "MO".."SU"; weekly only
	Count     int      `json:"count,omitempty"`    // number of occurrences, including the first, or
	Until     string   `json:"until,omitempty"`    // "YYYY-MM-DD", inclusive, a local date in the venue's zone
}

// Recurrence frequencies.
const (
	FrequencyDaily   = "daily"
	FrequencyWeekly  = "weekly"
	FrequencyMonthly = "monthly"
)

// MaxOccurrences is the hard cap on the occurrences one rule may yield
// (DESIGN §4.1); beyond it expansion fails with RECURRENCE_LIMIT_EXCEEDED.
const MaxOccurrences = 500

// MaxRecurrenceInterval is the largest interval a rule accepts. It keeps the
// date arithmetic far from overflow; no calendar needs more.
const MaxRecurrenceInterval = 1000

// recurrenceFirstYear and recurrenceLastYear bound the years an occurrence
// may fall in (see MinYear).
const (
	recurrenceFirstYear = MinYear
	recurrenceLastYear  = MaxYear
)

// untilLayout is the format of Recurrence.Until.
const untilLayout = time.DateOnly

// recurrenceWeekdays maps the by_day tokens (RFC 5545 spelling) to weekdays.
var recurrenceWeekdays = map[string]time.Weekday{
	"MO": time.Monday,
	"TU": time.Tuesday,
	"WE": time.Wednesday,
	"TH": time.Thursday,
	"FR": time.Friday,
	"SA": time.Saturday,
	"SU": time.Sunday,
}

// Occurrence is one expanded occurrence, times in UTC.
type Occurrence struct {
	StartsAt time.Time `json:"starts_at"`
	EndsAt   time.Time `json:"ends_at"`
}

// Validate checks the rule alone (not against a first occurrence or a zone).
// It returns nil or an *Error of Kind KindInvalid whose Fields name every
// problem found, with Attribute "recurrence.frequency", "recurrence.interval",
// "recurrence.by_day", "recurrence.count" or "recurrence.until" and Code
// "blank", "invalid" or "out_of_range".
//
// The rules: frequency is daily, weekly or monthly; interval is 0 (meaning 1)
// up to MaxRecurrenceInterval; by_day holds only MO..SU (duplicates are
// harmless) and only with a weekly frequency; exactly one of count (>= 1) and
// until (a real date, YYYY-MM-DD) is set. A count above MaxOccurrences is not a
// validation error: Expand reports it as RECURRENCE_LIMIT_EXCEEDED, the same
// code an until too far away gets.
func (r Recurrence) Validate() error {
	if fields := r.fieldErrors(); len(fields) > 0 {
		return Invalid(fields...)
	}
	return nil
}

func (r Recurrence) fieldErrors() []FieldError {
	var fs []FieldError
	add := func(attr, code, msg string) {
		fs = append(fs, FieldError{Attribute: "recurrence." + attr, Code: code, Message: msg})
	}

	switch r.Frequency {
	case FrequencyDaily, FrequencyWeekly, FrequencyMonthly:
	case "":
		add("frequency", "blank", "can't be blank")
	default:
		add("frequency", "invalid", "must be daily, weekly or monthly")
	}

	switch {
	case r.Interval < 0:
		add("interval", "out_of_range", "must be at least 1")
	case r.Interval > MaxRecurrenceInterval:
		add("interval", "out_of_range", fmt.Sprintf("must be at most %d", MaxRecurrenceInterval))
	}

	if len(r.ByDay) > 0 {
		if r.Frequency != FrequencyWeekly {
			add("by_day", "invalid", "is only allowed with a weekly frequency")
		} else {
			for _, d := range r.ByDay {
				if _, ok := recurrenceWeekdays[d]; !ok {
					add("by_day", "invalid", fmt.Sprintf("has %q; use MO, TU, WE, TH, FR, SA or SU", d))
					break
				}
			}
		}
	}

	if r.Count < 0 {
		add("count", "out_of_range", "must be at least 1")
	}
	if r.Until != "" {
		if u, err := time.Parse(untilLayout, r.Until); err != nil {
			add("until", "invalid", "must be a date formatted YYYY-MM-DD")
		} else if fe := CheckTime("until", u); fe != nil {
			add("until", fe[0].Code, fe[0].Message)
		}
	}
	switch {
	case r.Count != 0 && r.Until != "":
		add("until", "invalid", "cannot be combined with count")
	case r.Count == 0 && r.Until == "":
		add("count", "blank", "count or until is required")
	}
	return fs
}

// Expand lists the occurrences of the rule whose first occurrence is
// firstStart–firstEnd (any zone), computed in loc, the venue's zone. The
// result is in time order and in UTC.
//
// The first occurrence is always firstStart–firstEnd exactly, whatever the
// rule says about its date (a weekly rule whose by_day lacks firstStart's
// weekday still starts there); every later occurrence falls on a later local
// date:
//   - daily: every interval-th day;
//   - weekly without by_day: every interval-th week on firstStart's weekday;
//   - weekly with by_day: those weekdays of every interval-th week, weeks
//     starting on Monday and the week of firstStart being week 0;
//   - monthly: firstStart's day of month every interval months; months lacking
//     that day (the 31st in April, the 29th of February outside leap years)
//     are skipped, not clamped.
//
// Count counts occurrences including the first; Until includes occurrences
// whose local start date is the until date.
//
// Each occurrence keeps the first one's wall-clock times in loc, not its UTC
// times: a weekly 19:00 America/Chicago event is at 19:00 local on both sides
// of a DST change, so its UTC time shifts. Its end is its start's local date
// and time plus the first occurrence's local duration (the wall-clock
// difference between firstEnd and firstStart in loc). A wall time that does not
// exist on a DST day moves forward by the gap, and one that exists twice is its
// first instance (RFC 5545; see wallClockIn); should that put an end at or
// before its start, the end is the start plus the local duration.
//
// Errors are *Error values: CodeRecurrenceRuleInvalid (Kind KindInvalid) for a
// rule that fails Validate, firstEnd not after firstStart, an until date before
// the first occurrence's local date, or occurrences outside the years
// MinYear–MaxYear (those carry a field error with Code "out_of_range");
// CodeRecurrenceLimitExceeded (Kind KindInvalid) when the rule would yield more
// than MaxOccurrences occurrences, by count or by until. A nil loc is a
// programming error and returns a plain error.
func (r Recurrence) Expand(loc *time.Location, firstStart, firstEnd time.Time) ([]Occurrence, error) {
	if loc == nil {
		return nil, errors.New("expand recurrence: nil location")
	}
	if fields := r.fieldErrors(); len(fields) > 0 {
		msgs := make([]string, len(fields))
		for i, f := range fields {
			msgs[i] = f.Attribute + " " + f.Message
		}
		err := recurrenceInvalid("invalid recurrence rule: %s", strings.Join(msgs, "; "))
		err.Fields = fields
		return nil, err
	}
	if !firstEnd.After(firstStart) {
		return nil, recurrenceInvalid("the first occurrence must end after it starts")
	}
	if r.Count > MaxOccurrences {
		return nil, recurrenceLimit("count %d exceeds the limit of %d occurrences", r.Count, MaxOccurrences)
	}

	first := localDateOf(firstStart, loc)
	if firstStart.UTC().Year() < recurrenceFirstYear || firstEnd.UTC().Year() > recurrenceLastYear {
		return nil, recurrenceYears("the first occurrence must fall between the years %d and %d", recurrenceFirstYear, recurrenceLastYear)
	}
	var until time.Time
	if r.Until != "" {
		until, _ = time.Parse(untilLayout, r.Until) // checked by fieldErrors
		if until.Before(first) {
			return nil, recurrenceInvalid("until %s is before the first occurrence on %s", r.Until, first.Format(untilLayout))
		}
	}

	wall := wallClockOf(firstStart, loc)
	dur := wallClockOf(firstEnd, loc).Sub(wall)
	if dur <= 0 {
		// Only on a DST fall-back night (say, 01:50 CDT to 01:10 CST): the
		// wall clock runs backwards, so keep the real duration instead.
		dur = firstEnd.Sub(firstStart)
	}
	at := func(d time.Time) Occurrence {
		startWall := time.Date(d.Year(), d.Month(), d.Day(), wall.Hour(), wall.Minute(), wall.Second(), wall.Nanosecond(), time.UTC)
		endWall := startWall.Add(dur)
		start := wallClockIn(startWall, loc)
		end := wallClockIn(endWall, loc)
		if !end.After(start) {
			end = start.Add(dur)
		}
		return Occurrence{StartsAt: start.UTC(), EndsAt: end.UTC()}
	}

	out := []Occurrence{{StartsAt: firstStart.UTC(), EndsAt: firstEnd.UTC()}}
	for d := range r.datesAfter(first) {
		if r.Count > 0 && len(out) == r.Count {
			break
		}
		if r.Until != "" && d.After(until) {
			break
		}
		if len(out) == MaxOccurrences {
			return nil, recurrenceLimit("until %s yields more than %d occurrences", r.Until, MaxOccurrences)
		}
		o := at(d)
		if o.EndsAt.Year() > recurrenceLastYear {
			return nil, recurrenceYears("the rule reaches beyond the year %d", recurrenceLastYear)
		}
		out = append(out, o)
	}
	if len(out) < r.Count {
		// datesAfter stopped at the last year.
		return nil, recurrenceYears("the rule reaches beyond the year %d", recurrenceLastYear)
	}
	return out, nil
}

// datesAfter yields, in order, the local dates (UTC midnights) after first
// that the rule selects, stopping after the year recurrenceLastYear. The rule
// must be valid.
func (r Recurrence) datesAfter(first time.Time) iter.Seq[time.Time] {
	step := max(r.Interval, 1)
	return func(yield func(time.Time) bool) {
		switch {
		case r.Frequency == FrequencyMonthly:
			for k := 1; ; k++ {
				d := time.Date(first.Year(), first.Month()+time.Month(k*step), first.Day(), 0, 0, 0, 0, time.UTC)
				if d.Year() > recurrenceLastYear {
					return
				}
				if d.Day() != first.Day() {
					continue // the month lacks the day and time.Date rolled over
				}
				if !yield(d) {
					return
				}
			}

		case r.Frequency == FrequencyWeekly && len(r.ByDay) > 0:
			offsets := make([]int, 0, len(r.ByDay)) // days after Monday
			for _, s := range r.ByDay {
				offsets = append(offsets, weekdayFromMonday(recurrenceWeekdays[s]))
			}
			slices.Sort(offsets)
			offsets = slices.Compact(offsets)
			monday := first.AddDate(0, 0, -weekdayFromMonday(first.Weekday()))
			for week := 0; ; week += step {
				for _, off := range offsets {
					d := monday.AddDate(0, 0, 7*week+off)
					if !d.After(first) {
						continue
					}
					if d.Year() > recurrenceLastYear {
						return
					}
					if !yield(d) {
						return
					}
				}
			}

		default: // daily, or weekly on firstStart's weekday
			days := step
			if r.Frequency == FrequencyWeekly {
				days = 7 * step
			}
			for k := 1; ; k++ {
				d := first.AddDate(0, 0, k*days)
				if d.Year() > recurrenceLastYear {
					return
				}
				if !yield(d) {
					return
				}
			}
		}
	}
}

// ExistingOccurrence is an occurrence already stored as a child event.
type ExistingOccurrence struct {
	ID       uint64
	StartsAt time.Time
	EndsAt   time.Time
	Sold     bool // has paid orders
}

// OccurrencePlan says how to turn the existing children into the wanted ones.
type OccurrencePlan struct {
	Keep   []KeptOccurrence // existing ids that stay, with their (possibly moved) times, in time order
	Add    []Occurrence     // new children to create, in time order
	Remove []uint64         // existing ids to delete, ascending
	// Kept are existing ids the rule no longer yields but that have paid
	// orders: they stay as they are (never removed), ascending.
	Kept []uint64
}

// KeptOccurrence is an existing child that stays, with the times it should
// have. Moved reports that those times differ from the stored ones.
type KeptOccurrence struct {
	ID uint64
	Occurrence
	Moved bool
}

// PlanOccurrences matches the existing children to the wanted occurrences by
// their local start date in loc: an occurrence on the same local date is the
// same occurrence, and keeps its id (Moved when its times differ). A wanted
// occurrence whose date has no existing child is added; an existing child
// whose date is no longer wanted is removed — so moving an occurrence to
// another date is a removal plus an addition.
//
// When several existing children share a local date, one is kept — one with
// paid orders if there is one, otherwise the lowest id — and the others are
// removed. A child with paid orders is never removed: one that would be is
// listed in Kept and stays with its times (the API refuses a change that
// drops one with 422 occurrence_sold; Kept holds those sold after that
// check). Moving a sold child within its date is allowed.
//
// A nil loc is a programming error and returns a plain error.
func PlanOccurrences(loc *time.Location, existing []ExistingOccurrence, want []Occurrence) (OccurrencePlan, error) {
	if loc == nil {
		return OccurrencePlan{}, errors.New("plan occurrences: nil location")
	}
	dateKey := func(t time.Time) string { return t.In(loc).Format(untilLayout) }

	byID := slices.Clone(existing)
	slices.SortFunc(byID, func(a, b ExistingOccurrence) int { return cmp.Compare(a.ID, b.ID) })
	held := make(map[string]ExistingOccurrence, len(byID)) // the child each date keeps
	var drop []ExistingOccurrence
	for _, e := range byID {
		key := dateKey(e.StartsAt)
		h, ok := held[key]
		switch {
		case !ok:
			held[key] = e
		case e.Sold && !h.Sold:
			drop = append(drop, h)
			held[key] = e
		default:
			drop = append(drop, e)
		}
	}

	wanted := slices.Clone(want)
	slices.SortStableFunc(wanted, func(a, b Occurrence) int { return a.StartsAt.Compare(b.StartsAt) })
	var plan OccurrencePlan
	for _, w := range wanted {
		w = Occurrence{StartsAt: w.StartsAt.UTC(), EndsAt: w.EndsAt.UTC()}
		key := dateKey(w.StartsAt)
		e, ok := held[key]
		if !ok {
			plan.Add = append(plan.Add, w)
			continue
		}
		delete(held, key) // a second wanted occurrence on this date is added
		moved := !e.StartsAt.Equal(w.StartsAt) || !e.EndsAt.Equal(w.EndsAt)
		plan.Keep = append(plan.Keep, KeptOccurrence{ID: e.ID, Occurrence: w, Moved: moved})
	}
	for _, e := range held {
		drop = append(drop, e)
	}

	for _, e := range drop {
		if e.Sold {
			plan.Kept = append(plan.Kept, e.ID)
		} else {
			plan.Remove = append(plan.Remove, e.ID)
		}
	}
	slices.Sort(plan.Remove)
	slices.Sort(plan.Kept)
	return plan, nil
}

func recurrenceInvalid(format string, args ...any) *Error {
	err := Errorf(CodeRecurrenceRuleInvalid, format, args...)
	err.Kind = KindInvalid
	return err
}

// recurrenceYears is a rule whose occurrences leave MinYear–MaxYear: a
// RECURRENCE_RULE_INVALID whose field error says out_of_range.
func recurrenceYears(format string, args ...any) *Error {
	err := recurrenceInvalid(format, args...)
	err.Fields = []FieldError{{Attribute: "recurrence", Code: "out_of_range", Message: err.Message}}
	return err
}

func recurrenceLimit(format string, args ...any) *Error {
	err := Errorf(CodeRecurrenceLimitExceeded, format, args...)
	err.Kind = KindInvalid
	return err
}

// localDateOf is t's calendar date in loc, as midnight UTC (a civil date that
// date arithmetic can't shift by DST).
func localDateOf(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// wallClockOf is t's local date and time in loc, written as if it were UTC, so
// that subtracting two of them gives the wall-clock difference.
func wallClockOf(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), l.Nanosecond(), time.UTC)
}

// wallClockIn reads a wallClockOf value back as a time in loc, resolving
// the wall times a DST change skips or repeats as RFC 5545 (§3.3.5) does:
// a time in a gap is read with the offset before the gap, so it moves
// forward by the gap's length (02:30 on the spring-forward day in
// America/Chicago is 03:30 CDT); a time that occurs twice is its first
// instance (01:30 on the fall-back day is 01:30 CDT). time.Date promises
// neither: it reads Chicago's gap backwards and Berlin's forwards, and
// Berlin's repeated hour as its second instance.
func wallClockIn(wall time.Time, loc *time.Location) time.Time {
	guess := time.Date(wall.Year(), wall.Month(), wall.Day(), wall.Hour(), wall.Minute(), wall.Second(), wall.Nanosecond(), loc)
	// The offsets that may apply: guess's zone and its neighbours. A DST
	// change puts wall within one transition of guess.
	offsets := []int{zoneOffset(guess)}
	start, end := guess.ZoneBounds()
	if !start.IsZero() {
		offsets = append(offsets, zoneOffset(start.Add(-time.Nanosecond)))
	}
	if !end.IsZero() {
		offsets = append(offsets, zoneOffset(end))
	}
	var first, forward time.Time
	for _, off := range offsets {
		c := wall.Add(-time.Duration(off) * time.Second).In(loc)
		switch got := wallClockOf(c, loc); {
		case got.Equal(wall):
			if first.IsZero() || c.Before(first) {
				first = c
			}
		case got.After(wall):
			// Read with an offset from before a gap: wall plus the gap.
			if forward.IsZero() || c.Before(forward) {
				forward = c
			}
		}
	}
	switch {
	case !first.IsZero():
		return first
	case !forward.IsZero():
		return forward
	}
	return guess
}

// zoneOffset is the offset east of UTC, in seconds, in effect at t.
func zoneOffset(t time.Time) int {
	_, off := t.Zone()
	return off
}

// weekdayFromMonday is the weekday's position in a week starting on Monday.
func weekdayFromMonday(d time.Weekday) int { return (int(d) + 6) % 7 }
