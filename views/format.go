package views

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"

	"eventops/engine"
)

// Formatting helpers shared by the templates. Times are shown in UTC: staff
// of one installation may sit in several zones, and the API speaks UTC too.

func itoa(n int) string             { return strconv.Itoa(n) }
func utoa(n uint64) string          { return strconv.FormatUint(n, 10) }
func i64toa(n int64) string         { return strconv.FormatInt(n, 10) }
func ftoa(f float64) string         { return strconv.FormatFloat(f, 'f', 1, 64) }
func status(s engine.Status) string { return string(s) }

// when is a timestamp for tables: date and time to the second.
func when(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

func whenPtr(t *time.Time) string {
	if t == nil {
		return "—"
	}
	return when(*t)
}

// clock is a time of day with milliseconds, for timelines.
func clock(t time.Time) string { return t.UTC().Format("15:04:05.000") }

// duration renders d compactly: 850ms, 12.4s, 3m05s, 2h04m.
func duration(d time.Duration) string {
	switch {
	case d < 0:
		return "—"
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	case d < time.Minute:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// span is the time from start to finish, "" while either is missing.
func span(start, finish *time.Time) string {
	if start == nil || finish == nil {
		return ""
	}
	return duration(finish.Sub(*start))
}

// offset is t relative to origin, for the timeline: "+1.204s".
func offset(origin, t time.Time) string {
	d := t.Sub(origin)
	if d < 0 {
		d = 0
	}
	return "+" + strconv.FormatFloat(d.Seconds(), 'f', 3, 64) + "s"
}

// percent is the progress's percentage as an attribute value; "" for none.
func percent(p *engine.Progress) string {
	if p == nil {
		return ""
	}
	return strconv.Itoa(p.Percent)
}

// progressText is "2 / 6 (33 %)", or "—" while there is no progress yet.
func progressText(p *engine.Progress) string {
	if p == nil {
		return "—"
	}
	return fmt.Sprintf("%d / %d (%d %%)", p.Completed, p.Total, p.Percent)
}

// progressUnits is "2 of 6", "" while there is no progress yet.
func progressUnits(p *engine.Progress) string {
	if p == nil {
		return ""
	}
	return fmt.Sprintf("%d of %d", p.Completed, p.Total)
}

// opURL and friends are the dashboard's paths; ids are digits only, so they
// need no escaping, and templ still checks every URL it renders.
func opURL(id uint64) templ.SafeURL    { return templ.SafeURL("/operations/" + utoa(id)) }
func eventURL(id uint64) templ.SafeURL { return templ.SafeURL("/events/" + utoa(id)) }

func opActionURL(id uint64, action string) templ.SafeURL {
	return templ.SafeURL("/operations/" + utoa(id) + "/" + action)
}

// ptrText renders an optional integer, "—" when absent ("unlimited" reads
// wrong for sold counts, so callers choose the word).
func intOr(p *int, none string) string {
	if p == nil {
		return none
	}
	return strconv.Itoa(*p)
}

// money renders an amount with its currency's ISO 4217 decimals, through
// the engine's codec: 2500 USD is "25.00 USD", 500 JPY is "500 JPY".
func money(m engine.Money) string { return m.String() }

func scopes(ss []engine.Scope) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return strings.Join(out, ", ")
}

// errorCode is the failure code of an operation, "" when it has none.
func errorCode(op *engine.Operation) string {
	if op.Error == nil {
		return ""
	}
	return string(op.Error.Code)
}

// errorPhase names where an error came from: "tickets (#4292)".
func errorPhase(e *engine.OpError) string {
	if e == nil || e.Phase == nil {
		return ""
	}
	s := *e.Phase
	if e.PhaseID != nil {
		s += " (#" + utoa(*e.PhaseID) + ")"
	}
	return s
}

func selected(a, b string) bool { return a == b }

// Query is the filter as a /operations URL, starting below the operation id
// before (0: the newest).
func (f OpFilter) Query(before uint64) string {
	q := url.Values{}
	for _, kv := range [][2]string{
		{"status", f.Status}, {"action", f.Action}, {"company", f.Company}, {"event", f.Event}, {"code", f.Code},
		{"from", f.From}, {"to", f.To},
	} {
		if kv[1] != "" {
			q.Set(kv[0], kv[1])
		}
	}
	if before != 0 {
		q.Set("before", utoa(before))
	}
	if len(q) == 0 {
		return "/operations"
	}
	return "/operations?" + q.Encode()
}

func firstPage(f OpFilter) string { return f.Query(0) }

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func orNone(s string) string {
	if s == "" {
		return "not in the shop yet"
	}
	return s
}

func venueName(v *engine.Venue) string {
	if v == nil {
		return "—"
	}
	return v.Name + " (" + v.TimeZone + ")"
}

// soldText is the paid quantity of a date event, "—" for a template.
func soldText(v *engine.EventView) string {
	if v.Sold == nil {
		return "—"
	}
	return strconv.Itoa(v.Sold[0])
}

// capacityLeft is what the shared capacity still allows.
func capacityLeft(v *engine.EventView) string {
	if v.Event.Capacity == nil {
		return "no limit"
	}
	left := *v.Event.Capacity
	if v.Sold != nil {
		left -= v.Sold[0]
	}
	return strconv.Itoa(max(left, 0))
}

// mirrored tells how many of an occurrence's products the shop holds.
func mirrored(s *engine.TicketStructure) string {
	if s == nil {
		return "—"
	}
	n := 0
	for _, p := range s.Products {
		if p.ShopifyProductID != "" {
			n++
		}
	}
	return strconv.Itoa(n) + " of " + strconv.Itoa(len(s.Products)) + " products"
}

func regTypeName(v EventView, id uint64) string {
	if rt, ok := v.RegTypes[id]; ok {
		return rt.Name
	}
	return "#" + utoa(id)
}

func regTypePrice(v EventView, id uint64) string {
	if rt, ok := v.RegTypes[id]; ok {
		return money(rt.Price)
	}
	return "—"
}

// operationTarget finds "operation N" in an audit entry's text.
func operationTarget(t string) (before string, id uint64, after string, ok bool) {
	m := operationRef.FindStringSubmatchIndex(t)
	if m == nil {
		return "", 0, "", false
	}
	id, err := strconv.ParseUint(t[m[2]:m[3]], 10, 64)
	if err != nil || id == 0 {
		return "", 0, "", false
	}
	return t[:m[0]], id, t[m[1]:], true
}

var operationRef = regexp.MustCompile(`\boperation (\d+)\b`)

// bytesText is a size in bytes with a binary unit.
func bytesText(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return strconv.FormatFloat(float64(n)/float64(div), 'f', 1, 64) + " " + string("KMGTPE"[exp]) + "iB"
}

// KeyLabel names an API key for a button or a question: its name and
// prefix, or the prefix alone when it has no name.
func KeyLabel(k *engine.APIKey) string {
	if k.Name == "" {
		return k.Prefix + "…"
	}
	return k.Name + " (" + k.Prefix + "…)"
}

// newKeyID is the element id of the i-th key shown after its creation.
func newKeyID(i int) string {
	if i == 0 {
		return "new-key"
	}
	return "new-key-" + strconv.Itoa(i+1)
}
