package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

// newFlags makes a flag set for a subcommand whose usage names it.
func newFlags(name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: eventops %s\n\nFlags (each also read from EVENTOPS_<FLAG>, e.g. --rate-limit from EVENTOPS_RATE_LIMIT):\n", usage)
		fs.PrintDefaults()
	}
	return fs
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
	return "EVENTOPS_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}
