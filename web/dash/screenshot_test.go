package dash

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"eventops/engine"
)

// TestDashboardScreenshot writes a picture of the operation page of a
// Shopify save of a recurring event caught mid-flight to the path in
// EVENTOPS_SCREENSHOT (for the README); it skips without it. The Shopify
// phases are stand-ins that hold where the picture wants them: the catalog
// expanded into one product per occurrence, two done and the third retrying
// after the shop answered 503, the later phases waiting on it.
func TestDashboardScreenshot(t *testing.T) {
	out := os.Getenv("EVENTOPS_SCREENSHOT")
	if out == "" {
		t.Skip("set EVENTOPS_SCREENSHOT to a .png path to take the README's screenshot")
	}
	browser := startChromium(t)
	cat := &catalogStandIn{hold: make(chan struct{}), held: make(chan struct{}, 8)}
	done := standIn(func(ctx context.Context, r *engine.PhaseRun) error {
		r.Progress(1, 1)
		return nil
	})
	f := setupDash(t, dashListen(), dashWork(engine.PhaseCatalog, cat),
		dashWork(engine.PhaseInventory, done), dashWork(engine.PhaseMetafields, done),
		dashWork(engine.PhaseDelivery, done), dashWork(engine.PhasePublish, done))
	ctx := context.Background()
	shop, err := f.eng.CreateCompany(ctx, "Blue Note Presents", &engine.ShopInput{Sandbox: true, Domain: "blue-note"})
	if err != nil {
		t.Fatal(err)
	}
	venue, err := f.eng.CreateVenue(ctx, shop.ID, engine.VenueInput{Name: "Blue Room", TimeZone: "America/Chicago"})
	if err != nil {
		t.Fatal(err)
	}
	tt, err := f.eng.CreateTicketType(ctx, shop.ID, engine.TicketTypeInput{Name: "General admission"})
	if err != nil {
		t.Fatal(err)
	}
	name, start := "Friday Jazz Night", time.Date(2026, 12, 4, 19, 0, 0, 0, time.UTC)
	end, capacity, qty := start.Add(4*time.Hour), 200, 150
	_, op, err := f.eng.CreateEvent(ctx, shop.ID, engine.EventInput{
		Name: &name, Type: ptrTo(engine.EventRecurring), VenueID: &venue.ID, StartsAt: &start, EndsAt: &end,
		Capacity:   engine.Nullable[int]{Set: true, Value: &capacity},
		Recurrence: engine.Nullable[engine.Recurrence]{Set: true, Value: &engine.Recurrence{Frequency: engine.FrequencyWeekly, Count: 3}},
		RegistrationTypes: &[]engine.RegistrationTypeInput{{Name: "General admission", TicketTypeID: tt.ID,
			Price: engine.MoneyInput{Amount: ptrTo(int64(2500)), Currency: "USD"}, Quantity: &qty}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for range 1 {
		select {
		case <-cat.held:
		case <-time.After(20 * time.Second):
			cur, _ := f.eng.Operation(0, op.ID)
			js, _ := json.MarshalIndent(cur, "", " ")
			t.Fatalf("the stand-ins did not reach their holds:\n%s", js)
		}
	}
	defer close(cat.hold)

	tabCtx, log := tab(t, browser)
	signInTab(t, tabCtx, f.base, dashAdmin)
	run(t, tabCtx, "open the operation page", chromedp.Navigate(f.base+opPage(op.ID)), chromedp.WaitVisible(chromedp.CSS("#op-tree")))
	waitFor(t, tabCtx, "the socket", `document.querySelector("#conn").textContent === "live"`)
	clean(t, tabCtx, log, "operation page")
	c, cancel := context.WithTimeout(tabCtx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(c, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, png, 0o644); err != nil {
		t.Fatal(err)
	}
}

type standIn func(ctx context.Context, r *engine.PhaseRun) error

func (s standIn) Run(ctx context.Context, r *engine.PhaseRun) error { return s(ctx, r) }

// catalogStandIn makes one child per occurrence, as the real catalog does;
// the last occurrence's product fails once with a 503, then holds.
type catalogStandIn struct {
	hold chan struct{}
	held chan struct{}
	last uint64
}

func (c *catalogStandIn) Expand(ctx context.Context, r *engine.PhaseRun) ([]*engine.Phase, error) {
	var kids []*engine.Phase
	err := r.View(func(tx engine.Tx) error {
		occ, err := tx.ChildEvents(r.Op.EventID)
		for _, o := range occ {
			kids = append(kids, &engine.Phase{Name: engine.PhaseCatalog, Subject: o.ID})
			c.last = o.ID
		}
		return err
	})
	return kids, err
}

func (c *catalogStandIn) Run(ctx context.Context, r *engine.PhaseRun) error {
	if r.Phase.Subject != c.last {
		r.Progress(1, 1)
		return nil
	}
	r.Progress(0, 1)
	if r.Attempt == 1 {
		return engine.Transientf(engine.CodeShopifyUnavailable, "the shop answered 503 Service Unavailable")
	}
	c.held <- struct{}{}
	select {
	case <-c.hold:
		r.Progress(1, 1)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
