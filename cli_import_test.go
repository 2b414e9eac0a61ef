package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"eventops/engine"
	"eventops/engine/shopify"
	"eventops/engine/shopify/sandbox"
	"eventops/storage"
	"eventops/web"
	"eventops/web/client"
)

const (
	sampleCSV   = "testdata/import/season-2027.csv"
	sampleJSONL = "testdata/import/festival.jsonl"
	badCSV      = "testdata/import/bad-rows.csv"
)

// apiServer is a real eventops server on a temporary data folder: storage,
// a started engine, a company with a read/write API key, and the web app on
// a 127.0.0.1 listener; with a shop, the company is connected to a shop of
// an in-memory Shopify sandbox (unthrottled) and the engine runs the
// Shopify phases against it.
type apiServer struct {
	URL  string
	Key  string
	eng  *engine.Engine
	api  *client.Client
	shop *sandbox.Sandbox
}

func startAPI(t testing.TB, cfg web.Config, withShop ...bool) *apiServer {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := t.TempDir()
	db, err := storage.Open(filepath.Join(dir, dbFile), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ecfg := engine.Config{Store: db, Logger: quiet}
	s := &apiServer{}
	var shopIn *engine.ShopInput
	if len(withShop) > 0 && withShop[0] {
		if ecfg.Sealer, err = storage.LoadSealer(dir); err != nil {
			t.Fatal(err)
		}
		if s.shop, err = sandbox.New(sandbox.Options{RestoreRate: 0, Logger: quiet}); err != nil {
			t.Fatal(err)
		}
		shopSrv := httptest.NewServer(s.shop.Handler())
		t.Cleanup(func() { shopSrv.CloseClientConnections(); shopSrv.Close(); s.shop.Close() })
		creds, err := s.shop.CreateShop("importer")
		if err != nil {
			t.Fatal(err)
		}
		shopCfg := shopify.Config{SandboxURL: shopSrv.URL, Logger: quiet}
		ecfg.Work, ecfg.Refund = shopify.Works(shopCfg)
		ecfg.Shops = shopify.ShopReader(shopCfg)
		ecfg.Seats = shopify.Seats(shopCfg)
		shopIn = &engine.ShopInput{Sandbox: true, Domain: creds.Name,
			AccessToken: engine.Secret(creds.AccessToken), WebhookSecret: engine.Secret(creds.WebhookSecret)}
	}
	eng := engine.New(ecfg)
	ctx := context.Background()
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	co, err := eng.CreateCompany(ctx, "Importer", shopIn)
	if err != nil {
		t.Fatal(err)
	}
	_, key, err := eng.CreateAPIKey(ctx, co.ID, "import", []engine.Scope{engine.ScopeRead, engine.ScopeWrite})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Engine, cfg.Logger = eng, quiet
	srv := web.New(cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.App().Listener(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		eng.Stop(5 * time.Second)
		if err := db.Check(); err != nil {
			t.Errorf("check: %v", err)
		}
		db.Close()
	})
	s.URL, s.Key, s.eng = "http://"+ln.Addr().String(), key.Reveal(), eng
	if s.api, err = client.New(s.URL, s.Key); err != nil {
		t.Fatal(err)
	}
	return s
}

// importResult is one run of the command.
type importResult struct {
	code           int
	stdout, stderr string
	err            error
}

// importCmd runs `eventops import ARGS` with the key on stdin, as
// `pass show ... | eventops import FILE` would.
func (s *apiServer) importCmd(t testing.TB, args ...string) importResult {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(append([]string{"import", "--url", s.URL}, args...), strings.NewReader(s.Key+"\n"), &out, &errb)
	return importResult{code: code, stdout: out.String(), stderr: errb.String()}
}

// importCtx runs the command with a context, to interrupt it.
func (s *apiServer) importCtx(ctx context.Context, args ...string) importResult {
	var out, errb bytes.Buffer
	err := runImport(ctx, append([]string{"--url", s.URL}, args...), strings.NewReader(s.Key+"\n"), &out, &errb)
	return importResult{stdout: out.String(), stderr: errb.String(), err: err}
}

// summaryCount reads a count of the summary table ("created", ...).
func summaryCount(t testing.TB, r importResult, label string) int {
	t.Helper()
	m := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(label) + `\s+(\d+)\s*$`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("no %q in the summary:\n%s\nstderr:\n%s", label, r.stdout, r.stderr)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func (s *apiServer) events(t testing.TB, o client.EventListOptions) []client.Event {
	t.Helper()
	evs, err := s.api.AllEvents(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func topLevel() *uint64 { var none uint64; return &none }

func TestImportSampleCreatesEveryEventOnce(t *testing.T) {
	t.Parallel()
	s := startAPI(t, web.Config{})
	ctx := context.Background()

	r := s.importCmd(t, "--wait", "all", sampleCSV)
	if r.code != 0 {
		t.Fatalf("import: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if c, p, f := summaryCount(t, r, "created"), summaryCount(t, r, "already present"), summaryCount(t, r, "failed"); c != 13 || p != 0 || f != 0 {
		t.Fatalf("created %d, present %d, failed %d; want 13, 0, 0\n%s", c, p, f, r.stdout)
	}

	// The thirteen rows are thirteen events; the season has its sixteen
	// Friday occurrences.
	evs := s.events(t, client.EventListOptions{ParentEventID: topLevel()})
	byName := map[string]client.Event{}
	for _, e := range evs {
		if _, dup := byName[e.Name]; dup {
			t.Fatalf("event %q created twice", e.Name)
		}
		byName[e.Name] = e
	}
	if len(evs) != 13 {
		t.Fatalf("%d top-level events, want 13", len(evs))
	}
	season := byName["Friday Jazz Season"]
	if season.Type != client.EventRecurring || season.Recurrence == nil || season.Recurrence.Count != 16 {
		t.Fatalf("season: %+v", season)
	}
	occ := s.events(t, client.EventListOptions{ParentEventID: &season.ID})
	if len(occ) != 16 {
		t.Fatalf("%d occurrences, want 16", len(occ))
	}
	for _, o := range occ { // 19:30 local on both sides of the DST change
		if !strings.Contains(o.Start.Local, "T19:30:00-0") || o.Start.TZ != "America/Chicago" {
			t.Fatalf("occurrence starts %+v, want 19:30 in Chicago", o.Start)
		}
	}

	// Local times are the venue's; explicit offsets are kept; prices are in
	// minor units; the zone left empty on one row is its venue's.
	for name, want := range map[string]string{
		"Spring Forward Jam":              "2027-03-14T02:00:00Z", // 20:00 CST
		"Big Band Sunday Matinee":         "2027-04-11T19:00:00Z", // given as -05:00
		"Harbour Strings: Winter Concert": "2027-01-22T19:30:00Z", // GMT
		"Harbour Jazz Brunch":             "2027-04-18T10:00:00Z", // BST
	} {
		if got := byName[name].StartsAt.UTC().Format(time.RFC3339); got != want {
			t.Errorf("%s starts %s, want %s", name, got, want)
		}
	}
	folk := byName["Folk at the Harbour"]
	if rt := folk.RegistrationTypes; len(rt) != 2 || rt[0].Price.Amount != 1850 || rt[0].Price.Currency != "GBP" || *rt[1].Quantity != 30 {
		t.Fatalf("Folk at the Harbour registration types %+v", rt)
	}
	if brunch := byName["Harbour Jazz Brunch"]; brunch.RegistrationTypes[0].Name != "Brunch: table for two" {
		t.Fatalf("escaped colon: %q", brunch.RegistrationTypes[0].Name)
	}
	if !byName["Big Band Sunday Matinee"].SplitProducts || byName["Songwriters in the Round"].Capacity != nil {
		t.Fatal("split_products or an empty capacity was not carried over")
	}

	// Every operation reached completed.
	ops, err := s.api.AllOperations(ctx, client.OperationListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) != 13 {
		t.Fatalf("%d operations, want 13 saves", len(ops))
	}
	for _, op := range ops {
		if op.Status != client.StatusCompleted {
			t.Fatalf("operation %d is %s: %+v", op.ID, op.Status, op.Error)
		}
	}

	// Venues and ticket types were created once, found by exact name.
	venues, _ := s.api.AllVenues(ctx, "")
	tts, _ := s.api.AllTicketTypes(ctx, "")
	if len(venues) != 2 || len(tts) != 4 {
		t.Fatalf("%d venues and %d ticket types, want 2 and 4", len(venues), len(tts))
	}

	// Re-running the same file creates nothing.
	r = s.importCmd(t, sampleCSV)
	if r.code != 0 {
		t.Fatalf("re-run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if c, p := summaryCount(t, r, "created"), summaryCount(t, r, "already present"); c != 0 || p != 13 {
		t.Fatalf("re-run: created %d, present %d; want 0, 13\n%s", c, p, r.stdout)
	}
	if n := len(s.events(t, client.EventListOptions{})); n != 13+16 {
		t.Fatalf("%d events after the re-run, want 29", n)
	}
	if !strings.Contains(r.stderr, "venues: 2 found, 0 created; ticket types: 4 found, 0 created") {
		t.Fatalf("re-run did not find the venues and ticket types:\n%s", r.stderr)
	}
	if ops, _ := s.api.AllOperations(ctx, client.OperationListOptions{}); len(ops) != 13 {
		t.Fatalf("%d operations after the re-run, want 13", len(ops))
	}
}

// The sample's Chicago rows are priced in dollars, its London rows in
// pounds; the company's sandbox shop sells in dollars, and a shop holds
// one currency: the dollar rows are mirrored, the pound rows refused.
func TestImportSampleIntoAShopifyCompany(t *testing.T) {
	t.Parallel()
	s := startAPI(t, web.Config{}, true)
	raw, err := os.ReadFile(sampleCSV)
	if err != nil {
		t.Fatal(err)
	}
	var usd []string
	for i, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		if i == 0 || strings.Contains(l, ",USD,") {
			usd = append(usd, l)
		}
	}
	usdCSV := filepath.Join(t.TempDir(), "usd.csv")
	if err := os.WriteFile(usdCSV, []byte(strings.Join(usd, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rows := len(usd) - 1
	r := s.importCmd(t, "--wait", "all", usdCSV)
	if r.code != 0 {
		t.Fatalf("import: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if c := summaryCount(t, r, "created"); c != rows || rows != 7 {
		t.Fatalf("created %d of %d dollar rows, want 7\n%s", c, rows, r.stdout)
	}
	ops, err := s.api.AllOperations(context.Background(), client.OperationListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range ops {
		if op.Status != client.StatusCompleted || op.Phase("catalog") == nil || op.Phase("publish") == nil {
			t.Fatalf("operation %d: %s, phases %+v", op.ID, op.Status, op.Phases)
		}
	}
	// Mirrored: every date event has its product (one per registration type
	// with split_products); occurrences have theirs.
	for _, e := range s.events(t, client.EventListOptions{}) {
		want := 1
		if e.SplitProducts {
			want = len(e.RegistrationTypes)
		}
		if e.Type == client.EventDate && len(e.ShopifyProductIDs) != want {
			t.Fatalf("%s (%d) has products %v, want %d", e.Name, e.ID, e.ShopifyProductIDs, want)
		}
	}
	if r := s.importCmd(t, usdCSV); r.code != 0 || summaryCount(t, r, "already present") != rows {
		t.Fatalf("re-run: exit %d\n%s", r.code, r.stdout)
	}
	// The whole sample: the pound rows are refused at write time, naming
	// the shop's currency; nothing of theirs reaches the shop.
	r = s.importCmd(t, sampleCSV)
	if r.code != 1 || summaryCount(t, r, "failed") != 6 || !strings.Contains(r.stdout, "must be USD, the currency of the company's shop") {
		t.Fatalf("whole sample into a dollar shop: exit %d\n%s", r.code, r.stdout)
	}
}

func TestImportJSONLines(t *testing.T) {
	t.Parallel()
	s := startAPI(t, web.Config{})
	report := filepath.Join(t.TempDir(), "report.jsonl")
	r := s.importCmd(t, "--report", report, sampleJSONL)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	evs := s.events(t, client.EventListOptions{ParentEventID: topLevel()})
	if len(evs) != 3 {
		t.Fatalf("%d events, want 3", len(evs))
	}
	for _, e := range evs {
		if e.Name == "Tokyo Jazz Exchange" {
			if p := e.RegistrationTypes[1].Price; p.Amount != 15000 || p.Currency != "JPY" || !e.SplitProducts {
				t.Fatalf("Tokyo: %+v", e)
			}
		}
	}
	raw, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(string(raw), "\n"); lines != 3 || !strings.Contains(string(raw), `"outcome":"created","event_id":`) {
		t.Fatalf("report:\n%s", raw)
	}
}

// generateCSV writes n distinct date events across two venues, priced in
// USD and GBP, or in USD alone with usdOnly (what a USD shop accepts).
func generateCSV(n int, usdOnly bool) []byte {
	var b bytes.Buffer
	b.WriteString("name,venue,time_zone,starts_at,ends_at,capacity,currency,registration_types\n")
	start := time.Date(2027, 1, 1, 10, 0, 0, 0, time.UTC)
	for i := range n {
		// Local times from 10:00 to 21:00: never in a daylight-saving gap.
		day := start.AddDate(0, 0, i%700).Add(time.Duration(i/700%12) * time.Hour)
		venue, tz, cur := "Blue Room", "America/Chicago", "USD"
		if i%2 == 1 {
			venue, tz, cur = "Harbour Hall", "Europe/London", "GBP"
		}
		if usdOnly {
			cur = "USD"
		}
		fmt.Fprintf(&b, "Session %05d,%s,%s,%s,%s,200,%s,General admission:25.00:150|VIP:90.00:50\n", i+1, venue, tz,
			day.Format("2006-01-02 15:04"), day.Add(3*time.Hour).Format("2006-01-02 15:04"), cur)
	}
	return b.Bytes()
}

// countingProxy forwards to target and calls onCreated after each event
// create answered 201.
func countingProxy(t testing.TB, target string, onCreated func(n int64)) string {
	t.Helper()
	u, _ := url.Parse(target)
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorLog = log.New(io.Discard, "", 0) // cancelled requests are the point
	var n atomic.Int64
	rp.ModifyResponse = func(res *http.Response) error {
		if res.Request.Method == http.MethodPost && res.Request.URL.Path == "/api/v2/events" && res.StatusCode == 201 {
			onCreated(n.Add(1))
		}
		return nil
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestImportInterruptedThenResumedMakesNoDuplicates(t *testing.T) {
	t.Parallel()
	s := startAPI(t, web.Config{})
	file := filepath.Join(t.TempDir(), "sessions.csv")
	const rows = 120
	if err := os.WriteFile(file, generateCSV(rows, false), 0o600); err != nil {
		t.Fatal(err)
	}

	// Killed once 40 events were created, with creates still in flight.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	proxied := *s
	proxied.URL = countingProxy(t, s.URL, func(n int64) {
		if n == 40 {
			cancel()
		}
	})
	r := proxied.importCtx(ctx, "--concurrency", "6", file)
	if r.err == nil || !strings.Contains(r.err.Error(), "interrupted") {
		t.Fatalf("interrupted import returned %v\n%s", r.err, r.stdout)
	}
	// Rows whose create was answered but whose operation was not followed
	// to the end are "not finished", like the rows never sent.
	first, unfinished := summaryCount(t, r, "created"), summaryCount(t, r, "not finished")
	if first == 0 || first+unfinished != rows || !strings.Contains(r.stdout, "run the same command again") {
		t.Fatalf("interrupted run: created %d, not finished %d\n%s", first, unfinished, r.stdout)
	}

	r = s.importCtx(context.Background(), file)
	if r.err != nil {
		t.Fatalf("resumed import: %v\n%s\n%s", r.err, r.stdout, r.stderr)
	}
	created, present := summaryCount(t, r, "created"), summaryCount(t, r, "already present")
	if created+present != rows || present < first {
		t.Fatalf("resumed: created %d, present %d (first run created %d)", created, present, first)
	}
	evs := s.events(t, client.EventListOptions{})
	names := map[string]bool{}
	for _, e := range evs {
		if names[e.Name] {
			t.Fatalf("%q exists twice", e.Name)
		}
		names[e.Name] = true
	}
	if len(evs) != rows {
		t.Fatalf("%d events, want %d", len(evs), rows)
	}
}

func TestImportDryRunNamesEveryBadRowAndSendsNothing(t *testing.T) {
	t.Parallel()
	var requests atomic.Int64
	nothing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		http.Error(w, "no", http.StatusTeapot)
	}))
	defer nothing.Close()

	var out, errb bytes.Buffer
	code := run([]string{"import", "--dry-run", "--url", nothing.URL, badCSV}, strings.NewReader("eo_key\n"), &out, &errb)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out.String(), errb.String())
	}
	for _, want := range []string{
		"line 3, name: can't be blank",
		"line 4, ends_at: must be after starts_at",
		`line 5, time_zone: "Mars/Olympus" is not an IANA time zone`,
		`line 6, registration_types (entry 1, price): "20.005": has 3 decimals`,
		"line 7, starts_at: 2027-03-14 02:30 does not exist in America/Chicago",
		"line 8, by_day: is only allowed with a weekly frequency",
		"line 9, count: 900 exceeds the limit of 500 occurrences",
		"line 10, capacity:",
		"line 10, registration_types (entry 1, quantity):",
		"line 11, registration_types (entry 1, price): XXX is not a supported ISO 4217 currency code",
		"line 12: has 4 fields, the header 11",
		"10 of 12 rows are invalid; nothing was sent",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("dry run output lacks %q", want)
		}
	}
	for _, good := range []string{"line 2", "line 13"} {
		if strings.Contains(out.String(), good+",") || strings.Contains(out.String(), good+":") {
			t.Errorf("dry run names a good row (%s):\n%s", good, out.String())
		}
	}
	if t.Failed() {
		t.Log(out.String())
	}

	// A real run of the same file refuses it whole, also without sending.
	out.Reset()
	errb.Reset()
	code = run([]string{"import", "--url", nothing.URL, badCSV}, strings.NewReader("eo_key\n"), &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "10 of 12 rows are invalid; nothing was sent") {
		t.Fatalf("exit %d\n%s", code, errb.String())
	}
	if n := requests.Load(); n != 0 {
		t.Fatalf("%d requests reached the server", n)
	}
}

func TestImportSkipInvalidImportsTheGoodRows(t *testing.T) {
	t.Parallel()
	s := startAPI(t, web.Config{})
	r := s.importCmd(t, "--skip-invalid", badCSV)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (rows failed)\n%s", r.code, r.stdout)
	}
	if c, f := summaryCount(t, r, "created"), summaryCount(t, r, "failed"); c != 2 || f != 10 {
		t.Fatalf("created %d, failed %d\n%s", c, f, r.stdout)
	}
	if !regexp.MustCompile(`invalid_row\s+10\s+lines 3-12`).MatchString(r.stdout) {
		t.Fatalf("summary by code:\n%s", r.stdout)
	}
	if n := len(s.events(t, client.EventListOptions{})); n != 2 {
		t.Fatalf("%d events, want 2", n)
	}
}

// countedWindows is a server clock whose rate-limit windows last per
// readings (one per request), not real seconds, so a window with a limit
// below per refuses some requests however slow the machine; its time stays
// at second 59 of a minute: a refusal's Retry-After is 1 s.
func countedWindows(per int64) func() time.Time {
	base := time.Date(2026, 1, 1, 0, 0, 59, 0, time.UTC)
	var reads atomic.Int64
	return func() time.Time {
		return base.Add(time.Duration((reads.Add(1)-1)/per) * time.Minute)
	}
}

func TestImportSlowsDownWhenRateLimited(t *testing.T) {
	t.Parallel()
	// 12 requests allowed in each window of 20 (Retry-After: 1): the
	// sample's ~45 requests need several windows and meet 429s.
	s := startAPI(t, web.Config{RateLimit: 12, Clock: countedWindows(20)})
	r := s.importCmd(t, "--concurrency", "8", sampleCSV)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if c := summaryCount(t, r, "created"); c != 13 {
		t.Fatalf("created %d, want 13\n%s", c, r.stdout)
	}
	if !regexp.MustCompile(`rate limited: [1-9]\d* answers 429`).MatchString(r.stdout) {
		t.Fatalf("the summary does not say the import met 429s:\n%s", r.stdout)
	}
	if n := len(s.events(t, client.EventListOptions{ParentEventID: topLevel()})); n != 13 {
		t.Fatalf("%d events, want 13", n)
	}
}

func TestImportTokenIsNeverAFlag(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"import", "--token", "eo_secret", sampleCSV},
		{"import", "-token=eo_secret", sampleCSV},
		{"import", sampleCSV, "--token", "eo_secret"},
	} {
		code, _, errOut := runCLI(t, "", args...)
		if code != 2 || !strings.Contains(errOut, "never taken as a flag value") || strings.Contains(errOut, "eo_secret") {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
	}
}

func TestImportTokenSources(t *testing.T) {
	s := startAPI(t, web.Config{})
	dir := t.TempDir()
	file := filepath.Join(dir, "one.csv")
	os.WriteFile(file, generateCSV(1, false), 0o600)
	keyFile := filepath.Join(dir, "key")
	os.WriteFile(keyFile, []byte(s.Key+"\n"), 0o600)

	t.Setenv("EVENTOPS_TOKEN", "")
	if code, _, errOut := runCLI(t, "", "import", "--url", s.URL, file); code != 1 || !strings.Contains(errOut, "no API key") {
		t.Fatalf("no key anywhere: exit %d, %q", code, errOut)
	}
	if code, out, errOut := runCLI(t, "", "import", "--url", s.URL, "--token-file", keyFile, file); code != 0 {
		t.Fatalf("--token-file: exit %d\n%s%s", code, out, errOut)
	}
	t.Setenv("EVENTOPS_TOKEN", s.Key)
	code, out, errOut := runCLI(t, "", "import", "--url", s.URL, file)
	if code != 0 || !strings.Contains(out, "already present") {
		t.Fatalf("EVENTOPS_TOKEN: exit %d\n%s%s", code, out, errOut)
	}
	t.Setenv("EVENTOPS_TOKEN", "eo_wrong")
	code, _, errOut = runCLI(t, "", "import", "--url", s.URL, file)
	if code != 1 || !strings.Contains(errOut, "401 unauthorized") || strings.Contains(errOut, "eo_wrong") {
		t.Fatalf("wrong key: exit %d, %q", code, errOut)
	}
}

func TestLineRanges(t *testing.T) {
	t.Parallel()
	if got := lineRanges([]int{12, 4, 13, 9, 14, 15}); got != "4, 9, 12-15" {
		t.Fatalf("lineRanges = %q", got)
	}
}

func TestWallClockTimesAcrossDaylightSaving(t *testing.T) {
	t.Parallel()
	chicago, _ := time.LoadLocation("America/Chicago")
	for in, want := range map[string]string{
		"2027-03-13 20:00":          "2027-03-14T02:00:00Z",
		"2027-03-14 03:30":          "2027-03-14T08:30:00Z",
		"2027-11-07 01:30":          "2027-11-07T06:30:00Z", // happens twice: the earlier, CDT
		"2027-11-07T01:30:00-06:00": "2027-11-07T07:30:00Z", // the later, by its offset
		"2027-01-08T19:30:00":       "2027-01-09T01:30:00Z",
	} {
		got, err := parseImportTime(in, chicago)
		if err != nil || got.Format(time.RFC3339) != want {
			t.Errorf("%s = %v, %v; want %s", in, got, err, want)
		}
	}
	if _, err := parseImportTime("2027-03-14 02:30", chicago); err == nil {
		t.Error("a skipped wall-clock time was accepted")
	}
}

func TestIdempotencyKeysFollowRowMeaning(t *testing.T) {
	t.Parallel()
	keys := func(csv string) []string {
		f, err := loadImport([]byte(csv), "x.csv", "auto")
		if err != nil || len(f.bad) > 0 {
			t.Fatalf("load: %v %v", err, f.bad)
		}
		var out []string
		for _, r := range f.rows {
			out = append(out, idempotencyKey("", "event", r.key))
		}
		return out
	}
	const head = "name,venue,time_zone,starts_at,ends_at,registration_types\n"
	a := "A,V,UTC,2027-01-01 10:00,2027-01-01 11:00,GA:1.00 USD\n"
	b := "B,V,UTC,2027-01-02 10:00,2027-01-02 11:00,GA:1.00 USD\n"
	one := keys(head + a + b)
	moved := keys(head + b + "\n" + a) // reordered, a blank line between
	if one[0] != moved[1] || one[1] != moved[0] {
		t.Fatal("moving rows changed their keys")
	}
	twice := keys(head + a + a)
	if twice[0] != one[0] || twice[1] == twice[0] {
		t.Fatal("identical rows must get distinct keys, the first one its usual key")
	}
	if changed := keys(head + strings.Replace(a, "1.00", "2.00", 1)); changed[0] == one[0] {
		t.Fatal("a changed row kept its key")
	}
	if !slices.Equal(keys(head+a+b), one) {
		t.Fatal("keys are not stable")
	}
}

// The dry run applies the server's limits too: text without control
// characters, dates within 1970–2199, at most 5,000 occurrences ×
// registration types.
func TestImportDryRunAppliesTheServersLimits(t *testing.T) {
	t.Parallel()
	types := make([]string, 11)
	for i := range types {
		types[i] = fmt.Sprintf("Type %d:10.00", i+1)
	}
	csv := "name,venue,time_zone,starts_at,ends_at,capacity,currency,registration_types,frequency,by_day,count\n" +
		"Good,Blue Room,America/Chicago,2027-01-08 19:30,2027-01-08 22:30,100,USD,GA:20.00,,,\n" +
		"\"Bell\aNight\",Blue Room,America/Chicago,2027-01-08 19:30,2027-01-08 22:30,100,USD,GA:20.00,,,\n" +
		"Old,Blue Room,America/Chicago,1969-06-01 19:30,1969-06-01 22:30,100,USD,GA:20.00,,,\n" +
		"Daily,Blue Room,America/Chicago,2027-01-08 19:30,2027-01-08 22:30,100,USD," + strings.Join(types, "|") + ",daily,,500\n"
	path := filepath.Join(t.TempDir(), "limits.csv")
	if err := os.WriteFile(path, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := run([]string{"import", "--dry-run", "--url", "http://127.0.0.1:1", path}, strings.NewReader("eo_key\n"), &out, &errb)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out.String(), errb.String())
	}
	for _, want := range []string{
		"line 3, name: contains the control character U+0007",
		"line 4, starts_at: must be between 1970-01-01 and 2199-12-31",
		"line 5, registration_types: 500 occurrences × 11 registration types is 5500; an event may have at most 5000",
		"3 of 4 rows are invalid",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("dry run output lacks %q\n%s", want, out.String())
		}
	}
}

// A row mixing currencies breaks the server's rule (one event's
// registration types share one currency): the dry run names it.
func TestImportDryRunNamesMixedCurrencies(t *testing.T) {
	t.Parallel()
	csv := filepath.Join(t.TempDir(), "mixed.csv")
	if err := os.WriteFile(csv, []byte("name,venue,time_zone,starts_at,ends_at,registration_types\n"+
		"Gig,Hall,UTC,2027-01-08 19:30,2027-01-08 22:30,GA:25.00 USD|VIP:90.00 EUR\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := run([]string{"import", "--dry-run", "--url", "http://127.0.0.1:1", csv}, strings.NewReader("eo_key\n"), &out, &errb)
	want := "line 2, registration_types (entry 2, price): is in EUR, entry 1 in USD: one event's registration types share one currency"
	if code != 1 || !strings.Contains(out.String(), want) {
		t.Fatalf("exit %d, want 1 and %q in\n%s%s", code, want, out.String(), errb.String())
	}
}
