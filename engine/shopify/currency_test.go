package shopify_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"eventops/engine"
	"eventops/engine/shopify/sandbox"
)

// priced sets the currency of every registration type of in.
func priced(in engine.EventInput, currency string) engine.EventInput {
	rts := append([]engine.RegistrationTypeInput(nil), (*in.RegistrationTypes)...)
	for i := range rts {
		rts[i].Price.Currency = currency
	}
	in.RegistrationTypes = &rts
	return in
}

// companyCurrency waits until the company's stored shop currency is want.
func (b *bundle) companyCurrency(want string) {
	b.t.Helper()
	var got string
	until(b.t, 30*time.Second, func() bool {
		c, err := b.eng.Company(b.company.ID)
		if err != nil {
			b.t.Fatal(err)
		}
		got = c.Shop.Currency
		return got == want
	}, func() string { return fmt.Sprintf("company's shop currency %q, want %q", got, want) })
}

// A yen shop: the currency is read from the shop when it is connected, a
// yen event is mirrored with yen prices ("5000", no decimals: the shop
// refuses decimals yen does not have), and a buyer's order comes back
// recorded in yen, with the euros a buyer abroad paid kept beside it.
func TestYenShopSellsInYen(t *testing.T) {
	t.Parallel()
	h := setupHooked(t, options{currency: "JPY"})
	if got := h.company.Shop.Currency; got != "JPY" {
		t.Fatalf("company's shop currency %q after connecting a yen shop, want JPY (read from the shop)", got)
	}
	ev, op := h.create(priced(h.input("Kabuki", nil, regType{name: "GA", cents: 5000, quantity: ptr(10)}), "JPY"))
	h.completed(op.ID)
	p := h.productByHandle(h.handleOf(ev.ID))
	if p == nil || len(p.Variants.Nodes) != 1 {
		t.Fatalf("product of event %d in the shop: %+v", ev.ID, p)
	}
	if got := p.Variants.Nodes[0].Price; got != "5000" {
		t.Fatalf("variant price in the yen shop %q, want 5000", got)
	}

	if _, err := h.sb.PlaceOrderWith(h.shop.Name, p.Variants.Nodes[0].ID, 2,
		sandbox.OrderOptions{PresentmentCurrency: "EUR", PresentmentUnitPrice: "30.50"}); err != nil {
		t.Fatal(err)
	}
	h.delivered("orders/create", 1)
	orders, err := h.eng.Orders(h.company.ID, ev.ID)
	if err != nil || len(orders) != 1 {
		t.Fatalf("orders %v, %v; want one", orders, err)
	}
	o := orders[0]
	if o.Amount != (engine.Money{Amount: 10000, Currency: "JPY"}) {
		t.Fatalf("order amount %v, want 10000 JPY (the shop's currency)", o.Amount)
	}
	if o.Presentment == nil || *o.Presentment != (engine.Money{Amount: 6100, Currency: "EUR"}) {
		t.Fatalf("order presentment %v, want 61.00 EUR (what the buyer paid)", o.Presentment)
	}
}

// A dollar shop refuses, at write time, an event priced in yen (today's
// defect: 5000 yen were mirrored as $5,000.00), on create and on a PATCH
// of its registration types; nothing is stored and nothing reaches the
// shop.
func TestDollarShopRefusesYenPricesAtWrite(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	_, _, err := b.eng.CreateEvent(context.Background(), b.company.ID,
		priced(b.input("Kabuki", nil, regType{name: "GA", cents: 5000}), "JPY"))
	mustCurrencyMismatch(t, err, "registration_types[0].price.currency")
	evs, _, err := b.eng.Events(engine.EventQuery{CompanyID: b.company.ID, Limit: 10})
	if err != nil || len(evs) != 0 {
		t.Fatalf("events after a refused create: %d, %v", len(evs), err)
	}

	ev, op := b.create(b.input("Jazz", nil, regType{name: "GA", cents: 2500}, regType{name: "VIP", cents: 9000}))
	b.completed(op.ID)
	patch := b.input("Jazz", nil, regType{name: "GA", cents: 2500}, regType{name: "VIP", cents: 9000})
	(*patch.RegistrationTypes)[1].Price.Currency = "JPY"
	_, _, err = b.eng.UpdateEvent(context.Background(), b.company.ID, ev.ID, engine.EventInput{RegistrationTypes: patch.RegistrationTypes})
	mustCurrencyMismatch(t, err, "registration_types[1].price.currency")
	if got := b.productByHandle(b.handleOf(ev.ID)).Variants.Nodes[1].Price; got != "90.00" {
		t.Fatalf("VIP price in the shop %q after a refused PATCH, want 90.00", got)
	}
}

func mustCurrencyMismatch(t *testing.T, err error, attr string) {
	t.Helper()
	var e *engine.Error
	if !errors.As(err, &e) || e.Kind != engine.KindInvalid || len(e.Fields) != 1 ||
		e.Fields[0].Code != "currency_mismatch" || e.Fields[0].Attribute != attr {
		t.Fatalf("err = %#v; want a validation error currency_mismatch on %s", err, attr)
	}
}

// An event priced in yen for a dollar shop whose currency eventops did not
// know yet (a company connected before currencies were kept): the event
// saves locally, and its Shopify phases fail with SHOPIFY_CURRENCY_MISMATCH
// without writing anything to the shop (the catalog phase reads the shop's
// currency and keeps it). Saves keep failing so until the prices are in
// dollars; then the event is mirrored.
func TestEventInAnotherCurrencyFailsItsShopifyPhases(t *testing.T) {
	t.Parallel()
	b := setup(t, options{noShopReader: true})
	if got := b.company.Shop.Currency; got != "" {
		t.Fatalf("shop currency %q without a reader, want it unknown", got)
	}
	ev, op := b.create(priced(b.input("Kabuki", nil, regType{name: "GA", cents: 5000}), "JPY"))
	op = b.wait(op.ID)
	if op.Status != engine.StatusFailed || op.Error == nil || op.Error.Code != engine.CodeShopifyCurrencyMismatch {
		t.Fatalf("save of a yen event in a dollar shop: %s", opJSON(op))
	}
	if p := phase(op, engine.PhaseTickets); p.Status != engine.StatusCompleted {
		t.Fatalf("tickets phase %s, want completed (local phases run): %s", p.Status, opJSON(op))
	}
	if p := phase(op, engine.PhaseCatalog); p.Error == nil || p.Error.Code != engine.CodeShopifyCurrencyMismatch {
		t.Fatalf("catalog phase: %s", opJSON(op))
	}
	if n := len(b.products()); n != 0 {
		t.Fatalf("%d products in the shop, want none", n)
	}
	b.companyCurrency("USD")

	// A PATCH that leaves the prices alone still saves locally, and fails
	// in the shop the same way.
	name := "Kabuki, second night"
	_, op = b.update(ev.ID, engine.EventInput{Name: &name})
	op = b.wait(op.ID)
	if op.Error == nil || op.Error.Code != engine.CodeShopifyCurrencyMismatch || phase(op, engine.PhaseTickets).Status != engine.StatusCompleted {
		t.Fatalf("save after a rename: %s", opJSON(op))
	}

	// Prices in dollars: mirrored.
	in := b.input(name, nil, regType{name: "GA", cents: 5000})
	_, op = b.update(ev.ID, engine.EventInput{RegistrationTypes: in.RegistrationTypes})
	b.completed(op.ID)
	if got := b.productByHandle(b.handleOf(ev.ID)).Variants.Nodes[0].Price; got != "50.00" {
		t.Fatalf("price in the shop %q, want 50.00", got)
	}
}

// A company connected before shop currencies were kept gets its shop's
// currency read at start-up.
func TestStartUpReadsMissingShopCurrencies(t *testing.T) {
	t.Parallel()
	b := setup(t, options{noShopReader: true, currency: "EUR"})
	if got := b.company.Shop.Currency; got != "" {
		t.Fatalf("shop currency %q without a reader, want it unknown", got)
	}
	b.close()
	b.opts.noShopReader = false
	b.open()
	b.companyCurrency("EUR")
	_, _, err := b.eng.CreateEvent(context.Background(), b.company.ID, b.input("Jazz", nil, regType{name: "GA", cents: 2500}))
	mustCurrencyMismatch(t, err, "registration_types[0].price.currency")
}
