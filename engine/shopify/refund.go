package shopify

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"eventops/engine"
)

// refundWork refunds an event's paid orders: those placed in the shop
// through refundCreate, box-office ones locally. Companies without a shop
// are refunded as engine.LocalRefund does.
//
// Exactly once, and with the money: each shop order is refunded with an
// idempotency key derived from (operation, shop order) and an input —
// the line items still refundable and the transactions the shop suggests
// for them — computed once and committed on our orders before its first
// send (see refundShopOrder); its refunded status is persisted right after
// the shop accepted it. A resumed refund re-sends the committed input with
// the same key: the shop answers a refund it already applied from the key
// (a lost answer, a crash after the send) and applies one it never saw. A
// failed refund retried is a new operation, which computes afresh from
// what is still refundable.
type refundWork struct{ s *service }

// Refund implements engine.RefundWork.
func (w refundWork) Refund(ctx context.Context, r *engine.PhaseRun) error {
	c, err := r.Company()
	if err != nil {
		return err
	}
	if !c.Shopify() {
		return engine.LocalRefund{}.Refund(ctx, r)
	}
	var orders []*engine.Order
	var installation string
	variants := map[string][2]uint64{} // shop variant id → (occurrence, registration type)
	err = r.View(func(tx engine.Tx) error {
		var err error
		if orders, err = engine.EventOrders(tx, r.Op.EventID); err != nil {
			return err
		}
		if installation, err = tx.InstallationID(); err != nil {
			return err
		}
		seen := map[uint64]bool{}
		for _, o := range orders {
			occ := o.SoldEventID() // a gone occurrence's order is on its recurring event
			if seen[occ] {
				continue
			}
			seen[occ] = true
			s, err := tx.TicketStructure(occ)
			if err != nil || s == nil {
				if err != nil {
					return err
				}
				continue
			}
			for _, p := range s.Products {
				for _, v := range p.Variants {
					if v.ShopifyVariantID != "" {
						variants[v.ShopifyVariantID] = [2]uint64{occ, v.RegistrationTypeID}
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	total, done := len(orders), 0
	byShopOrder := map[string][]*engine.Order{}
	for _, o := range orders {
		switch {
		case o.Status != engine.OrderPaid:
			done++
		case o.ShopifyOrderID != "":
			byShopOrder[o.ShopifyOrderID] = append(byShopOrder[o.ShopifyOrderID], o)
		}
	}
	if len(byShopOrder) > 0 {
		sr, err := w.s.open(r)
		if err != nil {
			r.Progress(done, total)
			return err
		}
		ids := make([]string, 0, len(byShopOrder))
		for id := range byShopOrder {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			if err := w.refundShopOrder(ctx, sr, id, byShopOrder[id], variants, installation); err != nil {
				r.Progress(done, total)
				return err
			}
			group := byShopOrder[id]
			err := r.Update(ctx, func(tx engine.Tx) error {
				for _, o := range group {
					if _, err := engine.MarkOrderRefunded(tx, o.ID, r.Now()); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				r.Progress(done, total)
				return err
			}
			done += len(group)
		}
	}
	// Box-office orders, recounted in the commit that ends the refund.
	r.Stage(func(tx engine.Tx) error {
		_, err := engine.RefundBoxOfficeOrders(tx, r.Op.EventID, r.Now())
		return err
	})
	r.Progress(total, total)
	return nil
}

type shopLineItem struct {
	ID                 string `json:"id"`
	SKU                string `json:"sku"`
	Quantity           int    `json:"quantity"`
	RefundableQuantity int    `json:"refundableQuantity"`
	Variant            *struct {
		ID string `json:"id"`
	} `json:"variant"`
}

// refundShopOrder refunds, in one refundCreate, the line items of a shop
// order that belong to our orders (a cart may hold tickets of other events
// too), and returns the buyer's money for them: the refund carries the
// transactions the shop suggests for those lines (refundCreate without
// transactions records a refund and returns nothing).
//
// The input is computed once per (operation, shop order) and committed on
// our orders before its first send; a resumed refund re-sends exactly it
// under the same idempotency key, so the shop answers from the key rather
// than refunding twice or refusing a recomputed input as a parameter
// mismatch. A crash before the commit sent nothing, and the input is
// computed afresh.
func (w refundWork) refundShopOrder(ctx context.Context, sr *shopRun, shopOrderID string, ours []*engine.Order, variants map[string][2]uint64, installation string) error {
	input := engine.SavedShopRefund(ours, sr.r.Op.ID)
	if input == nil {
		var err error
		if input, err = w.refundInput(ctx, sr, shopOrderID, ours, variants, installation); err != nil || input == nil {
			return err
		}
		ids := make([]uint64, len(ours))
		for i, o := range ours {
			ids[i] = o.ID
		}
		if err := sr.r.Update(ctx, func(tx engine.Tx) error {
			return engine.SaveShopRefund(tx, ids, sr.r.Op.ID, input)
		}); err != nil {
			return err
		}
	}
	var out struct {
		RefundCreate struct {
			Refund *struct {
				ID string `json:"id"`
			} `json:"refund"`
			UserErrors UserErrors `json:"userErrors"`
		} `json:"refundCreate"`
	}
	key := idemKey("refund", sr.r.Op.ID, shopOrderID)
	err := sr.client.Do(ctx, Call{Name: "RefundCreate", Query: mRefundCreate, Resendable: true, Variables: map[string]any{
		"key": key, "input": input,
	}}, &out)
	if err != nil {
		return phaseErr(ctx, err, engine.CodeRefundRejected, "refund order "+shopOrderID)
	}
	if ue := out.RefundCreate.UserErrors; len(ue) > 0 {
		return engine.Errorf(engine.CodeRefundRejected, "the shop refused to refund order %s: %v", shopOrderID, ue)
	}
	sr.log.Info("shop order refunded", "order", shopOrderID)
	return nil
}

// refundInput computes the refundCreate input for our line items of a shop
// order from what the shop says is still refundable and how it suggests
// returning the money; nil when nothing of ours is left to refund.
//
// Amounts are the presentment money the buyer paid in, with the input's
// currency set to it when it differs from the shop's (Shopify requires it
// then); otherwise the shop's money and no currency.
func (w refundWork) refundInput(ctx context.Context, sr *shopRun, shopOrderID string, ours []*engine.Order, variants map[string][2]uint64, installation string) (json.RawMessage, error) {
	var read struct {
		Order *struct {
			ID                      string `json:"id"`
			CurrencyCode            string `json:"currencyCode"`
			PresentmentCurrencyCode string `json:"presentmentCurrencyCode"`
			LineItems               struct {
				Nodes []shopLineItem `json:"nodes"`
			} `json:"lineItems"`
		} `json:"order"`
	}
	err := sr.client.Do(ctx, Call{Name: "OrderForRefund", Query: qOrderForRefund, Resendable: true,
		Variables: map[string]any{"id": shopOrderID}}, &read)
	if err != nil {
		return nil, orderReadErr(ctx, err, shopOrderID)
	}
	if read.Order == nil {
		return nil, orderMissing(shopOrderID, ours, sr.r.Now())
	}
	// Our quantity to refund, by the shop's line item recorded on the
	// order, or (orders recorded before line items were kept) by
	// (occurrence, registration type) read from the line's SKU or variant.
	byLine := map[string]int{}
	byKey := map[[2]uint64]int{}
	for _, o := range ours {
		if o.ShopifyLineItemID != "" {
			byLine[o.ShopifyLineItemID] += o.Quantity
		} else {
			byKey[[2]uint64{o.SoldEventID(), o.RegistrationTypeID}] += o.Quantity
		}
	}
	seenLine, seenKey := map[string]bool{}, map[[2]uint64]bool{}
	var lines []map[string]any
	take := func(li shopLineItem, want *int) {
		if *want <= 0 || li.RefundableQuantity <= 0 {
			return
		}
		q := min(li.RefundableQuantity, *want)
		*want -= q
		lines = append(lines, map[string]any{"lineItemId": li.ID, "quantity": q, "restockType": "CANCEL"})
	}
	for _, li := range read.Order.LineItems.Nodes {
		if want, ok := byLine[li.ID]; ok {
			seenLine[li.ID] = true
			take(li, &want)
			byLine[li.ID] = want
			continue
		}
		// A SKU another installation wrote is not read as ours: the
		// variant id decides, as for a sale.
		inst, occ, rt, ok := parseSKUOf(li.SKU)
		k := [2]uint64{occ, rt}
		if !ok || (inst != "" && inst != installation) {
			ok = false
			if li.Variant != nil {
				k, ok = variants[li.Variant.ID]
			}
		}
		if !ok {
			continue
		}
		if want, mine := byKey[k]; mine {
			seenKey[k] = true
			take(li, &want)
			byKey[k] = want
		}
	}
	// A line of ours the order does not show (beyond the lines read, or
	// no longer matching) fails the refund: marking the order refunded
	// would return no money. Lines shown with nothing left to refund are
	// refunded already.
	var missing []string
	for id := range byLine {
		if !seenLine[id] {
			missing = append(missing, id)
		}
	}
	for k := range byKey {
		if !seenKey[k] {
			missing = append(missing, fmt.Sprintf("occurrence %d, registration type %d", k[0], k[1]))
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return nil, engine.Errorf(engine.CodeRefundRejected,
			"shop order %s does not show our line items %s (it lists %d): nothing was refunded",
			shopOrderID, strings.Join(missing, "; "), len(read.Order.LineItems.Nodes))
	}
	if len(lines) == 0 {
		sr.log.Info("shop order already refunded", "order", shopOrderID)
		return nil, nil
	}
	var sug struct {
		Order *struct {
			SuggestedRefund *struct {
				SuggestedTransactions []struct {
					AmountSet struct {
						ShopMoney        moneyV2 `json:"shopMoney"`
						PresentmentMoney moneyV2 `json:"presentmentMoney"`
					} `json:"amountSet"`
					Gateway           string `json:"gateway"`
					Kind              string `json:"kind"`
					ParentTransaction *struct {
						ID string `json:"id"`
					} `json:"parentTransaction"`
				} `json:"suggestedTransactions"`
			} `json:"suggestedRefund"`
		} `json:"order"`
	}
	err = sr.client.Do(ctx, Call{Name: "SuggestedRefund", Query: qSuggestedRefund, Resendable: true,
		Variables: map[string]any{"id": shopOrderID, "lines": lines}}, &sug)
	if err != nil {
		return nil, orderReadErr(ctx, err, shopOrderID)
	}
	if sug.Order == nil || sug.Order.SuggestedRefund == nil {
		return nil, orderMissing(shopOrderID, ours, sr.r.Now())
	}
	presentment := read.Order.PresentmentCurrencyCode != "" && read.Order.PresentmentCurrencyCode != read.Order.CurrencyCode
	txs := []map[string]any{}
	for _, t := range sug.Order.SuggestedRefund.SuggestedTransactions {
		tx := map[string]any{"orderId": shopOrderID, "kind": "REFUND", "gateway": t.Gateway,
			"amount": t.AmountSet.ShopMoney.Amount}
		if presentment {
			tx["amount"] = t.AmountSet.PresentmentMoney.Amount
		}
		if t.ParentTransaction != nil {
			tx["parentId"] = t.ParentTransaction.ID
		}
		txs = append(txs, tx)
	}
	in := map[string]any{
		"orderId": shopOrderID, "notify": true,
		"note":            "eventops: event " + strconv.FormatUint(sr.r.Op.EventID, 10) + " refunded by operation " + strconv.FormatUint(sr.r.Op.ID, 10),
		"refundLineItems": lines,
		"transactions":    txs,
	}
	if presentment {
		in["currency"] = read.Order.PresentmentCurrencyCode
	}
	return json.Marshal(in)
}

// moneyV2 is Shopify's MoneyV2: a decimal amount and its currency.
type moneyV2 struct {
	Amount       string `json:"amount"`
	CurrencyCode string `json:"currencyCode"`
}

// allOrdersAge is how old an order may be and still be readable without the
// read_all_orders scope: Shopify shows an app only the last 60 days of
// orders unless it was granted that scope.
const allOrdersAge = 60 * 24 * time.Hour

// orderReadErr is the error of a failed read of an order to refund.
func orderReadErr(ctx context.Context, err error, shopOrderID string) error {
	return phaseErr(ctx, err, engine.CodeRefundRejected, "read order "+shopOrderID)
}

// orderMissing is the error of an order to refund that the shop does not
// show. One recorded more than 60 days ago is most likely hidden for want
// of the read_all_orders scope (Shopify answers null, not an access error):
// the error names the scope so that the merchant can grant it and refund
// again; a recent one is gone from the shop.
func orderMissing(shopOrderID string, ours []*engine.Order, now time.Time) error {
	for _, o := range ours {
		if now.Sub(o.CreatedAt) > allOrdersAge {
			return engine.Errorf(engine.CodeRefundScopeMissing,
				"order %s, placed %s, is not readable: Shopify shows orders older than 60 days only to apps granted the read_all_orders scope; grant it and refund again",
				shopOrderID, o.CreatedAt.Format(time.DateOnly))
		}
	}
	return engine.Errorf(engine.CodeRefundRejected, "order %s is not in the shop", shopOrderID)
}
