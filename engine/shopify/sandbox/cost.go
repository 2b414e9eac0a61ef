package sandbox

import (
	"math"
	"strings"
	"sync"
	"time"

	"github.com/vektah/gqlparser/v2/ast"
)

// The cost model, after Shopify's calculated query cost:
//
//   - scalars and enums cost 0;
//   - an object costs 1 (each element of a list of objects costs 1);
//   - a connection costs 2, and its nodes (or edges' nodes) cost 1 each,
//     counted as first/last of them when the cost is requested;
//   - nodes(ids:) counts one node per id;
//   - a mutation field costs 10 (its payload object is included), plus
//     what is selected inside its payload;
//   - userErrors, pageInfo and edges themselves cost 0.
//
// The requested cost is computed from the document before anything runs;
// the actual cost from what was returned (fewer nodes than first cost
// less), never more than requested. The difference is given back to the
// bucket. A request whose requested cost is above maxQueryCost is refused
// with MAX_COST_EXCEEDED.

const (
	maxQueryCost = 1000
	mutationCost = 10
)

// unitCost is what one rendered object of a field costs.
func unitCost(fieldName, typeName string, mutationRoot bool) int {
	switch {
	case mutationRoot:
		return mutationCost
	case fieldName == "userErrors" || fieldName == "pageInfo" || fieldName == "edges":
		return 0
	case strings.HasSuffix(typeName, "Connection"):
		return 2
	}
	return 1
}

// coster computes the requested cost of an operation.
type coster struct {
	schema *ast.Schema
	doc    *ast.QueryDocument
	vars   map[string]any
}

func (c *coster) operation(op *ast.OperationDefinition) int {
	return c.selection(op.SelectionSet, 1, op.Operation == ast.Mutation, map[string]bool{})
}

// selection sums the fields of a selection set, every fragment included (an
// interface costs as much as all of its possible selections).
func (c *coster) selection(ss ast.SelectionSet, m int, mutationRoot bool, visiting map[string]bool) int {
	total := 0
	for _, s := range ss {
		switch s := s.(type) {
		case *ast.Field:
			total += c.field(s, m, mutationRoot, visiting)
		case *ast.InlineFragment:
			total += c.selection(s.SelectionSet, m, mutationRoot, visiting)
		case *ast.FragmentSpread:
			if visiting[s.Name] {
				continue
			}
			if def := c.doc.Fragments.ForName(s.Name); def != nil {
				visiting[s.Name] = true
				total += c.selection(def.SelectionSet, m, mutationRoot, visiting)
				delete(visiting, s.Name)
			}
		}
	}
	return saturate(total)
}

func (c *coster) field(f *ast.Field, m int, mutationRoot bool, visiting map[string]bool) int {
	if f.Definition == nil {
		return 0
	}
	def := c.schema.Types[f.Definition.Type.Name()]
	if def == nil || def.IsLeafType() {
		return 0
	}
	typeName := def.Name
	unit := unitCost(f.Name, typeName, mutationRoot)
	args := f.ArgumentMap(c.vars)
	if strings.HasSuffix(typeName, "Connection") {
		n, ok := intArg(args, "first")
		if !ok {
			n, ok = intArg(args, "last")
		}
		if !ok || n < 0 {
			n = 1
		}
		total := m * unit
		for _, child := range flatFields(c.doc, f.SelectionSet) {
			cm := m
			if child.Name == "nodes" || child.Name == "edges" {
				cm = saturate(m * n)
			}
			total += c.field(child, cm, false, visiting)
		}
		return saturate(total)
	}
	inst := m
	if ids, ok := args["ids"].([]any); ok && f.Definition.Type.Elem != nil {
		inst = saturate(m * len(ids))
	}
	return saturate(inst*unit + c.selection(f.SelectionSet, inst, false, visiting))
}

// flatFields lists the fields of a selection set with fragments inlined.
func flatFields(doc *ast.QueryDocument, ss ast.SelectionSet) []*ast.Field {
	var out []*ast.Field
	var walk func(ast.SelectionSet, int)
	walk = func(ss ast.SelectionSet, depth int) {
		if depth > 10 {
			return
		}
		for _, s := range ss {
			switch s := s.(type) {
			case *ast.Field:
				out = append(out, s)
			case *ast.InlineFragment:
				walk(s.SelectionSet, depth+1)
			case *ast.FragmentSpread:
				if def := doc.Fragments.ForName(s.Name); def != nil {
					walk(def.SelectionSet, depth+1)
				}
			}
		}
	}
	walk(ss, 0)
	return out
}

func saturate(n int) int {
	if n < 0 || n > math.MaxInt32 {
		return math.MaxInt32
	}
	return n
}

// bucket is a shop's leaky bucket of cost points. A restore rate of 0 makes
// it unlimited: it never throttles and always reports itself full, with a
// restoreRate of 0.
type bucket struct {
	mu        sync.Mutex
	max       float64
	rate      float64
	available float64
	at        time.Time
}

func newBucket(size, rate float64, now time.Time) *bucket {
	return &bucket{max: size, rate: rate, available: size, at: now}
}

type throttleStatus struct {
	MaximumAvailable   float64 `json:"maximumAvailable"`
	CurrentlyAvailable float64 `json:"currentlyAvailable"`
	RestoreRate        float64 `json:"restoreRate"`
}

// level is the bucket's content at now; mu held.
func (b *bucket) level(now time.Time) float64 {
	if b.rate <= 0 {
		return b.max
	}
	if d := now.Sub(b.at).Seconds(); d > 0 {
		b.available = math.Min(b.max, b.available+d*b.rate)
		b.at = now
	}
	return b.available
}

// take deducts cost when it is available, and reports the state after.
func (b *bucket) take(now time.Time, cost int) (bool, throttleStatus) {
	b.mu.Lock()
	defer b.mu.Unlock()
	lvl := b.level(now)
	if b.rate > 0 {
		if float64(cost) > lvl {
			return false, b.status(lvl)
		}
		b.available = lvl - float64(cost)
	}
	return true, b.status(b.level(now))
}

// refund gives back what a call did not use.
func (b *bucket) refund(now time.Time, points int) throttleStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	lvl := b.level(now)
	if b.rate > 0 && points > 0 {
		b.available = math.Min(b.max, lvl+float64(points))
	}
	return b.status(b.level(now))
}

func (b *bucket) peek(now time.Time) throttleStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.status(b.level(now))
}

func (b *bucket) status(lvl float64) throttleStatus {
	return throttleStatus{
		MaximumAvailable:   b.max,
		CurrentlyAvailable: math.Floor(lvl),
		RestoreRate:        b.rate,
	}
}

// costReport is extensions.cost.
type costReport struct {
	RequestedQueryCost int            `json:"requestedQueryCost"`
	ActualQueryCost    *int           `json:"actualQueryCost"`
	ThrottleStatus     throttleStatus `json:"throttleStatus"`
}
