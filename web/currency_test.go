package web

import (
	"context"
	"fmt"
	"testing"

	"eventops/engine"
	"eventops/web/client"
)

// oneTypeEvent is a date event with one registration type at a price.
func oneTypeEvent(venue, tt uint64, amount int64, currency string) string {
	return fmt.Sprintf(`{"event": {"name": "Gig", "type": "date", "venue_id": %d,
  "starts_at": "2026-12-05T19:00:00Z", "ends_at": "2026-12-05T23:00:00Z",
  "registration_types": [{"name": "GA", "ticket_type_id": %d, "price": {"amount": %d, "currency": %q}}]}}`,
		venue, tt, amount, currency)
}

// Every active ISO 4217 currency is accepted, and its money JSON has
// exactly the ISO minor-unit digits in "decimal" (a short table refused
// NGN, KES, PEN, MAD, PKR, XOF, IQD and CLF before).
func TestEventPricesInEveryISOCurrency(t *testing.T) {
	t.Parallel()
	f := setup(t)
	v, tt := f.venue(f.keyA), f.ticketType(f.keyA)
	for _, tc := range []struct {
		currency         string
		amount           int64
		decimal, display string
	}{
		{"NGN", 150000, "1500.00", "NGN 1,500.00"},
		{"KES", 250050, "2500.50", "KES 2,500.50"},
		{"PEN", 4500, "45.00", "PEN 45.00"},
		{"MAD", 19900, "199.00", "MAD 199.00"},
		{"PKR", 150000, "1500.00", "PKR 1,500.00"},
		{"XOF", 5000, "5000", "XOF 5,000"},
		{"IQD", 25000, "25.000", "IQD 25.000"},
		{"KWD", 1250, "1.250", "KWD 1.250"},
		{"CLF", 12340, "1.2340", "CLF 1.2340"},
		{"JPY", 5000, "5000", "¥5,000"},
	} {
		ev := decode[client.Event](t, f.do("POST", "/api/v2/events", f.keyA, oneTypeEvent(v, tt, tc.amount, tc.currency)).expect(t, 201))
		want := client.Money{Amount: tc.amount, Currency: tc.currency, Decimal: tc.decimal, Formatted: tc.display}
		if price := ev.RegistrationTypes[0].Price; price != want {
			t.Errorf("%s: price %+v, want %+v", tc.currency, price, want)
		}
	}
	// Gold and the testing code are not currencies a price is in.
	for _, code := range []string{"XAU", "XTS", "XXX", "usd"} {
		p := f.do("POST", "/api/v2/events", f.keyA, oneTypeEvent(v, tt, 100, code)).expectProblem(t, 422, "validation_error")
		if attr := firstAttribute(p); attr.Attribute != "registration_types[0].price.currency" || attr.Code != "invalid" {
			t.Errorf("%s: %v", code, attr)
		}
	}
}

// firstAttribute is the first attribute a validation problem names.
func firstAttribute(p client.Problem) client.AttributeError {
	if attrs := p.Attributes(); len(attrs) > 0 {
		return attrs[0]
	}
	return client.AttributeError{}
}

// One event's registration types share one currency: mixing them is a
// 422 currency_mismatch naming the first price that differs, and nothing
// is created.
func TestEventMixingCurrenciesIsRefused(t *testing.T) {
	t.Parallel()
	f := setup(t)
	v, tt := f.venue(f.keyA), f.ticketType(f.keyA)
	body := fmt.Sprintf(`{"event": {"name": "Gig", "type": "date", "venue_id": %d,
  "starts_at": "2026-12-05T19:00:00Z", "ends_at": "2026-12-05T23:00:00Z",
  "registration_types": [
    {"name": "GA", "ticket_type_id": %d, "price": {"amount": 2500, "currency": "USD"}},
    {"name": "VIP", "ticket_type_id": %d, "price": {"amount": 9000, "currency": "EUR"}}]}}`, v, tt, tt)
	p := f.do("POST", "/api/v2/events", f.keyA, body).expectProblem(t, 422, "validation_error")
	if attr := firstAttribute(p); attr.Attribute != "registration_types[1].price.currency" || attr.Code != "currency_mismatch" {
		t.Fatalf("attribute %v, want currency_mismatch on registration_types[1].price.currency", attr)
	}
	if n := f.count("/api/v2/events", f.keyA); n != 0 {
		t.Fatalf("%d events after a refused create", n)
	}
}

// A company whose shop sells in dollars cannot price an event in yen: 422
// currency_mismatch, at write time, before anything reaches the shop.
func TestShopCurrencyRefusesOtherPricesOverHTTP(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	c, err := f.eng.CreateCompany(ctx, "Shop Co", &engine.ShopInput{Sandbox: true, Domain: "shop-co", Currency: "USD"})
	if err != nil {
		t.Fatal(err)
	}
	_, key, err := f.eng.CreateAPIKey(ctx, c.ID, "test", []engine.Scope{engine.ScopeRead, engine.ScopeWrite})
	if err != nil {
		t.Fatal(err)
	}
	k := key.Reveal()
	v, tt := f.venue(k), f.ticketType(k)
	p := f.do("POST", "/api/v2/events", k, oneTypeEvent(v, tt, 5000, "JPY")).expectProblem(t, 422, "validation_error")
	attr := firstAttribute(p)
	if attr.Attribute != "registration_types[0].price.currency" || attr.Code != "currency_mismatch" {
		t.Fatalf("attribute %v, want currency_mismatch on registration_types[0].price.currency", attr)
	}
	f.do("POST", "/api/v2/events", k, oneTypeEvent(v, tt, 5000, "USD")).expect(t, 201)
}

// A yen shop over HTTP: a yen event is mirrored, a dollar one refused at
// write time; a buyer abroad's order is listed in yen, the shop's
// currency, with the euros they paid as presentment_amount.
func TestYenShopOrderJSON(t *testing.T) {
	t.Parallel()
	f := setupShopIn(t, "JPY")
	f.do("POST", "/api/v2/events", f.keyA, oneTypeEvent(f.venue.ID, f.tickets.ID, 2500, "USD")).expectProblem(t, 422, "validation_error")
	r := f.do("POST", "/api/v2/events", f.keyA, oneTypeEvent(f.venue.ID, f.tickets.ID, 5000, "JPY")).expect(t, 201)
	id := decode[client.Event](t, r).ID
	if op := f.waitTerminal(id, opHeader(t, r)); op.Status != "completed" {
		t.Fatalf("save: %v", op)
	}
	_, _, variants := typeState(f.getEvent(id))
	f.control("POST", "/orders", map[string]any{"variant_id": variants[0], "quantity": 2,
		"presentment_currency": "EUR", "presentment_unit_price": "30.50"})
	f.delivered("orders/create", 1)
	list := decode[client.Page[client.Order]](t, f.do("GET", fmt.Sprintf("/api/v2/events/%d/orders", id), f.keyA, nil).expect(t, 200))
	if len(list.Data) != 1 {
		t.Fatalf("orders: %+v", list.Data)
	}
	o := list.Data[0]
	if want := (client.Money{Amount: 10000, Currency: "JPY", Decimal: "10000", Formatted: "¥10,000"}); o.Amount != want {
		t.Errorf("amount %+v, want %+v", o.Amount, want)
	}
	if p := o.PresentmentAmount; p == nil || p.Amount != 6100 || p.Currency != "EUR" || p.Decimal != "61.00" {
		t.Errorf("presentment_amount %+v, want 61.00 EUR", p)
	}
}
