package engine

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// Planning a recurring event's occurrences against the stored ones
// (PlanOccurrences): kept, created, moved, removed; sold ones are kept.

// recExisting turns expanded occurrences into stored children with ids from
// firstID on; the ids in sold have paid orders.
func recExisting(occ []Occurrence, firstID uint64, sold ...uint64) []ExistingOccurrence {
	out := make([]ExistingOccurrence, len(occ))
	for i, o := range occ {
		id := firstID + uint64(i)
		out[i] = ExistingOccurrence{ID: id, StartsAt: o.StartsAt, EndsAt: o.EndsAt, Sold: slices.Contains(sold, id)}
	}
	return out
}

// recPlan formats a plan as lines, for exact comparisons with readable failures.
func recPlan(p OccurrencePlan) []string {
	var out []string
	for _, k := range p.Keep {
		line := fmt.Sprintf("keep %d %s", k.ID, recOccurrences([]Occurrence{k.Occurrence})[0])
		if k.Moved {
			line += " moved"
		}
		out = append(out, line)
	}
	for _, a := range recOccurrences(p.Add) {
		out = append(out, "add "+a)
	}
	for _, id := range p.Remove {
		out = append(out, fmt.Sprintf("remove %d", id))
	}
	return out
}

func TestPlanOccurrences(t *testing.T) {
	t.Parallel()
	chicago := recLoc(t, "America/Chicago")
	expand := func(rule Recurrence, start, end string) []Occurrence {
		t.Helper()
		occ, err := rule.Expand(chicago, recLocal(t, chicago, start), recLocal(t, chicago, end))
		if err != nil {
			t.Fatal(err)
		}
		return occ
	}
	weekly := func(count int) Recurrence { return Recurrence{Frequency: "weekly", Count: count} }
	ten := expand(weekly(10), "2026-10-23 19:00", "2026-10-23 23:00")
	six := expand(weekly(6), "2026-10-23 19:00", "2026-10-23 23:00")
	eight := expand(weekly(8), "2026-10-23 19:00", "2026-10-23 23:00")
	later := expand(weekly(6), "2026-10-23 20:00", "2026-10-23 23:30")
	saturdays := expand(weekly(2), "2026-10-24 19:00", "2026-10-24 23:00")

	keep := func(id uint64, o Occurrence, moved bool) string {
		line := fmt.Sprintf("keep %d %s", id, recOccurrences([]Occurrence{o})[0])
		if moved {
			line += " moved"
		}
		return line
	}
	add := func(o Occurrence) string { return "add " + recOccurrences([]Occurrence{o})[0] }

	tests := []struct {
		name     string
		existing []ExistingOccurrence
		want     []Occurrence
		plan     []string
	}{
		{
			name:     "unchanged rule keeps everything",
			existing: recExisting(six, 101),
			want:     six,
			plan: []string{
				keep(101, six[0], false), keep(102, six[1], false), keep(103, six[2], false),
				keep(104, six[3], false), keep(105, six[4], false), keep(106, six[5], false),
			},
		},
		{
			name:     "shortening count from 10 to 6 removes the last 4",
			existing: recExisting(ten, 101),
			want:     six,
			plan: []string{
				keep(101, six[0], false), keep(102, six[1], false), keep(103, six[2], false),
				keep(104, six[3], false), keep(105, six[4], false), keep(106, six[5], false),
				"remove 107", "remove 108", "remove 109", "remove 110",
			},
		},
		{
			name:     "lengthening count from 6 to 8 adds 2",
			existing: recExisting(six, 101),
			want:     eight,
			plan: []string{
				keep(101, six[0], false), keep(102, six[1], false), keep(103, six[2], false),
				keep(104, six[3], false), keep(105, six[4], false), keep(106, six[5], false),
				add(eight[6]), add(eight[7]),
			},
		},
		{
			name:     "a new start time moves every occurrence and keeps ids",
			existing: recExisting(six, 101, 103), // a sold one may move within its date
			want:     later,
			plan: []string{
				keep(101, later[0], true), keep(102, later[1], true), keep(103, later[2], true),
				keep(104, later[3], true), keep(105, later[4], true), keep(106, later[5], true),
			},
		},
		{
			name:     "another weekday is a removal plus an addition",
			existing: recExisting(six[:2], 101),
			want:     saturdays,
			plan:     []string{add(saturdays[0]), add(saturdays[1]), "remove 101", "remove 102"},
		},
		{
			name:     "no longer wanted at all",
			existing: recExisting(six[:2], 101),
			want:     nil,
			plan:     []string{"remove 101", "remove 102"},
		},
		{
			name:     "nothing stored yet",
			existing: nil,
			want:     six[:2],
			plan:     []string{add(six[0]), add(six[1])},
		},
		{
			name: "two stored on one date: the lowest id stays",
			existing: []ExistingOccurrence{
				{ID: 7, StartsAt: six[0].StartsAt, EndsAt: six[0].EndsAt},
				{ID: 3, StartsAt: six[0].StartsAt.Add(time.Hour), EndsAt: six[0].EndsAt},
			},
			want: six[:1],
			plan: []string{keep(3, six[0], true), "remove 7"},
		},
		{
			name: "two stored on one date: the sold one stays",
			existing: []ExistingOccurrence{
				{ID: 3, StartsAt: six[0].StartsAt, EndsAt: six[0].EndsAt},
				{ID: 7, StartsAt: six[0].StartsAt, EndsAt: six[0].EndsAt, Sold: true},
			},
			want: six[:1],
			plan: []string{keep(7, six[0], false), "remove 3"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := PlanOccurrences(chicago, tt.existing, tt.want)
			if err != nil {
				t.Fatalf("PlanOccurrences() error = %v", err)
			}
			if g := recPlan(got); !slices.Equal(g, tt.plan) {
				t.Errorf("plan =\n  %s\nwant\n  %s", strings.Join(g, "\n  "), strings.Join(tt.plan, "\n  "))
			}
		})
	}
}

// A sold occurrence the rule no longer yields is kept, never removed: the
// API refuses such a change (occurrence_sold), so only a sale after that
// check reaches here, and the rest of the change applies.
func TestPlanOccurrencesKeepsSold(t *testing.T) {
	t.Parallel()
	chicago := recLoc(t, "America/Chicago")
	start := recLocal(t, chicago, "2026-10-23 19:00")
	end := recLocal(t, chicago, "2026-10-23 23:00")
	ten, err := Recurrence{Frequency: "weekly", Count: 10}.Expand(chicago, start, end)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name         string
		sold         []uint64
		kept, remove []uint64
	}{
		{name: "one sold", sold: []uint64{108}, kept: []uint64{108}, remove: []uint64{107, 109, 110}},
		{name: "two sold", sold: []uint64{110, 107}, kept: []uint64{107, 110}, remove: []uint64{108, 109}},
		{name: "sold among the wanted", sold: []uint64{102}, remove: []uint64{107, 108, 109, 110}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			plan, err := PlanOccurrences(chicago, recExisting(ten, 101, tt.sold...), ten[:6])
			if err != nil {
				t.Fatalf("PlanOccurrences() error = %v", err)
			}
			if len(plan.Keep) != 6 || plan.Add != nil {
				t.Errorf("plan keeps %d and adds %d, want the six wanted kept and none added", len(plan.Keep), len(plan.Add))
			}
			if !slices.Equal(plan.Kept, tt.kept) || !slices.Equal(plan.Remove, tt.remove) {
				t.Errorf("kept %v, removed %v; want kept %v, removed %v", plan.Kept, plan.Remove, tt.kept, tt.remove)
			}
		})
	}
}
