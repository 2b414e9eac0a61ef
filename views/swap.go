package views

import (
	"context"
	"io"

	"github.com/a-h/templ"

	"eventops/engine"
)

// Swap says whether a component renders as part of a page (the zero value)
// or as a fragment pushed over the websocket, and then how htmx's ws
// extension swaps it into the page (hx-swap-oob). Components take a Swap and
// nothing else changes between the page and the push: one component, one
// markup.
type Swap struct {
	oob string
}

// InPage renders a component as part of a full page.
var InPage = Swap{}

// Replace swaps the element for the one in the page with the same id.
var Replace = Swap{oob: "true"}

// Delete removes the element with the same id from the page.
var Delete = Swap{oob: "delete"}

// Prepend inserts the element's children first into the element with id.
func Prepend(id string) Swap { return Swap{oob: "afterbegin:#" + id} }

// Append inserts the element's children last into the element with id.
func Append(id string) Swap { return Swap{oob: "beforeend:#" + id} }

// Before inserts the element's children just before the element with id.
func Before(id string) Swap { return Swap{oob: "beforebegin:#" + id} }

// Pushed reports whether the component is rendered for the websocket.
func (s Swap) Pushed() bool { return s.oob != "" }

func (s Swap) attrs() templ.Attributes {
	if s.oob == "" {
		return nil
	}
	return templ.Attributes{"hx-swap-oob": s.oob}
}

// Element ids of everything the websocket swaps. A pushed fragment and the
// page section it replaces share the id.
const (
	IDCounts        = "counts"
	IDChart         = "chart"
	IDFailures      = "failures"
	IDFailureGroups = "failure-groups"
	IDOpSummary     = "op-summary"
	IDOpTree        = "op-tree"
	IDOpRefunds     = "op-refunds"
	IDOpTimeline    = "op-timeline"
	IDOpJSON        = "op-json"
	IDOpRows        = "op-rows"
	IDEventLive     = "event-live"
	rowIDPrefix     = "op-row-"
	phaseIDPrefix   = "ph-"
)

// RowID is the id of an operation's row in an operations table.
func RowID(opID uint64) string { return rowIDPrefix + utoa(opID) }

// Push is one message for the websocket: what is shown, and where it lands.
// A message is parsed by htmx inside a <template>, where a table row may
// stand on its own only if the message holds table parts alone, so rows
// travel in messages of their own.
type Push struct {
	Kind PushKind
	// Operation page.
	Op    *OperationView
	Delta *OpDelta
	// Operations tables.
	Row    *Row
	RowsOf *Rows
	// Placement of an inserted row: the id of the row it goes before, ""
	// for the top of the table, or AtEnd.
	Anchor string
	AtEnd  bool
	// Aggregates.
	Counts   *Counts
	Overview *Overview
	Event    *EventView
	// Events list: each event's newest operation.
	Last []EventLast
}

// EventLast is an event's newest operation (nil: none yet).
type EventLast struct {
	EventID uint64
	Op      *engine.Operation
}

// PushKind names a kind of pushed message.
type PushKind int

const (
	PushOperation      PushKind = iota // the live parts of an operation page
	PushOperationDelta                 // what one transition changed of them
	PushRow                            // one row, changed in place
	PushRowInsert                      // one row, new to this table
	PushRowDelete                      // one row, removed
	PushRows                           // every row of a table (on connect)
	PushCounts                         // counts per status
	PushOverview                       // chart and latest failures
	PushEvent                          // the live part of an event page
	PushEventLast                      // events list: events' newest operations
)

// Render writes the message. This is the one place that says what is
// swapped where: pages render the same components with InPage.
func (p Push) Render(ctx context.Context, w io.Writer) error {
	switch p.Kind {
	case PushOperation:
		return OperationLive(*p.Op, Replace).Render(ctx, w)
	case PushOperationDelta:
		return OperationDelta(*p.Delta).Render(ctx, w)
	case PushRow:
		return OpRow(*p.Row, Replace).Render(ctx, w)
	case PushRowInsert:
		var s Swap
		switch {
		case p.AtEnd:
			s = Append(IDOpRows)
		case p.Anchor == "":
			s = Prepend(IDOpRows)
		default:
			s = Before(p.Anchor)
		}
		return RowInsert(*p.Row, s).Render(ctx, w)
	case PushRowDelete:
		return RowDelete(p.Row.Op.ID).Render(ctx, w)
	case PushRows:
		return OpRowsBody(*p.RowsOf, Replace).Render(ctx, w)
	case PushCounts:
		return CountsBar(*p.Counts, Replace).Render(ctx, w)
	case PushOverview:
		if err := Chart(p.Overview.Chart, Replace).Render(ctx, w); err != nil {
			return err
		}
		if err := FailureGroups(*p.Overview, Replace).Render(ctx, w); err != nil {
			return err
		}
		return Failures(*p.Overview, Replace).Render(ctx, w)
	case PushEvent:
		return EventLive(*p.Event, Replace).Render(ctx, w)
	case PushEventLast:
		for _, l := range p.Last {
			if err := EventLastOp(l.EventID, l.Op, Replace).Render(ctx, w); err != nil {
				return err
			}
		}
		return nil
	}
	return nil
}
