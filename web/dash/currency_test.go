package dash

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"eventops/engine"
)

// An event priced in another currency than its company's shop (saved
// before the shop's currency was known) is flagged on its page; an event
// in the shop's currency, and one of a company without a shop, are not.
func TestDashboardFlagsEventsInAnotherCurrencyThanTheShop(t *testing.T) {
	t.Parallel()
	f := setupDash(t)
	ctx := context.Background()
	co, err := f.eng.CreateCompany(ctx, "Yen Events", &engine.ShopInput{Sandbox: true, Domain: "yen-events"})
	if err != nil {
		t.Fatal(err)
	}
	venue, _ := f.eng.CreateVenue(ctx, co.ID, engine.VenueInput{Name: "Hall", TimeZone: "Asia/Tokyo"})
	tt, _ := f.eng.CreateTicketType(ctx, co.ID, engine.TicketTypeInput{Name: "Seat"})
	create := func(name, currency string) *engine.Event {
		start := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
		end := start.Add(2 * time.Hour)
		ev, _, err := f.eng.CreateEvent(ctx, co.ID, engine.EventInput{
			Name: &name, Type: ptrTo(engine.EventDate), VenueID: &venue.ID, StartsAt: &start, EndsAt: &end,
			RegistrationTypes: &[]engine.RegistrationTypeInput{{Name: "Seat", TicketTypeID: tt.ID,
				Price: engine.MoneyInput{Amount: ptrTo(int64(5000)), Currency: currency}}},
		})
		if err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
		return ev
	}
	yen, dollars := create("Kabuki", "JPY"), create("Jazz", "USD")
	// The shop's currency becomes known afterwards (read at start-up).
	if err := f.db.Update(ctx, func(tx engine.Tx) error { return engine.StoreShopCurrency(tx, co.ID, "yen-events", "USD") }); err != nil {
		t.Fatal(err)
	}
	plain, _ := f.createEvent("Local Night")

	b := f.admin()
	b.get(fmt.Sprintf("/events/%d", yen.ID)).expect(t, http.StatusOK).
		contains(t, "Currency mismatch", "priced in JPY", "sells in USD", "SHOPIFY_CURRENCY_MISMATCH")
	b.get(fmt.Sprintf("/events/%d", dollars.ID)).expect(t, http.StatusOK).lacks(t, "Currency mismatch")
	b.get(fmt.Sprintf("/events/%d", plain.ID)).expect(t, http.StatusOK).lacks(t, "Currency mismatch")
}
