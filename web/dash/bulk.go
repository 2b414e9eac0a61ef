package dash

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"eventops/engine"
	"eventops/views"
)

// Bulk retry and cancel for admins: GET /bulk previews what the filter
// selects (how many, the newest few), POST /bulk with confirm=1 does it
// through the engine and writes one audit entry, then redirects back to
// the page with the outcome (a reload does not repeat it; repeating it
// would skip what was done anyway).
//
// A confirmation acts on the set its preview showed, not on what the
// filter selects by the time it is posted: the form carries the
// preview's upper bound ("before": operations created later are left
// out) and the count shown, the engine acts on at most that many below
// the bound, and when more are eligible below it now than were shown
// (a running one failed since) the preview is shown again instead.

// bulkRequest reads a bulk form or query: the action ("retry" or
// "cancel") and the list's filters, where "kind" is the operations'
// action (the form's "action" is the bulk one).
func bulkRequest(get func(string) string) (string, opList, error) {
	action := get("action")
	if action == "" {
		action = "retry"
	}
	if action != "retry" && action != "cancel" {
		return "", opList{}, dashBadRequest("A bulk action is retry or cancel.")
	}
	l, err := parseOpList(func(k string) string {
		switch k {
		case "action":
			return get("kind")
		case "status":
			return ""
		}
		return get(k)
	})
	if err != nil {
		return "", l, err
	}
	l.q.Limit = engine.MaxBulk
	return action, l, nil
}

func (d *Dashboard) bulkPage(c *fiber.Ctx, sess *staffSession) error {
	if !sess.admin() {
		return dashForbidden("Only admins may retry or cancel in bulk: your role is viewer.")
	}
	action, l, err := bulkRequest(func(k string) string { return c.Query(k) })
	if err != nil {
		return err
	}
	preview, err := d.eng.PreviewBulk(action, l.q)
	if err != nil {
		return err
	}
	cs, err := d.eng.Companies()
	if err != nil {
		return err
	}
	ids := make([]uint64, len(preview.Sample))
	for i, op := range preview.Sample {
		ids[i] = op.CompanyID
	}
	page := views.BulkPage{Action: action, Filter: l.filter, Preview: preview, Names: d.names.names(ids...),
		Companies: cs, Codes: phaseCodes(), CSRF: sess.csrf, Before: l.q.Before}
	if c.Query("changed") != "" {
		page.Changed, _ = strconv.Atoi(c.Query("shown"))
		if page.Changed < 1 {
			page.Changed = 1
		}
	}
	if c.Query("done") != "" {
		n, _ := strconv.Atoi(c.Query("done"))
		skipped, _ := strconv.Atoi(c.Query("skipped"))
		page.Done = &views.BulkDone{Count: n, Skipped: skipped, More: c.Query("more") == "1", Stopped: c.Query("stopped")}
	}
	p := d.pageOf(c, sess, "Bulk "+action, "operations", false)
	return dashRender(c, http.StatusOK, views.BulkView(p, page))
}

func (d *Dashboard) bulkAction(c *fiber.Ctx, sess *staffSession) error {
	action, l, err := bulkRequest(func(k string) string { return c.FormValue(k) })
	if err != nil {
		return err
	}
	back := views.BulkURL(action, l.filter)
	shown, _ := strconv.Atoi(c.FormValue("shown"))
	if c.FormValue("confirm") != "1" || l.q.Before == 0 || shown < 1 {
		// Only the confirmation's form goes ahead, with the bound and
		// count of the preview it confirms: anything else shows the
		// preview first.
		return c.Redirect(back, http.StatusSeeOther)
	}
	now, err := d.eng.PreviewBulk(action, l.q)
	if err != nil {
		return err
	}
	if now.Eligible > shown {
		// More are eligible below the bound than the preview showed: the
		// admin confirmed a smaller set, so they look again first.
		return c.Redirect(back+"&changed=1&shown="+strconv.Itoa(shown), http.StatusSeeOther)
	}
	l.q.Limit = shown
	ctx, cancel := context.WithTimeout(context.Background(), d.opts.BulkTimeout)
	defer cancel()
	var res engine.BulkResult
	if action == "cancel" {
		res, err = d.eng.BulkCancel(ctx, l.q)
	} else {
		res, err = d.eng.BulkRetry(ctx, l.q)
	}
	detail := bulkFilterText(l.filter) + "; confirmed " + strconv.Itoa(shown) + " shown, ids below " + strconv.FormatUint(l.q.Before, 10)
	if err == nil || len(res.Operations) > 0 {
		var ids []string
		for i, op := range res.Operations {
			if i == 20 {
				ids = append(ids, "…")
				break
			}
			ids = append(ids, "#"+strconv.FormatUint(op.ID, 10))
		}
		detail += "; " + strconv.Itoa(len(res.Operations)) + " done, " + strconv.Itoa(res.Skipped) + " skipped"
		if len(ids) > 0 {
			detail += " (" + strings.Join(ids, ", ") + ")"
		}
	}
	// Out of time is a partial result, not a failure: what was done
	// stays done, and the page says so and goes on from where it stopped.
	stopped := err != nil && ctx.Err() != nil && res.More
	if stopped {
		err = nil
		detail += "; stopped after " + d.opts.BulkTimeout.String()
	}
	d.record(c, sess, "operation.bulk_"+action, "operations", detail, err)
	if err != nil {
		return err
	}
	v := url.Values{"done": {strconv.Itoa(len(res.Operations))}, "skipped": {strconv.Itoa(res.Skipped)}}
	if res.More {
		// The preview after it goes on where the call stopped, so that a
		// run of skipped ones is not read again.
		v.Set("more", "1")
		v.Set("before", strconv.FormatUint(res.Next, 10))
	}
	if stopped {
		v.Set("stopped", d.opts.BulkTimeout.String())
	}
	return c.Redirect(back+"&"+v.Encode(), http.StatusSeeOther)
}

// bulkFilterText is the filter as the audit log records it.
func bulkFilterText(f views.OpFilter) string {
	var parts []string
	for _, kv := range [][2]string{{"action", f.Action}, {"company", f.Company}, {"event", f.Event}, {"code", f.Code},
		{"from", f.From}, {"to", f.To}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+"="+kv[1])
		}
	}
	if len(parts) == 0 {
		return "every operation"
	}
	return strings.Join(parts, " ")
}

func phaseCodes() []engine.Code {
	codes := make([]engine.Code, len(engine.PhaseCodes))
	for i, pc := range engine.PhaseCodes {
		codes[i] = pc.Code
	}
	return codes
}
