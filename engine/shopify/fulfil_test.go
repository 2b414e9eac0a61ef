package shopify_test

import (
	"fmt"
	"testing"
	"time"

	"eventops/engine/shopify/sandbox"
)

// Ticket lines are fulfilled in the shop (issue 14 §5), without notifying
// the buyer, once and only once, also across a crash.

// shopOrder is the sandbox's view of one order.
func (h *hooked) shopOrder(id string) sandbox.OrderState {
	h.t.Helper()
	st, err := h.sb.State(h.shop.Name)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, o := range st.Orders {
		if o.ID == id {
			return o
		}
	}
	h.t.Fatalf("shop order %s not in the shop", id)
	return sandbox.OrderState{}
}

// fulfilled waits until the shop order's fulfillment order is closed.
func (h *hooked) fulfilled(id string) sandbox.OrderState {
	h.t.Helper()
	var o sandbox.OrderState
	until(h.t, 30*time.Second, func() bool { o = h.shopOrder(id); return o.FulfillmentStatus == "CLOSED" },
		func() string {
			return fmt.Sprintf("fulfillment order %s, fulfillments %+v", o.FulfillmentStatus, o.Fulfillments)
		})
	return o
}

// unfulfilled is the company's list of shop orders still to fulfil.
func (h *hooked) unfulfilled() []string {
	h.t.Helper()
	c, err := h.eng.Company(h.company.ID)
	if err != nil {
		h.t.Fatal(err)
	}
	return c.Shop.Unfulfilled
}

func TestTicketLinesAreFulfilledWithoutNotifyingTheBuyer(t *testing.T) {
	t.Parallel()
	h := setupHooked(t, options{reconcile: true})
	ev, op := h.create(h.input("Fulfilled", nil, regType{"GA", 1500, ptr(10)}))
	h.completed(op.ID)
	variant := h.structure(ev.ID).Products[0].Variants[0].ShopifyVariantID
	placed, err := h.sb.PlaceOrder(h.shop.Name, variant, 3)
	if err != nil {
		t.Fatal(err)
	}
	if placed.FulfillmentStatus != "OPEN" {
		t.Fatalf("a new order's fulfillment order is %q, want OPEN", placed.FulfillmentStatus)
	}
	h.delivered("orders/create", 1)
	o := h.fulfilled(placed.ID)
	if len(o.Fulfillments) != 1 || o.Fulfillments[0].NotifyCustomer || o.Fulfillments[0].Quantity != 3 || o.LineItems[0].Fulfilled != 3 {
		t.Fatalf("fulfillments %+v, lines %+v: want one of 3 items, the buyer not notified", o.Fulfillments, o.LineItems)
	}
	if o.FulfillmentRequest != "ACCEPTED" {
		t.Errorf("fulfillment request %q: our fulfillment service fulfilled without accepting it", o.FulfillmentRequest)
	}
	until(t, 30*time.Second, func() bool { return len(h.unfulfilled()) == 0 },
		func() string { return fmt.Sprintf("still listed: %v", h.unfulfilled()) })

	// The shop refuses to fulfil a closed fulfillment order, as Shopify does.
	var read struct {
		Order struct {
			FulfillmentOrders struct {
				Nodes []struct {
					ID        string `json:"id"`
					Status    string `json:"status"`
					LineItems struct {
						Nodes []struct {
							ID string `json:"id"`
						} `json:"nodes"`
					} `json:"lineItems"`
				} `json:"nodes"`
			} `json:"fulfillmentOrders"`
		} `json:"order"`
	}
	h.gql(`query($id: ID!) { order(id: $id) { fulfillmentOrders(first: 5) { nodes { id status lineItems(first: 5) { nodes { id } } } } } }`,
		map[string]any{"id": placed.ID}, &read)
	fos := read.Order.FulfillmentOrders.Nodes
	if len(fos) != 1 || fos[0].Status != "CLOSED" {
		t.Fatalf("fulfillment orders %+v", fos)
	}
	var again struct {
		FulfillmentCreate struct {
			Fulfillment *struct{ ID string } `json:"fulfillment"`
			UserErrors  []struct {
				Message string `json:"message"`
			} `json:"userErrors"`
		} `json:"fulfillmentCreate"`
	}
	h.gql(`mutation($f: FulfillmentInput!) { fulfillmentCreate(fulfillment: $f) { fulfillment { id } userErrors { field message } } }`,
		map[string]any{"f": map[string]any{"lineItemsByFulfillmentOrder": []any{map[string]any{"fulfillmentOrderId": fos[0].ID,
			"fulfillmentOrderLineItems": []any{map[string]any{"id": fos[0].LineItems.Nodes[0].ID, "quantity": 1}}}}}}, &again)
	if again.FulfillmentCreate.Fulfillment != nil || len(again.FulfillmentCreate.UserErrors) != 1 {
		t.Fatalf("fulfilling a closed fulfillment order: %+v", again.FulfillmentCreate)
	}
	if n := len(h.shopOrder(placed.ID).Fulfillments); n != 1 {
		t.Fatalf("%d fulfillments after the refused one, want 1", n)
	}
}

// The shop applies the fulfillment but its answer is lost, and eventops
// crashes before it learns so: the order stays listed, and after the
// restart the fulfilment reads the closed fulfillment order and does not
// fulfil again.
func TestTicketLinesFulfilledOnceAcrossALostAnswerAndACrash(t *testing.T) {
	t.Parallel()
	h := setupHooked(t, options{reconcile: true})
	ev, op := h.create(h.input("Fulfilled once", nil, regType{"GA", 1500, ptr(10)}))
	h.completed(op.ID)
	variant := h.structure(ev.ID).Products[0].Variants[0].ShopifyVariantID
	if err := h.sb.AddFaults(h.shop.Name, sandbox.FaultRule{Operation: "fulfillmentCreate", Fault: sandbox.FaultApplyThenDrop, Times: 1}); err != nil {
		t.Fatal(err)
	}
	placed, err := h.sb.PlaceOrder(h.shop.Name, variant, 2)
	if err != nil {
		t.Fatal(err)
	}
	h.delivered("orders/create", 1)
	h.fulfilled(placed.ID)
	// The lost answer left the order listed.
	until(t, 30*time.Second, func() bool {
		fs, _ := h.sb.Faults(h.shop.Name)
		return len(fs) == 0
	}, func() string { return "the fault never fired" })
	if got := h.unfulfilled(); len(got) != 1 || got[0] != placed.ID {
		t.Fatalf("listed after the lost answer: %v", got)
	}
	h.crash()
	h.start()
	until(t, 30*time.Second, func() bool { return len(h.unfulfilled()) == 0 },
		func() string { return fmt.Sprintf("still listed after the restart: %v", h.unfulfilled()) })
	o := h.shopOrder(placed.ID)
	if len(o.Fulfillments) != 1 || o.LineItems[0].Fulfilled != 2 {
		t.Fatalf("fulfillments %+v, lines %+v: want exactly one", o.Fulfillments, o.LineItems)
	}
	calls, _ := h.sb.Calls(h.shop.Name, "fulfillmentCreate")
	if len(calls) != 1 {
		t.Fatalf("%d fulfillmentCreate calls, want 1 (never re-sent blindly, never again once closed)", len(calls))
	}
}

// A fulfillment order at our fulfillment service's location is ours to
// fulfil only once we accepted its fulfillment request (Shopify's
// lifecycle for service-managed locations): the sandbox refuses a
// fulfillmentCreate before, as Shopify does, and accepts it after.
func TestFulfillmentServiceFulfilsOnlyWhatItAccepted(t *testing.T) {
	t.Parallel()
	h := setupHooked(t, options{}) // no reconciler: nothing fulfils behind the test
	ev, op := h.create(h.input("Requests", nil, regType{"GA", 1500, ptr(10)}))
	h.completed(op.ID)
	placed, err := h.sb.PlaceOrder(h.shop.Name, h.structure(ev.ID).Products[0].Variants[0].ShopifyVariantID, 2)
	if err != nil {
		t.Fatal(err)
	}
	if o := h.shopOrder(placed.ID); o.FulfillmentRequest != "SUBMITTED" || o.FulfillmentStatus != "OPEN" {
		t.Fatalf("a new order at the service's location: request %q, status %q; want SUBMITTED, OPEN", o.FulfillmentRequest, o.FulfillmentStatus)
	}
	var read struct {
		Order struct {
			FulfillmentOrders struct {
				Nodes []struct {
					ID string `json:"id"`
				} `json:"nodes"`
			} `json:"fulfillmentOrders"`
		} `json:"order"`
	}
	h.gql(`query($id: ID!) { order(id: $id) { fulfillmentOrders(first: 5) { nodes { id } } } }`, map[string]any{"id": placed.ID}, &read)
	fo := read.Order.FulfillmentOrders.Nodes[0].ID
	create := func() int {
		var out struct {
			FulfillmentCreate struct {
				UserErrors []struct {
					Message string `json:"message"`
				} `json:"userErrors"`
			} `json:"fulfillmentCreate"`
		}
		h.gql(`mutation($f: FulfillmentInput!) { fulfillmentCreate(fulfillment: $f) { fulfillment { id } userErrors { field message } } }`,
			map[string]any{"f": map[string]any{"lineItemsByFulfillmentOrder": []any{map[string]any{"fulfillmentOrderId": fo}}}}, &out)
		return len(out.FulfillmentCreate.UserErrors)
	}
	if n := create(); n != 1 {
		t.Fatalf("fulfillmentCreate before the request was accepted: %d userErrors, want 1", n)
	}
	var acc struct {
		Accept struct {
			FulfillmentOrder struct {
				Status        string `json:"status"`
				RequestStatus string `json:"requestStatus"`
			} `json:"fulfillmentOrder"`
		} `json:"fulfillmentOrderAcceptFulfillmentRequest"`
	}
	h.gql(`mutation($id: ID!) { fulfillmentOrderAcceptFulfillmentRequest(id: $id) { fulfillmentOrder { status requestStatus } userErrors { field message } } }`,
		map[string]any{"id": fo}, &acc)
	if got := acc.Accept.FulfillmentOrder; got.Status != "IN_PROGRESS" || got.RequestStatus != "ACCEPTED" {
		t.Fatalf("after accepting: %+v, want IN_PROGRESS, ACCEPTED", got)
	}
	if n := create(); n != 0 {
		t.Fatalf("fulfillmentCreate after the request was accepted: %d userErrors", n)
	}
	if o := h.shopOrder(placed.ID); o.FulfillmentStatus != "CLOSED" {
		t.Errorf("after fulfilling: %q, want CLOSED", o.FulfillmentStatus)
	}
}
