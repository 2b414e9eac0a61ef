package dash

import (
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
		case "status", "before":
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
		Companies: cs, Codes: phaseCodes(), CSRF: sess.csrf}
	if c.Query("done") != "" {
		n, _ := strconv.Atoi(c.Query("done"))
		skipped, _ := strconv.Atoi(c.Query("skipped"))
		page.Done = &views.BulkDone{Count: n, Skipped: skipped, More: c.Query("more") == "1"}
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
	if c.FormValue("confirm") != "1" {
		// Only the confirmation's form goes ahead: anything else shows
		// the preview first.
		return c.Redirect(back, http.StatusSeeOther)
	}
	ctx, cancel := actionContext()
	defer cancel()
	var res engine.BulkResult
	if action == "cancel" {
		res, err = d.eng.BulkCancel(ctx, l.q)
	} else {
		res, err = d.eng.BulkRetry(ctx, l.q)
	}
	detail := bulkFilterText(l.filter)
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
	d.record(c, sess, "operation.bulk_"+action, "operations", detail, err)
	if err != nil {
		return err
	}
	v := url.Values{"done": {strconv.Itoa(len(res.Operations))}, "skipped": {strconv.Itoa(res.Skipped)}}
	if res.More {
		v.Set("more", "1")
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
