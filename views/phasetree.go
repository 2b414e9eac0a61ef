package views

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"eventops/engine"
)

// The operation page's phase tree and timeline: what is shown of a long
// list of children, and what a transition changes of what is shown.
//
// A page shows every child of a short list, failed first. Of a long list
// (an occurrence per child: a recurring event's catalog has hundreds) it
// shows the few that matter — failed, then retrying, then running — and
// one line counting the others, with a link to the full list. Which
// children are shown is a function of the operation's state alone, so the
// hub can tell from two states what a page showing the first must change
// to show the second (DiffOperation): the phases whose own line changed,
// the children that came into or left the shown few, the count lines. A
// transition pushes those and nothing else, whatever the operation's size.
// Order changes (failed first) wait for a full render.

// LongList is the number of children above which a list is collapsed to
// ShownOfLong children and a count.
const (
	LongList    = 12
	ShownOfLong = 6
)

// long reports whether p's children are collapsed on the page.
func long(p *engine.Phase, all bool) bool { return !all && len(p.Phases) > LongList }

// rank orders children by what matters: failed, retrying, running,
// pending, completed.
func rank(p *engine.Phase) int {
	switch {
	case p.Status == engine.StatusFailed:
		return 0
	case p.Status == engine.StatusRunning && p.LastError != nil:
		return 1
	case p.Status == engine.StatusRunning:
		return 2
	case p.Status == engine.StatusPending:
		return 3
	}
	return 4
}

// shownKids are the children of p a page shows, in the order it shows
// them.
func shownKids(p *engine.Phase, all bool) []*engine.Phase {
	kids := append([]*engine.Phase(nil), p.Phases...)
	if !long(p, all) {
		sort.SliceStable(kids, func(i, j int) bool {
			return kids[i].Status == engine.StatusFailed && kids[j].Status != engine.StatusFailed
		})
		return kids
	}
	sort.SliceStable(kids, func(i, j int) bool { return rank(kids[i]) < rank(kids[j]) })
	n := 0
	for n < len(kids) && n < ShownOfLong && rank(kids[n]) <= 2 {
		n++
	}
	return kids[:n]
}

func shownSet(p *engine.Phase, all bool) map[uint64]bool {
	m := map[uint64]bool{}
	for _, c := range shownKids(p, all) {
		m[c.ID] = true
	}
	return m
}

// moreText counts a long list's children that are not shown, by status.
func moreText(p *engine.Phase) string {
	shown := shownSet(p, false)
	counts := map[engine.Status]int{}
	hidden := 0
	for _, c := range p.Phases {
		if !shown[c.ID] {
			counts[c.Status]++
			hidden++
		}
	}
	if hidden == 0 {
		return "no other children"
	}
	var parts []string
	for _, s := range []engine.Status{engine.StatusFailed, engine.StatusRunning, engine.StatusPending, engine.StatusCompleted} {
		if counts[s] > 0 {
			parts = append(parts, strconv.Itoa(counts[s])+" "+string(s))
		}
	}
	word := " others: "
	if len(shown) == 0 {
		word = " children: "
	}
	return strconv.Itoa(hidden) + word + strings.Join(parts, ", ")
}

// detailsOpen is whether a phase's children are open on a full render:
// completed work is collapsed, anything else is open.
func detailsOpen(p *engine.Phase) bool { return p.Status != engine.StatusCompleted }

// headEqual reports whether two states of a phase show the same line.
func headEqual(a, b *engine.Phase) bool {
	return a.Status == b.Status && progressEqual(a.Progress, b.Progress) && a.Attempts == b.Attempts &&
		errEqual(a.Error, b.Error) && errEqual(a.LastError, b.LastError) && len(a.Failures) == len(b.Failures) &&
		timeEqual(a.StartedAt, b.StartedAt) && timeEqual(a.FinishedAt, b.FinishedAt)
}

func progressEqual(a, b *engine.Progress) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

func errEqual(a, b *engine.OpError) bool {
	return (a == nil) == (b == nil) && (a == nil || (a.Code == b.Code && a.Message == b.Message))
}

func timeEqual(a, b *time.Time) bool {
	return (a == nil) == (b == nil) && (a == nil || a.Equal(*b))
}

// PhaseAt is a phase with its depth in the tree (top level 1).
type PhaseAt struct {
	Phase *engine.Phase
	Depth int
}

// PhaseInsert is a child that came into a long list's shown few.
type PhaseInsert struct {
	Parent uint64
	PhaseAt
}

// PhaseRemove is a child that left a long list's shown few: its node, and
// the timeline rows of it and its shown descendants.
type PhaseRemove struct {
	ID   uint64
	Bars []uint64
}

// OpDelta is what one transition changes on an operation page that shows
// the state before it.
type OpDelta struct {
	// View is the new state: its summary, axis, critical path and (when
	// small) raw JSON are pushed whole.
	View OperationView
	// Heads are phases whose own line changed.
	Heads []PhaseAt
	// Splits are phases that gained children: pushed whole, with their
	// children's timeline rows after their own.
	Splits []PhaseAt
	// Inserts came into a long list's shown children; Removes (phase ids,
	// with the ids of their shown descendants for the timeline) left it.
	Inserts []PhaseInsert
	Removes []PhaseRemove
	// Mores are long lists whose count line changed.
	Mores []PhaseAt
}

// DiffOperation is what a page showing prev must change to show next; false
// when only a full render will do (the top-level phases changed).
func DiffOperation(prev *engine.Operation, next OperationView) (OpDelta, bool) {
	d := OpDelta{View: next}
	if !diffPhases(prev.Phases, next.Op.Phases, nil, nil, 1, next.All, &d) {
		return OpDelta{}, false
	}
	return d, true
}

func diffPhases(prev, next []*engine.Phase, pa, pb *engine.Phase, depth int, all bool, d *OpDelta) bool {
	if len(prev) != len(next) {
		return false
	}
	// Showing every phase (?phases=all), no list is long: no child comes
	// into or leaves a shown few.
	isLong := pb != nil && long(pb, all)
	var before, after map[uint64]bool
	if isLong {
		before, after = shownSet(pa, false), shownSet(pb, false)
	}
	for i := range next {
		a, b := prev[i], next[i]
		if a.ID != b.ID {
			return false
		}
		if isLong && !(before[b.ID] && after[b.ID]) {
			continue // entering or leaving the shown few: below
		}
		switch {
		case len(a.Phases) != len(b.Phases):
			if len(a.Phases) != 0 {
				return false
			}
			d.Splits = append(d.Splits, PhaseAt{b, depth})
			continue
		case !headEqual(a, b):
			d.Heads = append(d.Heads, PhaseAt{b, depth})
		}
		if len(b.Phases) > 0 && !diffPhases(a.Phases, b.Phases, a, b, depth+1, all, d) {
			return false
		}
	}
	if isLong {
		for _, c := range shownKids(pb, false) {
			if !before[c.ID] {
				d.Inserts = append(d.Inserts, PhaseInsert{Parent: pb.ID, PhaseAt: PhaseAt{c, depth}})
			}
		}
		for _, c := range shownKids(pa, false) {
			if !after[c.ID] {
				d.Removes = append(d.Removes, PhaseRemove{ID: c.ID, Bars: shownIDs(c)})
			}
		}
		if moreText(pa) != moreText(pb) {
			d.Mores = append(d.Mores, PhaseAt{pb, depth})
		}
	}
	return true
}

// shownIDs are p's id and those of its shown descendants.
func shownIDs(p *engine.Phase) []uint64 {
	out := []uint64{p.ID}
	for _, c := range shownKids(p, false) {
		out = append(out, shownIDs(c)...)
	}
	return out
}

// CriticalPath is the chain of phases that decided when the operation
// ended (or, while it runs, that holds it up now): from the top-level
// phase that finished last, back through the dependency that finished
// last, each descending into the child that finished last. A failed
// operation was ended by its root cause: the path leads to it, whatever
// siblings still finished after it.
func CriticalPath(op *engine.Operation, now time.Time) []*engine.Phase {
	if op.Status == engine.StatusFailed && op.Error != nil && op.Error.PhaseID != nil {
		if path := pathTo(op, *op.Error.PhaseID, now); path != nil {
			return path
		}
	}
	return chainBack(op.Phases, latest(op.Phases, now), now)
}

// end is when p ended, now while it runs, zero before it started.
func end(p *engine.Phase, now time.Time) time.Time {
	switch {
	case p.FinishedAt != nil:
		return *p.FinishedAt
	case p.StartedAt != nil:
		return now
	}
	return time.Time{}
}

// latest is the phase of ps that started and ended last.
func latest(ps []*engine.Phase, now time.Time) *engine.Phase {
	var best *engine.Phase
	for _, p := range ps {
		if p.StartedAt != nil && (best == nil || end(p, now).After(end(best, now))) {
			best = p
		}
	}
	return best
}

// chainBack is the critical path ending at the top-level phase cur: back
// through the dependency that finished last, each descending into the
// child that finished last.
func chainBack(top []*engine.Phase, cur *engine.Phase, now time.Time) []*engine.Phase {
	byName := map[string]*engine.Phase{}
	for _, p := range top {
		byName[p.Name] = p
	}
	var path []*engine.Phase
	seen := map[uint64]bool{}
	for cur != nil && !seen[cur.ID] {
		seen[cur.ID] = true
		chain := []*engine.Phase{cur}
		for c := latest(cur.Phases, now); c != nil; c = latest(c.Phases, now) {
			chain = append(chain, c)
		}
		path = append(chain, path...)
		var deps []*engine.Phase
		for _, n := range cur.DependsOn {
			if p := byName[n]; p != nil {
				deps = append(deps, p)
			}
		}
		cur = latest(deps, now)
	}
	return path
}

// pathTo is the chain of phases that led to the phase id: what led up to
// its top-level phase (as chainBack goes back), then down to it. nil when
// no phase has the id.
func pathTo(op *engine.Operation, id uint64, now time.Time) []*engine.Phase {
	var down func(p *engine.Phase) []*engine.Phase
	down = func(p *engine.Phase) []*engine.Phase {
		if p.ID == id {
			return []*engine.Phase{p}
		}
		for _, c := range p.Phases {
			if rest := down(c); rest != nil {
				return append([]*engine.Phase{p}, rest...)
			}
		}
		return nil
	}
	for _, top := range op.Phases {
		chain := down(top)
		if chain == nil {
			continue
		}
		byName := map[string]*engine.Phase{}
		for _, p := range op.Phases {
			byName[p.Name] = p
		}
		var deps []*engine.Phase
		for _, n := range top.DependsOn {
			if p := byName[n]; p != nil {
				deps = append(deps, p)
			}
		}
		return append(chainBack(op.Phases, latest(deps, now), now), chain...)
	}
	return nil
}

func criticalIDs(ps []*engine.Phase) string {
	ids := make([]string, len(ps))
	for i, p := range ps {
		ids[i] = utoa(p.ID)
	}
	return strings.Join(ids, " ")
}

func criticalText(ps []*engine.Phase) string {
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = phaseLabel(p)
	}
	return strings.Join(names, " → ")
}

func phaseLabel(p *engine.Phase) string {
	if p.Subject != 0 {
		return p.Name + " #" + utoa(p.Subject)
	}
	return p.Name
}

// MaxInlineJSON is the largest raw JSON shown inline (and pushed with each
// transition); a bigger one is offered as a download.
const MaxInlineJSON = 8 << 10

// minPhaseJSON is less than any phase's JSON takes (ten members, always
// present, indented), so an operation of more than
// MaxInlineJSON/minPhaseJSON phases has a JSON too big to show inline.
const minPhaseJSON = 128

// JSONSurelyBig reports, without building it, that op's JSON is over
// MaxInlineJSON because of its number of phases alone.
func JSONSurelyBig(op *engine.Operation) bool {
	n, limit := 0, MaxInlineJSON/minPhaseJSON
	var count func(ps []*engine.Phase) bool
	count = func(ps []*engine.Phase) bool {
		for _, p := range ps {
			if n++; n > limit || count(p.Phases) {
				return true
			}
		}
		return false
	}
	return count(op.Phases)
}

func headID(id uint64) string   { return "phn-" + utoa(id) }
func kidsID(id uint64) string   { return "phk-" + utoa(id) }
func moreID(id uint64) string   { return "phm-" + utoa(id) }
func tlRowID(id uint64) string  { return "tlb-" + utoa(id) }
func tlMoreID(id uint64) string { return "tlm-" + utoa(id) }

// isRootCause marks the phase the operation's error came from: the page
// scrolls to it on load.
func isRootCause(v OperationView, p *engine.Phase) bool {
	e := v.Op.Error
	return e != nil && e.PhaseID != nil && *e.PhaseID == p.ID
}
