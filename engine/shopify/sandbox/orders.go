package sandbox

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Orders and refunds. A buyer's order moves inventory from available to
// committed at one location; a refund takes the refunded quantity out of
// committed and, unless NO_RESTOCK, puts it back into available. Each sends
// its webhook (orders/create, refunds/create, orders/cancelled).

// refundReq is one line of a refund request.
type refundReq struct {
	LineItemID  int64
	Quantity    int64
	RestockType string // CANCEL, RETURN, LEGACY_RESTOCK or NO_RESTOCK
	LocationID  int64
}

// placeOrder sells qty of a variant, as a buyer's checkout would. With loc
// set the sale happens at that location; otherwise at the location where
// the item has the most available (the lowest id on a tie). partial sells
// what is available when that is less than qty (sell_between); otherwise
// a tracked DENY variant without enough available is refused.
//
// presCur and pres, when set, are the buyer's currency and the unit price
// they paid in it.
func (x *execCtx) placeOrder(v *variant, qty int64, loc int64, partial bool, presCur string, pres *int64) (*order, error) {
	st := x.st
	if qty <= 0 {
		return nil, fmt.Errorf("%w: quantity must be at least 1", ErrInvalid)
	}
	p := st.Products[v.ProductID]
	it := st.Items[v.ItemID]
	if p == nil || it == nil {
		return nil, fmt.Errorf("%w: variant %d has no product or inventory item", ErrInvalid, v.ID)
	}
	var lvl *invLevel
	if loc != 0 {
		lvl = it.Levels[loc]
	} else {
		for _, id := range it.levelIDs() {
			if l := it.Levels[id]; lvl == nil || l.Available > lvl.Available {
				lvl = l
			}
		}
	}
	tracked := it.Tracked && lvl != nil
	if it.Tracked && lvl == nil {
		return nil, fmt.Errorf("%w: variant %d is not stocked anywhere", ErrInvalid, v.ID)
	}
	if tracked && v.InventoryPolicy == "DENY" && lvl.Available < qty {
		if !partial || lvl.Available <= 0 {
			return nil, fmt.Errorf("%w: not enough inventory: %d available, %d wanted", ErrInvalid, lvl.Available, qty)
		}
		qty = lvl.Available
	}
	locID := st.defaultLocation().ID
	if lvl != nil {
		locID = lvl.LocationID
	}
	now := x.now
	o := &order{ID: st.next(seqOrder), LocationID: locID, Currency: st.currency(), CreatedAt: now, UpdatedAt: now}
	o.Number = orderNumberOffset + o.ID
	// The buyer pays the whole order at checkout: one SALE transaction.
	o.SaleID, o.Gateway = st.next(seqOrderTransact), saleGateway
	if pres != nil {
		o.PresentmentCurrency = presCur
	}
	line := lineItem{
		ID:               st.next(seqLineItem),
		VariantID:        v.ID,
		ProductID:        p.ID,
		ItemID:           it.ID,
		Title:            p.Title,
		VariantTitle:     v.title(),
		SKU:              v.SKU,
		Quantity:         qty,
		PriceCents:       v.PriceCents,
		PresentmentCents: pres,
		RequiresShipping: it.RequiresShipping,
	}
	if line.VariantTitle == "Default Title" {
		line.VariantTitle = ""
	}
	if tracked {
		lvl.Available -= qty
		lvl.Committed += qty
		lvl.UpdatedAt, it.UpdatedAt = now, now
		line.Committed = qty
		st.markID(kindItem, it.ID)
	}
	o.Lines = []lineItem{line}
	x.openFulfillmentOrder(o)
	st.Orders[o.ID] = o
	st.markID(kindOrder, o.ID)
	x.queueWebhook("ORDERS_CREATE", x.orderPayload(o))
	return o, nil
}

// checkRefund validates refund lines against what is still refundable.
func (x *execCtx) checkRefund(o *order, reqs []refundReq, base []any) []userError {
	var errs []userError
	want := map[int64]int64{}
	for i, q := range reqs {
		at := func(f string) []string { return fieldPath(append(append([]any{}, base...), i, f)...) }
		li := o.line(q.LineItemID)
		switch {
		case li == nil:
			errs = append(errs, uerr("", "Line item does not exist on this order", at("lineItemId")...))
			continue
		case q.Quantity <= 0:
			errs = append(errs, uerr("", "Quantity must be greater than 0", at("quantity")...))
			continue
		case q.LocationID != 0 && x.st.Locations[q.LocationID] == nil:
			errs = append(errs, uerr("", "Location does not exist", at("locationId")...))
			continue
		}
		want[q.LineItemID] += q.Quantity
		if left := li.Quantity - li.Refunded; want[q.LineItemID] > left {
			errs = append(errs, uerr("", fmt.Sprintf("Quantity cannot refund more items than were purchased (%d refundable)", left), at("quantity")...))
		}
	}
	return errs
}

// applyRefund records a refund and moves the inventory back. notify sends
// refunds/create.
func (x *execCtx) applyRefund(o *order, reqs []refundReq, source, note string, amount *int64, notify bool) *refund {
	st, now := x.st, x.now
	r := &refund{ID: st.next(seqRefund), OrderID: o.ID, Note: note, Source: source, CreatedAt: now, Transaction: st.next(seqOrderTransact)}
	for _, q := range reqs {
		li := o.line(q.LineItemID)
		rl := refundLine{ID: st.next(seqRefundLine), LineItemID: li.ID, Quantity: q.Quantity, RestockType: q.RestockType,
			LocationID: q.LocationID, SubtotalCents: li.PriceCents * q.Quantity}
		if rl.restocked() && rl.LocationID == 0 {
			rl.LocationID = o.LocationID
		}
		li.Refunded += q.Quantity
		if dec := min(q.Quantity, li.Committed); dec > 0 {
			li.Committed -= dec
			if it := st.Items[li.ItemID]; it != nil {
				if l := it.Levels[o.LocationID]; l != nil {
					l.Committed = max(0, l.Committed-dec)
					l.UpdatedAt = now
				}
				if rl.restocked() {
					l := it.Levels[rl.LocationID]
					if l == nil {
						l = &invLevel{ItemID: it.ID, LocationID: rl.LocationID, CreatedAt: now}
						it.Levels[rl.LocationID] = l
					}
					l.Available += dec
					l.UpdatedAt = now
				}
				it.UpdatedAt = now
				st.markID(kindItem, it.ID)
			}
		}
		r.Lines = append(r.Lines, rl)
		r.AmountCents += rl.SubtotalCents
	}
	if amount != nil {
		r.AmountCents = *amount
	}
	st.Refunds[r.ID] = r
	o.RefundIDs = append(o.RefundIDs, r.ID)
	o.UpdatedAt = now
	st.markID(kindRefund, r.ID)
	st.markID(kindOrder, o.ID)
	if notify {
		x.queueWebhook("REFUNDS_CREATE", x.refundPayload(o, r))
	}
	return r
}

// remaining lists what is still refundable of an order, with one restock type.
func remaining(o *order, restock string) []refundReq {
	var out []refundReq
	for _, l := range o.Lines {
		if left := l.Quantity - l.Refunded; left > 0 {
			out = append(out, refundReq{LineItemID: l.ID, Quantity: left, RestockType: restock})
		}
	}
	return out
}

func refundCreate(x *execCtx, a map[string]any) *mutResult {
	st := x.st
	in := objArg(a, "input")
	o := st.Orders[idOf(in["orderId"], "Order")]
	if o == nil {
		return failed(uerr("", "Order does not exist", "input", "orderId"))
	}
	lines, _ := listArg(in, "refundLineItems")
	reqs := make([]refundReq, 0, len(lines))
	for _, raw := range lines {
		m, _ := raw.(map[string]any)
		q, _ := int64Arg(m, "quantity")
		restock := strArg(m, "restockType")
		if restock == "" {
			restock = "NO_RESTOCK"
		}
		if restock == "LEGACY_RESTOCK" {
			restock = "RETURN"
		}
		reqs = append(reqs, refundReq{
			LineItemID:  idOf(m["lineItemId"], "LineItem"),
			Quantity:    q,
			RestockType: restock,
			LocationID:  idOf(m["locationId"], "Location"),
		})
	}
	errs := x.checkRefund(o, reqs, []any{"input", "refundLineItems"})
	txs, _ := listArg(in, "transactions")
	if len(reqs) == 0 && len(txs) == 0 && len(errs) == 0 {
		errs = append(errs, uerr("", "A refund needs line items or transactions", "input", "refundLineItems"))
	}
	// Only transactions move money: a refund without them records the
	// returned items and refunds nothing, as on a real shop.
	amount, terrs := x.refundAmount(o, in, txs)
	errs = append(errs, terrs...)
	if len(errs) > 0 {
		return failed(errs...)
	}
	r := x.applyRefund(o, reqs, "api", strArg(in, "note"), &amount, true)
	return (&mutResult{}).ref("refund", gid("Refund", r.ID)).ref("order", gid("Order", o.ID))
}

// cancelOrder cancels an order: everything still refundable is refunded
// with a CANCEL restock, and orders/cancelled is sent (not refunds/create).
func (x *execCtx) cancelOrder(o *order, reason string) error {
	if o.CancelledAt != nil {
		return fmt.Errorf("%w: order %d is already cancelled", ErrInvalid, o.ID)
	}
	if reqs := remaining(o, "CANCEL"); len(reqs) > 0 {
		x.applyRefund(o, reqs, "cancel", "", nil, false)
	}
	now := x.now
	o.CancelledAt = &now
	o.CancelReason = strings.ToUpper(reason)
	o.UpdatedAt = now
	x.st.markID(kindOrder, o.ID)
	x.queueWebhook("ORDERS_CANCELLED", x.orderPayload(o))
	return nil
}

// --- REST-shaped webhook bodies ----------------------------------------------------

type restOrder struct {
	ID                  int64          `json:"id"`
	AdminGraphqlAPIID   string         `json:"admin_graphql_api_id"`
	Name                string         `json:"name"`
	Number              int64          `json:"number"`
	OrderNumber         int64          `json:"order_number"`
	Email               string         `json:"email"`
	CreatedAt           string         `json:"created_at"`
	UpdatedAt           string         `json:"updated_at"`
	ProcessedAt         string         `json:"processed_at"`
	CancelledAt         *string        `json:"cancelled_at"`
	CancelReason        *string        `json:"cancel_reason"`
	Currency            string         `json:"currency"`
	PresentmentCurrency string         `json:"presentment_currency"`
	FinancialStatus     string         `json:"financial_status"`
	FulfillmentStatus   *string        `json:"fulfillment_status"`
	TotalPrice          string         `json:"total_price"`
	TotalPriceSet       restMoneySet   `json:"total_price_set"`
	SubtotalPrice       string         `json:"subtotal_price"`
	SubtotalPriceSet    restMoneySet   `json:"subtotal_price_set"`
	CurrentTotalPrice   string         `json:"current_total_price"`
	CurrentTotalSet     restMoneySet   `json:"current_total_price_set"`
	TotalTax            string         `json:"total_tax"`
	Test                bool           `json:"test"`
	LocationID          *int64         `json:"location_id"`
	LineItems           []restLineItem `json:"line_items"`
	Refunds             []restRefund   `json:"refunds"`
}

type restLineItem struct {
	ID                         int64        `json:"id"`
	AdminGraphqlAPIID          string       `json:"admin_graphql_api_id"`
	VariantID                  *int64       `json:"variant_id"`
	ProductID                  *int64       `json:"product_id"`
	Title                      string       `json:"title"`
	VariantTitle               *string      `json:"variant_title"`
	Name                       string       `json:"name"`
	SKU                        *string      `json:"sku"`
	Quantity                   int64        `json:"quantity"`
	CurrentQuantity            int64        `json:"current_quantity"`
	FulfillableQuantity        int64        `json:"fulfillable_quantity"`
	Price                      string       `json:"price"`
	PriceSet                   restMoneySet `json:"price_set"`
	RequiresShipping           bool         `json:"requires_shipping"`
	Taxable                    bool         `json:"taxable"`
	GiftCard                   bool         `json:"gift_card"`
	FulfillmentService         string       `json:"fulfillment_service"`
	FulfillmentStatus          *string      `json:"fulfillment_status"`
	VariantInventoryManagement *string      `json:"variant_inventory_management"`
}

type restRefund struct {
	ID                int64             `json:"id"`
	AdminGraphqlAPIID string            `json:"admin_graphql_api_id"`
	OrderID           int64             `json:"order_id"`
	CreatedAt         string            `json:"created_at"`
	ProcessedAt       string            `json:"processed_at"`
	Note              *string           `json:"note"`
	Restock           bool              `json:"restock"`
	RefundLineItems   []restRefundLine  `json:"refund_line_items"`
	Transactions      []restTransaction `json:"transactions"`
	OrderAdjustments  []json.RawMessage `json:"order_adjustments"`
}

type restRefundLine struct {
	ID          int64        `json:"id"`
	LineItemID  int64        `json:"line_item_id"`
	Quantity    int64        `json:"quantity"`
	RestockType string       `json:"restock_type"`
	LocationID  *int64       `json:"location_id"`
	Subtotal    float64      `json:"subtotal"`
	TotalTax    float64      `json:"total_tax"`
	LineItem    restLineItem `json:"line_item"`
}

// restMoneySet is the REST spelling of a MoneyBag: the amount in the
// shop's currency and in the buyer's, as Shopify sends them beside every
// plain amount (which is in the shop's currency).
type restMoneySet struct {
	ShopMoney        restMoney `json:"shop_money"`
	PresentmentMoney restMoney `json:"presentment_money"`
}

type restMoney struct {
	Amount       string `json:"amount"`
	CurrencyCode string `json:"currency_code"`
}

func (b moneyBagR) rest() restMoneySet {
	return restMoneySet{
		ShopMoney:        restMoney{formatMoney(b.shop, b.currency), b.currency},
		PresentmentMoney: restMoney{formatMoney(b.pres, b.presCur), b.presCur},
	}
}

type restTransaction struct {
	ID                int64  `json:"id"`
	AdminGraphqlAPIID string `json:"admin_graphql_api_id"`
	OrderID           int64  `json:"order_id"`
	Kind              string `json:"kind"`
	Gateway           string `json:"gateway"`
	Status            string `json:"status"`
	Amount            string `json:"amount"`
	Currency          string `json:"currency"`
	CreatedAt         string `json:"created_at"`
}

func ptr[T any](v T) *T { return &v }

// decimalNumber is minor units as the JSON number some REST fields are
// (refund line subtotals): the decimal string read as a float, which is
// what Shopify sends.
func decimalNumber(minor int64, currency string) float64 {
	f, _ := strconv.ParseFloat(formatMoney(minor, currency), 64)
	return f
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (x *execCtx) restLine(o *order, l *lineItem) restLineItem {
	st := x.st
	r := restLineItem{
		ID:                  l.ID,
		AdminGraphqlAPIID:   gid("LineItem", l.ID),
		VariantID:           ptr(l.VariantID),
		ProductID:           ptr(l.ProductID),
		Title:               l.Title,
		VariantTitle:        optString(l.VariantTitle),
		Name:                l.Title,
		SKU:                 optString(l.SKU),
		Quantity:            l.Quantity,
		CurrentQuantity:     l.Quantity - l.Refunded,
		FulfillableQuantity: l.Quantity - l.Refunded,
		Price:               formatMoney(l.PriceCents, o.Currency),
		PriceSet:            moneyBagR{l.PriceCents, l.presentmentPrice(), o.Currency, o.presentmentCurrency()}.rest(),
		RequiresShipping:    l.RequiresShipping,
		Taxable:             true,
		FulfillmentService:  "manual",
	}
	if l.VariantTitle != "" {
		r.Name = l.Title + " - " + l.VariantTitle
	}
	if loc := st.Locations[o.LocationID]; loc != nil && loc.ServiceID != 0 {
		if f := st.Services[loc.ServiceID]; f != nil {
			r.FulfillmentService = f.Handle
		}
	}
	if it := st.Items[l.ItemID]; it != nil && it.Tracked {
		r.VariantInventoryManagement = ptr("shopify")
	}
	return r
}

func (x *execCtx) orderPayload(o *order) restOrder {
	st := x.st
	total := o.totalCents()
	ro := restOrder{
		ID:                  o.ID,
		AdminGraphqlAPIID:   gid("Order", o.ID),
		Name:                o.name(),
		Number:              o.ID,
		OrderNumber:         o.Number,
		Email:               "buyer@example.com",
		CreatedAt:           timeString(o.CreatedAt),
		UpdatedAt:           timeString(o.UpdatedAt),
		ProcessedAt:         timeString(o.CreatedAt),
		Currency:            o.Currency,
		PresentmentCurrency: o.presentmentCurrency(),
		FinancialStatus:     o.financialStatus(st),
		TotalPrice:          formatMoney(total, o.Currency),
		TotalPriceSet:       moneyBagR{total, o.presentmentTotal(), o.Currency, o.presentmentCurrency()}.rest(),
		SubtotalPrice:       formatMoney(total, o.Currency),
		SubtotalPriceSet:    moneyBagR{total, o.presentmentTotal(), o.Currency, o.presentmentCurrency()}.rest(),
		CurrentTotalPrice:   formatMoney(total-o.refundedCents(st), o.Currency),
		CurrentTotalSet:     bagOf(o, total-o.refundedCents(st), o.Currency).rest(),
		TotalTax:            formatMoney(0, o.Currency),
		LocationID:          ptr(o.LocationID),
		LineItems:           []restLineItem{},
		Refunds:             []restRefund{},
	}
	if o.CancelledAt != nil {
		ro.CancelledAt = ptr(timeString(*o.CancelledAt))
		ro.CancelReason = ptr(strings.ToLower(o.CancelReason))
	}
	for i := range o.Lines {
		ro.LineItems = append(ro.LineItems, x.restLine(o, &o.Lines[i]))
	}
	for _, id := range o.RefundIDs {
		if r := st.Refunds[id]; r != nil {
			ro.Refunds = append(ro.Refunds, x.refundPayload(o, r))
		}
	}
	return ro
}

func (x *execCtx) refundPayload(o *order, r *refund) restRefund {
	rr := restRefund{
		ID:                r.ID,
		AdminGraphqlAPIID: gid("Refund", r.ID),
		OrderID:           o.ID,
		CreatedAt:         timeString(r.CreatedAt),
		ProcessedAt:       timeString(r.CreatedAt),
		Note:              optString(r.Note),
		RefundLineItems:   []restRefundLine{},
		OrderAdjustments:  []json.RawMessage{},
		Transactions:      []restTransaction{},
	}
	if r.AmountCents > 0 { // a refund that returns no money has no transaction
		gw := o.Gateway
		if gw == "" {
			gw = "manual"
		}
		rr.Transactions = append(rr.Transactions, restTransaction{
			ID:                r.Transaction,
			AdminGraphqlAPIID: gid("OrderTransaction", r.Transaction),
			OrderID:           o.ID,
			Kind:              "refund",
			Gateway:           gw,
			Status:            "success",
			Amount:            formatMoney(r.AmountCents, o.Currency),
			Currency:          o.Currency,
			CreatedAt:         timeString(r.CreatedAt),
		})
	}
	for _, l := range r.Lines {
		li := o.line(l.LineItemID)
		if li == nil {
			continue
		}
		rl := restRefundLine{
			ID:          l.ID,
			LineItemID:  l.LineItemID,
			Quantity:    l.Quantity,
			RestockType: strings.ToLower(l.RestockType),
			Subtotal:    decimalNumber(l.SubtotalCents, o.Currency),
			LineItem:    x.restLine(o, li),
		}
		if l.LocationID != 0 {
			rl.LocationID = ptr(l.LocationID)
		}
		if l.restocked() {
			rr.Restock = true
		}
		rr.RefundLineItems = append(rr.RefundLineItems, rl)
	}
	return rr
}

type restShop struct {
	ID              int64  `json:"id"`
	Name            string `json:"name"`
	Email           string `json:"email"`
	Domain          string `json:"domain"`
	MyshopifyDomain string `json:"myshopify_domain"`
	PlanName        string `json:"plan_name"`
	Currency        string `json:"currency"`
	IanaTimezone    string `json:"iana_timezone"`
	CreatedAt       string `json:"created_at"`
}

func (x *execCtx) shopPayload() restShop {
	st := x.st
	return restShop{
		ID:              st.Meta.Number,
		Name:            st.Meta.Name,
		Email:           "owner@" + st.domain(),
		Domain:          st.domain(),
		MyshopifyDomain: st.domain(),
		PlanName:        "partner_test",
		Currency:        st.currency(),
		IanaTimezone:    "UTC",
		CreatedAt:       timeString(st.Meta.CreatedAt),
	}
}
