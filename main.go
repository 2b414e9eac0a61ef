// Command eventops is the operations core of an events and ticketing
// platform: a JSON API whose writes start background operations, an engine
// that runs them durably on bbolt, and a live staff dashboard.
//
//	eventops serve                      run the server (API, dashboard, sandbox shop)
//	eventops company create --name N    create a company; prints its id
//	eventops apikey create --company ID --scopes read,write
//	eventops user create --email E [--role admin|viewer]  (password: prompted on a terminal, else stdin)
//	eventops admintoken create          an installation admin token, for scripts
//	eventops backup --url URL > FILE     a running server's data file
//	eventops user remove --email E
//	eventops import [flags] FILE        bulk import through the API
//	eventops sandbox [flags]            the Shopify sandbox alone
//	eventops version                    version, commit and Go version
//	eventops webhooks listen --forward-to URL   forward webhook deliveries locally
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
	"strings"
	_ "time/tzdata" // venues' zones work on machines without zoneinfo
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usage = `usage: eventops <command> [flags]

commands:
  serve             run the API, the dashboard and the sandbox shop
  company create    create a company (prints its id)
  company connect   connect a company to a shop, or reconnect it
  shopify-app set   set the Shopify app merchants connect through (OAuth)
  apikey create     create an API key (prints the key, once)
  user create       create a staff user (password prompted, or on stdin)
  user password     set a staff user's new password (a lost one, too)
  user remove       remove a staff user and end their dashboard sessions
  admintoken create create an installation admin token (prints it, once)
  admintoken list   list the admin tokens; admintoken revoke --id ID revokes one
  backup            download a running server's data file (admin token)
  import            import events from a CSV or JSON Lines file through the API
  webhooks listen   forward a company's webhook deliveries to a local URL (development)
  sandbox           run the Shopify sandbox alone (its own process and file)
  store copy        copy a stopped installation's data file into an empty PostgreSQL database
  version           print the version, commit and Go version

Run 'eventops <command> -h' or 'eventops help <command>' for its flags.
`

// commands maps a command's words to what runs it with the rest of the
// command line. A command of two words (company create) is found by both.
func commands(stdin io.Reader, stdout, stderr io.Writer) map[string]func([]string) error {
	return map[string]func([]string) error{
		"serve":             func(a []string) error { return cmdServe(a, stdout, stderr) },
		"company create":    func(a []string) error { return cmdCompanyCreate(a, stdin, stdout, stderr) },
		"company connect":   func(a []string) error { return cmdCompanyConnect(a, stdin, stdout, stderr) },
		"shopify-app set":   func(a []string) error { return cmdShopifyAppSet(a, stdin, stdout, stderr) },
		"apikey create":     func(a []string) error { return cmdAPIKeyCreate(a, stdout, stderr) },
		"user create":       func(a []string) error { return cmdUserCreate(a, stdin, stdout, stderr) },
		"user password":     func(a []string) error { return cmdUserPassword(a, stdin, stdout, stderr) },
		"admintoken create": func(a []string) error { return cmdAdminTokenCreate(a, stdout, stderr) },
		"admintoken list":   func(a []string) error { return cmdAdminTokenList(a, stdout, stderr) },
		"admintoken revoke": func(a []string) error { return cmdAdminTokenRevoke(a, stdout, stderr) },
		"backup":            func(a []string) error { return cmdBackup(a, stdin, stdout, stderr) },
		"import":            func(a []string) error { return cmdImport(a, stdin, stdout, stderr) },
		"sandbox":           func(a []string) error { return cmdSandbox(a, stdout, stderr) },
		"store copy":        func(a []string) error { return cmdStoreCopy(a, stdout, stderr) },
		"version":           func(a []string) error { return cmdVersion(a, stdout, stderr) },
		"user remove":       func(a []string) error { return cmdUserRemove(a, stdout, stderr) },
		"webhooks listen":   func(a []string) error { return cmdWebhooksListen(a, stdout, stderr) },
	}
}

// lookup finds the command args start with: its name, what runs it and the
// arguments after its words. A lone "company" finds "company create", its
// only subcommand, for help only (allowPrefix).
func lookup(cmds map[string]func([]string) error, args []string, allowPrefix bool) (string, func([]string) error, []string) {
	if len(args) > 1 {
		if f, ok := cmds[args[0]+" "+args[1]]; ok {
			return args[0] + " " + args[1], f, args[2:]
		}
	}
	if len(args) > 0 {
		if f, ok := cmds[args[0]]; ok {
			return args[0], f, args[1:]
		}
		if allowPrefix {
			if f, ok := cmds[args[0]+" create"]; ok {
				return args[0] + " create", f, args[1:]
			}
		}
	}
	return "", nil, nil
}

// run dispatches a command line; it returns the exit status: 0 done (help
// included), 1 failed, 2 a command line it does not understand (an unknown
// command, help for one, a bad flag), with the reason on stderr.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "help", "-h", "--help":
		if len(args) == 1 {
			fmt.Fprint(stdout, usage)
			return 0
		}
		// help CMD is CMD -h, on stdout: it was asked for.
		name, _, _ := lookup(commands(stdin, stdout, stdout), args[1:], true)
		if name == "" {
			fmt.Fprintf(stderr, "eventops help: unknown command %q\n\n%s", strings.Join(args[1:], " "), usage)
			return 2
		}
		return run(append(strings.Fields(name), "-h"), stdin, stdout, stdout)
	case "--version", "-version":
		err = cmdVersion(args[1:], stdout, stderr)
	default:
		name, f, rest := lookup(commands(stdin, stdout, stderr), args, false)
		if name == "" {
			fmt.Fprintf(stderr, "eventops: unknown command %q\n\n%s", strings.Join(args, " "), usage)
			return 2
		}
		err = f(rest)
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
