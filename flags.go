package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// newFlags makes a flag set for a subcommand whose usage names it. Its help
// is printFlags': flags as --name, like the usage lines and the README.
func newFlags(name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: eventops %s\n", usage)
		printFlags(fs.Output(), fs)
	}
	return fs
}

// printFlags is the one place flags are described, in place of the flag
// package's PrintDefaults (which writes -name). The environment example
// names one of this command's own flags: the first with a '-' in its name
// (it shows the '-' to '_' rule), else the first.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	var example string
	fs.VisitAll(func(f *flag.Flag) {
		if example == "" || (!strings.Contains(example, "-") && strings.Contains(f.Name, "-")) {
			example = f.Name
		}
	})
	if example == "" {
		return
	}
	fmt.Fprintf(w, "\nFlags (each also read from EVENTOPS_<FLAG>, e.g. --%s from %s):\n", example, envName(example))
	fs.VisitAll(func(f *flag.Flag) {
		typ, text := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if typ != "" {
			line += " " + typ
		}
		text = strings.ReplaceAll(text, "\n", "\n    \t")
		if d := f.DefValue; d != "" && d != "0" && d != "false" && d != "0s" {
			if typ == "string" {
				d = fmt.Sprintf("%q", d)
			}
			text += fmt.Sprintf(" (default %s)", d)
		}
		fmt.Fprintf(w, "%s\n    \t%s\n", line, text)
	})
}

// parseFlags parses args, then fills every flag not given on the command line
// from its environment variable EVENTOPS_<NAME> (upper case, '-' as '_').
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || err != nil {
			return
		}
		env := envName(f.Name)
		if v, ok := os.LookupEnv(env); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s: %w", env, e)
			}
		}
	})
	return err
}

func envName(flagName string) string {
	return "EVENTOPS_" + strings.ReplaceAll(strings.ToUpper(flagName), "-", "_")
}
