// Command eventops is the operations core of an events and ticketing
// platform: a JSON API whose writes start background operations, an engine
// that runs them durably on bbolt, and a live staff dashboard.
//
//	eventops serve                      run the server (API, dashboard, sandbox shop)
//	eventops company create --name N    create a company; prints its id
//	eventops apikey create --company ID --scopes read,write
//	eventops user create --email E --role admin|viewer   (password on stdin)
//	eventops import [flags] FILE        bulk import through the API
//	eventops sandbox [flags]            the Shopify sandbox alone
//
// Package main is the composition root: the only package that imports
// every other (engine, engine/shopify and its sandbox, storage, web), wires
// them together and owns the process (flags, signals, logs, shutdown). No
// package imports it. What lives here:
//
//   - main.go: the command line's dispatch; flags.go: flag parsing shared
//     by the commands (EVENTOPS_* environment defaults).
//   - serve.go: `serve`, the server: opening the store, the engine, the
//     built-in sandbox and the web server, and shutting them down in order.
//   - cli.go: the administrative commands (company, apikey, user create),
//     run against the data folder; cli_sandbox.go: `sandbox`.
//   - cli_import*.go: `import`, a client of the JSON API through
//     web/client (see cli_import.go for its files).
//
// Its tests run the real binary as well as in process: serve_*_test.go
// (shutdown, retention, flags, signals), cli_*_test.go, and the
// crash-and-fault soak in soak_*_test.go (EVENTOPS_SOAK=1, see
// soak_test.go).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	_ "time/tzdata" // venues' zones work on machines without zoneinfo
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usage = `usage: eventops <command> [flags]

commands:
  serve             run the API, the dashboard and the sandbox shop
  company create    create a company (prints its id)
  apikey create     create an API key (prints the key, once)
  user create       create a staff user (password on stdin)
  import            import events from a CSV or JSON Lines file through the API
  sandbox           run the Shopify sandbox alone (its own process and file)

Run 'eventops <command> -h' for its flags.
`

// run dispatches a command line; it returns the exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch cmd := args[0]; {
	case cmd == "serve":
		err = cmdServe(args[1:], stdout, stderr)
	case cmd == "company" && len(args) > 1 && args[1] == "create":
		err = cmdCompanyCreate(args[2:], stdin, stdout, stderr)
	case cmd == "apikey" && len(args) > 1 && args[1] == "create":
		err = cmdAPIKeyCreate(args[2:], stdout, stderr)
	case cmd == "user" && len(args) > 1 && args[1] == "create":
		err = cmdUserCreate(args[2:], stdin, stdout, stderr)
	case cmd == "import":
		err = cmdImport(args[1:], stdin, stdout, stderr)
	case cmd == "sandbox":
		err = cmdSandbox(args[1:], stdout, stderr)
	case cmd == "help" || cmd == "-h" || cmd == "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintln(stderr, "eventops:", err)
		return 1
	}
}

// errUsage marks an error the flag package has already explained.
var errUsage = errors.New("usage")

// newLogger logs text to a terminal and JSON otherwise.
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			return slog.New(slog.NewTextHandler(w, opts))
		}
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
