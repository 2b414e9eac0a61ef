package sandbox

import (
	"fmt"
	"strings"
	"time"
)

// The merchant's and buyers' side of a shop, for tests and demos: buyer
// orders, refunds and cancellations made in the admin, products deleted
// behind the app's back, the app uninstalled. Each is also a control route
// (http.go).

// act runs a change on a shop under its lock, commits it and sends the
// webhooks it queued.
func (s *Sandbox) act(shopName string, fn func(x *execCtx) error) error {
	sh, err := s.shop(shopName)
	if err != nil {
		return err
	}
	sh.mu.Lock()
	x := &execCtx{sb: s, sh: sh, st: sh.st, schema: s.schema, version: latestVersion, now: s.now().UTC()}
	if err := fn(x); err != nil {
		clear(sh.st.dirty) // nothing was changed: checks come first
		sh.mu.Unlock()
		return err
	}
	if err := s.commit(sh); err != nil {
		sh.mu.Unlock()
		return err
	}
	sh.mu.Unlock()
	s.enqueue(sh, x.deliver)
	return nil
}

// PlaceOrder is a buyer's order of quantity units of a variant (a gid or
// its number): inventory moves from available to committed at the location
// with the most available, and orders/create is sent. A tracked variant
// that denies overselling and lacks inventory is refused (ErrInvalid).
func (s *Sandbox) PlaceOrder(shopName, variantID string, quantity int) (OrderState, error) {
	return s.PlaceOrderWith(shopName, variantID, quantity, OrderOptions{})
}

// OrderOptions are a buyer's order in a currency other than the shop's:
// the shop records it in its own currency (the variant's price) and keeps
// what the buyer paid in the presentment currency beside it.
type OrderOptions struct {
	PresentmentCurrency  string // "": the shop's currency
	PresentmentUnitPrice string // a decimal in PresentmentCurrency, e.g. "30.50"
	// PlacedAt backdates the order (zero: now), e.g. a presale order
	// months old.
	PlacedAt time.Time
}

// PlaceOrderWith is PlaceOrder with the buyer paying in another currency.
func (s *Sandbox) PlaceOrderWith(shopName, variantID string, quantity int, opts OrderOptions) (OrderState, error) {
	var out OrderState
	err := s.act(shopName, func(x *execCtx) error {
		v := x.st.Variants[parseRouteID(variantID, "ProductVariant")]
		if v == nil {
			return fmt.Errorf("%w: variant %s", ErrNotFound, variantID)
		}
		var pres *int64
		presCur := strings.ToUpper(strings.TrimSpace(opts.PresentmentCurrency))
		if presCur != "" && presCur != x.st.currency() {
			if !validCurrency(presCur) {
				return fmt.Errorf("%w: presentment currency %q is not a Shopify currency code", ErrInvalid, opts.PresentmentCurrency)
			}
			p, why := parseMoney(opts.PresentmentUnitPrice, presCur)
			if why != "" || p < 0 {
				return fmt.Errorf("%w: presentment unit price %q %s", ErrInvalid, opts.PresentmentUnitPrice, why)
			}
			pres = &p
		}
		o, err := x.placeOrder(v, int64(quantity), 0, false, presCur, pres)
		if err != nil {
			return err
		}
		if !opts.PlacedAt.IsZero() {
			o.CreatedAt = opts.PlacedAt.UTC()
		}
		out = orderView(x.st, o)
		return nil
	})
	return out, err
}

// RefundLine is one line of an admin refund.
type RefundLine struct {
	LineItemID  string `json:"line_item_id"` // a gid or its number
	Quantity    int    `json:"quantity"`
	RestockType string `json:"restock_type"` // cancel (default), return or no_restock
}

// RefundOrder is a refund made in the Shopify admin: the given lines (all
// that is left to refund when none are given), restocked as asked, and
// refunds/create is sent.
func (s *Sandbox) RefundOrder(shopName, orderID string, lines []RefundLine, note string) (RefundState, error) {
	var out RefundState
	err := s.act(shopName, func(x *execCtx) error {
		o := x.st.Orders[parseRouteID(orderID, "Order")]
		if o == nil {
			return fmt.Errorf("%w: order %s", ErrNotFound, orderID)
		}
		var reqs []refundReq
		if len(lines) == 0 {
			reqs = remaining(o, "CANCEL")
			if len(reqs) == 0 {
				return fmt.Errorf("%w: order %s has nothing left to refund", ErrInvalid, orderID)
			}
		}
		for _, l := range lines {
			restock := strings.ToUpper(l.RestockType)
			if restock == "" {
				restock = "CANCEL"
			}
			switch restock {
			case "CANCEL", "RETURN", "NO_RESTOCK":
			default:
				return fmt.Errorf("%w: restock_type %q (cancel, return or no_restock)", ErrInvalid, l.RestockType)
			}
			reqs = append(reqs, refundReq{LineItemID: parseRouteID(l.LineItemID, "LineItem"), Quantity: int64(l.Quantity), RestockType: restock})
		}
		if errs := x.checkRefund(o, reqs, []any{"refund_line_items"}); len(errs) > 0 {
			return fmt.Errorf("%w: %s", ErrInvalid, errs[0].Message)
		}
		out = refundView(x.st, x.applyRefund(o, reqs, "admin", note, nil, true))
		return nil
	})
	return out, err
}

// CancelOrder cancels an order in the admin: what is left is refunded with
// a restock and orders/cancelled is sent.
func (s *Sandbox) CancelOrder(shopName, orderID, reason string) (OrderState, error) {
	var out OrderState
	if reason == "" {
		reason = "customer"
	}
	err := s.act(shopName, func(x *execCtx) error {
		o := x.st.Orders[parseRouteID(orderID, "Order")]
		if o == nil {
			return fmt.Errorf("%w: order %s", ErrNotFound, orderID)
		}
		if err := x.cancelOrder(o, reason); err != nil {
			return err
		}
		out = orderView(x.st, o)
		return nil
	})
	return out, err
}

// DeleteProduct deletes a product behind the app's back, with its
// variants, inventory items, metafields and publications.
func (s *Sandbox) DeleteProduct(shopName, productID string) error {
	return s.act(shopName, func(x *execCtx) error {
		p := x.st.Products[parseRouteID(productID, "Product")]
		if p == nil {
			return fmt.Errorf("%w: product %s", ErrNotFound, productID)
		}
		x.st.deleteProduct(p)
		return nil
	})
}

// SetHandle changes a product's handle behind the app's back, as a
// merchant editing the product's URL in the admin does. The handle is
// slugified; one another product has is refused (ErrInvalid).
func (s *Sandbox) SetHandle(shopName, productID, handle string) error {
	return s.act(shopName, func(x *execCtx) error {
		p := x.st.Products[parseRouteID(productID, "Product")]
		if p == nil {
			return fmt.Errorf("%w: product %s", ErrNotFound, productID)
		}
		h := slugify(handle)
		if h == "" || len(h) > maxHandle {
			return fmt.Errorf("%w: handle %q", ErrInvalid, handle)
		}
		if other, ok := x.st.handles[h]; ok && other != p.ID {
			return fmt.Errorf("%w: handle %q is taken", ErrInvalid, h)
		}
		if x.st.handles[p.Handle] == p.ID {
			delete(x.st.handles, p.Handle)
		}
		p.Handle = h
		x.st.handles[h] = p.ID
		x.st.markID(kindProduct, p.ID)
		return nil
	})
}

// Revoke uninstalls the app: the access token stops working (every call
// answers 401), app/uninstalled is sent, and the shop's webhook
// subscriptions are removed, as Shopify removes an uninstalled app's.
// RotateToken reinstalls. Revoking a revoked shop does nothing.
func (s *Sandbox) Revoke(shopName string) error {
	return s.act(shopName, func(x *execCtx) error {
		st := x.st
		if st.Meta.Revoked {
			return nil
		}
		st.Meta.Revoked = true
		st.mark(keyMeta)
		x.queueWebhook("APP_UNINSTALLED", x.shopPayload())
		for _, id := range sortedKeys(st.Webhooks) {
			delete(st.Webhooks, id)
			st.markID(kindWebhook, id)
		}
		return nil
	})
}

// GrantAllOrders grants (true, the default) or withholds the app's
// read_all_orders scope. Without it, as on a real shop, orders placed more
// than 60 days ago are invisible to the app: order(id:) answers null and
// orders leaves them out.
func (s *Sandbox) GrantAllOrders(shopName string, granted bool) error {
	return s.act(shopName, func(x *execCtx) error {
		x.st.Meta.NoAllOrders = !granted
		x.st.mark(keyMeta)
		return nil
	})
}
