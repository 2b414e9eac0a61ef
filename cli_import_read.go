package main

// Reading an import file: CSV and JSON Lines rows into drafts (text, not
// yet validated), with what is wrong with a row named by line and column.

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"eventops/web/client"
)

// rowError is what is wrong with a row: where (a CSV column or a JSON
// attribute path) and why.
type rowError struct {
	line  int
	where string
	msg   string
}

func (e rowError) String() string {
	if e.where == "" {
		return fmt.Sprintf("line %d: %s", e.line, e.msg)
	}
	return fmt.Sprintf("line %d, %s: %s", e.line, e.where, e.msg)
}

// draft is a row as read, in text, before validation; both formats produce
// it. Attributes are named by their JSON path ("recurrence.count",
// "registration_types[1].price"); csv says how to name them in CSV terms.
type draft struct {
	line                                 int
	csv                                  bool
	name, slug, typ, venue, tz           string
	startsAt, endsAt, publishedAt        string
	capacity, currency, split            string
	frequency, interval, byDay, count    string
	until                                string
	regs                                 []draftReg
	regsSet, recurrenceSet, publishedSet bool
}

type draftReg struct {
	name, ticketType, quantity string
	price                      string // "25.00", "25.00 USD"
	amount                     *int64 // JSON {"amount": 2500}: minor units
	currency                   string // JSON {"currency": "USD"}
}

// where names an attribute for the report.
func (d *draft) where(attr string) string {
	if !d.csv {
		return attr
	}
	if attr == "recurrence" {
		return "frequency"
	}
	if rest, ok := strings.CutPrefix(attr, "recurrence."); ok {
		return rest
	}
	if strings.HasPrefix(attr, "registration_types[") {
		i, field, _ := strings.Cut(strings.TrimPrefix(attr, "registration_types["), "].")
		n, _ := strconv.Atoi(i)
		if field == "" {
			return fmt.Sprintf("registration_types (entry %d)", n+1)
		}
		return fmt.Sprintf("registration_types (entry %d, %s)", n+1, field)
	}
	return attr
}

// importRow is a valid row: the event to create with names in place of
// ids (resolved against the server before sending).
type importRow struct {
	line        int
	venue       string
	timeZone    string
	ticketTypes []string // per registration type
	event       client.EventInput
	occurrences int // 1 for a date event
	key         string
	dupOf       int // line of an identical earlier row, 0 if none
}

// importFile is a file read and validated.
type importFile struct {
	format   string
	total    int
	rows     []*importRow
	bad      []rowError
	warnings []rowError
}

func (f *importFile) badRows() int {
	lines := map[int]bool{}
	for _, e := range f.bad {
		lines[e.line] = true
	}
	return len(lines)
}

// CSV columns; the first six are required.
var importColumns = []string{
	"name", "venue", "time_zone", "starts_at", "ends_at", "registration_types",
	"type", "capacity", "currency", "published_at", "slug", "split_products",
	"frequency", "interval", "by_day", "count", "until",
}

const requiredColumns = 6

func loadImport(data []byte, name, format string) (*importFile, error) {
	if format == "auto" {
		switch strings.ToLower(filepath.Ext(name)) {
		case ".csv":
			format = "csv"
		case ".jsonl", ".ndjson", ".json":
			format = "jsonl"
		default:
			format = "csv"
			if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '{' {
				format = "jsonl"
			}
		}
	}
	var drafts []*draft
	var bad []rowError
	var err error
	if format == "csv" {
		drafts, bad, err = readCSV(data)
	} else {
		drafts, bad = readJSONL(data)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	f := &importFile{format: format, bad: bad}
	f.total = len(drafts) + f.badRows()
	f.validate(drafts)
	if f.total == 0 {
		return nil, fmt.Errorf("%s: no rows", name)
	}
	return f, nil
}

func readCSV(data []byte) ([]*draft, []rowError, error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1 // checked here, to name the row
	r.TrimLeadingSpace = true
	header, err := r.Read()
	if err == io.EOF {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("header: %w", err)
	}
	col := map[string]int{}
	var bad []rowError
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		h = strings.NewReplacer(" ", "_", "-", "_").Replace(h)
		switch {
		case h == "":
			bad = append(bad, rowError{1, fmt.Sprintf("column %d", i+1), "has no name"})
		case !slices.Contains(importColumns, h):
			bad = append(bad, rowError{1, h, "is not a column of the import format; the columns are " + strings.Join(importColumns, ", ")})
		case col[h] != 0:
			bad = append(bad, rowError{1, h, "is named twice"})
		default:
			col[h] = i + 1 // 1-based, so 0 means absent
		}
	}
	for _, h := range importColumns[:requiredColumns] {
		if col[h] == 0 {
			bad = append(bad, rowError{1, h, "required column is missing"})
		}
	}
	if len(bad) > 0 {
		return nil, bad, nil // rows cannot be read without their columns
	}
	var out []*draft
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				bad = append(bad, rowError{pe.StartLine, fmt.Sprintf("column %d", pe.Column), pe.Err.Error()})
				continue
			}
			return nil, nil, err
		}
		line, _ := r.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // a blank line
		}
		if len(rec) != len(header) {
			bad = append(bad, rowError{line, "", fmt.Sprintf("has %d fields, the header %d", len(rec), len(header))})
			continue
		}
		get := func(c string) string {
			if i := col[c]; i > 0 {
				return strings.TrimSpace(rec[i-1])
			}
			return ""
		}
		d := &draft{line: line, csv: true,
			name: get("name"), slug: get("slug"), typ: get("type"), venue: get("venue"), tz: get("time_zone"),
			startsAt: get("starts_at"), endsAt: get("ends_at"), publishedAt: get("published_at"),
			capacity: get("capacity"), currency: get("currency"), split: get("split_products"),
			frequency: get("frequency"), interval: get("interval"), byDay: get("by_day"), count: get("count"),
			until: get("until"), regsSet: true,
		}
		d.publishedSet = d.publishedAt != ""
		d.recurrenceSet = d.frequency != "" || d.interval != "" || d.byDay != "" || d.count != "" || d.until != ""
		regs, errs := parseRegistrationTypes(get("registration_types"))
		for _, e := range errs {
			bad = append(bad, rowError{line, "registration_types", e})
		}
		if len(errs) > 0 {
			continue
		}
		d.regs = regs
		out = append(out, d)
	}
	return out, bad, nil
}

// parseRegistrationTypes reads the CSV form: entries joined by '|', each
// NAME:PRICE[:QUANTITY[:TICKET TYPE]], with '\' escaping ':', '|' and '\'.
func parseRegistrationTypes(s string) ([]draftReg, []string) {
	var out []draftReg
	var errs []string
	for i, entry := range splitEscaped(s, '|') {
		if len(strings.TrimSpace(entry)) == 0 {
			continue
		}
		parts := splitEscaped(entry, ':')
		for j := range parts {
			parts[j] = strings.TrimSpace(unescape(parts[j]))
		}
		if len(parts) < 2 || len(parts) > 4 {
			errs = append(errs, fmt.Sprintf("entry %d %q: want NAME:PRICE[:QUANTITY[:TICKET TYPE]] (escape a colon in a name as \\:)", i+1, entry))
			continue
		}
		r := draftReg{name: parts[0], price: parts[1]}
		if len(parts) > 2 {
			r.quantity = parts[2]
		}
		if len(parts) > 3 {
			r.ticketType = parts[3]
		}
		out = append(out, r)
	}
	return out, errs
}

// splitEscaped splits s at sep, leaving escapes in place.
func splitEscaped(s string, sep byte) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// jsonRow is a JSON Lines row: the API's event body with venue and ticket
// type names instead of ids.
type jsonRow struct {
	Name              string          `json:"name"`
	Slug              string          `json:"slug"`
	Type              string          `json:"type"`
	Venue             string          `json:"venue"`
	TimeZone          string          `json:"time_zone"`
	StartsAt          string          `json:"starts_at"`
	EndsAt            string          `json:"ends_at"`
	PublishedAt       *string         `json:"published_at"`
	Capacity          *int            `json:"capacity"`
	Currency          string          `json:"currency"`
	SplitProducts     *bool           `json:"split_products"`
	Recurrence        *jsonRecurrence `json:"recurrence"`
	RegistrationTypes *[]jsonReg      `json:"registration_types"`
}

type jsonRecurrence struct {
	Frequency string   `json:"frequency"`
	Interval  *int     `json:"interval"`
	ByDay     []string `json:"by_day"`
	Count     *int     `json:"count"`
	Until     string   `json:"until"`
}

type jsonReg struct {
	Name       string          `json:"name"`
	TicketType string          `json:"ticket_type"`
	Price      json.RawMessage `json:"price"`
	Quantity   *int            `json:"quantity"`
}

type jsonPrice struct {
	Amount   *int64 `json:"amount"`
	Decimal  string `json:"decimal"`
	Currency string `json:"currency"`
}

func readJSONL(data []byte) ([]*draft, []rowError) {
	var out []*draft
	var bad []rowError
	for i, raw := range bytes.Split(data, []byte("\n")) {
		line := i + 1
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 {
			continue
		}
		var row jsonRow
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&row); err != nil {
			bad = append(bad, jsonError(line, err))
			continue
		}
		if dec.More() {
			bad = append(bad, rowError{line, "", "holds more than one JSON value: one event object per line"})
			continue
		}
		d := &draft{line: line, name: row.Name, slug: row.Slug, typ: row.Type, venue: row.Venue,
			tz: row.TimeZone, startsAt: row.StartsAt, endsAt: row.EndsAt, currency: row.Currency,
			regsSet: row.RegistrationTypes != nil}
		if row.PublishedAt != nil {
			d.publishedAt, d.publishedSet = *row.PublishedAt, true
		}
		if row.Capacity != nil {
			d.capacity = strconv.Itoa(*row.Capacity)
		}
		if row.SplitProducts != nil {
			d.split = strconv.FormatBool(*row.SplitProducts)
		}
		if r := row.Recurrence; r != nil {
			d.recurrenceSet = true
			d.frequency, d.until, d.byDay = r.Frequency, r.Until, strings.Join(r.ByDay, " ")
			if r.Interval != nil {
				d.interval = strconv.Itoa(*r.Interval)
			}
			if r.Count != nil {
				d.count = strconv.Itoa(*r.Count)
			}
		}
		ok := true
		if row.RegistrationTypes != nil {
			for j, r := range *row.RegistrationTypes {
				dr := draftReg{name: r.Name, ticketType: r.TicketType}
				if r.Quantity != nil {
					dr.quantity = strconv.Itoa(*r.Quantity)
				}
				attr := fmt.Sprintf("registration_types[%d].price", j)
				switch p := bytes.TrimSpace(r.Price); {
				case len(p) == 0 || string(p) == "null":
				case p[0] == '"':
					json.Unmarshal(p, &dr.price)
				case p[0] == '{':
					var jp jsonPrice
					pd := json.NewDecoder(bytes.NewReader(p))
					pd.DisallowUnknownFields()
					if err := pd.Decode(&jp); err != nil {
						bad, ok = append(bad, rowError{line, attr, "want {\"amount\": MINOR UNITS, \"currency\": \"USD\"}, {\"decimal\": \"25.00\", \"currency\": \"USD\"} or \"25.00 USD\": " + strings.TrimPrefix(err.Error(), "json: ")}), false
					}
					dr.amount, dr.price, dr.currency = jp.Amount, jp.Decimal, jp.Currency
				default:
					bad, ok = append(bad, rowError{line, attr, "want {\"amount\": MINOR UNITS, \"currency\": \"USD\"}, {\"decimal\": \"25.00\", \"currency\": \"USD\"} or \"25.00 USD\""}), false
				}
				d.regs = append(d.regs, dr)
			}
		}
		if ok {
			out = append(out, d)
		}
	}
	return out, bad
}

func jsonError(line int, err error) rowError {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		where := te.Field
		if where == "" {
			return rowError{line, "", "must be a JSON object (one event per line)"}
		}
		return rowError{line, where, "must be a " + jsonTypeName(te.Type.Kind().String()) + ", not a JSON " + te.Value}
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return rowError{line, strings.Trim(f, `"`), "is not an attribute of the import format"}
	}
	return rowError{line, "", "is not valid JSON: " + strings.TrimPrefix(err.Error(), "json: ")}
}

func jsonTypeName(kind string) string {
	switch kind {
	case "int", "int64", "uint64":
		return "whole number"
	case "string":
		return "string"
	case "bool":
		return "boolean (true or false)"
	case "slice":
		return "list"
	case "ptr", "struct", "map":
		return "object"
	}
	return kind
}
