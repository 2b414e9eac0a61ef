package dash

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"eventops/engine"
)

// TestDashboardScreenshots writes the dashboard document's pictures (the
// overview and an operation page, desktop and phone, light and dark) into
// the folder in EVENTOPS_SCREENSHOTS (static/docs/img); it skips without
// it. The installation is the README picture's (a Shopify save of a
// recurring event caught mid-flight) plus a few finished and failed
// operations for the overview. Each picture is the visible window, not the
// whole page, to keep the files small.
func TestDashboardScreenshots(t *testing.T) {
	dir := os.Getenv("EVENTOPS_SCREENSHOTS")
	if dir == "" {
		t.Skip("set EVENTOPS_SCREENSHOTS to a folder (static/docs/img) to take the dashboard document's pictures")
	}
	browser := startChromium(t)
	cat := &catalogStandIn{hold: make(chan struct{}), held: make(chan struct{}, 8)}
	done := standIn(func(ctx context.Context, r *engine.PhaseRun) error {
		r.Progress(1, 1)
		return nil
	})
	tickets := &ticketsOrFail{}
	f := setupDash(t, dashListen(), dashWork(engine.PhaseCatalog, cat), dashWork(engine.PhaseTickets, tickets),
		dashWork(engine.PhaseInventory, done), dashWork(engine.PhaseMetafields, done),
		dashWork(engine.PhaseDelivery, done), dashWork(engine.PhasePublish, done))
	ctx := context.Background()

	// Some history for the overview: finished saves and a few failures.
	for i := range 6 {
		_, op := f.createEvent(fmt.Sprintf("Matinee %d", i+1))
		f.waitOp(op.ID, func(o *engine.Operation) bool { return o.Status.Terminal() })
	}
	tickets.fail = true
	for i := range 3 {
		_, op := f.createEvent(fmt.Sprintf("Sold-out gala %d", i+1))
		f.waitOp(op.ID, func(o *engine.Operation) bool { return o.Status.Terminal() })
	}
	tickets.fail = false

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
	select {
	case <-cat.held:
	case <-time.After(20 * time.Second):
		t.Fatal("the stand-ins did not reach their holds")
	}
	defer close(cat.hold)

	tabCtx, log := tab(t, browser)
	signInTab(t, tabCtx, f.base, dashAdmin)
	for _, scheme := range []string{"light", "dark"} {
		run(t, tabCtx, scheme, emulateDark(scheme == "dark"))
		for _, size := range []struct {
			name          string
			width, height int64
		}{{"desktop", 1280, 860}, {"phone", 390, 844}} {
			vp := chromedp.EmulateViewport(size.width, size.height, chromedp.EmulateScale(1))
			if size.width < 800 {
				vp = chromedp.EmulateViewport(size.width, size.height, chromedp.EmulateMobile, chromedp.EmulateScale(1))
			}
			for _, pg := range []struct{ name, path, ready string }{
				{"overview", "/", "#counts"}, {"operation", opPage(op.ID), "#op-tree"},
			} {
				run(t, tabCtx, "open "+pg.name, vp, chromedp.Navigate(f.base+pg.path), chromedp.WaitVisible(chromedp.CSS(pg.ready)))
				waitFor(t, tabCtx, "the socket", `document.querySelector("#conn").textContent === "live"`)
				c, cancel := context.WithTimeout(tabCtx, 20*time.Second)
				png, err := chromedp.Run(c, chromedp.CaptureScreenshot())
				cancel()
				if err != nil {
					t.Fatal(err)
				}
				out := filepath.Join(dir, fmt.Sprintf("dashboard-%s-%s-%s.png", pg.name, size.name, scheme))
				if err := os.WriteFile(out, png, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	clean(t, tabCtx, log, "screenshots")
}

// ticketsOrFail builds ticket structures, or fails for good while fail is
// set (the overview's failures).
type ticketsOrFail struct{ fail bool }

func (w *ticketsOrFail) Run(ctx context.Context, r *engine.PhaseRun) error {
	if w.fail {
		return engine.Errorf(engine.CodeTicketsStructureEmpty, "no registration type can be sold")
	}
	return engine.TicketsWork{}.Run(ctx, r)
}
