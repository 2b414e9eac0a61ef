package sandbox

import (
	"fmt"
	"time"

	"github.com/vektah/gqlparser/v2/ast"
)

// The money side of orders: the buyer's payment, what a refund may return
// (suggestedRefund) and the transactions refundCreate moves it with.

// saleGateway is the payment gateway of every sandbox checkout (Shopify's
// test gateway is named "bogus").
const saleGateway = "bogus"

// refundAmount checks a refundCreate's transactions and answers the money
// they return, in the shop's currency. Each must be a REFUND on the order's
// gateway, whose parent (when given) is the order's payment; amounts are in
// input.currency, which must be the order's presentment currency when that
// differs from the shop's. Together they may not return more than is left
// to refund (unless allowOverRefunding), which Shopify refuses too.
func (x *execCtx) refundAmount(o *order, in map[string]any, txs []any) (int64, []userError) {
	if len(txs) == 0 {
		return 0, nil
	}
	var errs []userError
	cur := o.Currency
	if c := strArg(in, "currency"); c != "" {
		cur = c
	}
	if cur != o.presentmentCurrency() {
		errs = append(errs, uerr("", fmt.Sprintf("Currency must be the order's presentment currency %s", o.presentmentCurrency()), "input", "currency"))
		return 0, errs
	}
	var sum int64
	for i, raw := range txs {
		m, _ := raw.(map[string]any)
		at := func(f string) []string { return fieldPath("input", "transactions", i, f) }
		c, why := parseMoney(m["amount"], cur)
		switch {
		case why != "" || c < 0:
			errs = append(errs, uerr("", "Amount is invalid", at("amount")...))
			continue
		case strArg(m, "kind") != "REFUND":
			errs = append(errs, uerr("", "Kind must be REFUND", at("kind")...))
			continue
		case idOf(m["orderId"], "Order") != o.ID:
			errs = append(errs, uerr("", "Transaction must belong to the order", at("orderId")...))
			continue
		case strArg(m, "gateway") != o.Gateway:
			errs = append(errs, uerr("", "Gateway does not match the order's payment", at("gateway")...))
			continue
		case m["parentId"] != nil && idOf(m["parentId"], "OrderTransaction") != o.SaleID:
			errs = append(errs, uerr("", "Parent transaction does not exist on this order", at("parentId")...))
			continue
		}
		sum += c
	}
	// Compared in the currency the amounts are in.
	left := o.totalCents() - o.refundedCents(x.st)
	if cur != o.Currency {
		left = o.presentmentTotal() - o.presentment(o.refundedCents(x.st))
	}
	if allow, _ := boolArg(in, "allowOverRefunding"); !allow && sum > left {
		errs = append(errs, uerr("", fmt.Sprintf("Refund amount %s exceeds what is left to refund on the order (%s)",
			formatMoney(sum, cur), formatMoney(left, cur)), "input", "transactions"))
	}
	if len(errs) > 0 || cur == o.Currency {
		return sum, errs
	}
	// Presentment money back to the shop's at the order's rate; the whole
	// rest returns exactly the shop's rest.
	if sum == left {
		return o.totalCents() - o.refundedCents(x.st), nil
	}
	return sum * o.totalCents() / max(1, o.presentmentTotal()), nil
}

// suggestedRefund is what Order.suggestedRefund(refundLineItems:) answers:
// the price of the lines asked for, capped by what is left to refund,
// returned through the order's payment.
type suggestedRefundR struct {
	o          *order
	shop, pres int64
}

func (x *execCtx) suggestRefund(o *order, a map[string]any) suggestedRefundR {
	var shop, pres int64
	lines, _ := listArg(a, "refundLineItems")
	for _, raw := range lines {
		m, _ := raw.(map[string]any)
		q, _ := int64Arg(m, "quantity")
		li := o.line(idOf(m["lineItemId"], "LineItem"))
		if li == nil || q <= 0 {
			continue
		}
		q = min(q, li.Quantity-li.Refunded)
		shop += li.PriceCents * q
		pres += li.presentmentPrice() * q
	}
	left := o.totalCents() - o.refundedCents(x.st)
	if shop > left {
		shop, pres = left, o.presentment(left)
	}
	return suggestedRefundR{o, max(0, shop), max(0, pres)}
}

func (suggestedRefundR) typeName() string { return "SuggestedRefund" }

func (r suggestedRefundR) field(_ *execCtx, f *ast.Field, _ map[string]any) (any, error) {
	bag := moneyBagR{r.shop, r.pres, r.o.Currency, r.o.presentmentCurrency()}
	switch f.Name {
	case "amountSet":
		return bag, nil
	case "suggestedTransactions":
		if r.shop == 0 || r.o.SaleID == 0 {
			return []resolver{}, nil
		}
		return []resolver{suggestedTxR{r.o, bag}}, nil
	}
	return nil, nil
}

type suggestedTxR struct {
	o   *order
	bag moneyBagR
}

func (suggestedTxR) typeName() string { return "SuggestedOrderTransaction" }

func (r suggestedTxR) field(_ *execCtx, f *ast.Field, _ map[string]any) (any, error) {
	switch f.Name {
	case "amountSet":
		return r.bag, nil
	case "gateway":
		return r.o.Gateway, nil
	case "kind":
		return "SUGGESTED_REFUND", nil
	case "parentTransaction":
		return saleTxR{r.o}, nil
	}
	return nil, nil
}

// saleTxR is the order's payment transaction.
type saleTxR struct{ o *order }

func (saleTxR) typeName() string { return "OrderTransaction" }

func (r saleTxR) field(_ *execCtx, f *ast.Field, _ map[string]any) (any, error) {
	switch f.Name {
	case "id":
		return gid("OrderTransaction", r.o.SaleID), nil
	case "kind":
		return "SALE", nil
	case "status":
		return "SUCCESS", nil
	case "gateway":
		return r.o.Gateway, nil
	case "amountSet":
		return moneyBagR{r.o.totalCents(), r.o.presentmentTotal(), r.o.Currency, r.o.presentmentCurrency()}, nil
	}
	return nil, nil
}

// allOrdersAge is how far back an app without read_all_orders sees orders.
const allOrdersAge = 60 * 24 * time.Hour

// visible reports whether the app may see order o (nil: no).
func (x *execCtx) visible(o *order) bool {
	return o != nil && (!x.st.Meta.NoAllOrders || x.now.Sub(o.CreatedAt) <= allOrdersAge)
}
