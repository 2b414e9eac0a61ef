package engine

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// The rule's own checks (Validate) and the inputs Expand refuses.

func TestRecurrenceValidate(t *testing.T) {
	t.Parallel()
	type fe struct{ attribute, code string }
	tests := []struct {
		name string
		rule Recurrence
		want []fe // nil: valid
	}{
		{name: "daily count", rule: Recurrence{Frequency: "daily", Interval: 3, Count: 10}},
		{name: "interval 0 means 1", rule: Recurrence{Frequency: "weekly", Count: 2}},
		{name: "weekly by_day until", rule: Recurrence{Frequency: "weekly", ByDay: []string{"MO", "WE", "FR"}, Until: "2027-03-01"}},
		{name: "duplicate weekdays are harmless", rule: Recurrence{Frequency: "weekly", ByDay: []string{"MO", "MO"}, Count: 2}},
		{name: "empty by_day on daily", rule: Recurrence{Frequency: "daily", ByDay: []string{}, Count: 2}},
		{name: "largest interval", rule: Recurrence{Frequency: "monthly", Interval: MaxRecurrenceInterval, Count: 2}},
		{name: "count above the limit is Expand's concern", rule: Recurrence{Frequency: "daily", Count: 501}},

		{name: "blank frequency", rule: Recurrence{Count: 2}, want: []fe{{"recurrence.frequency", "blank"}}},
		{name: "unknown frequency", rule: Recurrence{Frequency: "yearly", Count: 2}, want: []fe{{"recurrence.frequency", "invalid"}}},
		{name: "frequency is case sensitive", rule: Recurrence{Frequency: "Daily", Count: 2}, want: []fe{{"recurrence.frequency", "invalid"}}},
		{name: "by_day on daily", rule: Recurrence{Frequency: "daily", ByDay: []string{"MO"}, Count: 2}, want: []fe{{"recurrence.by_day", "invalid"}}},
		{name: "by_day on monthly", rule: Recurrence{Frequency: "monthly", ByDay: []string{"MO"}, Count: 2}, want: []fe{{"recurrence.by_day", "invalid"}}},
		{name: "bad weekday", rule: Recurrence{Frequency: "weekly", ByDay: []string{"MO", "XX"}, Count: 2}, want: []fe{{"recurrence.by_day", "invalid"}}},
		{name: "lower-case weekday", rule: Recurrence{Frequency: "weekly", ByDay: []string{"mo"}, Count: 2}, want: []fe{{"recurrence.by_day", "invalid"}}},
		{name: "negative interval", rule: Recurrence{Frequency: "daily", Interval: -1, Count: 2}, want: []fe{{"recurrence.interval", "out_of_range"}}},
		{name: "interval too large", rule: Recurrence{Frequency: "daily", Interval: MaxRecurrenceInterval + 1, Count: 2}, want: []fe{{"recurrence.interval", "out_of_range"}}},
		{name: "both count and until", rule: Recurrence{Frequency: "daily", Count: 2, Until: "2027-01-01"}, want: []fe{{"recurrence.until", "invalid"}}},
		{name: "neither count nor until", rule: Recurrence{Frequency: "daily"}, want: []fe{{"recurrence.count", "blank"}}},
		{name: "negative count", rule: Recurrence{Frequency: "daily", Count: -1}, want: []fe{{"recurrence.count", "out_of_range"}}},
		{name: "until not a date", rule: Recurrence{Frequency: "daily", Until: "2027-02-30"}, want: []fe{{"recurrence.until", "invalid"}}},
		{name: "until with a time", rule: Recurrence{Frequency: "daily", Until: "2027-01-01T00:00:00Z"}, want: []fe{{"recurrence.until", "invalid"}}},
		{
			name: "every problem is reported",
			rule: Recurrence{Frequency: "hourly", Interval: -2, ByDay: []string{"MO"}},
			want: []fe{
				{"recurrence.frequency", "invalid"},
				{"recurrence.interval", "out_of_range"},
				{"recurrence.by_day", "invalid"},
				{"recurrence.count", "blank"},
			},
		},
	}
	chicago := recLoc(t, "America/Chicago")
	start := recLocal(t, chicago, "2026-10-23 19:00")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.rule.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			e := recError(t, err)
			if e.Kind != KindInvalid {
				t.Errorf("kind = %v, want KindInvalid", e.Kind)
			}
			var got []fe
			for _, f := range e.Fields {
				got = append(got, fe{f.Attribute, f.Code})
				if f.Message == "" {
					t.Errorf("field %s has no message", f.Attribute)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("fields = %v, want %v", got, tt.want)
			}

			// Expand refuses the same rule as a phase failure.
			occ, err := tt.rule.Expand(chicago, start, start.Add(time.Hour))
			if occ != nil {
				t.Errorf("Expand() returned occurrences for an invalid rule")
			}
			e = recError(t, err)
			if e.Code != CodeRecurrenceRuleInvalid || e.Kind != KindInvalid {
				t.Errorf("Expand() code, kind = %s, %v; want %s, KindInvalid", e.Code, e.Kind, CodeRecurrenceRuleInvalid)
			}
			if len(e.Fields) != len(tt.want) {
				t.Errorf("Expand() error carries %d fields, want %d", len(e.Fields), len(tt.want))
			}
		})
	}
}

func TestRecurrenceExpandInvalidInput(t *testing.T) {
	t.Parallel()
	chicago := recLoc(t, "America/Chicago")
	start := recLocal(t, chicago, "2026-10-23 19:00")
	daily := Recurrence{Frequency: "daily", Count: 3}
	tests := []struct {
		name       string
		rule       Recurrence
		start, end time.Time
		wantMsg    string
	}{
		{name: "end equals start", rule: daily, start: start, end: start, wantMsg: "end after it starts"},
		{name: "end before start", rule: daily, start: start, end: start.Add(-time.Hour), wantMsg: "end after it starts"},
		{name: "until before the first date", rule: Recurrence{Frequency: "daily", Until: "2026-10-22"}, start: start, end: start.Add(time.Hour), wantMsg: "2026-10-22"},
		{name: "beyond the year 2199", rule: Recurrence{Frequency: "weekly", Interval: 1000, Count: 500}, start: start, end: start.Add(time.Hour), wantMsg: "2199"},
		{name: "leap days beyond the year 2199", rule: Recurrence{Frequency: "monthly", Interval: 240, Count: 500}, start: time.Date(2028, 2, 29, 12, 0, 0, 0, time.UTC), end: time.Date(2028, 2, 29, 13, 0, 0, 0, time.UTC), wantMsg: "2199"},
		{name: "a first occurrence before 1970", rule: daily, start: time.Date(1969, 12, 31, 12, 0, 0, 0, time.UTC), end: time.Date(1969, 12, 31, 13, 0, 0, 0, time.UTC), wantMsg: "1970"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			occ, err := tt.rule.Expand(chicago, tt.start, tt.end)
			if occ != nil {
				t.Errorf("Expand() returned %d occurrences with the error", len(occ))
			}
			e := recError(t, err)
			if e.Code != CodeRecurrenceRuleInvalid {
				t.Errorf("code = %s, want %s", e.Code, CodeRecurrenceRuleInvalid)
			}
			if !strings.Contains(e.Message, tt.wantMsg) {
				t.Errorf("message %q does not mention %q", e.Message, tt.wantMsg)
			}
		})
	}
}
