package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"eventops/engine"
	"eventops/engine/shopify/sandbox"
	"eventops/storage"
)

// dbFile is the data file inside the data folder.
const dbFile = "eventops.db"

// openData opens the data folder for a command. A server holding the file
// makes it fail within a second, saying so.
func openData(dir string, log *slog.Logger) (*storage.DB, *engine.Engine, error) {
	path := filepath.Join(dir, dbFile)
	db, err := storage.Open(path, storage.Options{Timeout: time.Second})
	if err != nil {
		return nil, nil, heldBy(path, err)
	}
	sealer, err := storage.LoadSealer(dir)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	eng := engine.New(engine.Config{Store: db, Sealer: sealer, Logger: log})
	return db, eng, nil
}

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
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		fs.Usage()
		return errUsage
	}
	return nil
}

func cmdCompanyCreate(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("company create", "company create --name N [--shopify sandbox | --shopify-shop DOMAIN_OR_URL]")
	fs.SetOutput(stderr)
	dir := fs.String("data", "./data", "data folder")
	name := fs.String("name", "", "company name (required)")
	shopify := fs.String("shopify", "", `"sandbox" to connect the company to a shop of the built-in sandbox`)
	currency := fs.String("shop-currency", "", "with --shopify sandbox: the new shop's currency, an ISO 4217 code (default USD)")
	shop := fs.String("shopify-shop", "", "a real shop's domain (name.myshopify.com) or Admin API base URL; the access token and webhook secret are read from stdin (two lines) or EVENTOPS_SHOPIFY_TOKEN and EVENTOPS_SHOPIFY_WEBHOOK_SECRET")
	if err := parse(fs, args); err != nil {
		return err
	}
	var in *engine.ShopInput
	switch {
	case *shopify != "" && *shop != "":
		return fmt.Errorf("--shopify and --shopify-shop exclude each other")
	case *shopify != "" && *shopify != "sandbox":
		return fmt.Errorf(`--shopify takes only "sandbox"`)
	case *currency != "" && *shopify != "sandbox":
		return fmt.Errorf("--shop-currency is for --shopify sandbox (a real shop's currency is read from the shop)")
	case *shopify == "sandbox":
		// A shop of the built-in sandbox, named after the company, in
		// the sandbox's own file (held by a running server too).
		sb, err := sandbox.New(sandbox.Options{Path: filepath.Join(*dir, sandboxFile), Logger: newLogger(stderr, slog.LevelWarn)})
		if err != nil {
			return fmt.Errorf("%w (the sandbox's file is in use by another eventops process, or unreadable)", err)
		}
		in, err = sandboxShop(sb, engine.Slugify(*name), *currency)
		sb.Close()
		if err != nil {
			return err
		}
	case *shop != "":
		token, secret, err := shopCredentials(stdin)
		if err != nil {
			return err
		}
		in = &engine.ShopInput{Domain: *shop, AccessToken: token, WebhookSecret: secret}
	}
	db, eng, err := openData(*dir, newLogger(stderr, slog.LevelWarn))
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

// shopCredentials reads a real shop's token and webhook secret from the
// environment, else from two lines of stdin; never from a flag.
func shopCredentials(stdin io.Reader) (token, secret engine.Secret, err error) {
	token = engine.Secret(os.Getenv("EVENTOPS_SHOPIFY_TOKEN"))
	secret = engine.Secret(os.Getenv("EVENTOPS_SHOPIFY_WEBHOOK_SECRET"))
	sc := bufio.NewScanner(stdin)
	if token == "" && sc.Scan() {
		token = engine.Secret(strings.TrimSpace(sc.Text()))
	}
	if secret == "" && sc.Scan() {
		secret = engine.Secret(strings.TrimSpace(sc.Text()))
	}
	if token == "" || secret == "" {
		return "", "", fmt.Errorf("a real shop needs its access token and webhook secret: set EVENTOPS_SHOPIFY_TOKEN and EVENTOPS_SHOPIFY_WEBHOOK_SECRET or give them on stdin, one per line")
	}
	return token, secret, nil
}

func cmdAPIKeyCreate(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("apikey create", "apikey create --company ID [--scopes read,write] [--name N]")
	fs.SetOutput(stderr)
	dir := fs.String("data", "./data", "data folder")
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
	db, eng, err := openData(*dir, newLogger(stderr, slog.LevelWarn))
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
