package dash

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"eventops/engine"
	"eventops/views"
)

// The dashboard's read-only pages. Loaders that the websocket also needs (a
// table of operations, an operation's view, an event's live part, the
// overview) are methods of the dashboard so that a page and its push show
// the same thing.

// dashRowsPerPage is the size of an operations table page.
const dashRowsPerPage = 50

func (d *Dashboard) overview(c *fiber.Ctx, sess *staffSession) error {
	ov, err := d.overviewData()
	if err != nil {
		return err
	}
	p := d.pageOf(c, sess, "Overview", "overview", true)
	return dashRender(c, http.StatusOK, views.OverviewView(p, d.tally.counts(), ov))
}

// overviewData is the overview's live part: the chart and the latest
// failures.
func (d *Dashboard) overviewData() (views.Overview, error) {
	fails, _, err := d.eng.Operations(engine.OperationQuery{Status: engine.StatusFailed, Limit: 10})
	if err != nil {
		return views.Overview{}, err
	}
	groups := d.tally.failureGroups(10)
	ids := make([]uint64, 0, len(fails)+len(groups))
	for _, op := range fails {
		ids = append(ids, op.CompanyID)
	}
	for _, g := range groups {
		ids = append(ids, g.CompanyID)
	}
	return views.Overview{Chart: d.tally.chart(), Failures: fails, Names: d.names.names(ids...), Groups: groups}, nil
}

// opList is an operations table's query: the filter, the page, and how to
// link to the next page.
type opList struct {
	q      engine.OperationQuery
	filter views.OpFilter
	// event is set when the table is an event page's history.
	event uint64
}

var dashCodePattern = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,63}$`)

// parseOpList reads the list's query parameters: status, action, company,
// event, code and before (the cursor). get reads one parameter.
func parseOpList(get func(string) string) (opList, error) {
	var l opList
	f := &l.filter
	f.Status, f.Action, f.Code = get("status"), get("action"), get("code")
	f.Company, f.Event = strings.TrimSpace(get("company")), strings.TrimSpace(get("event"))
	if f.Status != "" {
		if !engine.Status(f.Status).Valid() {
			return l, dashBadRequest("Unknown status " + strconv.Quote(f.Status) + ".")
		}
		l.q.Status = engine.Status(f.Status)
	}
	if f.Action != "" {
		if !engine.Action(f.Action).Valid() {
			return l, dashBadRequest("Unknown action " + strconv.Quote(f.Action) + ".")
		}
		l.q.Action = engine.Action(f.Action)
	}
	if f.Code != "" {
		if !dashCodePattern.MatchString(f.Code) {
			return l, dashBadRequest("An error code is upper case, like TICKETS_STRUCTURE_EMPTY.")
		}
		l.q.Code = engine.Code(f.Code)
	}
	var err error
	if l.q.CompanyID, err = formID(f.Company, "company"); err != nil {
		return l, err
	}
	if l.q.EventID, err = formID(f.Event, "event"); err != nil {
		return l, err
	}
	if l.q.Before, err = formID(get("before"), "before"); err != nil {
		return l, err
	}
	f.From, f.To = strings.TrimSpace(get("from")), strings.TrimSpace(get("to"))
	if l.q.CreatedFrom, err = formTime(f.From, "from"); err != nil {
		return l, err
	}
	if l.q.CreatedTo, err = formTime(f.To, "to"); err != nil {
		return l, err
	}
	if !l.q.CreatedFrom.IsZero() && !l.q.CreatedTo.IsZero() && !l.q.CreatedFrom.Before(l.q.CreatedTo) {
		return l, dashBadRequest("The \"created to\" time must be after the \"created from\" time.")
	}
	l.q.Limit = dashRowsPerPage
	return l, nil
}

// formTime reads a time filter: RFC 3339, or what a datetime-local input
// sends (no zone), read as UTC as the form says.
func formTime(s, name string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, dashBadRequest("The " + name + " time must look like 2026-12-05T10:00 (UTC) or 2026-12-05T10:00:00Z.")
}

func formID(s, name string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil || id == 0 {
		return 0, dashBadRequest("The " + name + " filter takes an id (a positive number).")
	}
	return id, nil
}

// eventHistory is the operations table of an event page.
func eventHistory(eventID, before uint64) opList {
	return opList{q: engine.OperationQuery{EventID: eventID, Before: before, Limit: dashRowsPerPage}, event: eventID}
}

// link is the URL of the page of the list that starts below id.
func (l opList) link(before uint64) string {
	if l.event != 0 {
		return "/events/" + strconv.FormatUint(l.event, 10) + "?before=" + strconv.FormatUint(before, 10)
	}
	return l.filter.Query(before)
}

// matches reports whether op passes the list's filters.
func (l opList) matches(op *engine.Operation) bool {
	q := l.q
	switch {
	case q.EventID != 0 && op.EventID != q.EventID,
		q.CompanyID != 0 && op.CompanyID != q.CompanyID,
		q.Status != "" && op.Status != q.Status,
		q.Action != "" && op.Action != q.Action:
		return false
	case !q.CreatedIn(op.CreatedAt):
		return false
	case q.Code != "":
		return op.Error != nil && op.Error.Code == q.Code
	}
	return true
}

// loadRows reads one page of a list. low is the smallest id the page
// covers (0 on the last page): the websocket adds rows within its range.
func (d *Dashboard) loadRows(l opList) (rows views.Rows, ops []*engine.Operation, low uint64, err error) {
	ops, next, err := d.eng.Operations(l.q)
	if err != nil {
		return views.Rows{}, nil, 0, err
	}
	ids := make([]uint64, len(ops))
	for i, op := range ops {
		ids[i] = op.CompanyID
	}
	names := d.names.names(ids...)
	rows.Rows = make([]views.Row, len(ops))
	for i, op := range ops {
		rows.Rows[i] = views.Row{Op: op, Names: names}
	}
	if next != 0 {
		rows.Next = l.link(next)
	}
	return rows, ops, next, nil
}

func (d *Dashboard) operations(c *fiber.Ctx, sess *staffSession) error {
	l, err := parseOpList(func(k string) string { return c.Query(k) })
	if err != nil {
		return err
	}
	rows, _, _, err := d.loadRows(l)
	if err != nil {
		return err
	}
	cs, err := d.eng.Companies()
	if err != nil {
		return err
	}
	codes := make([]engine.Code, len(engine.PhaseCodes))
	for i, pc := range engine.PhaseCodes {
		codes[i] = pc.Code
	}
	p := d.pageOf(c, sess, "Operations", "operations", true)
	return dashRender(c, http.StatusOK, views.OperationsView(p, views.OperationsPage{
		Filter: l.filter, Rows: rows, Counts: d.tally.counts(), Companies: cs, Codes: codes, Paged: l.q.Before != 0,
	}))
}

func (d *Dashboard) operation(c *fiber.Ctx, sess *staffSession) error {
	id, err := dashPathID(c, "id")
	if err != nil {
		return err
	}
	op, err := d.eng.Operation(0, id)
	if err != nil {
		return err
	}
	p := d.pageOf(c, sess, "Operation #"+strconv.FormatUint(id, 10), "operations", true)
	retries, err := d.eng.RetriesOf(op)
	if err != nil {
		return err
	}
	return dashRender(c, http.StatusOK, views.OperationPageView(p, views.OperationPage{
		View: d.fullOperationView(op, c.Query("phases") == "all"), RetriedAs: retries, Admin: sess.admin(), CSRF: sess.csrf,
	}))
}

// operationJSON answers an operation's JSON as the API does, as a download
// (the page shows a big operation's JSON only this way).
func (d *Dashboard) operationJSON(c *fiber.Ctx, _ *staffSession) error {
	id, err := dashPathID(c, "id")
	if err != nil {
		return err
	}
	op, err := d.eng.Operation(0, id)
	if err != nil {
		return err
	}
	raw, err := json.MarshalIndent(d.opJSON(op), "", "  ")
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="operation-`+strconv.FormatUint(id, 10)+`.json"`)
	return c.Status(http.StatusOK).Send(append(raw, '\n'))
}

// operationView is an operation as its page and its pushes show it; the raw
// JSON is exactly what the API answers for it. all shows every child of
// long phase lists.
func (d *Dashboard) operationView(op *engine.Operation, all bool) views.OperationView {
	v := views.OperationView{
		Op:      op,
		Company: d.names.names(op.CompanyID).Company(op.CompanyID),
		Event:   d.names.eventName(op),
		All:     all,
		Now:     d.now(),
	}
	// The JSON is built only when it may be shown inline: a big one is a
	// download, and marshalling it on every push was most of a push's cost.
	if v.JSONBig = views.JSONSurelyBig(op); !v.JSONBig {
		raw, err := json.MarshalIndent(d.opJSON(op), "", "  ")
		if err != nil {
			raw = []byte(err.Error())
		}
		v.JSON = string(raw)
	}
	if op.Status.Terminal() {
		d.addRefundLines(&v)
	}
	return v
}

// fullOperationView is operationView for a whole page (a page load, a
// page joining, a full push): with a refund's lines even while it runs.
// Pushes of a running refund's transitions leave them out: loading every
// order of the event per transition, in the hub's goroutine, was for lines
// that a delta does not show.
func (d *Dashboard) fullOperationView(op *engine.Operation, all bool) views.OperationView {
	v := d.operationView(op, all)
	if !op.Status.Terminal() {
		d.addRefundLines(&v)
	}
	return v
}

func (d *Dashboard) addRefundLines(v *views.OperationView) {
	if v.Op.Action == engine.ActionRefund {
		v.Refunds = d.refundLines(v.Op)
	}
}

// refundLines are the event's orders refunded while a refund operation
// ran: orders do not name the operation that refunded them, so the time
// is the link (a refund made in the shop meanwhile shows too). An order's
// refund time is stamped in the commit that ends the operation, a moment
// after its finish time: refundSlack allows for that.
func (d *Dashboard) refundLines(op *engine.Operation) []views.RefundLine {
	orders, err := d.orders(op.CompanyID, op.EventID)
	if err != nil {
		return nil
	}
	const refundSlack = time.Second
	end := d.now()
	if op.FinishedAt != nil {
		end = op.FinishedAt.Add(refundSlack)
	}
	var out []views.RefundLine
	for _, o := range orders {
		if o.Status != engine.OrderRefunded || o.RefundedAt == nil || o.RefundedAt.Before(op.CreatedAt) || o.RefundedAt.After(end) {
			continue
		}
		out = append(out, views.RefundLine{OrderID: o.ID, Amount: o.Amount.String(), Status: string(o.Status)})
	}
	return out
}

func (d *Dashboard) events(c *fiber.Ctx, sess *staffSession) error {
	page, err := d.eventsList(func(k string) string { return c.Query(k) })
	if err != nil {
		return err
	}
	p := d.pageOf(c, sess, "Events", "events", true)
	return dashRender(c, http.StatusOK, views.EventsView(p, page))
}

// eventsList loads the events list (one company's top-level events, a page
// at a time) with each event's newest operation; its websocket keeps those
// current.
func (d *Dashboard) eventsList(get func(string) string) (views.EventsPage, error) {
	cs, err := d.eng.Companies()
	if err != nil {
		return views.EventsPage{}, err
	}
	page := views.EventsPage{Companies: cs}
	if len(cs) == 0 {
		return page, nil
	}
	page.Company = cs[0].ID
	if s := get("company"); s != "" {
		if page.Company, err = formID(s, "company"); err != nil {
			return page, err
		}
	}
	top := uint64(0)
	evs, next, err := d.eng.Events(engine.EventQuery{CompanyID: page.Company, ParentID: &top,
		Sort: engine.SortStartsAt, Desc: true, Cursor: get("cursor"), Limit: dashRowsPerPage, Now: d.now()})
	if err != nil {
		return page, err
	}
	if page.Events, err = d.eng.EventViews(evs); err != nil {
		return page, err
	}
	if page.Last, err = d.lastOperations(evs); err != nil {
		return page, err
	}
	if next != "" {
		page.Next = "/events?company=" + strconv.FormatUint(page.Company, 10) + "&cursor=" + url.QueryEscape(next)
	}
	return page, nil
}

func (d *Dashboard) event(c *fiber.Ctx, sess *staffSession) error {
	id, err := dashPathID(c, "id")
	if err != nil {
		return err
	}
	before, err := formID(c.Query("before"), "before")
	if err != nil {
		return err
	}
	var page views.EventPage
	v, err := d.eng.EventView(0, id)
	switch {
	case err == nil:
		if page.Live, err = d.eventLive(v); err != nil {
			return err
		}
		page.Company = d.names.names(v.Event.CompanyID).Company(v.Event.CompanyID)
		if co, err := d.eng.Company(v.Event.CompanyID); err == nil && co.Shopify() {
			page.CurrencyMismatch, page.ShopCurrency = engine.CurrencyMismatch(co, v.Event), co.Shop.Currency
		} else if err != nil {
			return err
		}
		if v.Event.ParentID != 0 {
			if page.Parent, err = d.eng.Event(0, v.Event.ParentID); err != nil && engine.ErrorKind(err) != engine.KindNotFound {
				return err
			}
		}
	case engine.ErrorKind(err) == engine.KindNotFound:
		// A deleted event keeps its operations: find it through them.
		ops, _, lerr := d.eng.Operations(engine.OperationQuery{EventID: id, Limit: 1})
		if lerr != nil || len(ops) == 0 {
			return err
		}
		ev, eerr := d.eng.EventOfCompany(ops[0].CompanyID, id)
		if eerr != nil {
			return err
		}
		page.Deleted = true
		page.Live = views.EventView{View: &engine.EventView{Event: ev}}
	default:
		return err
	}
	if page.Rows, _, _, err = d.loadRows(eventHistory(id, before)); err != nil {
		return err
	}
	title := "Event #" + strconv.FormatUint(id, 10)
	if !page.Deleted {
		title = page.Live.View.Event.Name
	}
	p := d.pageOf(c, sess, title, "events", true)
	return dashRender(c, http.StatusOK, views.EventDetailView(p, page))
}

// eventLive is the part of an event page its operations change.
func (d *Dashboard) eventLive(v *engine.EventView) (views.EventView, error) {
	out := views.EventView{View: v, RegTypes: map[uint64]engine.RegistrationType{}}
	for _, rt := range v.Event.RegistrationTypes {
		out.RegTypes[rt.ID] = rt
	}
	if v.Event.Type != engine.EventRecurring {
		return out, nil
	}
	parent := v.Event.ID
	evs, next, err := d.eng.Events(engine.EventQuery{CompanyID: v.Event.CompanyID, ParentID: &parent, Limit: 100, Now: d.now()})
	if err != nil {
		return out, err
	}
	if out.Occurrences, err = d.eng.EventViews(evs); err != nil {
		return out, err
	}
	out.MoreOccurrences = next != ""
	return out, nil
}

func (d *Dashboard) companies(c *fiber.Ctx, sess *staffSession) error {
	return d.renderCompanies(c, sess, http.StatusOK, "")
}

func (d *Dashboard) renderCompanies(c *fiber.Ctx, sess *staffSession, status int, msg string) error {
	cs, err := d.eng.Companies()
	if err != nil {
		return err
	}
	p := d.pageOf(c, sess, "Companies", "companies", false)
	return dashRender(c, status, views.CompaniesView(p, views.CompaniesPage{
		Companies: cs, Admin: sess.admin(), CSRF: sess.csrf, Error: msg, OAuth: d.opts.ShopifyOAuth != nil,
	}))
}

func (d *Dashboard) keys(c *fiber.Ctx, sess *staffSession) error {
	created, err := d.takeKeys(c, sess)
	if err != nil {
		return err
	}
	return d.renderKeys(c, sess, http.StatusOK, created, "")
}

func (d *Dashboard) renderKeys(c *fiber.Ctx, sess *staffSession, status int, created []*views.CreatedKey, msg string) error {
	ks, err := d.eng.APIKeys(0)
	if err != nil {
		return err
	}
	cs, err := d.eng.Companies()
	if err != nil {
		return err
	}
	names := d.names.reload()
	rows := make([]views.KeyRow, len(ks))
	// Newest first: the key just made is at the top.
	for i, k := range ks {
		rows[len(ks)-1-i] = views.KeyRow{Key: k, Company: names.Company(k.CompanyID)}
	}
	var tokens []*engine.APIKey
	if sess.admin() {
		if tokens, err = d.eng.AdminTokens(); err != nil {
			return err
		}
		slices.Reverse(tokens)
	}
	p := d.pageOf(c, sess, "API keys", "keys", false)
	return dashRender(c, status, views.KeysView(p, views.KeysPage{
		Keys: rows, Companies: cs, Admin: sess.admin(), CSRF: sess.csrf, Created: created, Error: msg,
		AdminTokens: tokens,
	}))
}

func (d *Dashboard) aliases(c *fiber.Ctx, sess *staffSession) error {
	uses, err := d.eng.AliasUses()
	if err != nil {
		return err
	}
	ks, err := d.eng.APIKeys(0)
	if err != nil {
		return err
	}
	byID := make(map[uint64]*engine.APIKey, len(ks))
	for _, k := range ks {
		byID[k.ID] = k
	}
	names := d.names.reload()
	rows := make([]views.AliasRow, len(uses))
	for i, u := range uses {
		rows[i] = views.AliasRow{Use: u, Key: byID[u.APIKeyID]}
		if k := byID[u.APIKeyID]; k != nil {
			rows[i].Company = names.Company(k.CompanyID)
		}
	}
	p := d.pageOf(c, sess, "Aliases", "aliases", false)
	return dashRender(c, http.StatusOK, views.AliasesView(p, rows))
}

func (d *Dashboard) audit(c *fiber.Ctx, sess *staffSession) error {
	before, err := formID(c.Query("before"), "before")
	if err != nil {
		return err
	}
	entries, next, err := d.eng.AuditLog(engine.AuditQuery{Before: before, Limit: dashRowsPerPage})
	if err != nil {
		return err
	}
	page := views.AuditPage{Entries: entries}
	if next != 0 {
		page.Next = "/audit?before=" + strconv.FormatUint(next, 10)
	}
	p := d.pageOf(c, sess, "Audit log", "audit", false)
	return dashRender(c, http.StatusOK, views.AuditView(p, page))
}

func (d *Dashboard) storage(c *fiber.Ctx, sess *staffSession) error {
	var page views.StoragePage
	if d.opts.Storage == nil {
		page.Missing = true
	} else if h, err := d.opts.Storage.StorageHealth(); err != nil {
		d.log.Warn("storage stats", "err", err)
		page.Error = "The storage statistics could not be read: " + err.Error()
	} else {
		page.Health = h
	}
	p := d.pageOf(c, sess, "Storage", "storage", false)
	return dashRender(c, http.StatusOK, views.StorageView(p, page))
}

func (d *Dashboard) sandbox(c *fiber.Ctx, sess *staffSession) error {
	var page views.SandboxPage
	if d.opts.Sandbox == nil {
		page.Missing = true
	} else {
		raw, err := d.opts.Sandbox.SandboxState(c.UserContext())
		if err == nil {
			page.Shops, err = sandboxShops(raw)
		}
		if err != nil {
			d.log.Warn("sandbox state", "err", err)
			page.Error = "The sandbox's state could not be read: " + err.Error()
		}
	}
	p := d.pageOf(c, sess, "Sandbox", "sandbox", false)
	return dashRender(c, http.StatusOK, views.SandboxView(p, page))
}

func (d *Dashboard) signOutPage(c *fiber.Ctx, sess *staffSession) error {
	return dashRender(c, http.StatusOK, views.SignOutView(d.pageOf(c, sess, "Sign out", "", false)))
}
