package shopify

import (
	"context"
	"fmt"
	"strings"

	"eventops/engine"
)

// The shop's currency (see engine/shop_currency.go for the rule): read
// with shop { currencyCode } when a shop is connected, at start-up, and
// by the catalog phase when the company does not know it yet; a save whose
// prices are in another currency fails its catalog phase with
// SHOPIFY_CURRENCY_MISMATCH before anything is written to the shop.

const qShopCurrency = `query ShopCurrency { shop { currencyCode } }`

// readCurrency asks the shop for its currency.
func readCurrency(ctx context.Context, c *Client) (string, error) {
	var out struct {
		Shop struct {
			CurrencyCode string `json:"currencyCode"`
		} `json:"shop"`
	}
	if err := c.Do(ctx, Call{Name: "ShopCurrency", Query: qShopCurrency, Resendable: true}, &out); err != nil {
		return "", err
	}
	cur := strings.ToUpper(strings.TrimSpace(out.Shop.CurrencyCode))
	if cur == "" {
		return "", fmt.Errorf("the shop answered no currencyCode")
	}
	if _, ok := engine.CurrencyDigits(cur); !ok {
		return "", fmt.Errorf("the shop's currency %q is not an ISO 4217 currency eventops prices in", cur)
	}
	return cur, nil
}

// ShopReader reads connected shops for the engine (engine.Config.Shops).
func ShopReader(cfg Config) engine.ShopReader { return shopReader{newService(cfg)} }

type shopReader struct{ s *service }

// ShopCurrency implements engine.ShopReader.
func (r shopReader) ShopCurrency(ctx context.Context, shop *engine.Shop, token engine.Secret) (string, error) {
	if token == "" {
		return "", fmt.Errorf("no access token for shop %s", shop.Domain)
	}
	base, err := r.s.baseURL(shop)
	if err != nil {
		return "", err
	}
	return readCurrency(ctx, r.s.client(Endpoint(base), token, r.s.log.With("shop", shop.Domain)))
}

// shopCurrency is the currency of the run's shop: the company's stored
// one, else read from the shop and stored (if the company is still
// connected to the same shop).
func (sr *shopRun) shopCurrency(ctx context.Context) (string, error) {
	if cur := sr.company.Shop.Currency; cur != "" {
		return cur, nil
	}
	cur, err := readCurrency(ctx, sr.client)
	if err != nil {
		return "", phaseErr(ctx, err, engine.CodeShopifyUnavailable, "read the shop's currency")
	}
	id, domain := sr.company.ID, sr.company.Shop.Domain
	if err := sr.r.Update(ctx, func(tx engine.Tx) error { return engine.StoreShopCurrency(tx, id, domain, cur) }); err != nil {
		return "", err
	}
	sr.company.Shop.Currency = cur
	sr.log.Info("shop currency read", "currency", cur)
	return cur, nil
}

// checkCurrency fails with SHOPIFY_CURRENCY_MISMATCH when a product to
// mirror has a price in another currency than the shop's: the shop would
// take the number as its own currency's.
func (sr *shopRun) checkCurrency(ctx context.Context, ts []*target) error {
	cur, err := sr.shopCurrency(ctx)
	if err != nil {
		return err
	}
	for _, t := range ts {
		for _, v := range t.product.Variants {
			if v.Price.Currency != cur {
				return engine.Errorf(engine.CodeShopifyCurrencyMismatch,
					"registration type %q is priced in %s but the shop sells in %s: change the event's prices to %s (nothing was written to the shop)",
					v.Title, v.Price.Currency, cur, cur)
			}
		}
	}
	return nil
}
