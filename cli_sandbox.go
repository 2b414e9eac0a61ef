package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"go.etcd.io/bbolt"

	"eventops/engine/shopify/sandbox"
)

// sandboxFile is the sandbox's own bbolt file inside its data folder. It is
// never eventops.db: the sandbox stands in for an outside service.
const sandboxFile = "sandbox.db"

// sandboxDataDir is `eventops sandbox`'s default data folder. It is not
// serve's ./data: serve's built-in sandbox holds ./data/sandbox.db for as
// long as it runs, so a standalone sandbox started beside it from the same
// directory would find the file locked. The standalone sandbox stands in
// for another service, so it gets a folder of its own by default; give
// --data ./data to open the shops serve created (with serve stopped).
const sandboxDataDir = "./data-sandbox"

// sandboxConfig is what `eventops sandbox` is told.
type sandboxConfig struct {
	addr        string
	data        string
	webhookURL  string
	restoreRate float64
	retryScale  float64
	control     bool
	shops       shopNames
	shutdown    time.Duration
	logLevel    string
	tokenTTL    time.Duration
}

// shopNames is the repeatable --shop flag. From the environment
// (EVENTOPS_SHOP) it takes a comma-separated list.
type shopNames []string

func (s *shopNames) String() string { return strings.Join(*s, ",") }

func (s *shopNames) Set(v string) error {
	for _, n := range strings.Split(v, ",") {
		if n = strings.TrimSpace(n); n != "" {
			*s = append(*s, n)
		}
	}
	return nil
}

// cmdSandbox runs the Shopify sandbox alone (DESIGN §7): the same handler
// that serve mounts, at the same paths (/sandbox/shopify/...), in its own
// process with its own bbolt file, so that a test can crash eventops while
// the shop stays up.
//
// Standard output is for programs: one line `listening URL` once it
// accepts connections, then one line per shop created by this start,
//
//	shop NAME url BASE_URL token ACCESS_TOKEN secret WEBHOOK_SECRET currency CURRENCY
//
// where BASE_URL is the shop's Admin API base URL (what `eventops company
// create --shopify-shop` takes). A shop's credentials are printed once,
// when it is created: a shop that already exists in the file is only
// logged, without them. Logs go to standard error.
func cmdSandbox(args []string, stdout, stderr io.Writer) error {
	cfg, err := parseSandboxFlags(args, stderr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // the next signal is no longer caught: it ends the process at once
	}()
	return runSandbox(ctx, cfg, stdout, stderr)
}

// parseSandboxFlags reads `eventops sandbox`'s flags and environment.
func parseSandboxFlags(args []string, stderr io.Writer) (sandboxConfig, error) {
	var cfg sandboxConfig
	fs := newFlags("sandbox", "sandbox [--addr ADDR] [--data DIR] [--webhook-url URL] [--restore-rate N] [--webhook-retry-scale S] [--control] [--shop NAME ...]")
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:8081", "listen address (port 0 picks a free one; see the listening line)")
	fs.StringVar(&cfg.data, "data", sandboxDataDir, "data folder; the shops live in its "+sandboxFile+" (serve's built-in sandbox uses ./data/"+sandboxFile+")")
	fs.StringVar(&cfg.webhookURL, "webhook-url", "http://127.0.0.1:8080/webhooks/shopify",
		"where webhooks go for topics a shop has no subscription for, as URL/{topic}; a URL without a path gets /webhooks/shopify")
	fs.Float64Var(&cfg.restoreRate, "restore-rate", sandbox.DefaultRestoreRate, "each shop's cost bucket restore rate, points per second (0: unlimited)")
	fs.Float64Var(&cfg.retryScale, "webhook-retry-scale", 0,
		"retry failed webhooks on Shopify's schedule (8 retries over 4 hours) with every wait multiplied by this (1: Shopify's; 0.001: about 14 s); 0 keeps the quick schedule (5 attempts, from 1 s doubling)")
	fs.BoolVar(&cfg.control, "control", false, "enable the control routes (faults, call log, buyer orders, admin refunds..., and making shops for the serve nodes whose --sandbox-url names this sandbox) for loopback clients")
	fs.Var(&cfg.shops, "shop", "a shop to create when missing, `NAME` or NAME:CURRENCY (an ISO 4217 code; default USD) (repeatable; EVENTOPS_SHOP takes a comma-separated list)")
	fs.DurationVar(&cfg.shutdown, "shutdown-timeout", 10*time.Second, "how long requests in flight get to finish on shutdown")
	fs.StringVar(&cfg.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.DurationVar(&cfg.tokenTTL, "token-ttl", 0, "life of the access tokens the app's OAuth grants issue (0: Shopify's, about 24h for client credentials, 1h for expiring offline tokens)")
	err := parse(fs, args)
	return cfg, err
}

// runSandbox serves the sandbox until ctx ends, then shuts down gracefully:
// no new connections, requests in flight finish (for at most
// cfg.shutdown), pending webhooks stay in the file for the next start.
func runSandbox(ctx context.Context, cfg sandboxConfig, stdout, stderr io.Writer) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := newLogger(stderr, level).With("component", "sandbox")
	hook, err := webhookBase(cfg.webhookURL)
	if err != nil {
		return err
	}
	if cfg.restoreRate < 0 {
		return fmt.Errorf("--restore-rate: %v is negative (0 means unlimited)", cfg.restoreRate)
	}
	if cfg.retryScale < 0 || cfg.retryScale > 100 {
		return fmt.Errorf("--webhook-retry-scale: %v is outside 0 to 100 (0 keeps the quick schedule)", cfg.retryScale)
	}
	if cfg.tokenTTL < 0 {
		return fmt.Errorf("--token-ttl: %v is negative (0 means Shopify's lifetimes)", cfg.tokenTTL)
	}
	if err := os.MkdirAll(cfg.data, 0o700); err != nil {
		return err
	}
	// The file is opened with a timeout: a second sandbox on the same
	// folder fails within seconds, saying so, instead of hanging.
	sb, err := sandbox.New(sandbox.Options{
		Path:        filepath.Join(cfg.data, sandboxFile),
		RestoreRate: cfg.restoreRate,
		Control:     cfg.control,
		// Shopify's retry schedule, scaled (0: the quick one).
		WebhookRetryScale: cfg.retryScale,
		WebhookURL:        hook,
		Logger:            log,
		TokenTTL:          cfg.tokenTTL,
	})
	if errors.Is(err, bbolt.ErrTimeout) {
		return sandboxLocked(cfg.data)
	}
	if err != nil {
		return err
	}
	defer sb.Close()

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	base := "http://" + reachable(ln.Addr())
	mux := http.NewServeMux()
	mux.Handle(sandbox.Prefix, sb.Handler())
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	fmt.Fprintf(stdout, "listening %s\n", base)
	for _, spec := range cfg.shops {
		name, currency, _ := strings.Cut(spec, ":")
		cr, err := sb.CreateShopWith(name, sandbox.ShopOptions{Currency: currency})
		switch {
		case errors.Is(err, sandbox.ErrShopExists):
			log.Info("shop exists; its credentials were printed when it was created", "shop", name)
			continue
		case err != nil:
			_ = srv.Close()
			return fmt.Errorf("create shop %q: %w", name, err)
		}
		fmt.Fprintf(stdout, "shop %s url %s%s%s token %s secret %s currency %s\n",
			cr.Name, base, sandbox.Prefix, cr.Name, cr.AccessToken, cr.WebhookSecret, cr.Currency)
	}
	log.Info("sandbox serving", "addr", ln.Addr().String(), "data", cfg.data, "shops", len(sb.Shops()),
		"control", cfg.control, "restore_rate", cfg.restoreRate, "webhook_url", hook)

	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-served:
		return err // Serve returns only on failure before Shutdown
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdown)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("requests still in flight at the shutdown timeout; closing them", "err", err)
		_ = srv.Close()
	}
	if err := sb.Close(); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// sandboxLocked explains a sandbox file another process holds: which
// file, who holds it when the system says, and what to do.
func sandboxLocked(dir string) error {
	path := filepath.Join(dir, sandboxFile)
	who := "another process"
	if h := lockHolder(path); h != "" {
		who = h
	}
	return fmt.Errorf("the sandbox's file %s is in use by %s: an `eventops sandbox` "+
		"or an `eventops serve` (whose built-in sandbox uses the same file) on the folder %s. "+
		"Stop it, or give this sandbox another --data folder", path, who, dir)
}

// webhookBase checks --webhook-url: an absolute http(s) URL; one without a
// path is eventops' base URL and gets the webhook route's path.
func webhookBase(raw string) (string, error) {
	if raw == "" {
		return "", nil // no webhooks for topics without a subscription
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("--webhook-url %q: want an http(s) URL such as http://127.0.0.1:8080/webhooks/shopify", raw)
	}
	if strings.Trim(u.Path, "/") == "" {
		u.Path = "/webhooks/shopify"
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// reachable is an address clients can dial: a wildcard listen address is
// shown as loopback.
func reachable(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return a.String()
	}
	return net.JoinHostPort("127.0.0.1", fmt.Sprint(tcp.Port))
}

var _ flag.Value = (*shopNames)(nil)
