package engine_test

import (
	"fmt"
	"testing"

	"eventops/engine"
)

func TestAllocate(t *testing.T) {
	t.Parallel()
	n := func(v int) *int { return &v }
	tests := []struct {
		name     string
		capacity *int
		soldAll  int
		lefts    []*int
		want     string
	}{
		{"no capacity: each its left", nil, 0, []*int{n(40), n(40)}, "[40 40]"},
		{"no limit at all", nil, 0, []*int{nil, n(3)}, "[nil 3]"},
		{"capacity does not bind", n(100), 10, []*int{n(40), n(40)}, "[40 40]"},
		{"the issue's case: 50 for two types of 40", n(50), 0, []*int{n(40), n(40)}, "[25 25]"},
		{"proportional to what is left", n(50), 0, []*int{n(80), n(20)}, "[36 14]"},
		{"unlimited type shares the pool", n(10), 0, []*int{nil, n(4)}, "[7 3]"},
		{"largest remainder, earlier type on ties", n(10), 0, []*int{n(10), n(10), n(10)}, "[4 3 3]"},
		{"one seat each before proportions", n(3), 0, []*int{n(100), n(1), n(1)}, "[1 1 1]"},
		{"fewer seats than types: most left first", n(2), 0, []*int{n(1), n(5), n(9)}, "[0 1 1]"},
		{"sold out type gets nothing", n(10), 5, []*int{n(0), n(9)}, "[0 5]"},
		{"oversold occurrence offers nothing", n(10), 12, []*int{n(5), nil}, "[0 0]"},
		{"negative left reads as 0", n(10), 0, []*int{n(-2), n(3)}, "[0 3]"},
		{"capacity binds after sales", n(50), 41, []*int{n(9), n(30)}, "[5 4]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			types := make([]engine.AllocType, len(tt.lefts))
			for i, l := range tt.lefts {
				types[i] = engine.AllocType{ID: uint64(i + 1), Left: l}
			}
			got := engine.Allocate(tt.capacity, tt.soldAll, types)
			if s := show(got); s != tt.want {
				t.Errorf("Allocate = %s, want %s", s, tt.want)
			}
		})
	}
}

// The policy's promises, over many shapes: no type above its left, the sum
// never above what remains and equal to it when the capacity binds, and no
// type with a remainder at 0 while the seats left cover one each.
func TestAllocateInvariants(t *testing.T) {
	t.Parallel()
	for capacity := 0; capacity <= 30; capacity++ {
		for sold := 0; sold <= capacity+2; sold += 3 {
			for a := -1; a <= 12; a += 3 {
				for b := 0; b <= 25; b += 5 {
					for c := 0; c <= 3; c++ {
						lefts := []*int{ptrOrNil(a), &b, &c}
						types := make([]engine.AllocType, len(lefts))
						for i, l := range lefts {
							types[i] = engine.AllocType{ID: uint64(i + 1), Left: l}
						}
						cp := capacity
						got := engine.Allocate(&cp, sold, types)
						pool := max(capacity-sold, 0)
						sum, wanting, demand := 0, 0, 0
						for i, g := range got {
							if g == nil || *g < 0 {
								t.Fatalf("cap %d sold %d lefts %s: offer %d is %v", capacity, sold, show(lefts), i, g)
							}
							d := pool
							if lefts[i] != nil {
								d = min(*lefts[i], pool)
							}
							if *g > d {
								t.Fatalf("cap %d sold %d lefts %s: offers %s exceed a left", capacity, sold, show(lefts), show(got))
							}
							if d > 0 {
								wanting++
							}
							demand += d
							sum += *g
						}
						if sum != min(pool, demand) {
							t.Fatalf("cap %d sold %d lefts %s: offers %s add to %d, want %d", capacity, sold, show(lefts), show(got), sum, min(pool, demand))
						}
						if pool >= wanting {
							for i, g := range got {
								if *g == 0 && (lefts[i] == nil || *lefts[i] > 0) && pool > 0 {
									t.Fatalf("cap %d sold %d lefts %s: offers %s starve type %d", capacity, sold, show(lefts), show(got), i)
								}
							}
						}
					}
				}
			}
		}
	}
}

// A held sale (in the shop, not recorded yet) counts as sold of its type.
func TestStructureAllocationHoldsUnrecordedSales(t *testing.T) {
	t.Parallel()
	n := func(v int) *int { return &v }
	s := &engine.TicketStructure{Capacity: n(50), SoldAll: 10, Types: []engine.TicketLimit{
		{RegistrationTypeID: 7, Quantity: n(40), Sold: 10}, {RegistrationTypeID: 8, Quantity: n(40)}}}
	got := engine.StructureAllocation(s, map[uint64]int{7: 20})
	if *got[7]+*got[8] != 20 || *got[7] > 10 {
		t.Errorf("offers %d and %d; want 20 in all, at most 10 of type 7", *got[7], *got[8])
	}
	s.SoldAll = 53
	if s.Oversold() != 3 {
		t.Errorf("oversold = %d, want 3", s.Oversold())
	}
}

func ptrOrNil(v int) *int {
	if v < 0 {
		return nil
	}
	return &v
}

func show(vs []*int) string {
	s := "["
	for i, v := range vs {
		if i > 0 {
			s += " "
		}
		if v == nil {
			s += "nil"
		} else {
			s += fmt.Sprint(*v)
		}
	}
	return s + "]"
}
