package dash

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"eventops/engine"
)

// A big operation's JSON is not shown inline (over 8 KB), yet Copy JSON
// copies all of it, fetched from /operations/{id}/json; it never says
// "Copied" having copied nothing.
func TestDashboardCopyBigJSONInBrowser(t *testing.T) {
	t.Parallel()
	done := standIn(func(ctx context.Context, r *engine.PhaseRun) error { r.Progress(1, 1); return nil })
	f := setupDash(t, dashListen(), dashWorkers(2),
		dashWork(engine.PhaseCatalog, &occurrenceWork{name: engine.PhaseCatalog, go_: closedGate()}),
		dashWork(engine.PhaseInventory, &occurrenceWork{name: engine.PhaseInventory, go_: closedGate()}),
		dashWork(engine.PhaseMetafields, done), dashWork(engine.PhaseDelivery, done), dashWork(engine.PhasePublish, done))
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
	name, start := "Thirty Nights", time.Date(2026, 12, 4, 19, 0, 0, 0, time.UTC)
	end, capacity, qty := start.Add(4*time.Hour), 200, 150
	_, op, err := f.eng.CreateEvent(ctx, shop.ID, engine.EventInput{
		Name: &name, Type: ptrTo(engine.EventRecurring), VenueID: &venue.ID, StartsAt: &start, EndsAt: &end,
		Capacity:   engine.Nullable[int]{Set: true, Value: &capacity},
		Recurrence: engine.Nullable[engine.Recurrence]{Set: true, Value: &engine.Recurrence{Frequency: engine.FrequencyDaily, Count: 30}},
		RegistrationTypes: &[]engine.RegistrationTypeInput{{Name: "General admission", TicketTypeID: tt.ID,
			Price: engine.MoneyInput{Amount: ptrTo(int64(2500)), Currency: "USD"}, Quantity: &qty}},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.waitOp(op.ID, func(o *engine.Operation) bool { return o.Status.Terminal() })
	want := f.admin().get(opPage(op.ID) + "/json").Body
	if len(want) <= 8<<10 {
		t.Fatalf("the operation's JSON is %d bytes: not big enough to test", len(want))
	}

	browser := startChromium(t)
	page, log := tab(t, browser)
	signInTab(t, page, f.base, dashAdmin)
	c := chromedp.FromContext(page)
	for _, perm := range []string{"clipboard-read", "clipboard-write"} {
		if _, err := cdp.Call(page, c.Browser, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
			Permission: &cdpbrowser.PermissionDescriptor{Name: perm, AllowWithoutSanitization: true},
			Setting:    cdpbrowser.PermissionSettingGranted, Origin: f.base, BrowserContextID: c.BrowserContextID,
		}); err != nil {
			t.Fatalf("allow %s: %v", perm, err)
		}
	}
	run(t, page, "focus", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetFocusEmulationEnabled, emulation.SetFocusEmulationEnabledParams{Enabled: true})
		return err
	}))
	run(t, page, "the big operation", chromedp.Navigate(f.base+opPage(op.ID)), chromedp.WaitVisible(chromedp.CSS(".json-tools button.copy")))
	if eval[bool](t, page, `document.getElementById("op-json-text") !== null`) {
		t.Fatal("a JSON over 8 KB is shown inline")
	}
	eval[bool](t, page, `navigator.clipboard.writeText("before").then(function () { window.__ready = true; }), true`)
	waitFor(t, page, "the clipboard ready", `window.__ready === true`)
	run(t, page, "copy the JSON", chromedp.Click(chromedp.CSS(`.json-tools button.copy`)))
	waitFor(t, page, "an outcome", `document.querySelector(".json-tools button.copy").hasAttribute("data-copied")`)
	if got := eval[string](t, page, `document.querySelector(".json-tools button.copy").getAttribute("data-copied")`); got != "1" {
		t.Fatalf("the copy did not succeed: data-copied=%q, label %q", got,
			eval[string](t, page, `document.querySelector(".json-tools button.copy").getAttribute("aria-label")`))
	}
	eval[bool](t, page, `navigator.clipboard.readText().then(function (t) { window.__clip = t; }, function (e) { window.__clip = "error: " + e; }), true`)
	waitFor(t, page, "the clipboard read", `typeof window.__clip === "string"`)
	got := eval[string](t, page, `window.__clip`)
	if got != want {
		t.Fatalf("the clipboard holds %d bytes (%.80q…), want the operation's %d bytes of JSON", len(got), got, len(want))
	}
	if !strings.Contains(got, fmt.Sprintf(`"id": %d`, op.ID)) {
		t.Fatalf("the clipboard holds %.200q", got)
	}
	clean(t, page, log, "copy a big JSON")
}

// closedGate is a gate already open.
func closedGate() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}
