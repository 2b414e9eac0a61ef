package engine

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the expected times must not depend on the host's zoneinfo
)

// recLoc loads an IANA zone or fails the test.
func recLoc(tb testing.TB, name string) *time.Location {
	tb.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		tb.Fatalf("load %s: %v", name, err)
	}
	return loc
}

// recLocal parses "2006-01-02 15:04" as a wall time in loc.
func recLocal(tb testing.TB, loc *time.Location, s string) time.Time {
	tb.Helper()
	t, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		tb.Fatalf("parse %q: %v", s, err)
	}
	return t
}

// recOccurrences formats occurrences as "start/end" in RFC 3339 UTC, for
// exact comparisons with readable failures.
func recOccurrences(occ []Occurrence) []string {
	out := make([]string, len(occ))
	for i, o := range occ {
		out[i] = o.StartsAt.Format(time.RFC3339) + "/" + o.EndsAt.Format(time.RFC3339)
	}
	return out
}

// recError returns err's *Error, failing the test when err is not one.
func recError(tb testing.TB, err error) *Error {
	tb.Helper()
	var e *Error
	if !errors.As(err, &e) {
		tb.Fatalf("error %v (%T) is not an *Error", err, err)
	}
	return e
}

func TestRecurrenceExpand(t *testing.T) {
	t.Parallel()
	chicago := recLoc(t, "America/Chicago")
	berlin := recLoc(t, "Europe/Berlin")

	tests := []struct {
		name       string
		loc        *time.Location
		rule       Recurrence
		start, end string // local wall times in loc
		want       []string
	}{
		{
			name: "daily every other day across the US DST start",
			loc:  chicago,
			rule: Recurrence{Frequency: "daily", Interval: 2, Count: 4},
			// DST starts on Sunday 2026-03-08: 10:00 CST is 16:00Z, 10:00 CDT is 15:00Z.
			start: "2026-03-02 10:00", end: "2026-03-02 12:00",
			want: []string{
				"2026-03-02T16:00:00Z/2026-03-02T18:00:00Z",
				"2026-03-04T16:00:00Z/2026-03-04T18:00:00Z",
				"2026-03-06T16:00:00Z/2026-03-06T18:00:00Z",
				"2026-03-08T15:00:00Z/2026-03-08T17:00:00Z",
			},
		},
		{
			name:  "interval 0 means 1",
			loc:   chicago,
			rule:  Recurrence{Frequency: "daily", Count: 3},
			start: "2026-06-01 20:00", end: "2026-06-01 22:00",
			want: []string{
				"2026-06-02T01:00:00Z/2026-06-02T03:00:00Z",
				"2026-06-03T01:00:00Z/2026-06-03T03:00:00Z",
				"2026-06-04T01:00:00Z/2026-06-04T03:00:00Z",
			},
		},
		{
			name:  "weekly on FR and SA with count",
			loc:   chicago,
			rule:  Recurrence{Frequency: "weekly", ByDay: []string{"SA", "FR"}, Count: 5},
			start: "2026-12-04 19:00", end: "2026-12-04 23:00", // a Friday
			want: []string{
				"2026-12-05T01:00:00Z/2026-12-05T05:00:00Z", // Fri 12-04
				"2026-12-06T01:00:00Z/2026-12-06T05:00:00Z", // Sat 12-05
				"2026-12-12T01:00:00Z/2026-12-12T05:00:00Z", // Fri 12-11
				"2026-12-13T01:00:00Z/2026-12-13T05:00:00Z", // Sat 12-12
				"2026-12-19T01:00:00Z/2026-12-19T05:00:00Z", // Fri 12-18
			},
		},
		{
			name: "weekly by_day without the first weekday, every other week",
			loc:  chicago,
			rule: Recurrence{Frequency: "weekly", Interval: 2, ByDay: []string{"FR", "MO"}, Count: 5},
			// Wednesday 12-02 is occurrence #1 although WE is not listed; Monday
			// 11-30 of week 0 is before it and skipped.
			start: "2026-12-02 19:00", end: "2026-12-02 21:00",
			want: []string{
				"2026-12-03T01:00:00Z/2026-12-03T03:00:00Z", // Wed 12-02
				"2026-12-05T01:00:00Z/2026-12-05T03:00:00Z", // Fri 12-04
				"2026-12-15T01:00:00Z/2026-12-15T03:00:00Z", // Mon 12-14
				"2026-12-19T01:00:00Z/2026-12-19T03:00:00Z", // Fri 12-18
				"2026-12-29T01:00:00Z/2026-12-29T03:00:00Z", // Mon 12-28
			},
		},
		{
			name: "weekly across the US DST end keeps 19:00 local, until inclusive",
			loc:  chicago,
			rule: Recurrence{Frequency: "weekly", Until: "2026-11-20"},
			// DST ends on Sunday 2026-11-01: 19:00 CDT is 00:00Z, 19:00 CST is 01:00Z.
			start: "2026-10-23 19:00", end: "2026-10-23 23:00",
			want: []string{
				"2026-10-24T00:00:00Z/2026-10-24T04:00:00Z",
				"2026-10-31T00:00:00Z/2026-10-31T04:00:00Z",
				"2026-11-07T01:00:00Z/2026-11-07T05:00:00Z",
				"2026-11-14T01:00:00Z/2026-11-14T05:00:00Z",
				"2026-11-21T01:00:00Z/2026-11-21T05:00:00Z",
			},
		},
		{
			name: "weekly across the EU DST end keeps 20:00 local",
			loc:  berlin,
			rule: Recurrence{Frequency: "weekly", Count: 3},
			// DST ends on Sunday 2026-10-25: 20:00 CEST is 18:00Z, 20:00 CET is 19:00Z.
			start: "2026-10-15 20:00", end: "2026-10-15 23:00",
			want: []string{
				"2026-10-15T18:00:00Z/2026-10-15T21:00:00Z",
				"2026-10-22T18:00:00Z/2026-10-22T21:00:00Z",
				"2026-10-29T19:00:00Z/2026-10-29T22:00:00Z",
			},
		},
		{
			name: "overnight across the EU DST start keeps the local end time",
			loc:  berlin,
			rule: Recurrence{Frequency: "daily", Count: 3},
			// 22:00–04:00 local every night; the night of 03-29 lasts 5 real hours.
			start: "2026-03-27 22:00", end: "2026-03-28 04:00",
			want: []string{
				"2026-03-27T21:00:00Z/2026-03-28T03:00:00Z",
				"2026-03-28T21:00:00Z/2026-03-29T02:00:00Z",
				"2026-03-29T20:00:00Z/2026-03-30T02:00:00Z",
			},
		},
		{
			name: "a wall time missing at the US DST start moves forward by the gap (RFC 5545)",
			loc:  chicago,
			rule: Recurrence{Frequency: "daily", Count: 3},
			// 02:30 does not exist on 2026-03-08: it is 03:30 CDT (08:30Z), not
			// 01:30 CST as time.Date reads it. Its end, 03:30 CDT, is then no
			// later than the start, so it keeps the local hour: 04:30 CDT.
			start: "2026-03-07 02:30", end: "2026-03-07 03:30",
			want: []string{
				"2026-03-07T08:30:00Z/2026-03-07T09:30:00Z",
				"2026-03-08T08:30:00Z/2026-03-08T09:30:00Z",
				"2026-03-09T07:30:00Z/2026-03-09T08:30:00Z",
			},
		},
		{
			name: "a wall time missing at the EU DST start moves forward by the gap",
			loc:  berlin,
			rule: Recurrence{Frequency: "weekly", Count: 3},
			// 02:30 does not exist on 2027-03-28: it is 03:30 CEST (01:30Z).
			start: "2027-03-21 02:30", end: "2027-03-21 02:45",
			want: []string{
				"2027-03-21T01:30:00Z/2027-03-21T01:45:00Z",
				"2027-03-28T01:30:00Z/2027-03-28T01:45:00Z",
				"2027-04-04T00:30:00Z/2027-04-04T00:45:00Z",
			},
		},
		{
			name: "a wall time repeated at the US DST end is its first instance",
			loc:  chicago,
			rule: Recurrence{Frequency: "daily", Count: 3},
			// 01:30 happens twice on 2026-11-01: first at 01:30 CDT (06:30Z).
			start: "2026-10-31 01:30", end: "2026-10-31 01:40",
			want: []string{
				"2026-10-31T06:30:00Z/2026-10-31T06:40:00Z",
				"2026-11-01T06:30:00Z/2026-11-01T06:40:00Z",
				"2026-11-02T07:30:00Z/2026-11-02T07:40:00Z",
			},
		},
		{
			name: "a wall time repeated at the EU DST end is its first instance",
			loc:  berlin,
			rule: Recurrence{Frequency: "daily", Count: 3},
			// 02:30 happens twice on 2026-10-25: first at 02:30 CEST (00:30Z),
			// where time.Date picks the second, 02:30 CET (01:30Z).
			start: "2026-10-24 02:30", end: "2026-10-24 02:40",
			want: []string{
				"2026-10-24T00:30:00Z/2026-10-24T00:40:00Z",
				"2026-10-25T00:30:00Z/2026-10-25T00:40:00Z",
				"2026-10-26T01:30:00Z/2026-10-26T01:40:00Z",
			},
		},
		{
			name:  "monthly skips months without the 31st",
			loc:   chicago,
			rule:  Recurrence{Frequency: "monthly", Count: 4},
			start: "2026-01-31 18:00", end: "2026-01-31 20:00",
			want: []string{
				"2026-02-01T00:00:00Z/2026-02-01T02:00:00Z", // Jan 31 CST
				"2026-03-31T23:00:00Z/2026-04-01T01:00:00Z", // Mar 31 CDT
				"2026-05-31T23:00:00Z/2026-06-01T01:00:00Z",
				"2026-07-31T23:00:00Z/2026-08-01T01:00:00Z",
			},
		},
		{
			name:  "monthly every third month until inclusive",
			loc:   time.UTC,
			rule:  Recurrence{Frequency: "monthly", Interval: 3, Until: "2026-10-15"},
			start: "2026-01-15 09:00", end: "2026-01-15 10:00",
			want: []string{
				"2026-01-15T09:00:00Z/2026-01-15T10:00:00Z",
				"2026-04-15T09:00:00Z/2026-04-15T10:00:00Z",
				"2026-07-15T09:00:00Z/2026-07-15T10:00:00Z",
				"2026-10-15T09:00:00Z/2026-10-15T10:00:00Z",
			},
		},
		{
			name:  "yearly leap day through monthly interval 12",
			loc:   time.UTC,
			rule:  Recurrence{Frequency: "monthly", Interval: 12, Count: 3},
			start: "2028-02-29 12:00", end: "2028-02-29 13:00",
			want: []string{
				"2028-02-29T12:00:00Z/2028-02-29T13:00:00Z",
				"2032-02-29T12:00:00Z/2032-02-29T13:00:00Z",
				"2036-02-29T12:00:00Z/2036-02-29T13:00:00Z",
			},
		},
		{
			name: "until is a local date, not a UTC one",
			loc:  chicago,
			rule: Recurrence{Frequency: "daily", Until: "2026-06-03"},
			// 06-03 20:00 CDT is 06-04 01:00Z and still included.
			start: "2026-06-01 20:00", end: "2026-06-01 21:00",
			want: []string{
				"2026-06-02T01:00:00Z/2026-06-02T02:00:00Z",
				"2026-06-03T01:00:00Z/2026-06-03T02:00:00Z",
				"2026-06-04T01:00:00Z/2026-06-04T02:00:00Z",
			},
		},
		{
			name:  "until on the first date yields the first occurrence only",
			loc:   chicago,
			rule:  Recurrence{Frequency: "weekly", Until: "2026-06-01"},
			start: "2026-06-01 20:00", end: "2026-06-01 21:00",
			want: []string{"2026-06-02T01:00:00Z/2026-06-02T02:00:00Z"},
		},
		{
			name:  "count 1 is the first occurrence only",
			loc:   chicago,
			rule:  Recurrence{Frequency: "monthly", Count: 1},
			start: "2026-06-01 20:00", end: "2026-06-01 21:00",
			want: []string{"2026-06-02T01:00:00Z/2026-06-02T02:00:00Z"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := tt.rule.Validate(); err != nil {
				t.Fatalf("Validate() = %v, want nil", err)
			}
			got, err := tt.rule.Expand(tt.loc, recLocal(t, tt.loc, tt.start), recLocal(t, tt.loc, tt.end))
			if err != nil {
				t.Fatalf("Expand() error = %v", err)
			}
			if g := recOccurrences(got); !slices.Equal(g, tt.want) {
				t.Errorf("Expand() =\n  %s\nwant\n  %s", strings.Join(g, "\n  "), strings.Join(tt.want, "\n  "))
			}
			for i, o := range got {
				if o.StartsAt.Location() != time.UTC || o.EndsAt.Location() != time.UTC {
					t.Errorf("occurrence %d is not in UTC: %v", i, o)
				}
			}
		})
	}
}

func TestRecurrenceExpandFirstStartInAnyZone(t *testing.T) {
	t.Parallel()
	chicago := recLoc(t, "America/Chicago")
	// The first occurrence given in UTC is read in the venue's zone: 01:00Z is
	// 19:00 CST of the previous day.
	start := time.Date(2026, 12, 5, 1, 0, 0, 0, time.UTC)
	got, err := Recurrence{Frequency: "daily", Count: 2}.Expand(chicago, start, start.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"2026-12-05T01:00:00Z/2026-12-05T03:00:00Z",
		"2026-12-06T01:00:00Z/2026-12-06T03:00:00Z",
	}
	if g := recOccurrences(got); !slices.Equal(g, want) {
		t.Errorf("Expand() = %v, want %v", g, want)
	}
}

func TestRecurrenceExpandLimit(t *testing.T) {
	t.Parallel()
	chicago := recLoc(t, "America/Chicago")
	start := recLocal(t, chicago, "2026-01-01 19:00")
	end := recLocal(t, chicago, "2026-01-01 21:00")

	// Daily from 2026-01-01, occurrence #500 is on 2027-05-15 (19:00 CDT).
	const lastAllowed = "2027-05-16T00:00:00Z/2027-05-16T02:00:00Z"
	tests := []struct {
		name     string
		rule     Recurrence
		wantLen  int    // when wantCode is ""
		wantCode Code   // expected error code
		wantMsg  string // part of the error message
	}{
		{name: "count 500 is allowed", rule: Recurrence{Frequency: "daily", Count: 500}, wantLen: 500},
		{name: "until yielding exactly 500 is allowed", rule: Recurrence{Frequency: "daily", Until: "2027-05-15"}, wantLen: 500},
		{name: "count 501", rule: Recurrence{Frequency: "daily", Count: 501}, wantCode: CodeRecurrenceLimitExceeded, wantMsg: "501"},
		{name: "until yielding 501", rule: Recurrence{Frequency: "daily", Until: "2027-05-16"}, wantCode: CodeRecurrenceLimitExceeded, wantMsg: "2027-05-16"},
		{name: "until far away", rule: Recurrence{Frequency: "weekly", ByDay: []string{"MO", "TH"}, Until: "2099-12-31"}, wantCode: CodeRecurrenceLimitExceeded, wantMsg: "500"},
		{name: "huge count", rule: Recurrence{Frequency: "monthly", Count: 1 << 30}, wantCode: CodeRecurrenceLimitExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := tt.rule.Validate(); err != nil {
				t.Fatalf("Validate() = %v; the limit is Expand's to report", err)
			}
			got, err := tt.rule.Expand(chicago, start, end)
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("Expand() error = %v", err)
				}
				if len(got) != tt.wantLen {
					t.Fatalf("len = %d, want %d", len(got), tt.wantLen)
				}
				if last := recOccurrences(got[len(got)-1:])[0]; last != lastAllowed {
					t.Errorf("last occurrence = %s, want %s", last, lastAllowed)
				}
				return
			}
			if got != nil {
				t.Errorf("Expand() returned %d occurrences with the error", len(got))
			}
			e := recError(t, err)
			if e.Code != tt.wantCode || e.Kind != KindInvalid {
				t.Errorf("error code, kind = %s, %v; want %s, KindInvalid", e.Code, e.Kind, tt.wantCode)
			}
			if !strings.Contains(e.Message, tt.wantMsg) {
				t.Errorf("message %q does not mention %q", e.Message, tt.wantMsg)
			}
		})
	}
}

func FuzzRecurrenceExpand(f *testing.F) {
	f.Add("daily", 2, 10, "", "", false)
	f.Add("weekly", 1, 0, "2026-11-20", "", false)
	f.Add("weekly", 2, 7, "", "FR,SA", true)
	f.Add("weekly", 0, 0, "2099-01-01", "MO,TU,WE,TH,FR,SA,SU", false)
	f.Add("monthly", 1, 12, "", "", true)
	f.Add("monthly", 12, 0, "2040-10-23", "", false)
	f.Add("daily", 1, 501, "", "", false)
	f.Add("weekly", 1000, 500, "", "", true)
	f.Add("yearly", -1, 3, "2026-13-01", "XX", false)

	chicago := recLoc(f, "America/Chicago")
	berlin := recLoc(f, "Europe/Berlin")
	f.Fuzz(func(t *testing.T, frequency string, interval, count int, until, byDay string, inBerlin bool) {
		// A Friday evening close to both zones' DST end, far from any DST gap,
		// so every occurrence keeps 19:00–23:00 local exactly.
		loc := chicago
		if inBerlin {
			loc = berlin
		}
		start := time.Date(2026, 10, 23, 19, 0, 0, 0, loc)
		end := time.Date(2026, 10, 23, 23, 0, 0, 0, loc)
		r := Recurrence{Frequency: frequency, Interval: interval, Count: count, Until: until}
		if byDay != "" {
			r.ByDay = strings.Split(byDay, ",")
		}

		occ, err := r.Expand(loc, start, end)
		if err != nil {
			e := recError(t, err)
			if e.Code != CodeRecurrenceRuleInvalid && e.Code != CodeRecurrenceLimitExceeded {
				t.Fatalf("unexpected code %s: %v", e.Code, err)
			}
			return
		}
		if verr := r.Validate(); verr != nil {
			t.Fatalf("Expand succeeded for a rule Validate refuses: %v", verr)
		}
		if len(occ) == 0 || len(occ) > MaxOccurrences {
			t.Fatalf("len = %d, want 1..%d", len(occ), MaxOccurrences)
		}
		if r.Count > 0 && len(occ) != r.Count {
			t.Fatalf("len = %d, want count %d", len(occ), r.Count)
		}
		if !occ[0].StartsAt.Equal(start) || !occ[0].EndsAt.Equal(end) {
			t.Fatalf("first occurrence %v, want %v–%v", occ[0], start, end)
		}
		for i, o := range occ {
			ls, le := o.StartsAt.In(loc), o.EndsAt.In(loc)
			if h, m, _ := ls.Clock(); h != 19 || m != 0 {
				t.Fatalf("occurrence %d starts at %s local", i, ls)
			}
			if d := wallClockOf(o.EndsAt, loc).Sub(wallClockOf(o.StartsAt, loc)); d != 4*time.Hour {
				t.Fatalf("occurrence %d lasts %s local (%s to %s), want 4h", i, d, ls, le)
			}
			if i > 0 && !o.StartsAt.After(occ[i-1].StartsAt) {
				t.Fatalf("occurrence %d (%s) is not after %d (%s)", i, o.StartsAt, i-1, occ[i-1].StartsAt)
			}
			if r.Until != "" && ls.Format(time.DateOnly) > r.Until {
				t.Fatalf("occurrence %d on %s is after until %s", i, ls.Format(time.DateOnly), r.Until)
			}
			if i > 0 && r.Frequency == "monthly" && ls.Day() != 23 {
				t.Fatalf("monthly occurrence %d on day %d", i, ls.Day())
			}
			if i > 0 && len(r.ByDay) > 0 && !slices.Contains(r.ByDay, strings.ToUpper(ls.Weekday().String()[:2])) {
				t.Fatalf("occurrence %d on %s, not one of %v", i, ls.Weekday(), r.ByDay)
			}
		}
	})
}

// A weekly event at 19:00 in Chicago stays at 19:00 local when DST ends, so
// its UTC time moves by an hour.
func ExampleRecurrence_Expand() {
	chicago, err := time.LoadLocation("America/Chicago")
	if err != nil {
		panic(err)
	}
	start := time.Date(2026, 10, 23, 19, 0, 0, 0, chicago)
	rule := Recurrence{Frequency: "weekly", Until: "2026-11-06"}
	occ, err := rule.Expand(chicago, start, start.Add(4*time.Hour))
	if err != nil {
		panic(err)
	}
	for _, o := range occ {
		fmt.Println(o.StartsAt.In(chicago).Format("Mon 2006-01-02 15:04 MST"), "=", o.StartsAt.Format(time.RFC3339))
	}
	// Output:
	// Fri 2026-10-23 19:00 CDT = 2026-10-24T00:00:00Z
	// Fri 2026-10-30 19:00 CDT = 2026-10-31T00:00:00Z
	// Fri 2026-11-06 19:00 CST = 2026-11-07T01:00:00Z
}
