package engine

import "context"

// ConnectShop connects a company to a shop, or reconnects it (a new token
// after the app was uninstalled, or another shop). The credentials are
// sealed as on CreateCompany; a real shop needs both. The connection starts afresh: not revoked, and
// without a remembered shop set-up, so that the next catalog phase sets the
// shop up again (uninstalling an app removes what it had created there).
// The shop's currency is read anew (see connectCurrency).
func (e *Engine) ConnectShop(ctx context.Context, companyID uint64, shop ShopInput) (*Company, error) {
	if !shop.Sandbox {
		var errs []FieldError
		if shop.AccessToken == "" {
			errs = append(errs, FieldError{Attribute: "access_token", Code: "blank", Message: "can't be blank for a real shop"})
		}
		if shop.WebhookSecret == "" {
			errs = append(errs, FieldError{Attribute: "webhook_secret", Code: "blank", Message: "can't be blank for a real shop"})
		}
		if len(errs) > 0 {
			return nil, Invalid(errs...)
		}
	}
	s, err := e.sealShop(&shop)
	if err != nil {
		return nil, err
	}
	s.Currency = e.connectCurrency(ctx, s, &shop)
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
