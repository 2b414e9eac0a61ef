package engine

import "context"

// ConnectShop connects a company to a shop, or reconnects it (a new token
// after the app was uninstalled, or another shop). The credentials are
// sealed as on CreateCompany; a real shop needs both. The connection starts afresh: not revoked, and
// without a remembered shop set-up, so that the next catalog phase sets the
// shop up again (uninstalling an app removes what it had created there).
// The shop's currency is read anew (see connectCurrency). A sandbox shop
// given without a token is provisioned (reinstalled) in the sandbox; a real
// one is authorized for its kind (see prepareShop).
func (e *Engine) ConnectShop(ctx context.Context, companyID uint64, shop ShopInput) (*Company, error) {
	if _, err := e.Company(companyID); err != nil {
		return nil, err
	}
	s, err := e.prepareShop(ctx, &shop)
	if err != nil {
		return nil, err
	}
	var c *Company
	err = e.store.Update(ctx, func(tx Tx) error {
		cur, err := tx.Company(companyID)
		if err != nil {
			return err
		}
		if cur == nil {
			return NotFound("company %d not found", companyID)
		}
		next := *cur
		next.Shop = s
		c = &next
		return tx.PutCompany(c)
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// RevokeShop marks the company's shop connection revoked (the app was
// uninstalled from the shop): its Shopify phases then fail with
// SHOPIFY_AUTH_REJECTED until ConnectShop reconnects it. shop is the
// connection the delivery was verified against: when the company has been
// connected to another shop since (another Domain), nothing changes; a
// connection already revoked is left as it is.
func (e *Engine) RevokeShop(ctx context.Context, companyID uint64, d ShopDelivery, shop *Shop) (*WebhookOutcome, error) {
	if err := checkDelivery(d); err != nil {
		return nil, err
	}
	var out *WebhookOutcome
	err := e.store.Update(ctx, func(tx Tx) error {
		out = &WebhookOutcome{CompanyID: companyID}
		rec, err := e.claimWebhook(tx, companyID, d, out)
		if err != nil || rec == nil {
			return err
		}
		cur, err := tx.Company(companyID)
		if err != nil {
			return err
		}
		switch {
		case cur == nil || !cur.Shopify() || shop == nil || cur.Shop.Sandbox != shop.Sandbox || cur.Shop.Domain != shop.Domain:
			out.Ignored, out.Outcome = true, "the company is no longer connected to this shop"
		case cur.Shop.Revoked:
			out.Ignored, out.Outcome = true, "the shop connection is already revoked"
		default:
			cur.Shop.Revoked = true
			if err := tx.PutCompany(cur); err != nil {
				return err
			}
			out.Outcome = "the shop connection is revoked (the app was uninstalled): reconnect the shop"
		}
		rec.Outcome = out.Outcome
		return tx.PutWebhook(rec)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
