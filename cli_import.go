package main

// `eventops import`: bulk event import through the public JSON API, with
// web/client. The file format and the command are documented in
// the README ("Bulk import"); the help text below is the short version.
//
// How a row becomes an event, once:
//   - The whole file is read and validated first (the --dry-run report).
//   - Venues and ticket types are found by exact name (filter[search], then
//     an exact comparison) or created, each create with an Idempotency-Key.
//   - Each event is created with an Idempotency-Key derived from the row's
//     meaning (its normalised content, not its line number or the file's
//     bytes), so that re-running the same file, or the file with rows
//     fixed, added or reordered, replays the creates already done ("already
//     present") instead of repeating them. Identical rows are numbered so
//     that each still becomes its own event.
//   - Then it waits for the row's save operation (long-polls with ETag) until
//     its tickets phase settles (--wait=tickets) or it is terminal (--wait=all).

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"eventops/engine"
	"eventops/web/client"
)

const importUsage = "import [flags] FILE   (FILE: a .csv or .jsonl file, '-' for stdin)"

const importHelp = `
The API key is never taken as a flag value (flags show in process lists and
shell history). It is read, in this order, from:
  --token-file PATH   a file holding the key (or '-' for stdin)
  EVENTOPS_TOKEN      the environment
  stdin               the first line, when FILE is not '-' and stdin is not a terminal
e.g.  EVENTOPS_TOKEN=eo_... eventops import --url https://ops.example.com season.csv
      pass show eventops | eventops import season.csv

CSV: one row per event, a header row naming the columns (any order):
  name, venue, time_zone, starts_at, ends_at, registration_types   (required)
  type, capacity, currency, published_at, slug, split_products,
  frequency, interval, by_day, count, until                        (optional)
Times are local to the venue (2027-01-08 19:30) or RFC 3339 with an offset.
registration_types: entries "NAME:PRICE[:QUANTITY[:TICKET TYPE]]" joined by
'|', e.g. "General admission:25.00 USD:150|VIP:90.00 USD:50" ('\:' and '\|'
escape a name's colons and bars). JSON Lines: one object per line with the
same names ("recurrence" and "registration_types" as in the API).
See the README ("Bulk import") for the whole guide.

Re-running the same file creates nothing twice (for as long as the server
keeps Idempotency-Keys, at least 24 hours): rows done before are reported as
"already present". Exit status 1 when any row failed or the import was
interrupted.
`

// importConfig is what the command line says.
type importConfig struct {
	url         string
	tokenFile   string
	format      string
	wait        string
	concurrency int
	waitTimeout time.Duration
	hold        time.Duration
	dryRun      bool
	skipInvalid bool
	progress    string
	report      string
	scope       string
	file        string
}

func cmdImport(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runImport(ctx, args, stdin, stdout, stderr)
}

// runImport is cmdImport with the context given: tests cancel it to
// interrupt an import.
func runImport(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	cfg, err := parseImportFlags(args, stderr)
	if err != nil {
		return err
	}
	data, name, err := readImportFile(cfg.file, stdin)
	if err != nil {
		return err
	}
	f, err := loadImport(data, name, cfg.format)
	if err != nil {
		return err
	}
	if cfg.dryRun {
		return f.printDryRun(stdout, name)
	}
	if len(f.bad) > 0 && !cfg.skipInvalid {
		f.printProblems(stderr)
		return fmt.Errorf("%s: %d of %d rows are invalid; nothing was sent (fix them, or import the others with --skip-invalid)",
			name, f.badRows(), f.total)
	}
	token, err := importToken(cfg, stdin)
	if err != nil {
		return err
	}
	im := &importer{cfg: cfg, file: f, name: name, stderr: stderr}
	im.c, err = client.New(cfg.url, token, client.WithUserAgent("eventops-import/1"),
		client.OnRetry(im.noteRetry))
	if err != nil {
		return err
	}
	return im.run(ctx, stdout)
}

func parseImportFlags(args []string, stderr io.Writer) (*importConfig, error) {
	for _, a := range args {
		if a == "--" {
			break
		}
		if n := strings.TrimLeft(a, "-"); strings.HasPrefix(a, "-") && (n == "token" || strings.HasPrefix(n, "token=")) {
			fmt.Fprintln(stderr, "eventops import: the API key is never taken as a flag value (it would show in process lists and shell history):\n"+
				"set EVENTOPS_TOKEN, use --token-file PATH, or pipe the key on stdin.")
			return nil, errUsage
		}
	}
	cfg := &importConfig{}
	fs := newFlags("import", importUsage)
	fs.SetOutput(stderr)
	defaultUsage := fs.Usage
	fs.Usage = func() {
		defaultUsage()
		fmt.Fprint(fs.Output(), importHelp)
	}
	fs.StringVar(&cfg.url, "url", "http://127.0.0.1:8080", "the eventops server's base URL")
	fs.StringVar(&cfg.tokenFile, "token-file", "", "read the API key from this file ('-': stdin) instead of EVENTOPS_TOKEN")
	fs.StringVar(&cfg.format, "format", "auto", "csv, jsonl, or auto (by the file's extension, else by its first character)")
	fs.StringVar(&cfg.wait, "wait", "tickets", "a row is done when its operation's tickets phase settles (tickets) or when the operation is completed or failed (all)")
	fs.IntVar(&cfg.concurrency, "concurrency", 8, "rows in progress at once (each: one create, then long-polls of its operation)")
	fs.DurationVar(&cfg.waitTimeout, "wait-timeout", 15*time.Minute, "how long one row's operation may take before the row is reported failed (wait_timeout)")
	fs.DurationVar(&cfg.hold, "poll-hold", 30*time.Second, "how long each long-poll asks the server to hold (1s to 60s)")
	fs.BoolVar(&cfg.dryRun, "dry-run", false, "validate the whole file and report every bad row; send nothing")
	fs.BoolVar(&cfg.skipInvalid, "skip-invalid", false, "import the valid rows of a file that has invalid ones (which are reported failed)")
	fs.StringVar(&cfg.progress, "progress", "auto", "bar, lines, none, or auto (a bar on a terminal, lines otherwise)")
	fs.StringVar(&cfg.report, "report", "", "write one JSON line per row (line, outcome, event_id, operation_id, code, message) to this file")
	fs.StringVar(&cfg.scope, "idempotency-scope", "", "mixed into every Idempotency-Key: a new value imports the same rows again as new events")

	// FILE may come before, between or after the flags.
	var files []string
	rest := args
	for {
		if err := parseFlags(fs, rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			if !strings.HasPrefix(err.Error(), "EVENTOPS_") {
				return nil, errUsage // the flag package has said why
			}
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	switch {
	case len(files) != 1:
		fmt.Fprintln(stderr, "eventops import: give exactly one FILE ('-' for stdin)")
		fs.Usage()
		return nil, errUsage
	case cfg.wait != "tickets" && cfg.wait != "all":
		return nil, fmt.Errorf("--wait: %q: want tickets or all", cfg.wait)
	case cfg.concurrency < 1 || cfg.concurrency > 256:
		return nil, fmt.Errorf("--concurrency: %d: want 1 to 256", cfg.concurrency)
	case !slices.Contains([]string{"auto", "csv", "jsonl"}, cfg.format):
		return nil, fmt.Errorf("--format: %q: want csv, jsonl or auto", cfg.format)
	case !slices.Contains([]string{"auto", "bar", "lines", "none"}, cfg.progress):
		return nil, fmt.Errorf("--progress: %q: want bar, lines, none or auto", cfg.progress)
	case cfg.waitTimeout <= 0:
		return nil, fmt.Errorf("--wait-timeout must be positive")
	}
	cfg.file = files[0]
	cfg.hold = min(max(cfg.hold, time.Second), 60*time.Second)
	return cfg, nil
}

// importToken finds the API key; see importHelp for the order.
func importToken(cfg *importConfig, stdin io.Reader) (string, error) {
	firstLine := func(r io.Reader, from string) (string, error) {
		sc := bufio.NewScanner(r)
		if sc.Scan() {
			if t := strings.TrimSpace(sc.Text()); t != "" {
				return t, nil
			}
		}
		if err := sc.Err(); err != nil {
			return "", fmt.Errorf("read the API key from %s: %w", from, err)
		}
		return "", fmt.Errorf("no API key in %s", from)
	}
	switch {
	case cfg.tokenFile == "-":
		if cfg.file == "-" {
			return "", fmt.Errorf("--token-file - and FILE - cannot both read stdin")
		}
		return firstLine(stdin, "stdin")
	case cfg.tokenFile != "":
		f, err := os.Open(cfg.tokenFile)
		if err != nil {
			return "", fmt.Errorf("--token-file: %w", err)
		}
		defer f.Close()
		return firstLine(f, cfg.tokenFile)
	}
	if t := strings.TrimSpace(os.Getenv("EVENTOPS_TOKEN")); t != "" {
		return t, nil
	}
	if cfg.file != "-" && !isTerminal(stdin) {
		return firstLine(stdin, "stdin")
	}
	return "", fmt.Errorf("no API key: set EVENTOPS_TOKEN, use --token-file PATH, or pipe the key on stdin (never as a flag: flags show in process lists)")
}

func isTerminal(v any) bool {
	f, ok := v.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// maxImportFile bounds the file read into memory (about a million rows).
const maxImportFile = 256 << 20

func readImportFile(path string, stdin io.Reader) (data []byte, name string, err error) {
	var r io.Reader
	if path == "-" {
		r, name = stdin, "stdin"
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, "", err
		}
		defer f.Close()
		r, name = f, path
	}
	data, err = io.ReadAll(io.LimitReader(r, maxImportFile+1))
	if err != nil {
		return nil, "", fmt.Errorf("read %s: %w", name, err)
	}
	if len(data) > maxImportFile {
		return nil, "", fmt.Errorf("%s: larger than %d MiB: split it", name, maxImportFile>>20)
	}
	return bytes.TrimPrefix(data, []byte("\uFEFF")), name, nil // a spreadsheet's byte-order mark
}

// ---- reading and validating the file ----------------------------------

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
	// Text as the server checks it (engine.CheckText): characters, not
	// bytes; no control characters; valid UTF-8.
	text := func(attr, v string, max int) {
		for _, fe := range engine.CheckText(attr, v, max) {
			bad(attr, fe.Message)
		}
	}
	checkName := func(attr, v string) string {
		if v == "" {
			bad(attr, "can't be blank")
		} else {
			text(attr, v, engine.MaxNameLen)
		}
		return v
	}
	ev.Name = checkName("name", strings.TrimSpace(d.name))
	ev.Slug = strings.TrimSpace(d.slug)
	if ev.Slug != "" {
		text("slug", ev.Slug, engine.MaxSlugLen)
		if engine.Slugify(ev.Slug) == "" {
			bad("slug", "must contain letters or digits")
		}
	}
	row.venue = checkName("venue", strings.TrimSpace(d.venue))

	var loc *time.Location
	switch {
	case tz == "" && row.venue != "":
		bad("time_zone", fmt.Sprintf("can't be blank (no row gives venue %q's zone)", row.venue))
	case tz == "":
		bad("time_zone", "can't be blank")
	default:
		l, err := time.LoadLocation(tz)
		if err != nil || tz == "Local" {
			bad("time_zone", fmt.Sprintf("%q is not an IANA time zone (such as America/Chicago or Europe/London)", tz))
		} else {
			loc = l
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
		}
		rt.Price = client.MoneyInput{Amount: amount, Currency: currency}
		if r.quantity != "" {
			q, err := strconv.Atoi(r.quantity)
			if err != nil || q < 0 {
				bad(attr("quantity"), fmt.Sprintf("%q: want a whole number, 0 or more (empty: no limit of its own)", r.quantity))
			}
			rt.Quantity = &q
		}
		if first := ev.RegistrationTypes; err == nil && len(first) > 0 && first[0].Price.Currency != "" && currency != first[0].Price.Currency {
			// The server's rule (engine.CheckEventCurrency), checked
			// here so that a dry run names it too.
			bad(attr("price"), fmt.Sprintf("is in %s, entry 1 in %s: one event's registration types share one currency",
				currency, first[0].Price.Currency))
		}
		ev.RegistrationTypes = append(ev.RegistrationTypes, rt)
		row.ticketTypes = append(row.ticketTypes, tt)
	}
	if n := row.occurrences * len(d.regs); n > engine.MaxTicketRecords {
		bad("registration_types", fmt.Sprintf("%d occurrences × %d registration types is %d; an event may have at most %d",
			row.occurrences, len(d.regs), n, engine.MaxTicketRecords))
	}
	return row
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

// ---- sending ------------------------------------------------------------

// Row outcomes.
const (
	outcomeCreated     = "created"
	outcomePresent     = "already present"
	outcomeFailed      = "failed"
	outcomeInterrupted = "not finished"
)

// Codes of failures found on this side (the others are the API's problem
// types and the operations' error codes).
const (
	codeInvalidRow  = "invalid_row"
	codeVenueZone   = "venue_time_zone_mismatch"
	codeWaitTimeout = "wait_timeout"
	codeNetwork     = "network_error"
	codeNoOperation = "no_operation_header"
)

type rowResult struct {
	Line        int    `json:"line"`
	Outcome     string `json:"outcome"`
	EventID     uint64 `json:"event_id,omitempty"`
	OperationID uint64 `json:"operation_id,omitempty"`
	Code        string `json:"code,omitempty"`
	Message     string `json:"message,omitempty"`
}

type importer struct {
	cfg    *importConfig
	file   *importFile
	name   string
	c      *client.Client
	stderr io.Writer

	venueIDs map[string]uint64 // by name
	venueErr map[string]rowResult
	ttIDs    map[string]uint64
	ttErr    map[string]rowResult

	sent, ready, failed atomic.Int64
	limited             atomic.Int64 // 429 answers met
}

func (im *importer) noteRetry(e client.RetryEvent) {
	if e.Status == 429 {
		im.limited.Add(1)
	}
}

func (im *importer) run(ctx context.Context, stdout io.Writer) error {
	started := time.Now()
	if _, err := im.c.Company(ctx); err != nil {
		return fmt.Errorf("%s: %w", im.cfg.url, err)
	}
	prog := newImportProgress(im, im.stderr, len(im.file.rows))
	if err := im.resolve(ctx, prog); err != nil {
		return err
	}
	results := make([]rowResult, 0, im.file.total)
	for _, e := range im.file.bad { // --skip-invalid
		msg := e.msg
		if e.where != "" {
			msg = e.where + ": " + e.msg
		}
		if len(results) > 0 && results[len(results)-1].Line == e.line {
			results[len(results)-1].Message += "; " + msg
			continue
		}
		results = append(results, rowResult{Line: e.line, Outcome: outcomeFailed, Code: codeInvalidRow, Message: msg})
	}

	stopProgress := prog.start()
	out := make([]rowResult, len(im.file.rows))
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range im.cfg.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				out[i] = im.importRow(ctx, im.file.rows[i])
				if out[i].Outcome == outcomeFailed {
					im.failed.Add(1)
				}
			}
		}()
	}
feed:
	for i := range im.file.rows {
		select {
		case jobs <- i:
		case <-ctx.Done():
			for j := i; j < len(out); j++ {
				out[j] = rowResult{Line: im.file.rows[j].line, Outcome: outcomeInterrupted}
			}
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	stopProgress()
	results = append(results, out...)
	sort.SliceStable(results, func(i, j int) bool { return results[i].Line < results[j].Line })

	if im.cfg.report != "" {
		if err := writeReport(im.cfg.report, results); err != nil {
			fmt.Fprintln(im.stderr, "eventops import: report:", err)
		}
	}
	return im.summarize(stdout, results, time.Since(started), ctx.Err() != nil)
}

// resolve finds or creates every venue and ticket type the rows name.
func (im *importer) resolve(ctx context.Context, prog *importProgress) error {
	im.venueIDs, im.venueErr = map[string]uint64{}, map[string]rowResult{}
	im.ttIDs, im.ttErr = map[string]uint64{}, map[string]rowResult{}
	zones, tts := map[string]string{}, map[string]bool{}
	var venueOrder, ttOrder []string
	for _, r := range im.file.rows {
		if _, ok := zones[r.venue]; !ok {
			zones[r.venue] = r.timeZone
			venueOrder = append(venueOrder, r.venue)
		}
		for _, t := range r.ticketTypes {
			if !tts[t] {
				tts[t] = true
				ttOrder = append(ttOrder, t)
			}
		}
	}
	var vFound, vMade, tFound, tMade int
	for _, name := range venueOrder {
		id, made, res, err := im.venue(ctx, name, zones[name])
		if err != nil {
			return err
		}
		switch {
		case res != nil:
			im.venueErr[name] = *res
		case made:
			vMade++
		default:
			vFound++
		}
		im.venueIDs[name] = id
	}
	for _, name := range ttOrder {
		id, made, res, err := im.ticketType(ctx, name)
		if err != nil {
			return err
		}
		switch {
		case res != nil:
			im.ttErr[name] = *res
		case made:
			tMade++
		default:
			tFound++
		}
		im.ttIDs[name] = id
	}
	prog.say(fmt.Sprintf("venues: %d found, %d created; ticket types: %d found, %d created",
		vFound, vMade, tFound, tMade))
	return nil
}

// venue finds a venue by exact name (preferring one in the file's zone) or
// creates it. A failure that concerns only this venue's rows comes back as
// res; err is for failures that stop the import (the context).
func (im *importer) venue(ctx context.Context, name, tz string) (id uint64, made bool, res *rowResult, err error) {
	vs, err := im.c.AllVenues(ctx, name)
	if err != nil {
		return 0, false, nil, im.fatalOr(ctx, err, &res)
	}
	var other *client.Venue
	for i := range vs {
		if vs[i].Name != name {
			continue
		}
		if vs[i].TimeZone == tz {
			return vs[i].ID, false, nil, nil
		}
		if other == nil {
			other = &vs[i]
		}
	}
	if other != nil {
		return 0, false, &rowResult{Code: codeVenueZone, Message: fmt.Sprintf(
			"venue %q exists (id %d) in time zone %s, the file says %s: fix the file or the venue", name, other.ID, other.TimeZone, tz)}, nil
	}
	cr, err := im.c.CreateVenue(ctx, client.VenueInput{Name: name, TimeZone: tz},
		idempotencyKey(im.cfg.scope, "venue", name+"\x00"+tz))
	if err != nil {
		return 0, false, nil, im.fatalOr(ctx, err, &res)
	}
	return cr.Resource.ID, !cr.Replayed, nil, nil
}

func (im *importer) ticketType(ctx context.Context, name string) (id uint64, made bool, res *rowResult, err error) {
	ts, err := im.c.AllTicketTypes(ctx, name)
	if err != nil {
		return 0, false, nil, im.fatalOr(ctx, err, &res)
	}
	for _, t := range ts {
		if t.Name == name {
			return t.ID, false, nil, nil
		}
	}
	cr, err := im.c.CreateTicketType(ctx, client.TicketTypeInput{Name: name},
		idempotencyKey(im.cfg.scope, "ticket_type", name))
	if err != nil {
		return 0, false, nil, im.fatalOr(ctx, err, &res)
	}
	return cr.Resource.ID, !cr.Replayed, nil, nil
}

// fatalOr sorts an error met while resolving: an interruption, a key the
// server refuses or a server out of reach stops everything; anything else
// (a 422 on one venue, say) fails only the rows concerned, through res.
func (im *importer) fatalOr(ctx context.Context, err error, res **rowResult) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	e, ok := client.AsError(err)
	if !ok || e.StatusCode == 401 || e.StatusCode == 403 || e.StatusCode >= 500 || e.StatusCode == 429 {
		return err
	}
	*res = &rowResult{Code: errorCode(err), Message: err.Error()}
	return nil
}

// importRow creates one event and waits for it.
func (im *importer) importRow(ctx context.Context, row *importRow) rowResult {
	res := rowResult{Line: row.line}
	fail := func(code, msg string) rowResult {
		res.Outcome, res.Code, res.Message = outcomeFailed, code, msg
		return res
	}
	if e, ok := im.venueErr[row.venue]; ok {
		return fail(e.Code, e.Message)
	}
	ev := row.event
	ev.VenueID = im.venueIDs[row.venue]
	ev.RegistrationTypes = slices.Clone(ev.RegistrationTypes)
	for i, tt := range row.ticketTypes {
		if e, ok := im.ttErr[tt]; ok {
			return fail(e.Code, e.Message)
		}
		ev.RegistrationTypes[i].TicketTypeID = im.ttIDs[tt]
	}
	cr, err := im.c.CreateEvent(ctx, ev, idempotencyKey(im.cfg.scope, "event", row.key))
	if err != nil {
		if ctx.Err() != nil {
			res.Outcome = outcomeInterrupted
			return res
		}
		return fail(errorCode(err), err.Error())
	}
	im.sent.Add(1)
	res.EventID, res.OperationID = cr.Resource.ID, cr.OperationID
	res.Outcome = outcomeCreated
	if cr.Replayed {
		res.Outcome = outcomePresent
	}
	if cr.OperationID == 0 {
		return fail(codeNoOperation, "the create answered without "+client.HeaderOperationID)
	}
	until := client.Finished
	if im.cfg.wait == "tickets" {
		until = client.PhaseSettled(engine.PhaseTickets)
	}
	wctx, cancel := context.WithTimeout(ctx, im.cfg.waitTimeout)
	defer cancel()
	op, err := im.c.Wait(wctx, cr.Resource.ID, cr.OperationID, until, client.Hold(im.cfg.hold))
	switch {
	case err != nil && ctx.Err() != nil:
		res.Outcome, res.Message = outcomeInterrupted, "created; its operation was not followed to the end"
		return res
	case err != nil && wctx.Err() != nil:
		state := "unknown"
		if op != nil {
			state = op.Status
		}
		return fail(codeWaitTimeout, fmt.Sprintf("operation %d still %s after %s (it goes on on the server)", cr.OperationID, state, im.cfg.waitTimeout))
	case err != nil:
		return fail(errorCode(err), err.Error())
	}
	if op.Status == client.StatusFailed && op.Error != nil {
		return fail(op.Error.Code, opErrorText(op.ID, op.Error))
	}
	if p := op.Phase(engine.PhaseTickets); p != nil && p.Status == client.StatusFailed && p.Error != nil {
		return fail(p.Error.Code, opErrorText(op.ID, p.Error))
	}
	if op.Status == client.StatusFailed {
		return fail("OPERATION_FAILED", fmt.Sprintf("operation %d failed", op.ID))
	}
	im.ready.Add(1)
	return res
}

func opErrorText(opID uint64, e *client.OpError) string {
	s := fmt.Sprintf("operation %d: %s", opID, e.Message)
	if e.Phase != nil {
		s = fmt.Sprintf("operation %d, phase %s: %s", opID, *e.Phase, e.Message)
	}
	return s
}

// errorCode is the code a failed request is counted under: the problem
// type, else the HTTP status, else network_error.
func errorCode(err error) string {
	if e, ok := client.AsError(err); ok {
		if e.Type() != "" {
			return e.Type()
		}
		return "http_" + strconv.Itoa(e.StatusCode)
	}
	return codeNetwork
}

func writeReport(path string, results []rowResult) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, r := range results {
		if err := enc.Encode(r); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// summarize prints the summary table and returns an error (exit status 1)
// when any row failed or the import was interrupted.
func (im *importer) summarize(w io.Writer, results []rowResult, took time.Duration, interrupted bool) error {
	counts := map[string]int{}
	byCode := map[string][]rowResult{}
	var codes []string
	for _, r := range results {
		counts[r.Outcome]++
		if r.Outcome == outcomeFailed {
			if _, ok := byCode[r.Code]; !ok {
				codes = append(codes, r.Code)
			}
			byCode[r.Code] = append(byCode[r.Code], r)
		}
	}
	sort.Slice(codes, func(i, j int) bool {
		if len(byCode[codes[i]]) != len(byCode[codes[j]]) {
			return len(byCode[codes[i]]) > len(byCode[codes[j]])
		}
		return codes[i] < codes[j]
	})
	done := counts[outcomeCreated] + counts[outcomePresent]
	waited := "its tickets phase"
	if im.cfg.wait == "all" {
		waited = "its operation's end"
	}
	fmt.Fprintf(w, "\nimport of %s: %d rows in %s (%.1f rows/s), each waited for %s\n\n",
		im.name, len(results), took.Round(time.Millisecond), float64(done)/max(took.Seconds(), 0.001), waited)
	width := len(strconv.Itoa(len(results)))
	for _, o := range []string{outcomeCreated, outcomePresent, outcomeFailed, outcomeInterrupted} {
		if o != outcomeInterrupted || counts[o] > 0 {
			fmt.Fprintf(w, "  %-16s %*d\n", o, width, counts[o])
		}
	}
	if n := im.limited.Load(); n > 0 {
		fmt.Fprintf(w, "\n  rate limited: %d answers 429, each waited out (Retry-After) and retried\n", n)
	}
	if len(codes) > 0 {
		fmt.Fprintln(w, "\nfailed rows by code:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, c := range codes {
			lines := make([]int, len(byCode[c]))
			for i, r := range byCode[c] {
				lines[i] = r.Line
			}
			fmt.Fprintf(tw, "  %s\t%d\tlines %s\n", c, len(lines), lineRanges(lines))
		}
		tw.Flush()
		fmt.Fprintln(w)
		const perCode = 10
		for _, c := range codes {
			for i, r := range byCode[c] {
				if i == perCode {
					fmt.Fprintf(w, "  ... and %d more %s\n", len(byCode[c])-perCode, c)
					break
				}
				fmt.Fprintf(w, "  line %d: %s\n", r.Line, r.Message)
			}
		}
	}
	switch {
	case interrupted || counts[outcomeInterrupted] > 0:
		fmt.Fprintln(w, "\ninterrupted: run the same command again to finish; rows already done are not created twice")
		return fmt.Errorf("import interrupted: %d of %d rows not finished", counts[outcomeInterrupted], len(results))
	case counts[outcomeFailed] > 0:
		return fmt.Errorf("%d of %d rows failed", counts[outcomeFailed], len(results))
	}
	return nil
}

// lineRanges writes sorted line numbers compactly: "4, 9, 12-15".
func lineRanges(lines []int) string {
	slices.Sort(lines)
	var parts []string
	for i := 0; i < len(lines); {
		j := i
		for j+1 < len(lines) && lines[j+1] == lines[j]+1 {
			j++
		}
		if j > i {
			parts = append(parts, fmt.Sprintf("%d-%d", lines[i], lines[j]))
		} else {
			parts = append(parts, strconv.Itoa(lines[i]))
		}
		i = j + 1
	}
	return strings.Join(parts, ", ")
}

// ---- progress -----------------------------------------------------------

// importProgress shows rows sent, operations ready and rows failed: a bar
// redrawn in place on a terminal, a line every few seconds otherwise.
type importProgress struct {
	im    *importer
	w     io.Writer
	mode  string // bar, lines, none
	total int
	began time.Time
	mu    sync.Mutex
}

func newImportProgress(im *importer, w io.Writer, total int) *importProgress {
	mode := im.cfg.progress
	if mode == "auto" {
		mode = "lines"
		if isTerminal(w) {
			mode = "bar"
		}
	}
	return &importProgress{im: im, w: w, mode: mode, total: total, began: time.Now()}
}

// say prints a line of its own.
func (p *importProgress) say(s string) {
	if p.mode == "none" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mode == "bar" {
		fmt.Fprint(p.w, "\r\033[K")
	}
	fmt.Fprintln(p.w, "import:", s)
}

// start draws progress until the returned function is called, which draws
// it a last time.
func (p *importProgress) start() (stop func()) {
	if p.mode == "none" {
		return func() {}
	}
	p.began = time.Now()
	every := 5 * time.Second
	if p.mode == "bar" {
		every = 200 * time.Millisecond
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				p.draw(true)
				return
			case <-t.C:
				p.draw(false)
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func (p *importProgress) draw(last bool) {
	sent, ready, failed := p.im.sent.Load(), p.im.ready.Load(), p.im.failed.Load()
	rate := float64(ready) / max(time.Since(p.began).Seconds(), 0.001)
	limited := ""
	if n := p.im.limited.Load(); n > 0 {
		limited = fmt.Sprintf(" 429×%d", n)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mode == "lines" {
		fmt.Fprintf(p.w, "import: %d/%d rows: %d sent, %d ready, %d failed (%.0f rows/s%s)\n",
			ready+failed, p.total, sent, ready, failed, rate, strings.Replace(limited, " 429×", ", 429s met: ", 1))
		return
	}
	// Short enough for an 80-column terminal: a wrapped line cannot be
	// redrawn in place.
	const width = 20
	filled := 0
	if p.total > 0 {
		filled = int(width * (ready + failed) / int64(p.total))
	}
	bar := strings.Repeat("█", filled) + strings.Repeat("░", width-filled)
	fmt.Fprintf(p.w, "\r\033[K%s %d/%d sent %d ready %d failed %d %.0f/s%s",
		bar, ready+failed, p.total, sent, ready, failed, rate, limited)
	if last {
		fmt.Fprintln(p.w)
	}
}
