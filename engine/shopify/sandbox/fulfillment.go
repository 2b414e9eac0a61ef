package sandbox

import (
	"fmt"
	"time"

	"github.com/vektah/gqlparser/v2/ast"
)

// Fulfillment orders. Shopify creates them with the order, one per
// location the order is fulfilled from; the sandbox's orders sell at one
// location, so each order has one, assigned to that location (to its
// fulfillment service when the location is a service's). Its line items
// are the order's, each with what is left to fulfil: the quantity less
// what was refunded and what was fulfilled. Its status is computed:
//
//   - CLOSED when the order is cancelled or nothing is left to fulfil
//     (everything fulfilled or refunded);
//   - IN_PROGRESS when some was fulfilled and some is left;
//   - OPEN otherwise.
//
// Fulfillment requests. A fulfillment order assigned to a fulfillment
// service's location is the service's to fulfil only once it has accepted
// the merchant's fulfillment request (Shopify's FulfillmentOrder
// lifecycle: the merchant or an order management app submits a request,
// the service accepts or rejects it, and after accepting it creates
// fulfillments). The sandbox submits the request when the order is
// created (as a shop that sends fulfillment requests on payment does), so
// the order's fulfillment order starts OPEN with requestStatus SUBMITTED;
// fulfillmentOrderAcceptFulfillmentRequest moves it to ACCEPTED (status
// IN_PROGRESS), and fulfillmentCreate refuses, with a userError and
// nothing applied, a service's fulfillment order whose request is not
// accepted. One at a merchant's own location stays UNSUBMITTED and is
// fulfilled directly.
//
// fulfillmentCreate fulfils quantities of fulfillment order line items
// (all that is left of an order's when it names none) and refuses, with a
// userError and nothing applied, a fulfillment order that is CLOSED, an
// unknown one, a line item of another fulfillment order and a quantity
// above what is left, as Shopify refuses them. notifyCustomer is recorded
// on the fulfillment (tests assert that the buyer was not notified).

type fulfillment struct {
	ID             int64             `json:"id"`
	NotifyCustomer bool              `json:"notify_customer"`
	CreatedAt      time.Time         `json:"created_at"`
	Lines          []fulfillmentLine `json:"lines"`
}

type fulfillmentLine struct {
	LineItemID int64 `json:"line_item_id"`
	Quantity   int64 `json:"quantity"`
}

const (
	seqFulfillmentOrder     = "FulfillmentOrder"
	seqFulfillmentOrderLine = "FulfillmentOrderLineItem"
	seqFulfillment          = "Fulfillment"
)

// openFulfillmentOrder gives a new order its fulfillment order.
func (x *execCtx) openFulfillmentOrder(o *order) {
	o.FulfillmentOrderID = x.st.next(seqFulfillmentOrder)
	o.FulfillmentRequest = "UNSUBMITTED"
	if x.st.atService(o) {
		o.FulfillmentRequest = "SUBMITTED"
	}
	for i := range o.Lines {
		o.Lines[i].FulfillmentLineID = x.st.next(seqFulfillmentOrderLine)
	}
}

// remaining is what is left to fulfil of a line.
func (l *lineItem) unfulfilled() int64 { return max(0, l.Quantity-l.Refunded-l.Fulfilled) }

// atService reports whether the order is fulfilled from a fulfillment
// service's location.
func (st *shopState) atService(o *order) bool {
	l := st.Locations[o.LocationID]
	return l != nil && l.ServiceID != 0
}

// requestStatus is the order's fulfillment order's request status.
func (st *shopState) requestStatus(o *order) string {
	switch {
	case o.FulfillmentRequest != "":
		return o.FulfillmentRequest
	case st.atService(o):
		return "ACCEPTED"
	}
	return "UNSUBMITTED"
}

func (o *order) fulfillmentStatus() string {
	if o.CancelledAt != nil {
		return "CLOSED"
	}
	left, done := int64(0), int64(0)
	for i := range o.Lines {
		left += o.Lines[i].unfulfilled()
		done += o.Lines[i].Fulfilled
	}
	switch {
	case left == 0:
		return "CLOSED"
	case done > 0, o.FulfillmentRequest == "ACCEPTED":
		return "IN_PROGRESS"
	}
	return "OPEN"
}

func (o *order) fulfillmentLine(id int64) *lineItem {
	for i := range o.Lines {
		if o.Lines[i].FulfillmentLineID == id {
			return &o.Lines[i]
		}
	}
	return nil
}

func (st *shopState) orderOfFulfillment(foID int64) *order {
	if foID == 0 {
		return nil
	}
	for _, id := range sortedKeys(st.Orders) {
		if o := st.Orders[id]; o.FulfillmentOrderID == foID {
			return o
		}
	}
	return nil
}

func fulfillmentCreate(x *execCtx, a map[string]any) *mutResult {
	st := x.st
	in := objArg(a, "fulfillment")
	groups, _ := listArg(in, "lineItemsByFulfillmentOrder")
	if len(groups) == 0 {
		return failed(uerr("", "Line items by fulfillment order can't be blank", "fulfillment", "lineItemsByFulfillmentOrder"))
	}
	type take struct {
		o *order
		l *lineItem
		q int64
	}
	var takes []take
	var errs []userError
	for gi, raw := range groups {
		g, _ := raw.(map[string]any)
		at := func(f ...any) []string {
			return fieldPath(append([]any{"fulfillment", "lineItemsByFulfillmentOrder", gi}, f...)...)
		}
		foID := idOf(g["fulfillmentOrderId"], "FulfillmentOrder")
		o := st.orderOfFulfillment(foID)
		if o == nil || !x.visible(o) {
			errs = append(errs, uerr("", "Fulfillment order does not exist.", at("fulfillmentOrderId")...))
			continue
		}
		if s := o.fulfillmentStatus(); s == "CLOSED" {
			errs = append(errs, uerr("", fmt.Sprintf("Fulfillment order %s has an unfulfillable status= closed.", gid("FulfillmentOrder", foID)),
				at("fulfillmentOrderId")...))
			continue
		}
		if st.atService(o) && st.requestStatus(o) != "ACCEPTED" {
			errs = append(errs, uerr("", fmt.Sprintf("Fulfillment order %s is assigned to a fulfillment service that has not accepted its fulfillment request.",
				gid("FulfillmentOrder", foID)), at("fulfillmentOrderId")...))
			continue
		}
		lines, named := listArg(g, "fulfillmentOrderLineItems")
		if !named || len(lines) == 0 {
			for i := range o.Lines {
				if q := o.Lines[i].unfulfilled(); q > 0 {
					takes = append(takes, take{o, &o.Lines[i], q})
				}
			}
			continue
		}
		want := map[int64]int64{}
		for li, rawLine := range lines {
			m, _ := rawLine.(map[string]any)
			l := o.fulfillmentLine(idOf(m["id"], "FulfillmentOrderLineItem"))
			q, _ := int64Arg(m, "quantity")
			switch {
			case l == nil:
				errs = append(errs, uerr("", "Fulfillment order line item does not exist on this fulfillment order.",
					at("fulfillmentOrderLineItems", li, "id")...))
				continue
			case q <= 0:
				errs = append(errs, uerr("", "Quantity must be greater than 0.", at("fulfillmentOrderLineItems", li, "quantity")...))
				continue
			}
			want[l.ID] += q
			if want[l.ID] > l.unfulfilled() {
				errs = append(errs, uerr("", "Invalid fulfillment order line item quantity requested.",
					at("fulfillmentOrderLineItems", li, "quantity")...))
				continue
			}
			takes = append(takes, take{o, l, q})
		}
	}
	if len(errs) > 0 {
		return failed(errs...)
	}
	if len(takes) == 0 {
		return failed(uerr("", "Nothing is left to fulfil on these fulfillment orders.", "fulfillment", "lineItemsByFulfillmentOrder"))
	}
	notify, _ := in["notifyCustomer"].(bool)
	f := fulfillment{ID: st.next(seqFulfillment), NotifyCustomer: notify, CreatedAt: x.now}
	var touched []*order
	for _, t := range takes {
		t.l.Fulfilled += t.q
		f.Lines = append(f.Lines, fulfillmentLine{LineItemID: t.l.ID, Quantity: t.q})
		if len(touched) == 0 || touched[len(touched)-1] != t.o {
			touched = append(touched, t.o)
		}
	}
	// A fulfillment belongs to one order: the first's holds it (a client
	// fulfils one order per call).
	first := touched[0]
	first.Fulfillments = append(first.Fulfillments, f)
	for _, o := range touched {
		o.UpdatedAt = x.now
		st.markID(kindOrder, o.ID)
	}
	return (&mutResult{}).ref("fulfillment", gid("Fulfillment", f.ID))
}

// fulfillmentOrderAcceptFulfillmentRequest accepts the submitted
// fulfillment request of a fulfillment order at a service's location.
func fulfillmentOrderAcceptFulfillmentRequest(x *execCtx, a map[string]any) *mutResult {
	foID := idOf(a["id"], "FulfillmentOrder")
	o := x.st.orderOfFulfillment(foID)
	if o == nil || !x.visible(o) {
		return failed(uerr("", "Fulfillment order does not exist.", "id"))
	}
	if !x.st.atService(o) || x.st.requestStatus(o) != "SUBMITTED" || o.fulfillmentStatus() == "CLOSED" {
		return failed(uerr("", "Cannot accept fulfillment request for the fulfillment order.", "id"))
	}
	o.FulfillmentRequest = "ACCEPTED"
	o.UpdatedAt = x.now
	x.st.markID(kindOrder, o.ID)
	return (&mutResult{}).ref("fulfillmentOrder", gid("FulfillmentOrder", foID))
}

// --- resolvers -------------------------------------------------------------------

type fulfillmentOrderR struct{ o *order }

func (fulfillmentOrderR) typeName() string { return "FulfillmentOrder" }

func (r fulfillmentOrderR) field(x *execCtx, f *ast.Field, a map[string]any) (any, error) {
	o := r.o
	switch f.Name {
	case "id":
		return gid("FulfillmentOrder", o.FulfillmentOrderID), nil
	case "orderId":
		return gid("Order", o.ID), nil
	case "status":
		return o.fulfillmentStatus(), nil
	case "requestStatus":
		return x.st.requestStatus(o), nil
	case "assignedLocation":
		return assignedLocationR{x.st.Locations[o.LocationID]}, nil
	case "lineItems":
		items := make([]page, 0, len(o.Lines))
		for i := range o.Lines {
			items = append(items, page{o.Lines[i].FulfillmentLineID, fulfillmentOrderLineR{o, &o.Lines[i]}})
		}
		return paginate("FulfillmentOrderLineItem", items, a)
	}
	return nil, nil
}

type assignedLocationR struct{ l *location }

func (assignedLocationR) typeName() string { return "FulfillmentOrderAssignedLocation" }

func (r assignedLocationR) field(x *execCtx, f *ast.Field, _ map[string]any) (any, error) {
	switch f.Name {
	case "name":
		if r.l == nil {
			return "", nil
		}
		return r.l.Name, nil
	case "location":
		return x.locationObj(r.l), nil
	}
	return nil, nil
}

type fulfillmentOrderLineR struct {
	o *order
	l *lineItem
}

func (fulfillmentOrderLineR) typeName() string { return "FulfillmentOrderLineItem" }

func (r fulfillmentOrderLineR) field(_ *execCtx, f *ast.Field, _ map[string]any) (any, error) {
	l := r.l
	switch f.Name {
	case "id":
		return gid("FulfillmentOrderLineItem", l.FulfillmentLineID), nil
	case "totalQuantity":
		return l.Quantity, nil
	case "remainingQuantity":
		return l.unfulfilled(), nil
	case "sku":
		return nilString(l.SKU), nil
	case "lineItem":
		return lineR{r.o, l}, nil
	}
	return nil, nil
}

type fulfillmentR struct {
	o *order
	f *fulfillment
}

func (fulfillmentR) typeName() string { return "Fulfillment" }

func (r fulfillmentR) field(_ *execCtx, f *ast.Field, _ map[string]any) (any, error) {
	switch f.Name {
	case "id":
		return gid("Fulfillment", r.f.ID), nil
	case "status":
		return "SUCCESS", nil
	}
	return nil, nil
}

// fulfillmentObj finds a fulfillment by id.
func (st *shopState) fulfillmentObj(id int64) resolver {
	for _, oid := range sortedKeys(st.Orders) {
		o := st.Orders[oid]
		for i := range o.Fulfillments {
			if o.Fulfillments[i].ID == id {
				return fulfillmentR{o, &o.Fulfillments[i]}
			}
		}
	}
	return nil
}
