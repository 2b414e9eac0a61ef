package shopify

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// Ticket lines are fulfilled (issue 14 §5). Tickets need no shipping, so a
// recorded paid sale's ticket line items are marked fulfilled in the shop,
// without notifying the buyer; otherwise the merchant's admin would show
// every ticket order unfulfilled forever.
//
//   - What: the shop order's fulfillment orders (Order.fulfillmentOrders)
//     assigned to the app's location (the fulfillment service's, from shop
//     set-up) and still OPEN or IN_PROGRESS; of those, the line items that
//     are ours (a line item eventops recorded an order for) with a
//     remaining quantity. One fulfillmentCreate fulfils them all, with
//     notifyCustomer false. The merchant's other goods in the same order
//     are left alone.
//   - Durable: the engine lists the shop order on the company's shop
//     connection (Shop.Unfulfilled) in the commit that records the sale;
//     it leaves the list once the shop shows nothing of ours left to fulfil
//     (after a fulfillmentCreate, or when a read finds it so: fulfilled,
//     refunded, cancelled or gone). A crash between the recording and the
//     fulfilment leaves it listed, and the next attempt (after the next
//     recorded sale, after each reconciliation pass, so at start-up too)
//     reads before it writes: a fulfillment whose answer was lost shows as
//     a CLOSED fulfillment order, which is never fulfilled again (the shop
//     would refuse it). fulfillmentCreate has no idempotency key, so it is
//     never re-sent blindly (Call.Resendable false).
//   - A refusal (userErrors) is logged and the order leaves the list: the
//     merchant can fulfil it by hand; nothing eventops could retry would
//     change the answer.
//   - One fulfilment at a time per company (kickFulfil).

// qFulfillmentOrders reads an order's fulfillment orders with their lines.
const qFulfillmentOrders = `query FulfillmentOrders($id: ID!) {
  order(id: $id) {
    id
    fulfillmentOrders(first: 5) {
      nodes {
        id
        status
        requestStatus
        assignedLocation { location { id } }
        lineItems(first: 50) { nodes { id remainingQuantity lineItem { id } } }
      }
    }
  }
}`

// mFulfillmentCreate fulfils fulfillment order line items.
const mFulfillmentCreate = `mutation FulfillmentCreate($fulfillment: FulfillmentInput!) {
  fulfillmentCreate(fulfillment: $fulfillment) {
    fulfillment { id status }
    userErrors { field message }
  }
}`

// mAcceptFulfillmentRequest accepts the merchant's fulfillment request of
// a fulfillment order assigned to our fulfillment service.
const mAcceptFulfillmentRequest = `mutation AcceptFulfillmentRequest($id: ID!, $message: String) {
  fulfillmentOrderAcceptFulfillmentRequest(id: $id, message: $message) {
    fulfillmentOrder { id status requestStatus }
    userErrors { field message }
  }
}`

// errNotRequested: a fulfillment order of ours at our location has no
// fulfillment request yet (UNSUBMITTED): the order stays listed, and a
// later attempt fulfils it once the merchant has requested it.
var errNotRequested = errors.New("no fulfillment request submitted yet")

// kickFulfil fulfils the company's listed shop orders in the background,
// one run at a time per company: a kick during a run makes one more run.
func (r *Reconciler) kickFulfil(companyID uint64) {
	r.mu.Lock()
	if r.ctx.Err() != nil || r.eng == nil || r.s == nil {
		r.mu.Unlock()
		return
	}
	if r.fulfilling == nil {
		r.fulfilling = map[uint64]bool{}
	}
	if again, running := r.fulfilling[companyID]; running {
		if !again {
			r.fulfilling[companyID] = true
		}
		r.mu.Unlock()
		return
	}
	r.fulfilling[companyID] = false
	r.wg.Add(1)
	r.mu.Unlock()
	go func() {
		defer r.wg.Done()
		for {
			if _, err := r.fulfil(r.ctx, companyID); err != nil && r.ctx.Err() == nil {
				_, s := r.bound()
				s.log.Warn("ticket lines not fulfilled yet: the next attempt retries", "company", companyID, "err", err)
			}
			r.mu.Lock()
			if !r.fulfilling[companyID] || r.ctx.Err() != nil {
				delete(r.fulfilling, companyID)
				r.mu.Unlock()
				return
			}
			r.fulfilling[companyID] = false
			r.mu.Unlock()
		}
	}()
}

// SaleRecorded tells the reconciler that a sale of the company's shop was
// recorded (by a webhook): its ticket lines are fulfilled in the
// background.
func (r *Reconciler) SaleRecorded(companyID uint64) { r.kickFulfil(companyID) }

// fulfil works through the company's listed shop orders and reports how
// many it took off the list.
func (r *Reconciler) fulfil(ctx context.Context, companyID uint64) (int, error) {
	eng, s := r.bound()
	c, err := eng.Company(companyID)
	if err != nil {
		return 0, err
	}
	if c == nil || !c.Shopify() || c.Shop.Revoked || len(c.Shop.Unfulfilled) == 0 {
		return 0, nil
	}
	sec, err := eng.OpenShopSecrets(c.Shop)
	if err != nil || !hasToken(c, sec) {
		return 0, err
	}
	log := s.log.With("company", c.ID, "shop", c.Shop.Domain)
	client, err := s.shopClient(c, eng, log)
	if err != nil {
		return 0, err
	}
	location := ""
	if c.Shop.Setup != nil {
		location = c.Shop.Setup.LocationID
	}
	done := 0
	for _, id := range c.Shop.Unfulfilled {
		if ctx.Err() != nil {
			return done, ctx.Err()
		}
		ours, err := eng.ShopOrderLines(companyID, id)
		if err != nil {
			return done, err
		}
		lines := map[string]bool{}
		for _, o := range ours {
			if o.ShopifyLineItemID != "" {
				lines[o.ShopifyLineItemID] = true
			}
		}
		n, err := fulfilOrder(ctx, client, id, location, lines)
		if errors.Is(err, errNotRequested) {
			log.Info("ticket lines wait for the merchant's fulfillment request", "order", id)
			continue
		}
		if err != nil {
			return done, err
		}
		if n > 0 {
			log.Info("ticket lines fulfilled in the shop", "order", id, "items", n)
		}
		if err := eng.ShopOrderFulfilled(ctx, companyID, id); err != nil {
			return done, err
		}
		done++
	}
	return done, nil
}

// fulfilOrder fulfils what is left of our line items of a shop order at
// location ("" any) and reports how many items it fulfilled. An error
// means the order stays listed; nil means nothing of ours is left to fulfil
// (or the shop refused, which was logged).
func fulfilOrder(ctx context.Context, client *Client, orderID, location string, ours map[string]bool) (int, error) {
	var read struct {
		Order *struct {
			FulfillmentOrders struct {
				Nodes []struct {
					ID               string `json:"id"`
					Status           string `json:"status"`
					RequestStatus    string `json:"requestStatus"`
					AssignedLocation struct {
						Location *struct {
							ID string `json:"id"`
						} `json:"location"`
					} `json:"assignedLocation"`
					LineItems struct {
						Nodes []struct {
							ID                string `json:"id"`
							RemainingQuantity int    `json:"remainingQuantity"`
							LineItem          struct {
								ID string `json:"id"`
							} `json:"lineItem"`
						} `json:"nodes"`
					} `json:"lineItems"`
				} `json:"nodes"`
			} `json:"fulfillmentOrders"`
		} `json:"order"`
	}
	if err := client.Do(ctx, Call{Name: "FulfillmentOrders", Query: qFulfillmentOrders, Resendable: true,
		Variables: map[string]any{"id": orderID}}, &read); err != nil {
		return 0, fmt.Errorf("read the fulfillment orders of %s: %w", orderID, err)
	}
	if read.Order == nil {
		return 0, nil // gone from the shop (or too old to read): nothing to fulfil
	}
	var groups []map[string]any
	items := 0
	waiting := false
	for _, fo := range read.Order.FulfillmentOrders.Nodes {
		if !slices.Contains([]string{"OPEN", "IN_PROGRESS"}, fo.Status) {
			continue
		}
		if loc := fo.AssignedLocation.Location; location != "" && (loc == nil || loc.ID != location) {
			continue
		}
		var lines []map[string]any
		n := 0
		for _, li := range fo.LineItems.Nodes {
			if ours[li.LineItem.ID] && li.RemainingQuantity > 0 {
				lines = append(lines, map[string]any{"id": li.ID, "quantity": li.RemainingQuantity})
				n += li.RemainingQuantity
			}
		}
		if len(lines) == 0 {
			continue
		}
		switch fo.RequestStatus {
		case "SUBMITTED":
			ok, err := acceptRequest(ctx, client, orderID, fo.ID)
			if err != nil {
				return 0, err
			}
			if !ok {
				continue
			}
		case "UNSUBMITTED":
			waiting = true
			continue
		case "ACCEPTED", "":
		default:
			continue // rejected, closed or being cancelled: not ours to fulfil
		}
		groups = append(groups, map[string]any{"fulfillmentOrderId": fo.ID, "fulfillmentOrderLineItems": lines})
		items += n
	}
	if len(groups) == 0 {
		if waiting {
			return 0, errNotRequested
		}
		return 0, nil
	}
	var out struct {
		FulfillmentCreate struct {
			Fulfillment *struct {
				ID string `json:"id"`
			} `json:"fulfillment"`
			UserErrors UserErrors `json:"userErrors"`
		} `json:"fulfillmentCreate"`
	}
	err := client.Do(ctx, Call{Name: "FulfillmentCreate", Query: mFulfillmentCreate, Variables: map[string]any{
		"fulfillment": map[string]any{"notifyCustomer": false, "lineItemsByFulfillmentOrder": groups},
	}}, &out)
	if err != nil {
		return 0, fmt.Errorf("fulfil the ticket lines of %s: %w", orderID, err)
	}
	if ue := out.FulfillmentCreate.UserErrors; len(ue) > 0 {
		client.log.Warn("the shop refused to fulfil ticket lines: left to the merchant", "order", orderID, "errors", ue.Error())
		return 0, nil
	}
	return items, nil
}

// acceptRequest accepts the fulfillment request of a fulfillment order
// assigned to our fulfillment service: a service fulfils only what it
// accepted. It is not re-sent blindly (a second accept is refused): after
// a lost answer the next attempt reads the fulfillment order again and
// finds it ACCEPTED. A refusal is logged and reported false (left to the
// merchant).
func acceptRequest(ctx context.Context, client *Client, orderID, foID string) (bool, error) {
	var out struct {
		Accept struct {
			UserErrors UserErrors `json:"userErrors"`
		} `json:"fulfillmentOrderAcceptFulfillmentRequest"`
	}
	err := client.Do(ctx, Call{Name: "AcceptFulfillmentRequest", Query: mAcceptFulfillmentRequest, Variables: map[string]any{
		"id": foID, "message": "Tickets: delivered digitally",
	}}, &out)
	if err != nil {
		return false, fmt.Errorf("accept the fulfillment request of %s: %w", orderID, err)
	}
	if ue := out.Accept.UserErrors; len(ue) > 0 {
		client.log.Warn("the shop refused our acceptance of a fulfillment request: left to the merchant", "order", orderID, "errors", ue.Error())
		return false, nil
	}
	return true, nil
}
