package sandbox

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

// yenShop switches the bundle to a new shop selling in yen.
func (b *bundle) yenShop() {
	b.t.Helper()
	creds, err := b.sb.CreateShopWith("yen", ShopOptions{Currency: "JPY"})
	if err != nil {
		b.t.Fatal(err)
	}
	mustEqual(b.t, "credentials' currency", creds.Currency, "JPY")
	b.shop = creds
}

func TestShopHasACurrency(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	mustEqual(t, "default currency", b.mustData(`{ shop { currencyCode } }`, nil).str("data.shop.currencyCode"), "USD")
	b.yenShop()
	mustEqual(t, "yen shop", b.mustData(`{ shop { currencyCode } }`, nil).str("data.shop.currencyCode"), "JPY")
	mustEqual(t, "state", b.state().Currency, "JPY")
	if _, err := b.sb.CreateShopWith("gold", ShopOptions{Currency: "XAU"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a shop in gold: err = %v; want ErrInvalid", err)
	}
}

// A shop holds prices in its currency's decimals: a yen price with
// decimals, even zeros, is refused as Shopify refuses a bad price (a
// userError), never rounded; a dollar price with three decimals too.
func TestProductSetRefusesPricesTheShopCurrencyCannotHold(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	a := b.mustData(mProductSet, map[string]any{
		"identifier": map[string]any{"handle": "cents"},
		"input":      productInput("Cents", []string{"GA"}, tiers("", "GA", "25.001", 1)),
	})
	if errs := a.list("data.productSet.userErrors"); len(errs) != 1 || !strings.Contains(dig(errs[0], "message").(string), "decimals") {
		t.Fatalf("25.001 USD: userErrors %v, want one about decimals", errs)
	}

	b.yenShop()
	for _, p := range []string{"5000.00", "5000.5"} {
		a := b.mustData(mProductSet, map[string]any{
			"identifier": map[string]any{"handle": "yen-" + p},
			"input":      productInput("Yen", []string{"GA"}, tiers("", "GA", p, 1)),
		})
		errs := a.list("data.productSet.userErrors")
		if len(errs) != 1 || dig(errs[0], "code") != "INVALID_VARIANT" {
			t.Fatalf("%s JPY: userErrors %v, want INVALID_VARIANT", p, errs)
		}
	}
	mustEqual(t, "products after refusals", len(b.state().Products), 0)

	ids := b.catalogPriced("5000", "12000")
	v := b.mustData(`query($id: ID!) { productVariant(id: $id) { price } }`, map[string]any{"id": ids.variants[0]})
	mustEqual(t, "price read back", v.str("data.productVariant.price"), "5000")
	mustEqual(t, "price in state", b.state().Variants[0].Price, "5000")
}

// catalogPriced is catalog with other prices (GA, VIP).
func (b *bundle) catalogPriced(ga, vip string) catalogIDs {
	b.t.Helper()
	fs := b.mustData(mFulfillmentServiceCreate, map[string]any{"name": "eventops"})
	loc := fs.str("data.fulfillmentServiceCreate.fulfillmentService.location.id")
	a := b.mustData(mProductSet, map[string]any{
		"identifier": map[string]any{"handle": "jazz-night"},
		"input":      productInput("Jazz Night", []string{"GA", "VIP"}, tiers(loc, "GA", ga, 10, "VIP", vip, 5)),
	})
	if errs := a.list("data.productSet.userErrors"); len(errs) > 0 {
		b.t.Fatalf("productSet userErrors: %v", errs)
	}
	ids := catalogIDs{location: loc, product: a.str("data.productSet.product.id")}
	for _, n := range a.list("data.productSet.product.variants.nodes") {
		ids.variants = append(ids.variants, dig(n, "id").(string))
		ids.items = append(ids.items, dig(n, "inventoryItem.id").(string))
	}
	return ids
}

// An order in a yen shop is in yen, and a buyer paying in euros is
// recorded in yen with the euros beside it, in the webhook (price_set,
// total_price_set: shop_money and presentment_money, as Shopify sends
// them) and in GraphQL.
func TestOrderCarriesShopAndPresentmentMoney(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	b.yenShop()
	ids := b.catalogPriced("5000", "12000")

	status, out := b.control(http.MethodPost, "/orders", map[string]any{"variant_id": ids.variants[0], "quantity": 2,
		"presentment_currency": "EUR", "presentment_unit_price": "30.50"})
	if status != http.StatusCreated {
		t.Fatalf("POST orders: %d %v", status, out)
	}
	body := b.hooks.wait(t, "orders/create", 1)[0].json()
	mustEqual(t, "currency", body["currency"].(string), "JPY")
	mustEqual(t, "presentment_currency", body["presentment_currency"].(string), "EUR")
	mustEqual(t, "total_price", body["total_price"].(string), "10000")
	mustEqual(t, "total shop money", dig(body, "total_price_set.shop_money.amount").(string), "10000")
	mustEqual(t, "total presentment money", dig(body, "total_price_set.presentment_money.amount").(string), "61.00")
	mustEqual(t, "total presentment currency", dig(body, "total_price_set.presentment_money.currency_code").(string), "EUR")
	line := body["line_items"].([]any)[0]
	mustEqual(t, "line price", dig(line, "price").(string), "5000")
	mustEqual(t, "line shop money", dig(line, "price_set.shop_money.amount").(string), "5000")
	mustEqual(t, "line shop currency", dig(line, "price_set.shop_money.currency_code").(string), "JPY")
	mustEqual(t, "line presentment money", dig(line, "price_set.presentment_money.amount").(string), "30.50")

	g := b.mustData(`query($id: ID!) { order(id: $id) { currencyCode presentmentCurrencyCode
	  totalPriceSet { shopMoney { amount currencyCode } presentmentMoney { amount currencyCode } } } }`,
		map[string]any{"id": "gid://shopify/Order/1"})
	mustEqual(t, "order currencyCode", g.str("data.order.currencyCode"), "JPY")
	mustEqual(t, "order presentmentCurrencyCode", g.str("data.order.presentmentCurrencyCode"), "EUR")
	mustEqual(t, "order shop total", g.str("data.order.totalPriceSet.shopMoney.amount"), "10000")
	mustEqual(t, "order presentment total", g.str("data.order.totalPriceSet.presentmentMoney.amount"), "61.00")

	// Without a presentment currency, the buyer paid in the shop's.
	b.order(ids.variants[1], 1)
	body = b.hooks.wait(t, "orders/create", 2)[1].json()
	mustEqual(t, "presentment currency defaults to the shop's", body["presentment_currency"].(string), "JPY")
	mustEqual(t, "presentment money defaults to the shop's", dig(body, "total_price_set.presentment_money.amount").(string), "12000")
}
