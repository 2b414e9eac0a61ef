package engine

import (
	"context"
	"fmt"
	"strings"
)

// A shop holds prices in one currency, its own (Shopify's
// shop { currencyCode }), and records its orders in it. Mirroring a price
// of another currency would put the same number in the shop's currency
// (5000 yen sold as $5,000.00), so eventops keeps the shop's currency on
// the company and holds events to it:
//
//   - The currency is read when a shop is connected or reconnected
//     (CreateCompany, ConnectShop), unless the caller knows it already
//     (ShopInput.Currency). A read that fails leaves it unknown ("") and
//     does not fail the connection: the start-up pass (FillShopCurrencies)
//     and the catalog phase read it again, so a currency is never assumed.
//   - Writes: an event whose registration types mix currencies is refused,
//     for every company; for a company whose shop currency is known, a
//     write of registration types priced in another currency is refused
//     (422, code currency_mismatch, see CheckEventCurrency).
//   - Events saved before this rule existed keep saving locally; their
//     Shopify phases fail with SHOPIFY_CURRENCY_MISMATCH, before anything
//     is written to the shop, until their prices are changed to the
//     shop's currency; the dashboard flags them (CurrencyMismatch).

// ShopReader reads what eventops needs to know of a connected shop. The
// Shopify package implements it; the engine calls it when a shop is
// connected and at start-up.
type ShopReader interface {
	// ShopCurrency is the shop's currency, an ISO 4217 code.
	ShopCurrency(ctx context.Context, shop *Shop, token Secret) (string, error)
}

// connectCurrency is the currency of a shop being connected: the caller's
// when given, else read from the shop; "" when it cannot be read now
// (logged; read again later, see above).
func (e *Engine) connectCurrency(ctx context.Context, s *Shop, in *ShopInput) string {
	if c := strings.ToUpper(strings.TrimSpace(in.Currency)); c != "" {
		if _, ok := CurrencyDigits(c); ok {
			return c
		}
		// A code outside ISO 4217 List One would refuse every price
		// (currency_mismatch): keep none rather than a wrong one.
		e.log.Warn("the shop's currency is not one eventops prices in: none kept", "shop", s.Domain, "currency", c)
		return ""
	}
	if e.shops == nil {
		return ""
	}
	cur, err := e.shops.ShopCurrency(ctx, s, in.AccessToken)
	if err != nil {
		e.log.Warn("read the shop's currency at connect: left to the next start-up or catalog phase",
			"shop", s.Domain, "err", err)
		return ""
	}
	return cur
}

// FillShopCurrencies reads the currency of every connected, not revoked
// shop that has none stored (companies connected before currencies were
// kept, or whose read failed at connect) and stores it. It reports how
// many it stored; a shop that cannot be read is logged and left for the
// catalog phase. Start runs it in the background.
func (e *Engine) FillShopCurrencies(ctx context.Context) (int, error) {
	if e.shops == nil {
		return 0, nil
	}
	cs, err := e.Companies()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range cs {
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		if !c.Shopify() || c.Shop.Revoked || c.Shop.Currency != "" {
			continue
		}
		token, _, err := e.OpenShopCredentials(c.Shop)
		if err != nil {
			e.log.Warn("read the shop's currency at start-up", "company", c.ID, "err", err)
			continue
		}
		cur, err := e.shops.ShopCurrency(ctx, c.Shop, token)
		if err != nil {
			e.log.Warn("read the shop's currency at start-up: left to the catalog phase", "company", c.ID, "err", err)
			continue
		}
		if err := e.store.Update(ctx, func(tx Tx) error { return StoreShopCurrency(tx, c.ID, c.Shop.Domain, cur) }); err != nil {
			return n, err
		}
		e.log.Info("shop currency read", "company", c.ID, "currency", cur)
		n++
	}
	return n, nil
}

// fillShopCurrencies is FillShopCurrencies in the background of a running
// engine; it gives up when the engine stops.
func (e *Engine) fillShopCurrencies() {
	defer e.wg.Done()
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	go func() {
		select {
		case <-e.soft:
			cancel()
		case <-ctx.Done():
		}
	}()
	if _, err := e.FillShopCurrencies(ctx); err != nil && ctx.Err() == nil {
		e.log.Warn("read shop currencies at start-up", "err", err)
	}
}

// StoreShopCurrency keeps a shop's currency on the company, if it is still
// connected to the shop of that domain (a reconnection meanwhile reads its
// own).
func StoreShopCurrency(tx Tx, companyID uint64, domain, currency string) error {
	c, err := tx.Company(companyID)
	if err != nil || c == nil || !c.Shopify() || c.Shop.Domain != domain || c.Shop.Currency == currency {
		return err
	}
	c.Shop.Currency = currency
	return tx.PutCompany(c)
}

// CheckEventCurrency is the write-time currency rule of an event (see
// above): its registration types share one currency, and for a company
// whose shop currency is known, it is the shop's. It is checked when a
// write sets registration types (in.RegistrationTypes), on the event as
// the write leaves it, so an event saved before the rule keeps saving
// when a write leaves its prices alone. Errors point at the price
// currency of the first registration type that breaks the rule, with the
// code currency_mismatch.
func CheckEventCurrency(c *Company, ev *Event, in EventInput) error {
	if in.RegistrationTypes == nil || len(ev.RegistrationTypes) == 0 {
		return nil
	}
	attr := func(i int) string { return fmt.Sprintf("registration_types[%d].price.currency", i) }
	if c.Shopify() && c.Shop.Currency != "" {
		for i, rt := range ev.RegistrationTypes {
			if rt.Price.Currency != c.Shop.Currency {
				return Invalid(FieldError{Attribute: attr(i), Code: "currency_mismatch",
					Message: fmt.Sprintf("must be %s, the currency of the company's shop (it holds prices in %s only), not %s",
						c.Shop.Currency, c.Shop.Currency, rt.Price.Currency)})
			}
		}
		return nil
	}
	first := ev.RegistrationTypes[0].Price.Currency
	for i, rt := range ev.RegistrationTypes[1:] {
		if rt.Price.Currency != first {
			return Invalid(FieldError{Attribute: attr(i + 1), Code: "currency_mismatch",
				Message: fmt.Sprintf("must be %s like the event's other prices: one event's registration types share one currency, not %s",
					first, rt.Price.Currency)})
		}
	}
	return nil
}

// CurrencyMismatch names the currencies of an event that its company's
// shop cannot hold ("" when there is none, or the shop currency is not
// known yet): such an event's Shopify phases fail with
// SHOPIFY_CURRENCY_MISMATCH until its prices change.
func CurrencyMismatch(c *Company, ev *Event) string {
	if !c.Shopify() || c.Shop.Currency == "" {
		return ""
	}
	var other []string
	for _, rt := range ev.RegistrationTypes {
		if rt.Price.Currency != c.Shop.Currency && !containsString(other, rt.Price.Currency) {
			other = append(other, rt.Price.Currency)
		}
	}
	return strings.Join(other, ", ")
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
