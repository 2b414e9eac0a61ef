package main

// `eventops import`: bulk event import through the public JSON API, with
// web/client. The file format and the command are documented in
// static/docs/import.md; the help text below is the short version.
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
//
// The command's files, in the order a run goes through them:
// cli_import.go (flags, the API key, reading the file), cli_import_read.go
// (CSV and JSON Lines rows into drafts), cli_import_check.go (drafts into
// rows, with the engine's own validation), cli_import_send.go (resolving
// names, creating, waiting, the summary) and cli_import_progress.go.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

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
See static/docs/import.md for the whole guide.

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
