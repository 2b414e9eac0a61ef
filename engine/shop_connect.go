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
		// Reconnecting the same shop keeps how far its orders were read.
		if old := cur.Shop; old != nil && old.Sandbox == s.Sandbox && old.Domain == s.Domain {
			s.Reconciled, s.Unfulfilled = old.Reconciled, old.Unfulfilled
		}
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
			dropTokens(cur.Shop)
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

// dropTokens forgets a connection's access and refresh tokens (the app was
// uninstalled: they no longer work); the app's secrets stay, to verify the
// shop's later deliveries.
func dropTokens(s *Shop) {
	s.AccessToken, s.RefreshToken = nil, nil
	s.TokenExpiresAt, s.RefreshExpiresAt = nil, nil
}

// EraseShopCredentials is Shopify's shop/redact for a company: the shop
// asked for its data to be erased (48 hours after an uninstall), so every
// credential of the connection goes, and it stays revoked until connected
// again. A company connected to another shop since is left alone.
func (e *Engine) EraseShopCredentials(ctx context.Context, companyID uint64, d ShopDelivery, domain func(*Shop) bool) (*WebhookOutcome, error) {
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
		if cur == nil || !cur.Shopify() || !domain(cur.Shop) {
			out.Ignored, out.Outcome = true, "the company is no longer connected to this shop"
		} else {
			s := cur.Shop
			s.Revoked = true
			dropTokens(s)
			s.WebhookSecret, s.ClientSecret, s.TokenRefreshedAt, s.Scopes = nil, nil, nil, nil
			if err := tx.PutCompany(cur); err != nil {
				return err
			}
			out.Outcome = "the shop's credentials are erased (shop/redact): connect the shop again to use it"
		}
		rec.Outcome = out.Outcome
		return tx.PutWebhook(rec)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
