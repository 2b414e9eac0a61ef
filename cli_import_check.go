package main

// Checking an import file's drafts into rows: the engine's own validation
// (engine.CheckText, CheckTime, Recurrence, the money codec, the limits)
// with the row-level messages of the dry run, and the Idempotency-Key
// material of each row.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"eventops/engine"
	"eventops/web/client"
)

// validate checks every draft and keeps the valid ones as rows.
func (f *importFile) validate(drafts []*draft) {
	// A venue's zone comes from the first row that gives one; rows may leave
	// it empty once it is known, and may not contradict it.
	type zoneAt struct {
		tz   string
		line int
	}
	zones := map[string]zoneAt{}
	for _, d := range drafts {
		if d.venue != "" && d.tz != "" {
			if _, ok := zones[d.venue]; !ok {
				zones[d.venue] = zoneAt{d.tz, d.line}
			}
		}
	}
	seen := map[string]int{} // key material → line of its first row
	for _, d := range drafts {
		var errs []rowError
		bad := func(attr, msg string) { errs = append(errs, rowError{d.line, d.where(attr), msg}) }
		tz := d.tz
		if z, ok := zones[d.venue]; ok {
			if tz == "" {
				tz = z.tz
			} else if tz != z.tz {
				bad("time_zone", fmt.Sprintf("%s differs from %s, given for venue %q on line %d", tz, z.tz, d.venue, z.line))
			}
		}
		row := d.check(tz, bad)
		if len(errs) > 0 {
			f.bad = append(f.bad, errs...)
			continue
		}
		km := row.keyMaterial()
		if first, ok := seen[km]; ok {
			row.dupOf = first
			f.warnings = append(f.warnings, rowError{d.line, "", fmt.Sprintf("repeats line %d exactly: it becomes a second event", first)})
		} else {
			seen[km] = d.line
		}
		f.rows = append(f.rows, row)
	}
	sort.SliceStable(f.bad, func(i, j int) bool { return f.bad[i].line < f.bad[j].line })
	// Identical rows are told apart by their rank among their kind.
	count := map[string]int{}
	for _, r := range f.rows {
		km := r.keyMaterial()
		count[km]++
		r.key = importKeyBase(km, count[km])
	}
}

// check validates a draft whose venue's zone is tz, reporting to bad; the
// row is meaningful only when bad was not called.
func (d *draft) check(tz string, bad func(attr, msg string)) *importRow {
	row := &importRow{line: d.line, venue: d.venue, timeZone: tz}
	ev := &row.event
	// Text, names and zones as the server checks them (engine.CheckText,
	// CheckName, CheckTimeZone): characters, not bytes; no control
	// characters; valid UTF-8. The engine's messages are the row's.
	report := func(fs []engine.FieldError) {
		for _, fe := range fs {
			bad(fe.Attribute, fe.Message)
		}
	}
	checkName := func(attr, v string) string {
		report(engine.CheckName(attr, v))
		return v
	}
	ev.Name = checkName("name", strings.TrimSpace(d.name))
	ev.Slug = strings.TrimSpace(d.slug)
	if ev.Slug != "" {
		report(engine.CheckText("slug", ev.Slug, engine.MaxSlugLen))
		if engine.Slugify(ev.Slug) == "" {
			bad("slug", "must contain letters or digits")
		}
	}
	row.venue = checkName("venue", strings.TrimSpace(d.venue))

	var loc *time.Location
	switch fs := engine.CheckTimeZone("time_zone", tz); {
	case len(fs) == 0:
		loc = engine.LoadLocation(tz)
	case tz == "" && row.venue != "":
		bad("time_zone", fmt.Sprintf("can't be blank (no row gives venue %q's zone)", row.venue))
	case tz == "":
		report(fs)
	default:
		// The value is named: a file's zones are typed by hand.
		for _, fe := range fs {
			bad(fe.Attribute, fmt.Sprintf("%q %s (an IANA name such as America/Chicago or Europe/London)", tz, fe.Message))
		}
	}
	instant := func(attr, v string, required bool) *time.Time {
		if v == "" {
			if required {
				bad(attr, "can't be blank")
			}
			return nil
		}
		t, err := parseImportTime(v, loc)
		if errors.Is(err, errNoZone) {
			return nil // the time_zone error says it
		}
		if err != nil {
			bad(attr, err.Error())
			return nil
		}
		for _, fe := range engine.CheckTime(attr, t) {
			bad(attr, fe.Message)
			return nil
		}
		return &t
	}
	start, end := instant("starts_at", d.startsAt, true), instant("ends_at", d.endsAt, true)
	if start != nil && end != nil {
		ev.StartsAt, ev.EndsAt = *start, *end
		if !end.After(*start) {
			bad("ends_at", "must be after starts_at")
		}
	}
	if d.publishedSet {
		ev.PublishedAt = instant("published_at", d.publishedAt, false)
	}
	if d.capacity != "" {
		n, err := strconv.Atoi(d.capacity)
		if err != nil || n < 0 {
			bad("capacity", fmt.Sprintf("%q: want a whole number, 0 or more (empty: no shared limit)", d.capacity))
		} else {
			ev.Capacity = &n
		}
	}
	if d.split != "" {
		switch strings.ToLower(d.split) {
		case "true", "yes", "1":
			ev.SplitProducts = true
		case "false", "no", "0":
		default:
			bad("split_products", fmt.Sprintf("%q: want true or false", d.split))
		}
	}

	ev.Type = strings.ToLower(d.typ)
	switch ev.Type {
	case "":
		ev.Type = client.EventDate
		if d.recurrenceSet {
			ev.Type = client.EventRecurring
		}
	case client.EventDate, client.EventRecurring:
	default:
		bad("type", fmt.Sprintf("%q: want date or recurring", d.typ))
	}
	row.occurrences = 1
	switch {
	case ev.Type == client.EventDate && d.recurrenceSet:
		bad("recurrence", "is only allowed on a recurring event (type is date)")
	case ev.Type == client.EventRecurring && !d.recurrenceSet:
		bad("frequency", "a recurring event needs a rule: frequency and count or until")
	case ev.Type == client.EventRecurring:
		row.occurrences = d.checkRecurrence(ev, loc, start, end, bad)
	}

	if !d.regsSet || len(d.regs) == 0 {
		bad("registration_types", "at least one registration type is needed (NAME:PRICE[:QUANTITY[:TICKET TYPE]])")
	}
	names := map[string]int{}
	priced := true // every entry's price read: the currency rule applies
	for i, r := range d.regs {
		attr := func(f string) string { return fmt.Sprintf("registration_types[%d].%s", i, f) }
		rt := client.RegistrationTypeInput{Name: checkName(attr("name"), strings.TrimSpace(r.name))}
		if j, dup := names[rt.Name]; dup && rt.Name != "" {
			bad(attr("name"), fmt.Sprintf("%q is also entry %d: registration types of an event need distinct names", rt.Name, j+1))
		}
		names[rt.Name] = i
		tt := strings.TrimSpace(r.ticketType)
		if tt == "" {
			tt = rt.Name
		} else {
			checkName(attr("ticket_type"), tt)
		}
		amount, currency, err := parsePrice(r, d.currency)
		if err != nil {
			bad(attr("price"), err.Error())
			priced = false
		}
		rt.Price = client.MoneyInput{Amount: amount, Currency: currency}
		if r.quantity != "" {
			q, err := strconv.Atoi(r.quantity)
			if err != nil || q < 0 {
				bad(attr("quantity"), fmt.Sprintf("%q: want a whole number, 0 or more (empty: no limit of its own)", r.quantity))
			}
			rt.Quantity = &q
		}
		ev.RegistrationTypes = append(ev.RegistrationTypes, rt)
		row.ticketTypes = append(row.ticketTypes, tt)
	}
	checkEventRules(ev, row.occurrences, priced, bad)
	return row
}

// checkEventRules applies the server's rules on the event as a whole
// (engine.CheckEventCurrency, engine.CheckFanOut), so that a dry run names
// them too. The file does not say whether the company has a shop: the
// shop's own currency and variant limit are the server's to check.
// occurrences is 0 when the rule is invalid (reported already).
func checkEventRules(ev *client.EventInput, occurrences int, priced bool, bad func(attr, msg string)) {
	probe := &engine.Event{RegistrationTypes: make([]engine.RegistrationType, len(ev.RegistrationTypes))}
	for i, rt := range ev.RegistrationTypes {
		probe.RegistrationTypes[i].Price.Currency = rt.Price.Currency
	}
	if priced {
		in := engine.EventInput{RegistrationTypes: &[]engine.RegistrationTypeInput{}}
		var ee *engine.Error
		if err := engine.CheckEventCurrency(&engine.Company{}, probe, in); errors.As(err, &ee) {
			for _, fe := range ee.Fields {
				var i int
				if _, err := fmt.Sscanf(fe.Attribute, "registration_types[%d]", &i); err != nil || i >= len(probe.RegistrationTypes) {
					bad("registration_types", fe.Message)
					continue
				}
				// The row's wording: which entry, in which currency.
				bad(fmt.Sprintf("registration_types[%d].price", i),
					fmt.Sprintf("is in %s, entry 1 in %s: one event's registration types share one currency",
						probe.RegistrationTypes[i].Price.Currency, probe.RegistrationTypes[0].Price.Currency))
			}
		}
	}
	if occurrences > 0 {
		for _, fe := range engine.CheckFanOut(&engine.Company{}, probe, occurrences) {
			bad(fe.Attribute, fe.Message)
		}
	}
}

// checkRecurrence validates the rule with the engine's own rules (the same
// binary serves the API) and counts the occurrences.
func (d *draft) checkRecurrence(ev *client.EventInput, loc *time.Location, start, end *time.Time, bad func(attr, msg string)) int {
	rule := engine.Recurrence{Frequency: strings.ToLower(d.frequency), Until: d.until}
	num := func(attr, v string) int {
		if v == "" {
			return 0
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			bad(attr, fmt.Sprintf("%q: want a whole number, 1 or more", v))
			return 0
		}
		return n
	}
	rule.Interval = num("recurrence.interval", d.interval)
	rule.Count = num("recurrence.count", d.count)
	for _, day := range strings.FieldsFunc(strings.ToUpper(d.byDay), func(r rune) bool {
		return r == ' ' || r == ',' || r == ';' || r == '|' || r == '+'
	}) {
		rule.ByDay = append(rule.ByDay, day)
	}
	if err := rule.Validate(); err != nil {
		var ee *engine.Error
		if errors.As(err, &ee) {
			for _, fe := range ee.Fields {
				bad(fe.Attribute, fe.Message)
			}
		}
		return 0
	}
	ev.Recurrence = &client.Recurrence{Frequency: rule.Frequency, Interval: rule.Interval,
		ByDay: rule.ByDay, Count: rule.Count, Until: rule.Until}
	if loc == nil || start == nil || end == nil || !end.After(*start) {
		return 0 // reported already
	}
	occ, err := rule.Expand(loc, *start, *end)
	if err != nil {
		var ee *engine.Error
		msg := err.Error()
		if errors.As(err, &ee) {
			msg = ee.Message
		}
		attr := "recurrence.count"
		if rule.Until != "" {
			attr = "recurrence.until"
		}
		bad(attr, strings.TrimPrefix(msg, "count "))
		return 0
	}
	return len(occ)
}

// errNoZone is a local time whose zone is unknown.
var errNoZone = errors.New("is a local time, and the venue's time zone is not known")

// localLayouts are the accepted wall-clock forms, read in the venue's zone.
var localLayouts = []string{"2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02T15:04:05", "2006-01-02 15:04:05"}

// parseImportTime reads an RFC 3339 time with its offset, or a wall-clock
// time in loc. A wall-clock time that a daylight-saving change skips is an
// error; one that happens twice is the earlier instant (give an offset to
// mean the later one).
func parseImportTime(v string, loc *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.UTC(), nil
	}
	for _, layout := range localLayouts {
		wall, err := time.Parse(layout, v)
		if err != nil {
			continue
		}
		if loc == nil {
			return time.Time{}, errNoZone
		}
		return wallToInstant(wall, loc)
	}
	return time.Time{}, fmt.Errorf("%q: want a local time such as 2027-01-08 19:30 (in the venue's zone) or RFC 3339 such as 2027-01-08T19:30:00-06:00", v)
}

// wallToInstant is the instant at which loc's clocks show wall (given in
// UTC fields).
func wallToInstant(wall time.Time, loc *time.Location) (time.Time, error) {
	var found []time.Time
	seen := map[int]bool{}
	for _, probe := range []time.Duration{-26 * time.Hour, 0, 26 * time.Hour} {
		_, off := wall.Add(probe).In(loc).Zone()
		if seen[off] {
			continue
		}
		seen[off] = true
		t := wall.Add(-time.Duration(off) * time.Second)
		if lt := t.In(loc); lt.Year() == wall.Year() && lt.YearDay() == wall.YearDay() &&
			lt.Hour() == wall.Hour() && lt.Minute() == wall.Minute() && lt.Second() == wall.Second() {
			found = append(found, t.UTC())
		}
	}
	if len(found) == 0 {
		return time.Time{}, fmt.Errorf("%s does not exist in %s (the clocks skip it for daylight saving time)",
			wall.Format("2006-01-02 15:04"), loc)
	}
	slices.SortFunc(found, func(a, b time.Time) int { return a.Compare(b) })
	return found[0], nil
}

// parsePrice reads a registration type's price into minor units.
func parsePrice(r draftReg, rowCurrency string) (int64, string, error) {
	currency := strings.ToUpper(strings.TrimSpace(r.currency))
	dec := strings.TrimSpace(r.price)
	if fs := strings.Fields(dec); len(fs) == 2 {
		c := strings.ToUpper(fs[1])
		if currency != "" && c != currency {
			return 0, "", fmt.Errorf("%q and currency %s disagree", r.price, currency)
		}
		dec, currency = fs[0], c
	} else if len(fs) > 2 {
		return 0, "", fmt.Errorf("%q: want an amount and a currency such as 25.00 USD", r.price)
	}
	if currency == "" {
		currency = strings.ToUpper(strings.TrimSpace(rowCurrency))
	}
	if currency == "" {
		return 0, "", errors.New("has no currency: write it after the amount (25.00 USD) or fill the currency column")
	}
	if _, ok := engine.CurrencyDigits(currency); !ok {
		return 0, "", fmt.Errorf("%s is not a supported ISO 4217 currency code", currency)
	}
	switch {
	case dec == "" && r.amount == nil:
		return 0, "", errors.New("can't be blank")
	case r.amount != nil && *r.amount < 0:
		return 0, "", errors.New("must be 0 or more")
	case dec == "":
		return *r.amount, currency, nil
	case strings.HasPrefix(dec, "-"):
		return 0, "", fmt.Errorf("%q: must be 0 or more", dec)
	}
	// The engine's codec: exact, and no more decimals than the currency
	// has ("25.001 USD" and "5000.00 JPY" are refused, not rounded).
	m, err := engine.ParseDecimal(dec, currency)
	if err != nil {
		return 0, "", fmt.Errorf("%q: %v", dec, err)
	}
	if r.amount != nil && *r.amount != m.Amount {
		return 0, "", fmt.Errorf("amount %d and decimal %s disagree (amount is in minor units: %d)", *r.amount, dec, m.Amount)
	}
	return m.Amount, currency, nil
}

// keyMaterial is the row's meaning, canonically encoded: what the
// Idempotency-Key is derived from. Names stand for venues and ticket types
// (ids are resolved per server); line numbers and the file's other rows
// play no part, so fixing, adding or moving rows leaves the keys of the
// others unchanged.
func (r *importRow) keyMaterial() string {
	b, _ := json.Marshal(struct {
		V           int               `json:"v"`
		Venue       string            `json:"venue"`
		TimeZone    string            `json:"tz"`
		TicketTypes []string          `json:"ticket_types"`
		Event       client.EventInput `json:"event"`
	}{1, r.venue, r.timeZone, r.ticketTypes, r.event})
	return string(b)
}

func importKeyBase(material string, rank int) string {
	return material + "\x00" + strconv.Itoa(rank)
}

// idempotencyKey is what is sent: a hash of the scope, the kind of
// resource and its material.
func idempotencyKey(scope, kind, material string) string {
	sum := sha256.Sum256([]byte("eventops-import\x00" + scope + "\x00" + kind + "\x00" + material))
	return "import-" + kind + "-" + hex.EncodeToString(sum[:20])
}

// printDryRun reports a dry run: every bad row, then what would be sent.
func (f *importFile) printDryRun(w io.Writer, name string) error {
	f.printProblems(w)
	venues, tts, recurring, occurrences := map[string]bool{}, map[string]bool{}, 0, 0
	for _, r := range f.rows {
		venues[r.venue] = true
		for _, t := range r.ticketTypes {
			tts[t] = true
		}
		if r.event.Type == client.EventRecurring {
			recurring++
			occurrences += r.occurrences
		}
	}
	if len(f.bad) > 0 {
		fmt.Fprintf(w, "dry run of %s (%s): %d of %d rows are invalid; nothing was sent\n", name, f.format, f.badRows(), f.total)
		return fmt.Errorf("%d invalid rows", f.badRows())
	}
	fmt.Fprintf(w, "dry run of %s (%s): all %d rows are valid: %d date events, %d recurring (%d occurrences), %d venues, %d ticket types; nothing was sent\n",
		name, f.format, f.total, len(f.rows)-recurring, recurring, occurrences, len(venues), len(tts))
	return nil
}

func (f *importFile) printProblems(w io.Writer) {
	for _, e := range f.bad {
		fmt.Fprintln(w, e)
	}
	for _, e := range f.warnings {
		fmt.Fprintln(w, "warning:", e)
	}
}
