package shopify

import (
	"encoding/json"
	"strings"

	"eventops/engine"
)

// Shopify's REST webhook payloads (the fields eventops reads), and what
// they say in the engine's terms: shop ids as gids, SKUs as our occurrence
// and registration type ids, prices as the shop wrote them.

type restOrder struct {
	ID                int64  `json:"id"`
	AdminGraphqlAPIID string `json:"admin_graphql_api_id"`
	// Currency is the shop's currency, the one prices are set in;
	// PresentmentCurrency the buyer's.
	Currency            string         `json:"currency"`
	PresentmentCurrency string         `json:"presentment_currency"`
	CancelledAt         *string        `json:"cancelled_at"`
	LineItems           []restLineItem `json:"line_items"`
	Refunds             []restRefund   `json:"refunds"`
}

func (o *restOrder) gid() string { return gidOr(o.AdminGraphqlAPIID, "Order", o.ID) }

type restLineItem struct {
	ID                int64   `json:"id"`
	AdminGraphqlAPIID string  `json:"admin_graphql_api_id"`
	VariantID         *int64  `json:"variant_id"`
	SKU               *string `json:"sku"`
	Quantity          int64   `json:"quantity"`
	// Title is the product's title and VariantTitle the variant's (the
	// registration type's name in a combined product): what the order
	// keeps of a registration type removed meanwhile.
	Title        string  `json:"title"`
	VariantTitle *string `json:"variant_title"`
	// Price is the unit price in the shop's currency; PriceSet carries it
	// with its currency, beside the buyer's (presentment) price.
	Price    string        `json:"price"`
	PriceSet *restMoneySet `json:"price_set"`
}

func (l *restLineItem) gid() string { return gidOr(l.AdminGraphqlAPIID, "LineItem", l.ID) }

// ticket is the occurrence and registration type the line's SKU names
// (0, 0 when it names none). A SKU another installation wrote names its
// own events, not ours (0, 0: the line is then matched by variant id,
// which no structure of ours holds); one without an installation
// (written before installation ids) is taken as ours.
func (l *restLineItem) ticket(installation string) (occ, rt uint64) {
	if l.SKU == nil {
		return 0, 0
	}
	inst, occ, rt, ok := parseSKUOf(*l.SKU)
	if !ok || (inst != "" && inst != installation) {
		return 0, 0
	}
	return occ, rt
}

// restMoneySet is Shopify's REST MoneyBag: an amount in the shop's
// currency and the same in the currency presented to the buyer.
type restMoneySet struct {
	ShopMoney        restMoney `json:"shop_money"`
	PresentmentMoney restMoney `json:"presentment_money"`
}

type restMoney struct {
	Amount       string `json:"amount"`
	CurrencyCode string `json:"currency_code"`
}

type restRefund struct {
	ID                int64            `json:"id"`
	AdminGraphqlAPIID string           `json:"admin_graphql_api_id"`
	OrderID           int64            `json:"order_id"`
	RefundLineItems   []restRefundLine `json:"refund_line_items"`
}

func (r *restRefund) gid() string      { return gidOr(r.AdminGraphqlAPIID, "Refund", r.ID) }
func (r *restRefund) orderGID() string { return shopGID("Order", r.OrderID) }

type restRefundLine struct {
	LineItemID int64        `json:"line_item_id"`
	Quantity   int64        `json:"quantity"`
	LineItem   restLineItem `json:"line_item"`
}

func (l *restRefundLine) lineGID() string {
	if g := l.LineItem.gid(); g != "" {
		return g
	}
	return shopGID("LineItem", l.LineItemID)
}

// sale is an orders/create payload as a shop sale. A line's price is
// price_set.shop_money when it names its currency, else price in the
// order's currency (Currency "" when the order names none either: the
// engine then takes the company's).
func (o *restOrder) sale(installation string) engine.ShopSale {
	s := engine.ShopSale{OrderID: o.gid(), Lines: make([]engine.ShopSaleLine, 0, len(o.LineItems))}
	for i := range o.LineItems {
		li := &o.LineItems[i]
		l := engine.ShopSaleLine{LineID: li.gid(), Quantity: int(li.Quantity),
			UnitPrice: engine.ShopMoney{Amount: strings.TrimSpace(li.Price), Currency: o.Currency}}
		l.EventID, l.RegistrationTypeID = li.ticket(installation)
		l.Title = strings.TrimSpace(li.Title)
		if vt := li.VariantTitle; vt != nil && strings.TrimSpace(*vt) != "" && *vt != "Default Title" {
			l.Title = strings.TrimSpace(*vt)
		}
		if li.VariantID != nil {
			l.VariantID = shopGID("ProductVariant", *li.VariantID)
		}
		if ps := li.PriceSet; ps != nil {
			if sm := ps.ShopMoney; sm.CurrencyCode != "" {
				l.UnitPrice = engine.ShopMoney{Amount: strings.TrimSpace(sm.Amount), Currency: sm.CurrencyCode}
			}
			if pm := ps.PresentmentMoney; pm.CurrencyCode != "" {
				l.Presented = engine.ShopMoney{Amount: strings.TrimSpace(pm.Amount), Currency: pm.CurrencyCode}
			}
		}
		s.Lines = append(s.Lines, l)
	}
	return s
}

// refund is a refunds/create payload as a shop refund.
func (r *restRefund) refund(installation string) engine.ShopRefund {
	out := engine.ShopRefund{ID: r.gid(), OrderID: r.orderGID(), Lines: make([]engine.ShopRefundLine, 0, len(r.RefundLineItems))}
	for i := range r.RefundLineItems {
		line := &r.RefundLineItems[i]
		l := engine.ShopRefundLine{LineID: line.lineGID(), Quantity: int(line.Quantity)}
		l.EventID, l.RegistrationTypeID = line.LineItem.ticket(installation)
		out.Lines = append(out.Lines, l)
	}
	return out
}

// cancellation is an orders/cancelled payload as a cancellation, with the
// ids of the refunds it made.
func (o *restOrder) cancellation() engine.ShopCancellation {
	c := engine.ShopCancellation{OrderID: o.gid()}
	for i := range o.Refunds {
		if id := o.Refunds[i].gid(); id != "" {
			c.RefundIDs = append(c.RefundIDs, id)
		}
	}
	return c
}

func decodePayload(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return invalidPayload("is not the topic's JSON payload: " + err.Error())
	}
	return nil
}

func invalidPayload(msg string) *engine.Error {
	return engine.Invalid(engine.FieldError{Attribute: "body", Code: "invalid", Message: msg})
}
