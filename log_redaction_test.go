package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"eventops/engine/shopify"
	"eventops/web/client"
)

// TestLogsCarryNoSecrets runs the real binary at debug level, plants every
// kind of secret (API keys, a wrong key that looks real, staff passwords,
// a session cookie, a Shopify access token and webhook secret), drives
// requests that succeed and requests that fail with them, and greps every
// line eventops logged, the CLI's included, for each secret.
func TestLogsCarryNoSecrets(t *testing.T) {
	t.Parallel()
	bin := buildEventops(t)
	data := t.TempDir()
	random := func(prefix string) string { return prefix + rand.Text() + rand.Text() }

	secrets := map[string]string{
		"shopify access token":   random("shpat_"),
		"shopify webhook secret": random("whsec_"),
		"staff password":         random("correct horse "),
		"wrong staff password":   random("wrong horse "),
		"unknown API key":        random("eo_"),
	}
	// The shop the company is connected to: it refuses every call, so that
	// the Shopify phases (once wired into serve) fail with the token sent.
	var tokenSent atomic.Bool
	shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if bytes.Contains(body, []byte("accessScopes")) {
			// The connect check of `company create` (scopes): granted,
			// so that the company is connected.
			scopes := make([]string, len(shopify.Scopes))
			for i, s := range shopify.Scopes {
				scopes[i] = `{"handle":"` + s + `"}`
			}
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"data":{"currentAppInstallation":{"accessScopes":[%s]}}}`, strings.Join(scopes, ","))
			return
		}
		if r.Header.Get("X-Shopify-Access-Token") == secrets["shopify access token"] {
			tokenSent.Store(true)
		}
		http.Error(w, `{"errors":"[API] Invalid API key or access token"}`, http.StatusUnauthorized)
	}))
	defer shop.Close()

	// The CLI plants the shop credentials (engine.CreateCompany with a
	// ShopInput), the keys and the staff user; its stderr is checked too.
	var cliLogs strings.Builder
	cli := func(stdin string, args ...string) string {
		t.Helper()
		code, out, errOut := runCLI(t, stdin, append(args, "--data", data)...)
		cliLogs.WriteString(errOut)
		if code != 0 {
			t.Fatalf("eventops %s: exit %d: %s", strings.Join(args, " "), code, errOut)
		}
		return strings.TrimSpace(out)
	}
	shopCo := cli(secrets["shopify access token"]+"\n"+secrets["shopify webhook secret"]+"\n",
		"company", "create", "--name", "Shop Co", "--shopify-shop", shop.URL)
	localCo := cli("", "company", "create", "--name", "Local Co")
	secrets["API key"] = cli("", "apikey", "create", "--company", shopCo, "--scopes", "read,write")
	secrets["second API key"] = cli("", "apikey", "create", "--company", localCo, "--scopes", "read")
	cli(secrets["staff password"]+"\n", "user", "create", "--email", "ops@example.com", "--role", "admin")

	p := startServe(t, bin, data, "--log-level", "debug")
	api := p.client(secrets["API key"])
	key := secrets["API key"]

	// Requests that succeed, with the key in each accepted form.
	getJSON[client.Company](api, "/api/v2", 200)
	api.do("GET", "/api/v2", "", 200, "Authorization", "Bearer "+key)
	api.do("GET", "/api/v2", "", 200, "Authorization", "token "+key)
	getJSON[client.Page[client.Venue]](p.client(secrets["second API key"]), "/api/v2/venues", 200) // read only
	v, tt := api.venueAndTicketType()
	ev, op := api.createEvent(dateEvent(v, tt)) // a Shopify save: its Shopify phases call the shop
	api.do("PATCH", fmt.Sprintf("/api/v2/events/%d", ev), `{"event": {"name": "Late Jazz"}}`, 200)
	getJSON[client.Operation](api, fmt.Sprintf("/api/v2/events/%d/operations/%d?wait=5", ev, op), 200)
	getJSON[json.RawMessage](api, "/readyz", 200)
	// The shop's refusals are counted (the first call of a save is the
	// read of the shop's currency, which a shop refusing every call never
	// let eventops learn, made before the save fails).
	pollUntil(10*time.Second, 20*time.Millisecond, func() bool {
		o := getJSON[client.Operation](api, fmt.Sprintf("/api/v2/events/%d/operations/%d", ev, op), 200)
		return o.Terminal()
	})
	if _, m := api.do("GET", "/metrics", "", 200); !strings.Contains(string(m), `eventops_shopify_calls_total{operation="ShopCurrency",status="auth"}`) {
		t.Errorf("/metrics does not count the shop's refusals:\n%s", m)
	}

	// Requests that fail, carrying secrets where they do not belong.
	wrong, second := p.client(secrets["unknown API key"]), p.client(secrets["second API key"])
	venue := `{"venue": {"name": "X", "time_zone": "UTC"}}`
	for _, r := range []struct {
		c                  *apiClient
		method, path, body string
		status             int
		headers            []string
	}{
		{wrong, "GET", "/api/v2", "", 401, nil},
		{wrong, "POST", "/api/v2/venues", venue, 401, nil},
		{api, "GET", "/api/v2", "", 401, []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("u:"+key))}},
		{second, "POST", "/api/v2/venues", venue, 403, nil}, // read only
		{api, "POST", "/api/v2/venues", `{"venue": {"name": "` + key + `"`, 400, nil},
		{api, "POST", "/api/v2/venues", `{"venue": {"name": "` + key + `", "time_zone": "` + secrets["shopify access token"] + `"}}`, 422, nil},
		{api, "POST", "/api/v2/venues", `{"venue": {"password": "` + secrets["staff password"] + `"}}`, 400, nil},
	} {
		r.c.do(r.method, r.path, r.body, r.status, r.headers...)
	}
	res, _ := api.do("GET", "/api/v2", "", 200, "X-Request-ID", key) // a key in the wrong header
	if res.Header.Get("X-Request-ID") == key {
		t.Fatal("an API key was taken as the request id")
	}

	// Staff sign-in, right and wrong, when the dashboard is mounted.
	signIn(t, p, "ops@example.com", secrets["wrong staff password"])
	if sess := signIn(t, p, "ops@example.com", secrets["staff password"]); sess != "" {
		secrets["session cookie"] = sess
	}

	// Webhooks from the shop, signed wrongly and rightly, when mounted.
	body := `{"id": 1, "line_items": []}`
	mac := hmac.New(sha256.New, []byte(secrets["shopify webhook secret"]))
	mac.Write([]byte(body))
	for _, sig := range []string{base64.StdEncoding.EncodeToString(mac.Sum(nil)), "bm90IHRoZSBzaWduYXR1cmU="} {
		_, _, err := api.request("POST", "/webhooks/shopify/orders/create", body,
			"Authorization", "", "X-Shopify-Hmac-Sha256", sig, "X-Shopify-Webhook-Id", rand.Text(),
			"X-Shopify-Shop-Domain", strings.TrimPrefix(shop.URL, "http://"), "X-Shopify-Topic", "orders/create")
		if err != nil {
			t.Fatal(err)
		}
	}

	p.signal(syscall.SIGTERM)
	if code := p.wait(30 * time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}

	logs := p.stderr.String() + cliLogs.String()
	// The capture is real: requests were logged, at debug level too.
	if len(p.lines("request")) < 15 || !strings.Contains(logs, `"level":"DEBUG"`) {
		t.Fatalf("the logs were not captured at debug level:\n%s", logs)
	}
	for what, secret := range secrets {
		if strings.Contains(logs, secret) {
			i := strings.Index(logs, secret)
			lo, hi := strings.LastIndexByte(logs[:i], '\n')+1, strings.IndexByte(logs[i:], '\n')
			if hi < 0 {
				hi = len(logs) - i
			}
			t.Errorf("the %s is in the log: %s", what, logs[lo:i+hi])
		}
	}
	if out := p.stdout.String(); out != "" {
		t.Errorf("serve printed to stdout without a first start: %q", out)
	}
	// Nor is anything stored in clear (the keys and passwords as hashes,
	// the shop credentials sealed).
	raw, err := os.ReadFile(filepath.Join(data, dbFile))
	if err != nil {
		t.Fatal(err)
	}
	for what, secret := range secrets {
		if strings.Contains(string(raw), secret) {
			t.Errorf("the %s is stored in clear in the data file", what)
		}
	}
	t.Logf("shop contacted with the token: %v", tokenSent.Load())
}

var csrfInput = regexp.MustCompile(`name="_csrf"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="_csrf"`)

// signIn posts the dashboard's sign-in form and returns the session
// cookie it set ("" when refused, or when the dashboard is not mounted).
func signIn(t *testing.T, p *process, email, password string) string {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	base := "http://" + p.addr
	res, err := c.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode == http.StatusNotFound {
		return ""
	}
	form := url.Values{"email": {email}, "password": {password}}
	if m := csrfInput.FindStringSubmatch(string(page)); m != nil {
		form.Set("_csrf", m[1]+m[2])
	}
	res, err = c.PostForm(base+"/login", form)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	for _, ck := range res.Cookies() {
		if ck.Value != "" && ck.MaxAge >= 0 && strings.Contains(strings.ToLower(ck.Name), "session") {
			return ck.Value
		}
	}
	return ""
}
