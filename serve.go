package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"eventops/engine"
	"eventops/engine/outbound"
	"eventops/engine/shopify"
	"eventops/engine/shopify/sandbox"
	"eventops/storage"
	"eventops/web"
	"eventops/web/dash"
	"eventops/web/metrics"
)

type serveConfig struct {
	addr          string
	data          string
	publicURL     string
	workers       int
	maxPending    int
	rateLimit     int
	aliasSunset   string
	enforceSunset bool
	retention     time.Duration
	shutdown      time.Duration
	reconcile     time.Duration
	logLevel      string
	metricsPublic bool
	sbControl     bool
	sbRestoreRate float64
	sbTokenTTL    time.Duration
	sandboxURL    string // --sandbox-url, checked (parseSandboxURL)
	database      bool   // --database-url given: PostgreSQL
	domainMap     domainMap
	whRetryScale  float64
	whPrivate     bool
	lease         time.Duration
}

func cmdServe(args []string, stdout, stderr io.Writer) error {
	var cfg serveConfig
	fs := newFlags("serve", "serve [flags]")
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:8080", "listen address of the API and dashboard")
	st := addStoreFlags(fs)
	fs.StringVar(&cfg.publicURL, "public-url", "", "public base URL, for links and the websocket origin check (default http://ADDR)")
	fs.IntVar(&cfg.workers, "workers", 64, "operations run at once")
	fs.IntVar(&cfg.maxPending, "max-pending", engine.DefaultMaxPending, "unfinished operations held at most; past it, writes that would start one answer 503 overloaded (0: no bound)")
	fs.IntVar(&cfg.rateLimit, "rate-limit", 300, "API requests per minute per key (0: off)")
	fs.StringVar(&cfg.aliasSunset, "alias-sunset", "2026-09-04", "sunset date of the deprecated sync-job aliases (YYYY-MM-DD)")
	fs.BoolVar(&cfg.enforceSunset, "enforce-sunset", false, "answer 410 on the aliases once the sunset date has passed")
	fs.DurationVar(&cfg.retention, "retention", 90*24*time.Hour, "terminal operations older than this are pruned")
	fs.DurationVar(&cfg.shutdown, "shutdown-timeout", 20*time.Second, "how long running phases get to reach a safe point on shutdown")
	fs.DurationVar(&cfg.reconcile, "shop-reconcile-interval", 5*time.Minute, "how often each connected shop's orders updated since the last one seen are read, to record what webhooks missed (also at start-up; 0: only at start-up and when a phase asks)")
	fs.DurationVar(&cfg.lease, "lease", 10*time.Second, "PostgreSQL: how long a node's claims on operation queues outlive its last heartbeat (heartbeat every fifth of it); another node takes over a dead node's queues after it")
	fs.StringVar(&cfg.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.BoolVar(&cfg.metricsPublic, "metrics-public", false, "let any client read /metrics (default: loopback clients only)")
	fs.BoolVar(&cfg.sbControl, "sandbox-control", false, "enable the sandbox's control routes (faults, orders, revoke...) for loopback clients and admins")
	fs.Float64Var(&cfg.sbRestoreRate, "sandbox-restore-rate", sandbox.DefaultRestoreRate, "the sandbox shops' cost bucket restore rate in points per second (0: unlimited)")
	fs.DurationVar(&cfg.sbTokenTTL, "sandbox-token-ttl", 0, "life of the access tokens the sandbox's OAuth grants issue (0: Shopify's)")
	fs.StringVar(&cfg.sandboxURL, "sandbox-url", "", sandboxURLUsage)
	fs.Var(&cfg.domainMap, "shopify-domain-map", "development and tests only: `NAME.myshopify.com=URL` serves that shop's Admin API and OAuth at URL (a sandbox run as its own process: http://127.0.0.1:8081/sandbox/shopify/NAME) (repeatable; comma-separated in the environment)")
	fs.Float64Var(&cfg.whRetryScale, "webhooks-retry-scale", 1, "scales the outbound webhooks' retry schedule (about a day at 1; 0.001 for tests and demos)")
	fs.BoolVar(&cfg.whPrivate, "webhooks-allow-private", false, "let webhook endpoints use http and loopback or private addresses (local development)")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg.data, cfg.database = st.data, st.postgres()
	if err := checkServeConfig(stderr, &cfg); err != nil {
		return err
	}
	sunset, err := time.Parse(time.DateOnly, cfg.aliasSunset)
	if err != nil {
		return fmt.Errorf("--alias-sunset: %w", err)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	// Lines logged with a request's context carry its request id, the
	// engine's included.
	log := slog.New(web.LogRequestIDs(newLogger(stderr, level).Handler()))
	slog.SetDefault(log)
	if cfg.publicURL == "" {
		cfg.publicURL = "http://" + cfg.addr
	}

	started := time.Now()
	db, sealer, err := st.open()
	if err != nil {
		return err
	}
	defer db.Close()
	// Listen first: the Shopify client reaches the in-process sandbox
	// through this address.
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	defer ln.Close()

	// The built-in sandbox on bbolt; on PostgreSQL the `eventops
	// sandbox` process of --sandbox-url, or none (serve_sandbox.go).
	var srv atomic.Pointer[web.Server]
	self := "http://" + ln.Addr().String()
	sb, err := openServeSandbox(cfg, db.Postgres(), self, log,
		func(r *http.Request) bool { s := srv.Load(); return s != nil && s.AdminRequest(r) })
	if err != nil {
		return err
	}
	defer sb.Close()
	meter := metrics.New()
	// One client to the shops, so that shutdown can close its idle
	// connections (see shutdown).
	shopHTTP := shopify.NewHTTPClient()
	// Reads the shops' orders that webhooks missed (at start-up, on a timer
	// and when a phase asks); stopped before the engine.
	reconciler := shopify.NewReconciler(cfg.reconcile)
	shopCfg := shopify.Config{
		SandboxURL: sb.url, WebhookBaseURL: cfg.publicURL, Logger: log,
		Metrics: meter.Shopify(), HTTPClient: shopHTTP, Tokens: shopify.NewTokens(), Reconciler: reconciler,
		DomainMap: cfg.domainMap.resolver(sb.builtin, self, cfg.sbControl),
	}
	if os.Getenv("EVENTOPS_TEST_HOLD_AFTER_GRANT") != "" {
		shopCfg.Tokens.AfterGrant = holdAfterGrant(os.Getenv("EVENTOPS_TEST_HOLD_AFTER_GRANT"))
	}
	// Each node paces its calls to a shop within its share of the shop's
	// bucket (the engine, made below, counts the nodes).
	var eng *engine.Engine
	shopCfg.Nodes = func() int {
		if eng == nil {
			return 1
		}
		return eng.Nodes()
	}
	works, refund := shopify.Works(shopCfg)
	guard := &outbound.Guard{AllowPrivate: cfg.whPrivate}
	public := strings.TrimRight(cfg.publicURL, "/")
	hooks := outbound.New(outbound.Options{Guard: guard, Render: func(m *engine.WebhookMessage) ([]byte, error) {
		return web.WebhookPayload(public, m)
	}})
	defer hooks.CloseIdle()
	// Several nodes may share a PostgreSQL database: claims by lease,
	// and the other nodes' transitions announced.
	var leases engine.LeaseStore
	var notifier engine.Notifier
	if db.Postgres() {
		leases, notifier = db, db
	}
	eng = engine.New(engine.Config{Store: db, SharedStore: db.Postgres(), Leases: leases, Lease: engine.LeaseOptions{Length: cfg.lease}, Notifier: notifier,
		Locks:  db,
		Sealer: sealer, Workers: cfg.workers, MaxPending: cfg.maxPending, Logger: log, Observer: meter,
		Work: works, Refund: refund, Shops: shopify.ShopReader(shopCfg), Sandbox: sb.shops,
		Seats: shopify.Seats(shopCfg), Webhooks: hooks, WebhookRetryScale: cfg.whRetryScale, URLGuard: guard})
	reconciler.Bind(eng)
	meter.WatchLeases(func() metrics.LeaseFigures {
		held, takeovers := eng.Leases()
		inUse, idle, bound := db.PoolStats()
		return metrics.LeaseFigures{Held: held, Takeovers: takeovers, PoolInUse: inUse, PoolIdle: idle, PoolMax: bound}
	})
	if err := bootstrap(eng, cfg.publicURL, stdout); err != nil {
		return err
	}
	if db.Postgres() {
		// Several nodes: the gauge is the installation's count, read
		// from the database every 5 s rather than counted here.
		if counts, err := db.ActiveByAction(context.Background()); err == nil {
			meter.SetActive(counts)
		}
	} else if err := meter.SeedActive(db); err != nil { // the operations Start resumes
		return err
	}
	// The installation id names this installation's products in a shop
	// (their handles and SKUs): logged so that an operator can tell them
	// apart from another installation's.
	inst, err := eng.InstallationID()
	if err != nil {
		return err
	}
	if err := eng.Start(context.Background()); err != nil {
		return err
	}
	// Several nodes (PostgreSQL) share the rate limit's budget and the
	// sign-in buckets; one node (bbolt) counts them in memory.
	var budget web.RateBudget
	var logins dash.LoginLimits
	if db.Postgres() {
		budget, logins = db, db
	}
	srv.Store(web.New(web.Config{
		Engine: eng, Logger: log, PublicURL: cfg.publicURL, RateLimit: cfg.rateLimit, RateBudget: budget,
		AliasSunset: sunset, EnforceSunset: cfg.enforceSunset,
		Metrics: meter, MetricsPublic: cfg.metricsPublic, DataFile: dataFile{db},
		Sandbox:      sb.handler,
		ShopWebhooks: shopify.NewWebhookReceiver(eng, log).FulfilWith(reconciler),
		Dashboard: dash.Options{Sandbox: sb.state,
			ShopifyOAuth: shopify.NewOAuth(shopCfg, eng.ShopifyApp), ShopOrigins: cfg.domainMap.origins(),
			LoginLimits: logins},
	}))
	log.Info("eventops serving", "addr", ln.Addr().String(), "data", cfg.data, "store", st.where(), "sandbox", sb.where, "installation", inst,
		"startup", time.Since(started).Round(time.Millisecond).String())

	// Background bookkeeping written in batches, never per request.
	bg, stopBG := context.WithCancel(context.Background())
	var bgWG sync.WaitGroup
	bgWG.Add(2)
	go func() {
		defer bgWG.Done()
		flushLoop(bg, eng, log)
	}()
	go func() {
		defer bgWG.Done()
		pruneLoop(bg, eng, cfg.retention, meter, log)
	}()
	if db.Postgres() {
		bgWG.Add(1)
		go func() {
			defer bgWG.Done()
			tick := time.NewTicker(5 * time.Second)
			defer tick.Stop()
			for {
				select {
				case <-bg.Done():
					return
				case <-tick.C:
				}
				if counts, err := db.ActiveByAction(bg); err == nil {
					meter.SetActive(counts)
				}
			}
		}()
	}

	served := make(chan error, 1)
	go func() { served <- srv.Load().App().Listener(ln) }()
	// After the listener serves: the built-in sandbox is reached through it.
	reconciler.Start()

	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	var exitErr error
	select {
	case s := <-sig:
		log.Info("shutting down", "signal", s.String())
	case err := <-served:
		if err != nil {
			log.Error("server stopped", "err", err)
		}
	}
	go func() {
		<-sig
		log.Warn("second signal: exiting at once")
		os.Exit(1)
	}()

	reconciler.Stop()
	shutdown(srv.Load(), eng, shopHTTP, cfg.shutdown, log)
	stopBG()
	bgWG.Wait()
	flushAll(eng, log)
	log.Info("stopped")
	return exitErr
}

// shutdown stops the engine first, then the HTTP server, each for at most
// timeout; the caller then closes the sandbox and the file.
//
// The built-in sandbox is served on this listener (/sandbox/shopify/), and
// the engine's Shopify phases call it: the listener keeps answering until
// the engine has stopped, or phases in flight would retry against
// "connection refused" until the deadline. While the engine stops, held
// long-polls are answered with the current state and new operations are
// refused (the engine takes none once its stop has begun); phases waiting
// out a retry backoff end at once and resume at the next start.
//
// Once the engine has stopped, the idle connections of shopHTTP (the
// engine's client to the shops, nil: none) are closed: the HTTP server
// waits for every open connection, and one the client dialed but never
// used (it keeps spare dials in its pool) would otherwise hold the
// server's shutdown until its deadline.
func shutdown(srv *web.Server, eng *engine.Engine, shopHTTP *http.Client, timeout time.Duration, log *slog.Logger) {
	eng.Stop(timeout)
	if shopHTTP != nil {
		shopHTTP.CloseIdleConnections()
	}
	log.Info("engine stopped; stopping the http server")
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		log.Warn("http shutdown", "err", err)
	}
}

// flushLoop writes batched bookkeeping (API key last use, alias counters)
// every few seconds.
func flushLoop(ctx context.Context, eng *engine.Engine, log *slog.Logger) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			flushAll(eng, log)
		}
	}
}

// checkServeConfig refuses flag values that mean nothing, before anything
// is opened: each is explained on w with the flag and its environment
// variable, and serve exits with status 2 (errUsage). Zero stays meaningful
// where the flag says so (--rate-limit 0 is off, --retention 0 keeps every
// operation, --sandbox-restore-rate 0 is unlimited).
func checkServeConfig(w io.Writer, cfg *serveConfig) error {
	var bad []string
	add := func(flag string, value any, want string) {
		bad = append(bad, fmt.Sprintf("invalid value %q for --%s (%s): %s", fmt.Sprint(value), flag, envName(flag), want))
	}
	if cfg.addr == "" {
		add("addr", cfg.addr, "must be a listen address such as 127.0.0.1:8080")
	}
	if cfg.workers < 1 {
		add("workers", cfg.workers, "must be 1 or more operations at once")
	}
	if cfg.rateLimit < 0 {
		add("rate-limit", cfg.rateLimit, "must be 0 (off) or more requests per minute")
	}
	if cfg.maxPending < 0 {
		add("max-pending", cfg.maxPending, "must be 0 (no bound) or more operations")
	}
	if cfg.whRetryScale <= 0 {
		add("webhooks-retry-scale", cfg.whRetryScale, "must be more than 0 (1 is the real schedule)")
	}
	if cfg.retention < 0 {
		add("retention", cfg.retention, "must be 0 (keep every operation) or a positive duration such as 2160h")
	}
	if cfg.shutdown <= 0 {
		add("shutdown-timeout", cfg.shutdown, "must be a positive duration such as 20s")
	}
	if cfg.lease < time.Second {
		add("lease", cfg.lease, "must be a duration of 1s or more such as 10s")
	}
	if r := cfg.reconcile; r < 0 || (r > 0 && r < time.Second) {
		add("shop-reconcile-interval", r, "must be 0 (only at start-up) or a duration of 1s or more such as 5m")
	}
	if r := cfg.sbRestoreRate; math.IsNaN(r) || math.IsInf(r, 0) || r < 0 {
		add("sandbox-restore-rate", r, "must be 0 (unlimited) or more points per second")
	}
	if cfg.database {
		// The built-in sandbox does not run on PostgreSQL: its flags
		// belong to the `eventops sandbox` process (serve_sandbox.go).
		builtin := func(flag string, value any, own string) {
			add(flag, value, "the built-in sandbox does not run with --database-url: give "+own+" to the `eventops sandbox` process that --sandbox-url names")
		}
		if cfg.sbControl {
			builtin("sandbox-control", cfg.sbControl, "--control")
		}
		if cfg.sbRestoreRate != sandbox.DefaultRestoreRate {
			builtin("sandbox-restore-rate", cfg.sbRestoreRate, "--restore-rate")
		}
		if cfg.sbTokenTTL != 0 {
			builtin("sandbox-token-ttl", cfg.sbTokenTTL, "--token-ttl")
		}
	}
	if cfg.sandboxURL != "" {
		if !cfg.database {
			add("sandbox-url", cfg.sandboxURL, "is for --database-url (several nodes sharing one `eventops sandbox`); on bbolt serve runs the built-in sandbox")
		} else if u, err := parseSandboxURL(cfg.sandboxURL); err != nil {
			add("sandbox-url", cfg.sandboxURL, err.Error())
		} else {
			cfg.sandboxURL = u
		}
	}
	if cfg.publicURL != "" {
		if u, err := url.Parse(cfg.publicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("public-url", cfg.publicURL, "must be an absolute http or https URL such as https://ops.example.com")
		}
	}
	if len(bad) == 0 {
		return nil
	}
	for _, b := range bad {
		fmt.Fprintln(w, "eventops serve:", b)
	}
	return errUsage
}

// pruneLoop deletes terminal operations older than the retention period,
// shortly after start and then hourly, in small transactions.
func pruneLoop(ctx context.Context, eng *engine.Engine, retention time.Duration, meter *metrics.Metrics, log *slog.Logger) {
	wait := time.Minute
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = time.Hour
		pruneOnce(ctx, eng, retention, meter, log)
	}
}

// pruneOnce is one round of retention, counted in the metrics
// (eventops_operations_pruned_total, eventops_idempotency_records_pruned_total).
// A retention of 0 keeps every operation; expired idempotency records and
// webhook ids are pruned regardless. One node at a time runs it (the
// "retention" lock, engine.Locks): a node that finds it held skips the
// round, which the holder is doing.
func pruneOnce(ctx context.Context, eng *engine.Engine, retention time.Duration, meter *metrics.Metrics, log *slog.Logger) {
	held, ok, err := eng.Locks().TryLock(ctx, "retention")
	if err != nil || !ok {
		if err != nil && ctx.Err() == nil {
			log.Warn("retention: take its lock", "err", err)
		} else if !ok {
			log.Debug("retention runs on another node: round skipped")
		}
		return
	}
	defer held.Unlock()
	ctx, cancel := engine.Guard(ctx, held)
	defer cancel()
	if retention > 0 {
		n, err := eng.Prune(ctx, eng.Now().Add(-retention))
		meter.OperationsPruned(n) // what was deleted before an error counts too
		if err != nil && ctx.Err() == nil {
			log.Warn("prune operations", "err", err)
		}
		if n > 0 {
			log.Info("pruned operations", "count", n, "retention", retention)
		}
	}
	m, err := eng.PruneIdempotency(ctx)
	meter.IdempotencyPruned(m)
	if err != nil && ctx.Err() == nil {
		log.Warn("prune idempotency records", "err", err)
	} else if m > 0 {
		log.Info("pruned idempotency records", "count", m)
	}
	// Webhook ids are remembered long enough for Shopify's redeliveries.
	if w, err := eng.PruneWebhooks(ctx); err != nil && ctx.Err() == nil {
		log.Warn("prune webhook deliveries", "err", err)
	} else if w > 0 {
		log.Info("pruned webhook deliveries", "count", w)
	}
	// Dashboard sessions past their absolute expiry (idle ones are ended
	// when next presented, and by this once their maximum passes).
	if s, err := eng.PruneSessions(ctx); err != nil && ctx.Err() == nil {
		log.Warn("prune dashboard sessions", "err", err)
	} else if s > 0 {
		log.Info("pruned dashboard sessions", "count", s)
	}
}

func flushAll(eng *engine.Engine, log *slog.Logger) {
	ctx := context.Background()
	if err := eng.FlushKeyUse(ctx); err != nil {
		log.Warn("flush key use", "err", err)
	}
	if err := eng.FlushAliasUse(ctx); err != nil {
		log.Warn("flush alias use", "err", err)
	}
}

// dataFile adapts the data file to what the web server reads of it (and
// what the dashboard's storage page shows: it is a dash.StorageStats).
type dataFile struct{ *storage.DB }

func (f dataFile) StorageHealth() (dash.StorageHealth, error) {
	st, err := f.Stats()
	return dash.StorageHealth{Path: f.Path(), FileSize: st.FileSize, FreePages: st.FreePages,
		OpenReadTxs: st.OpenReadTxs, Commits: st.Commits, Updates: st.Updates}, err
}

// bootstrap creates, on first start with empty data, a demo company
// connected to a shop of the sandbox (the built-in one, or on PostgreSQL the
// process of --sandbox-url), an admin user and an API key, and prints the
// credentials once: only their hashes are stored. On PostgreSQL without a
// sandbox the demo company has no shop. Nodes started together on an empty
// database take turns (the "bootstrap" lock): one makes the demo company,
// the others find it made.
func bootstrap(eng *engine.Engine, publicURL string, out io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	held, err := eng.Locks().Lock(ctx, "bootstrap")
	if err != nil {
		return fmt.Errorf("first start: take the bootstrap lock: %w", err)
	}
	defer held.Unlock()
	cs, err := eng.Companies()
	if err != nil || len(cs) > 0 {
		return err
	}
	shopNote := ""
	c, err := eng.CreateCompany(ctx, "Demo Company", &engine.ShopInput{Sandbox: true, Domain: "demo"})
	if engine.ErrorCode(err) == engine.CodeShopifySandboxMissing {
		shopNote = "\n  The demo company has no shop: " + engine.NoSandboxMessage + ".\n"
		c, err = eng.CreateCompany(ctx, "Demo Company", nil)
	}
	if err != nil {
		return fmt.Errorf("first start: the demo company: %w", err)
	}
	password, err := engine.RandomSecret(18)
	if err != nil {
		return err
	}
	const email = "admin@example.com"
	if _, err := eng.CreateUser(ctx, email, engine.RoleAdmin, password); err != nil {
		return err
	}
	_, key, err := eng.CreateAPIKey(ctx, c.ID, "demo", []engine.Scope{engine.ScopeRead, engine.ScopeWrite})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, `
First start: created a demo company, an admin user and an API key.
These credentials are shown once and never again; store them now.

  dashboard   %s/
  email       %s
  password    %s
  API key     %s   (company %d, scopes read,write)

  curl -H "Authorization: Token %s" %s/api/v2
%s
`, publicURL, email, password.Reveal(), key.Reveal(), c.ID, key.Reveal(), publicURL, shopNote)
	return nil
}

// holdAfterGrant is a test hook (EVENTOPS_TEST_HOLD_AFTER_GRANT=FILE): the
// token source, having Shopify's answer to a token request, creates FILE
// and waits forever before committing it, so that a test can kill the
// process at that moment.
func holdAfterGrant(file string) func() {
	return func() {
		_ = os.WriteFile(file, []byte("granted\n"), 0o600)
		select {}
	}
}
