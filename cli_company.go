package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"eventops/engine"
	"eventops/engine/shopify"
	"eventops/engine/shopify/sandbox"
)

// companyShopFlags are the shop options of company create and company
// connect. Secrets never come from a flag: from stdin (two lines) or the
// environment.
type companyShopFlags struct {
	shopify    *string
	currency   *string
	shop       *string
	auth       *string
	sandboxURL *string
}

func shopFlags(fs *flag.FlagSet) companyShopFlags {
	return companyShopFlags{
		shopify:    fs.String("shopify", "", `"sandbox" to connect the company to a shop of the sandbox: the built-in one's file DATA/`+sandboxFile+` (with the server stopped), or with --database-url the process of --sandbox-url`),
		currency:   fs.String("shop-currency", "", "with --shopify sandbox: the new shop's currency, an ISO 4217 code (default USD)"),
		shop:       fs.String("shopify-shop", "", "a real shop's domain (name.myshopify.com) or Admin API base URL; its credentials are read from stdin (two lines) or the environment (see --shopify-auth)"),
		sandboxURL: fs.String("sandbox-url", "", sandboxURLUsage),
		auth:       fs.String("shopify-auth", "token", "with --shopify-shop: token (stdin: the access token and the API secret, or EVENTOPS_SHOPIFY_TOKEN and EVENTOPS_SHOPIFY_WEBHOOK_SECRET) or client-credentials (stdin: the Dev Dashboard app's client id and client secret, or EVENTOPS_SHOPIFY_CLIENT_ID and EVENTOPS_SHOPIFY_CLIENT_SECRET)"),
	}
}

// input builds the connection the flags ask for (nil: none). A sandbox
// shop on bbolt is provisioned here, in the built-in sandbox's file; on
// PostgreSQL the engine provisions it (in.Sandbox without a token) through
// f.sandbox.
func (f companyShopFlags) input(st *storeFlags, slug string, stdin io.Reader, stderr io.Writer) (*engine.ShopInput, error) {
	switch {
	case *f.sandboxURL != "" && *f.shopify == "sandbox" && !st.postgres():
		return nil, fmt.Errorf("--sandbox-url is for --database-url: on bbolt the sandbox's shops are in DATA/%s", sandboxFile)
	case *f.shopify != "" && *f.shop != "":
		return nil, fmt.Errorf("--shopify and --shopify-shop exclude each other")
	case *f.shopify != "" && *f.shopify != "sandbox":
		return nil, fmt.Errorf(`--shopify takes only "sandbox"`)
	case *f.currency != "" && *f.shopify != "sandbox":
		return nil, fmt.Errorf("--shop-currency is for --shopify sandbox (a real shop's currency is read from the shop)")
	case *f.shopify == "sandbox" && st.postgres():
		return &engine.ShopInput{Sandbox: true, Domain: slug, Currency: *f.currency}, nil
	case *f.shopify == "sandbox":
		// A shop of the built-in sandbox, named after the company, in
		// the sandbox's own file (held by a running server too).
		sb, err := sandbox.New(sandbox.Options{Path: filepath.Join(st.data, sandboxFile), Logger: newLogger(stderr, slog.LevelWarn)})
		if err != nil {
			return nil, fmt.Errorf("%w (the sandbox's file is in use by another eventops process, or unreadable)", err)
		}
		defer sb.Close()
		return sandboxShop(sb, slug, *f.currency)
	case *f.shop != "":
		auth, err := engine.ParseShopAuth(*f.auth)
		if err != nil || auth == engine.ShopAuthOAuth {
			return nil, fmt.Errorf("--shopify-auth takes token or client-credentials (an oauth connection is made from the dashboard: Companies → Connect with Shopify)")
		}
		if auth == engine.ShopAuthClientCredentials {
			id, secret, err := twoSecrets(stdin, "EVENTOPS_SHOPIFY_CLIENT_ID", "EVENTOPS_SHOPIFY_CLIENT_SECRET",
				"a client-credentials connection needs the app's client id and client secret")
			if err != nil {
				return nil, err
			}
			return &engine.ShopInput{Domain: *f.shop, Auth: auth, ClientID: id.Reveal(), ClientSecret: secret}, nil
		}
		token, secret, err := shopCredentials(stdin)
		if err != nil {
			return nil, err
		}
		return &engine.ShopInput{Domain: *f.shop, AccessToken: token, WebhookSecret: secret}, nil
	}
	return nil, nil
}

// sandbox provisions the shop of --shopify sandbox on PostgreSQL: in the
// `eventops sandbox` process of --sandbox-url, or nowhere (refused with
// SHOPIFY_SANDBOX_MISSING). nil on bbolt, where input provisioned it.
func (f companyShopFlags) sandbox(st *storeFlags) (engine.SandboxShops, error) {
	if *f.shopify != "sandbox" || !st.postgres() {
		return nil, nil
	}
	if *f.sandboxURL == "" {
		return engine.NoSandbox{}, nil
	}
	u, err := parseSandboxURL(*f.sandboxURL)
	if err != nil {
		return nil, fmt.Errorf("--sandbox-url %q: %v", *f.sandboxURL, err)
	}
	return newRemoteSandbox(u), nil
}

// connector checks a real shop's connection at once, as the server does:
// a client-credentials connection's first token, and for every kind the
// scopes the app holds (SHOPIFY_SCOPES_MISSING names what is missing) and
// the shop's currency. The CLI reaches the shop for it.
func (f companyShopFlags) connector(in *engine.ShopInput, stderr io.Writer) engine.ShopReader {
	if in == nil || in.Sandbox {
		return nil
	}
	return shopify.ShopReader(shopify.Config{Logger: newLogger(stderr, slog.LevelWarn)})
}

// shopCredentials reads a real shop's token and webhook secret from the
// environment, else from two lines of stdin; never from a flag.
func shopCredentials(stdin io.Reader) (token, secret engine.Secret, err error) {
	return twoSecrets(stdin, "EVENTOPS_SHOPIFY_TOKEN", "EVENTOPS_SHOPIFY_WEBHOOK_SECRET",
		"a real shop needs its access token and webhook secret")
}

// twoSecrets reads two values from the environment, else from two lines of
// stdin.
func twoSecrets(stdin io.Reader, env1, env2, need string) (engine.Secret, engine.Secret, error) {
	a, b := engine.Secret(os.Getenv(env1)), engine.Secret(os.Getenv(env2))
	sc := bufio.NewScanner(stdin)
	if a == "" && sc.Scan() {
		a = engine.Secret(strings.TrimSpace(sc.Text()))
	}
	if b == "" && sc.Scan() {
		b = engine.Secret(strings.TrimSpace(sc.Text()))
	}
	if a == "" || b == "" {
		return "", "", fmt.Errorf("%s: set %s and %s or give them on stdin, one per line", need, env1, env2)
	}
	return a, b, nil
}

func cmdCompanyConnect(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("company connect", "company connect --company ID (--shopify sandbox | --shopify-shop DOMAIN_OR_URL [--shopify-auth KIND])")
	fs.SetOutput(stderr)
	st := addStoreFlags(fs)
	company := fs.Uint64("company", 0, "company id (required)")
	sf := shopFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if *company == 0 {
		return fmt.Errorf("--company is required")
	}
	if *sf.shopify == "" && *sf.shop == "" {
		return fmt.Errorf("give --shopify sandbox or --shopify-shop DOMAIN_OR_URL")
	}
	db, eng, err := openData(st, newLogger(stderr, slog.LevelWarn))
	if err != nil {
		return err
	}
	co, err := eng.Company(*company)
	db.Close()
	if err != nil {
		return err
	}
	in, err := sf.input(st, engine.Slugify(co.Name), stdin, stderr)
	if err != nil {
		return err
	}
	sb, err := sf.sandbox(st)
	if err != nil {
		return err
	}
	db, eng, err = openDataFor(st, newLogger(stderr, slog.LevelWarn), sf.connector(in, stderr), sb)
	if err != nil {
		return err
	}
	defer db.Close()
	c, err := eng.ConnectShop(context.Background(), *company, *in)
	if err != nil {
		return describe(err)
	}
	fmt.Fprintf(stdout, "company %d connected to %s (%s)\n", c.ID, c.Shop.Domain, c.Shop.Kind())
	return nil
}

func cmdShopifyAppSet(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("shopify-app set", "shopify-app set --client-id ID [--scopes S,S...]")
	fs.SetOutput(stderr)
	st := addStoreFlags(fs)
	clientID := fs.String("client-id", "", "the app's client id, from the Dev Dashboard (required); its client secret is read from stdin or EVENTOPS_SHOPIFY_CLIENT_SECRET")
	scopes := fs.String("scopes", strings.Join(shopify.Scopes, ","), "the access scopes the app asks merchants for, comma-separated")
	if err := parse(fs, args); err != nil {
		return err
	}
	secret := engine.Secret(os.Getenv("EVENTOPS_SHOPIFY_CLIENT_SECRET"))
	if sc := bufio.NewScanner(stdin); secret == "" && sc.Scan() {
		secret = engine.Secret(strings.TrimSpace(sc.Text()))
	}
	if secret == "" {
		return fmt.Errorf("the app's client secret: set EVENTOPS_SHOPIFY_CLIENT_SECRET or give it on stdin")
	}
	var ss []string
	for _, s := range strings.Split(*scopes, ",") {
		if s = strings.TrimSpace(s); s != "" {
			ss = append(ss, s)
		}
	}
	if missing := shopify.MissingScopes(ss, shopify.Scopes); len(missing) > 0 {
		return fmt.Errorf("--scopes lacks %s, which eventops needs", strings.Join(missing, ", "))
	}
	db, eng, err := openData(st, newLogger(stderr, slog.LevelWarn))
	if err != nil {
		return err
	}
	defer db.Close()
	a, err := eng.SetShopifyApp(context.Background(), *clientID, secret, ss)
	if err != nil {
		return describe(err)
	}
	fmt.Fprintf(stdout, "Shopify app %s set (scopes %s)\n", a.ClientID, strings.Join(a.Scopes, ","))
	return nil
}
