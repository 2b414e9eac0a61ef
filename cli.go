package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"eventops/engine"
)

// dbFile is the data file inside the data folder.
const dbFile = "eventops.db"

// heldBy adds to a locked data file's error which process holds it, when
// the system says (see lockHolder).
func heldBy(path string, err error) error {
	if errors.Is(err, engine.ErrStoreLocked) {
		if h := lockHolder(path); h != "" {
			return fmt.Errorf("%w: %s", err, h)
		}
	}
	return err
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := parseFlags(fs, args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return errUsage
	}
	if err := checkURLFlag(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		fs.Usage()
		return errUsage
	}
	return nil
}

func cmdCompanyCreate(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("company create", "company create --name N [--shopify sandbox | --shopify-shop DOMAIN_OR_URL [--shopify-auth KIND]]")
	fs.SetOutput(stderr)
	st := addStoreFlags(fs)
	name := fs.String("name", "", "company name (required)")
	sf := shopFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	in, err := sf.input(st, engine.Slugify(*name), stdin, stderr)
	if err != nil {
		return err
	}
	sb, err := sf.sandbox(st)
	if err != nil {
		return err
	}
	db, eng, err := openDataFor(st, newLogger(stderr, slog.LevelWarn), sf.connector(in, stderr), sb)
	if err != nil {
		return err
	}
	defer db.Close()
	c, err := eng.CreateCompany(context.Background(), *name, in)
	if err != nil {
		return describe(err)
	}
	fmt.Fprintln(stdout, c.ID)
	return nil
}

func cmdAPIKeyCreate(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("apikey create", "apikey create --company ID [--scopes read,write] [--name N]")
	fs.SetOutput(stderr)
	st := addStoreFlags(fs)
	company := fs.Uint64("company", 0, "company id (required)")
	scopes := fs.String("scopes", "read,write", "comma-separated scopes: read, write")
	name := fs.String("name", "", "a name to recognise the key by")
	if err := parse(fs, args); err != nil {
		return err
	}
	var ss []engine.Scope
	for _, s := range strings.Split(*scopes, ",") {
		if s = strings.TrimSpace(s); s != "" {
			ss = append(ss, engine.Scope(s))
		}
	}
	db, eng, err := openData(st, newLogger(stderr, slog.LevelWarn))
	if err != nil {
		return err
	}
	defer db.Close()
	_, key, err := eng.CreateAPIKey(context.Background(), *company, *name, ss)
	if err != nil {
		return describe(err)
	}
	fmt.Fprintln(stdout, key.Reveal())
	return nil
}

// describe turns a validation error into one line per attribute.
func describe(err error) error {
	var e *engine.Error
	if errors.As(err, &e) && len(e.Fields) > 0 {
		var b strings.Builder
		for i, f := range e.Fields {
			if i > 0 {
				b.WriteString("; ")
			}
			b.WriteString(f.Attribute + " " + f.Message)
		}
		return fmt.Errorf("%s", b.String())
	}
	return err
}
