package dash

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"eventops/engine"
)

// axeSource is axe-core, vendored from npm for these tests only
// (testdata/axe; `npm pack axe-core@4.14.1`). It is injected through
// DevTools, which the pages' CSP does not govern, and is never served.
//
//go:embed testdata/axe/axe-4.14.1.min.js
var axeSource string

// axeViolation is what the test reports of one axe-core violation.
type axeViolation struct {
	ID    string   `json:"id"`
	Help  string   `json:"help"`
	Nodes []string `json:"nodes"`
}

// axeCheck runs axe-core on the page (WCAG 2.x A and AA and axe's best
// practices) and fails the test on any violation.
func axeCheck(t *testing.T, ctx context.Context, where string) {
	t.Helper()
	if !eval[bool](t, ctx, `typeof window.axe === "object"`) {
		c, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if _, err := chromedp.Run(c, chromedp.Evaluate[bool](axeSource+";true")); err != nil {
			t.Fatalf("inject axe-core: %v", err)
		}
	}
	raw := evalPromise[string](t, ctx, `axe.run(document, {resultTypes: ["violations"],
		runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]}})
	  .then(function (r) { return JSON.stringify(r.violations.map(function (v) {
	    return {id: v.id, help: v.help, nodes: v.nodes.slice(0, 5).map(function (n) { return n.target.join(" ") + " — " + n.failureSummary; })};
	  })); })`)
	var vs []axeViolation
	if err := json.Unmarshal([]byte(raw), &vs); err != nil {
		t.Fatalf("%s: axe answer %q: %v", where, raw, err)
	}
	if len(vs) > 0 {
		var b strings.Builder
		for _, v := range vs {
			fmt.Fprintf(&b, "\n  %s (%s):", v.ID, v.Help)
			for _, n := range v.Nodes {
				fmt.Fprintf(&b, "\n    %s", strings.ReplaceAll(n, "\n", " "))
			}
		}
		t.Errorf("%s: axe-core found %d violations:%s", where, len(vs), b.String())
	}
}

// dashPages are the dashboard's pages as a signed-in admin sees them, with
// a seeded installation: a finished operation, a failure, a revoked shop.
func seedPages(t *testing.T, f *dashFixture) []string {
	t.Helper()
	ctx := context.Background()
	ev, op := f.createEvent("Phone Night")
	f.waitOp(op.ID, func(o *engine.Operation) bool { return o.Status.Terminal() })
	shop, err := f.eng.CreateCompany(ctx, "Revoked Shop Co", &engine.ShopInput{Sandbox: true, Domain: "revoked-shop"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.RevokeShop(ctx, shop.ID, engine.ShopDelivery{ID: "uninstall-1", Topic: "app/uninstalled"}, shop.Shop); err != nil {
		t.Fatal(err)
	}
	return []string{
		"/", "/operations", "/operations?status=failed", opPage(op.ID), "/events", fmt.Sprintf("/events/%d", ev.ID),
		"/companies", "/keys", "/aliases", "/audit", "/storage", "/sandbox", "/logout",
		"/search?q=Phone", "/bulk?status=failed", "/no/such/page",
	}
}

// Every page at a phone's width (390 px) fits: nothing scrolls the page
// sideways (tables scroll inside their own box), the navigation collapses
// behind a Menu control that opens it, and axe-core finds no accessibility
// violation on any page, at phone and at desktop width, signed in and not.
func TestDashboardPhoneLayoutAndAccessibility(t *testing.T) {
	t.Parallel()
	f := setupDash(t, dashListen())
	pages := seedPages(t, f)
	browser := startChromium(t)
	ctx, log := tab(t, browser)

	run(t, ctx, "the sign-in page at 390 px", viewport(390),
		chromedp.Navigate(f.base+"/login"), chromedp.WaitVisible(chromedp.CSS(`input[name="email"]`)))
	fits(t, ctx, "/login")
	axeCheck(t, ctx, "/login at 390 px")
	run(t, ctx, "the sign-in page in dark mode", emulateDark(true), chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`input[name="email"]`)))
	axeCheck(t, ctx, "/login in dark mode")
	run(t, ctx, "light again", emulateDark(false))
	signInTab(t, ctx, f.base, dashAdmin)

	for _, width := range []int64{390, 1280} {
		run(t, ctx, "viewport", viewport(width))
		for _, p := range pages {
			where := fmt.Sprintf("%s at %d px", p, width)
			run(t, ctx, "open "+where, chromedp.Navigate(f.base+p), chromedp.WaitReady(chromedp.CSS("main")))
			if width == 390 {
				fits(t, ctx, where)
			}
			axeCheck(t, ctx, where)
			if !eval[bool](t, ctx, `document.querySelector("a.skip[href='#main']") !== null && document.getElementById("main") !== null`) {
				t.Errorf("%s: no skip link to the main content", where)
			}
			if p != "/logout" && !eval[bool](t, ctx, `Array.from(document.querySelectorAll(".banner")).some(function (b) {
			  return b.textContent.indexOf("revoked-shop") >= 0 && b.textContent.indexOf("Revoked Shop Co") >= 0; })`) {
				t.Errorf("%s: no banner for the revoked shop", where)
			}
			if p == "/no/such/page" {
				log.take() // the browser logs the 404 it was meant to get
			}
		}
	}
	// Dark mode (prefers-color-scheme) keeps every contrast.
	run(t, ctx, "dark", viewport(1280), emulateDark(true))
	for _, p := range pages {
		run(t, ctx, "open "+p+" in dark mode", chromedp.Navigate(f.base+p), chromedp.WaitReady(chromedp.CSS("main")))
		if p == "/" && eval[string](t, ctx, `getComputedStyle(document.body).backgroundColor`) == "rgb(247, 247, 245)" {
			t.Fatal("dark mode did not change the page's colours")
		}
		axeCheck(t, ctx, p+" in dark mode")
		if p == "/no/such/page" {
			log.take()
		}
	}
	run(t, ctx, "light", emulateDark(false))
	clean(t, ctx, log, "every page")

	// The pages a form leads to: a new key shown once, and the question
	// before revoking it.
	run(t, ctx, "create a key at 390 px", viewport(390), chromedp.Navigate(f.base+"/keys"),
		chromedp.WaitVisible(chromedp.CSS(`#new-key-form`)),
		chromedp.SendKeys(chromedp.CSS(`#new-key-form input[name="name"]`), "phone"),
		chromedp.Click(chromedp.CSS(`#new-key-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#new-key`)))
	fits(t, ctx, "the new key")
	axeCheck(t, ctx, "the new key")
	run(t, ctx, "ask to revoke", chromedp.Click(chromedp.CSS(`tr[id^="key-"] button.danger`)), chromedp.WaitVisible(chromedp.CSS(`#confirm-form`)))
	fits(t, ctx, "the revoke question")
	axeCheck(t, ctx, "the revoke question")
	clean(t, ctx, log, "the key forms")

	// The collapsed navigation opens from its Menu control.
	run(t, ctx, "phone", viewport(390), chromedp.Navigate(f.base+"/operations"),
		chromedp.WaitReady(chromedp.CSS("main")))
	if eval[bool](t, ctx, `document.querySelector("#nav-main").offsetParent !== null`) {
		t.Fatal("the navigation is open at 390 px before Menu was pressed")
	}
	run(t, ctx, "open the menu", chromedp.Click(chromedp.CSS(`label[for="nav-toggle"]`)))
	waitFor(t, ctx, "the navigation shown", `document.querySelector("#nav-main").offsetParent !== null`)
	if got := eval[string](t, ctx, `document.querySelector("#nav-main a[aria-current='page']").textContent`); got != "Operations" {
		t.Fatalf("aria-current marks %q, want Operations", got)
	}
	fits(t, ctx, "/operations with the menu open")

	// An unknown path is the dashboard's not-found page, with its
	// navigation, answered 404.
	b := f.admin()
	b.get("/no/such/page").expect(t, 404).contains(t, "Page not found", `href="/operations"`, "Skip to content")
}

// fits fails when the page scrolls sideways in the 390 px phone window.
// A mobile browser widens its layout viewport (innerWidth) to fit a page
// that is too wide, so both are held to the screen's 390 px.
func fits(t *testing.T, ctx context.Context, where string) {
	t.Helper()
	got := eval[[]int](t, ctx, `[document.scrollingElement.scrollWidth, window.innerWidth]`)
	if got[0] > got[1] || got[1] > 390 {
		wide := eval[string](t, ctx, `Array.from(document.querySelectorAll("body *")).filter(function (e) {
		  var r = e.getBoundingClientRect(); return r.right > 391 && getComputedStyle(e).position !== "absolute";
		}).slice(0, 6).map(function (e) { return e.tagName + "." + e.className + "#" + e.id + " " + Math.round(e.getBoundingClientRect().right); }).join(", ")`)
		t.Errorf("%s: the page is %d px wide, its window %d px, on a 390 px screen (too wide: %s)", where, got[0], got[1], wide)
	}
}

// viewport sizes the tab as a phone (touch, mobile) below 800 px, else as
// a desktop window.
func viewport(width int64) chromedp.Action[chromedp.Void] {
	if width < 800 {
		return chromedp.EmulateViewport(width, 844, chromedp.EmulateMobile)
	}
	return chromedp.EmulateViewport(width, 900)
}

// emulateDark makes the tab prefer a dark (or light) colour scheme.
func emulateDark(dark bool) chromedp.Action[chromedp.Void] {
	v := "light"
	if dark {
		v = "dark"
	}
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: v}}})
		return err
	})
}
