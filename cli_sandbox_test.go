package main

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

// sandboxRun is `eventops sandbox` running in-process (runSandbox) until
// its context is cancelled.
type sandboxRun struct {
	t      *testing.T
	cancel context.CancelFunc
	done   chan error
	lines  chan string // stdout, line by line
	url    string      // from the listening line
}

func startSandboxRun(t *testing.T, cfg sandboxConfig) *sandboxRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	r := &sandboxRun{t: t, cancel: cancel, done: make(chan error, 1), lines: make(chan string, 64)}
	go func() {
		err := runSandbox(ctx, cfg, pw, io.Discard)
		pw.Close()
		r.done <- err
	}()
	go func() {
		defer close(r.lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			r.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() { r.stop() })
	first := r.line()
	u, ok := strings.CutPrefix(first, "listening ")
	if !ok {
		t.Fatalf("first line %q, want `listening URL`", first)
	}
	r.url = u
	return r
}

// line reads the next stdout line ("" once stdout is closed).
func (r *sandboxRun) line() string {
	r.t.Helper()
	select {
	case l := <-r.lines:
		return l
	case <-time.After(10 * time.Second):
		r.t.Fatal("no line on stdout within 10 s")
		return ""
	}
}

// stop cancels the run (as SIGTERM does) and returns runSandbox's error.
func (r *sandboxRun) stop() error {
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok {
			close(r.done)
			return err
		}
		return nil
	case <-time.After(15 * time.Second):
		r.t.Fatal("runSandbox did not return within 15 s of its context ending")
		return nil
	}
}

type printedShop struct{ name, url, token, secret, currency string }

func parseShopLine(t *testing.T, l string) printedShop {
	t.Helper()
	f := strings.Fields(l)
	if len(f) != 10 || f[0] != "shop" || f[2] != "url" || f[4] != "token" || f[6] != "secret" || f[8] != "currency" {
		t.Fatalf("shop line %q, want `shop NAME url URL token TOKEN secret SECRET currency CURRENCY`", l)
	}
	return printedShop{name: f[1], url: f[3], token: f[5], secret: f[7], currency: f[9]}
}

func TestSandboxCommandServesShopsAndPrintsCredentialsOnce(t *testing.T) {
	dir := t.TempDir()
	hooks := make(chan *http.Request, 8)
	bodies := make(chan []byte, 8)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		hooks <- r
		bodies <- b
	}))
	defer receiver.Close()

	cfg := sandboxConfig{addr: "127.0.0.1:0", data: dir, webhookURL: receiver.URL, control: true,
		shops: shopNames{"soak", "Demo Shop:JPY"}, restoreRate: 1000, shutdown: 5 * time.Second, logLevel: "warn"}
	run := startSandboxRun(t, cfg)
	a, b := parseShopLine(t, run.line()), parseShopLine(t, run.line())
	if a.name != "soak" || b.name != "demo-shop" {
		t.Fatalf("shops %q, %q; want soak, demo-shop", a.name, b.name)
	}
	if a.currency != "USD" || b.currency != "JPY" {
		t.Fatalf("currencies %q, %q; want USD (the default) and JPY (asked for)", a.currency, b.currency)
	}
	if want := run.url + "/sandbox/shopify/soak"; a.url != want {
		t.Fatalf("url %q, want %q", a.url, want)
	}

	// The Admin API answers at the printed base URL with the printed token.
	gql := func(shop printedShop) int {
		req, _ := http.NewRequest(http.MethodPost, shop.url+"/admin/api/2026-10/graphql.json",
			strings.NewReader(`{"query":"{ shop { myshopifyDomain } }"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Shopify-Access-Token", shop.token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out struct {
			Data struct {
				Shop struct{ MyshopifyDomain string }
			}
		}
		_ = json.NewDecoder(res.Body).Decode(&out)
		if res.StatusCode == http.StatusOK && out.Data.Shop.MyshopifyDomain != shop.name+".myshopify.com" {
			t.Fatalf("shop domain %q", out.Data.Shop.MyshopifyDomain)
		}
		return res.StatusCode
	}
	if got := gql(a); got != http.StatusOK {
		t.Fatalf("GraphQL with the printed token: %d", got)
	}
	if got := gql(printedShop{name: a.name, url: a.url, token: "shpat_wrong"}); got != http.StatusUnauthorized {
		t.Fatalf("GraphQL with a wrong token: %d, want 401", got)
	}

	// Control is on for loopback; revoking sends app/uninstalled to the
	// webhook URL (given without a path: /webhooks/shopify is added),
	// signed with the printed secret.
	res, err := http.Post(run.url+"/sandbox/shopify/demo-shop/revoke", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode/100 != 2 {
		t.Fatalf("revoke: %d", res.StatusCode)
	}
	select {
	case r := <-hooks:
		body := <-bodies
		if r.URL.Path != "/webhooks/shopify/app/uninstalled" {
			t.Fatalf("webhook path %q", r.URL.Path)
		}
		mac := hmac.New(sha256.New, []byte(b.secret))
		mac.Write(body)
		if got := r.Header.Get("X-Shopify-Hmac-Sha256"); got != base64.StdEncoding.EncodeToString(mac.Sum(nil)) {
			t.Fatalf("webhook signature %q does not verify with the printed secret", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no webhook within 10 s")
	}

	if err := run.stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}

	// A restart keeps the shops and prints no credentials again; a shop
	// new to the file is printed.
	cfg.shops = append(cfg.shops, "late")
	cfg.addr = strings.TrimPrefix(run.url, "http://") // the printed URLs stay valid
	run = startSandboxRun(t, cfg)
	late := parseShopLine(t, run.line())
	if late.name != "late" {
		t.Fatalf("after a restart printed %q, want only the new shop", late.name)
	}
	if got := gql(a); got != http.StatusOK {
		t.Fatalf("the first start's token after a restart: %d", got)
	}
	res, err = http.Get(run.url + "/sandbox/shopify/state")
	if err != nil {
		t.Fatal(err)
	}
	var states map[string]json.RawMessage
	_ = json.NewDecoder(res.Body).Decode(&states)
	res.Body.Close()
	if len(states) != 3 {
		t.Fatalf("state holds %d shops, want 3", len(states))
	}
	if err := run.stop(); err != nil {
		t.Fatal(err)
	}
	if l, ok := <-run.lines; ok {
		t.Fatalf("a credentials line %q after the shops were created", l)
	}
}

func TestSandboxCommandSecondProcessFailsFast(t *testing.T) {
	dir := t.TempDir()
	cfg := sandboxConfig{addr: "127.0.0.1:0", data: dir, shutdown: time.Second, logLevel: "error"}
	startSandboxRun(t, cfg)

	start := time.Now()
	err := runSandbox(context.Background(), cfg, io.Discard, io.Discard)
	if err == nil {
		t.Fatal("a second sandbox opened the same file")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the second sandbox took %v to fail", d)
	}
	if !strings.Contains(err.Error(), sandboxFile) {
		t.Fatalf("error %q does not name the file", err)
	}
}

func TestSandboxCommandControlIsOffByDefault(t *testing.T) {
	cfg := sandboxConfig{addr: "127.0.0.1:0", data: t.TempDir(), shops: shopNames{"x"}, shutdown: time.Second, logLevel: "error"}
	run := startSandboxRun(t, cfg)
	run.line()
	res, err := http.Post(run.url+"/sandbox/shopify/x/faults", "application/json",
		strings.NewReader(`{"rules":[{"operation":"*","fault":"http_500","times":1}]}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound && res.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("faults without --control: %d, want 404 or 405", res.StatusCode)
	}
}

func TestSandboxCommandFlagsAndEnvironment(t *testing.T) {
	// Bad values fail before anything is opened, from flags and from the
	// environment alike.
	code, _, errOut := runCLI(t, "", "sandbox", "--data", t.TempDir(), "--webhook-url", "ftp://example.com")
	if code != 1 || !strings.Contains(errOut, "--webhook-url") {
		t.Fatalf("bad --webhook-url: exit %d, %q", code, errOut)
	}
	t.Setenv("EVENTOPS_RESTORE_RATE", "-5")
	code, _, errOut = runCLI(t, "", "sandbox", "--data", t.TempDir())
	if code != 1 || !strings.Contains(errOut, "--restore-rate") {
		t.Fatalf("EVENTOPS_RESTORE_RATE=-5: exit %d, %q", code, errOut)
	}
	os.Unsetenv("EVENTOPS_RESTORE_RATE") // t.Setenv restores it
	code, _, errOut = runCLI(t, "", "sandbox", "--data", t.TempDir(), "--webhook-retry-scale", "-1")
	if code != 1 || !strings.Contains(errOut, "--webhook-retry-scale") {
		t.Fatalf("negative --webhook-retry-scale: exit %d, %q", code, errOut)
	}
	code, _, _ = runCLI(t, "", "sandbox", "--nope")
	if code != 2 {
		t.Fatalf("unknown flag: exit %d, want 2", code)
	}

	var s shopNames
	t.Setenv("EVENTOPS_SHOP", "one, two,,three")
	fs := newFlags("sandbox", "")
	fs.SetOutput(io.Discard)
	fs.Var(&s, "shop", "")
	if err := parseFlags(fs, nil); err != nil {
		t.Fatal(err)
	}
	if s.String() != "one,two,three" {
		t.Fatalf("EVENTOPS_SHOP gave %q", s.String())
	}
}

func TestWebhookBase(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                                       "",
		"http://127.0.0.1:8080":                  "http://127.0.0.1:8080/webhooks/shopify",
		"http://127.0.0.1:8080/":                 "http://127.0.0.1:8080/webhooks/shopify",
		"https://ops.example.com/hooks/":         "https://ops.example.com/hooks",
		"http://127.0.0.1:8080/webhooks/shopify": "http://127.0.0.1:8080/webhooks/shopify",
	} {
		got, err := webhookBase(in)
		if err != nil || got != want {
			t.Errorf("webhookBase(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"127.0.0.1:8080", "ftp://x/y", "http://"} {
		if _, err := webhookBase(bad); err == nil {
			t.Errorf("webhookBase(%q) accepted", bad)
		}
	}
}
