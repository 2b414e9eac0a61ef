package sandbox

// Orders and refunds (orders.go makes them): Order, LineItem, Refund,
// RefundLineItem and their money bags.

import (
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
)

// --- orders ----------------------------------------------------------------------------

// moneyBagR is a MoneyBag: an amount in the shop's currency and the same
// in the currency presented to the buyer.
type moneyBagR struct {
	shop, pres        int64
	currency, presCur string
}

// bagOf is shopMinor of order o's shop currency with its presentment
// amount at the order's rate (o nil: no presentment currency apart).
func bagOf(o *order, shopMinor int64, currency string) moneyBagR {
	if o == nil {
		return moneyBagR{shopMinor, shopMinor, currency, currency}
	}
	return moneyBagR{shopMinor, o.presentment(shopMinor), o.Currency, o.presentmentCurrency()}
}

func (moneyBagR) typeName() string { return "MoneyBag" }

func (r moneyBagR) field(_ *execCtx, f *ast.Field, _ map[string]any) (any, error) {
	if f.Name == "presentmentMoney" {
		return moneyR{r.pres, r.presCur}, nil
	}
	return moneyR{r.shop, r.currency}, nil
}

type moneyR struct {
	minor    int64
	currency string
}

func (moneyR) typeName() string { return "MoneyV2" }

func (r moneyR) field(_ *execCtx, f *ast.Field, _ map[string]any) (any, error) {
	if f.Name == "amount" {
		return formatMoney(r.minor, r.currency), nil
	}
	return r.currency, nil
}

type orderR struct{ o *order }

func (orderR) typeName() string { return "Order" }

func (r orderR) field(x *execCtx, f *ast.Field, a map[string]any) (any, error) {
	o, st := r.o, x.st
	switch f.Name {
	case "id":
		return gid("Order", o.ID), nil
	case "name":
		return o.name(), nil
	case "createdAt", "processedAt":
		return timeString(o.CreatedAt), nil
	case "updatedAt":
		return timeString(o.UpdatedAt), nil
	case "cancelledAt":
		if o.CancelledAt == nil {
			return nil, nil
		}
		return timeString(*o.CancelledAt), nil
	case "cancelReason":
		return nilString(o.CancelReason), nil
	case "closed", "test":
		return false, nil
	case "currencyCode":
		return o.Currency, nil
	case "presentmentCurrencyCode":
		return o.presentmentCurrency(), nil
	case "displayFinancialStatus":
		return strings.ToUpper(o.financialStatus(st)), nil
	case "totalPriceSet":
		return moneyBagR{o.totalCents(), o.presentmentTotal(), o.Currency, o.presentmentCurrency()}, nil
	case "currentTotalPriceSet":
		return bagOf(o, o.totalCents()-o.refundedCents(st), o.Currency), nil
	case "totalRefundedSet":
		return bagOf(o, o.refundedCents(st), o.Currency), nil
	case "suggestedRefund":
		return x.suggestRefund(o, a), nil
	case "refundable":
		for _, l := range o.Lines {
			if l.Quantity > l.Refunded {
				return true, nil
			}
		}
		return false, nil
	case "lineItems":
		items := make([]page, len(o.Lines))
		for i := range o.Lines {
			items[i] = page{o.Lines[i].ID, lineR{o, &o.Lines[i]}}
		}
		return paginate("LineItem", items, a)
	case "fulfillmentOrders":
		var items []page
		if o.FulfillmentOrderID != 0 {
			items = append(items, page{o.FulfillmentOrderID, fulfillmentOrderR{o}})
		}
		return paginate("FulfillmentOrder", items, a)
	case "refunds":
		var out []resolver
		for _, id := range o.RefundIDs {
			if rf := st.Refunds[id]; rf != nil {
				out = append(out, refundR{rf})
			}
		}
		if n, ok := intArg(a, "first"); ok && n < len(out) {
			out = out[:n]
		}
		if out == nil {
			out = []resolver{}
		}
		return out, nil
	}
	return nil, nil
}

type lineR struct {
	o *order
	l *lineItem
}

func (lineR) typeName() string { return "LineItem" }

func (r lineR) field(x *execCtx, f *ast.Field, _ map[string]any) (any, error) {
	l := r.l
	switch f.Name {
	case "id":
		return gid("LineItem", l.ID), nil
	case "name":
		if l.VariantTitle == "" {
			return l.Title, nil
		}
		return l.Title + " - " + l.VariantTitle, nil
	case "title":
		return l.Title, nil
	case "variantTitle":
		return nilString(l.VariantTitle), nil
	case "sku":
		return nilString(l.SKU), nil
	case "quantity":
		return l.Quantity, nil
	case "currentQuantity", "refundableQuantity":
		return l.Quantity - l.Refunded, nil
	case "requiresShipping":
		return l.RequiresShipping, nil
	case "originalUnitPriceSet":
		return moneyBagR{l.PriceCents, l.presentmentPrice(), r.o.Currency, r.o.presentmentCurrency()}, nil
	case "variant":
		return x.variantObj(x.st.Variants[l.VariantID]), nil
	case "product":
		return x.productObj(x.st.Products[l.ProductID]), nil
	}
	return nil, nil
}

type refundR struct{ r *refund }

func (refundR) typeName() string { return "Refund" }

func (r refundR) field(x *execCtx, f *ast.Field, a map[string]any) (any, error) {
	rf, st := r.r, x.st
	o := st.Orders[rf.OrderID]
	cur := st.currency()
	if o != nil {
		cur = o.Currency
	}
	switch f.Name {
	case "id":
		return gid("Refund", rf.ID), nil
	case "createdAt", "updatedAt":
		return timeString(rf.CreatedAt), nil
	case "note":
		return nilString(rf.Note), nil
	case "order":
		return x.orderObj(o), nil
	case "totalRefundedSet":
		return bagOf(o, rf.AmountCents, cur), nil
	case "refundLineItems":
		items := make([]page, len(rf.Lines))
		for i := range rf.Lines {
			items[i] = page{rf.Lines[i].ID, refundLineR{o, &rf.Lines[i], cur}}
		}
		return paginate("RefundLineItem", items, a)
	}
	return nil, nil
}

type refundLineR struct {
	o   *order
	l   *refundLine
	cur string
}

func (refundLineR) typeName() string { return "RefundLineItem" }

func (r refundLineR) field(x *execCtx, f *ast.Field, _ map[string]any) (any, error) {
	l := r.l
	var li *lineItem
	if r.o != nil {
		li = r.o.line(l.LineItemID)
	}
	switch f.Name {
	case "id":
		return gid("RefundLineItem", l.ID), nil
	case "lineItem":
		if li == nil {
			return nil, nil
		}
		return lineR{r.o, li}, nil
	case "quantity":
		return l.Quantity, nil
	case "restockType":
		return l.RestockType, nil
	case "restocked":
		return l.restocked(), nil
	case "location":
		return x.locationObj(x.st.Locations[l.LocationID]), nil
	case "priceSet":
		if li == nil {
			return bagOf(r.o, 0, r.cur), nil
		}
		return moneyBagR{li.PriceCents, li.presentmentPrice(), r.o.Currency, r.o.presentmentCurrency()}, nil
	case "subtotalSet":
		return bagOf(r.o, l.SubtotalCents, r.cur), nil
	}
	return nil, nil
}
