package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"eventops/engine"
	"eventops/engine/shopify"
	"eventops/engine/shopify/sandbox"
	"eventops/web/client"
)

// standaloneSandbox runs `eventops sandbox` with control routes and one
// shop, and returns its URL; it is killed when the test ends.
func standaloneSandbox(t *testing.T, bin, shop string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"sandbox", "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--control",
		"--webhook-url", "http://127.0.0.1:1/webhooks/shopify", "--shop", shop}, args...)...)
	cmd.Env = cleanEnv()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(out)
	base := ""
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "listening":
			base = f[1]
		case len(f) > 2 && f[0] == "shop" && base != "": // the shop exists
			go func() { _, _ = io.Copy(io.Discard, out) }()
			return base
		}
	}
	t.Fatal("eventops sandbox printed no listening line")
	return ""
}

// installOAuth installs the sandbox's app on shop through OAuth over HTTP
// (authorize, then the code exchanged for expiring offline tokens).
func installOAuth(t *testing.T, sandboxURL, shop string) engine.ShopInput {
	t.Helper()
	resp, err := http.Get(sandboxURL + sandbox.Prefix + shop + "/credentials")
	if err != nil {
		t.Fatal(err)
	}
	var c sandbox.AppCredentials
	err = json.NewDecoder(resp.Body).Decode(&c)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	q := url.Values{"client_id": {c.ClientID}, "scope": {strings.Join(shopify.Scopes, ",")},
		"redirect_uri": {"http://127.0.0.1:1/shopify/callback"}, "state": {"x"}}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noFollow.Get(c.AdminURL + "/admin/oauth/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("authorize: HTTP %d, %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, err = http.PostForm(shopify.TokenURL(c.AdminURL), url.Values{"client_id": {c.ClientID},
		"client_secret": {c.ClientSecret}, "code": {loc.Query().Get("code")}, "expiring": {"1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var g struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		ExpiresIn    int64  `json:"expires_in"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&g); err != nil || g.RefreshToken == "" {
		t.Fatalf("code exchange: HTTP %d: %v", resp.StatusCode, err)
	}
	return engine.ShopInput{Domain: c.AdminURL, Auth: engine.ShopAuthOAuth, ClientID: c.ClientID,
		ClientSecret: engine.Secret(c.ClientSecret), AccessToken: engine.Secret(g.AccessToken),
		RefreshToken: engine.Secret(g.RefreshToken), TokenExpiresAt: time.Now().Add(time.Duration(g.ExpiresIn) * time.Second)}
}

func sandboxGrants(t *testing.T, sandboxURL, shop string) map[string]int {
	t.Helper()
	resp, err := http.Get(sandboxURL + sandbox.Prefix + shop + "/state")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st sandbox.ShopState
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st.TokenGrants
}

// SIGKILL between Shopify's answer to a refresh and its commit: the
// rotated pair is lost with the process, the old refresh token is still
// the stored one, and the next start refreshes with it successfully (the
// sandbox, like Shopify, keeps it valid until its replacement is first
// used); the save then completes.
func TestRefreshSurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	bin := buildEventops(t)
	sbURL := standaloneSandbox(t, bin, "acme")
	data := t.TempDir()
	in := installOAuth(t, sbURL, "acme")
	db, eng, err := openData(&storeFlags{data: data}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	co, err := eng.CreateCompany(context.Background(), "Acme", &in)
	if err != nil {
		t.Fatal(err)
	}
	_, key, err := eng.CreateAPIKey(context.Background(), co.ID, "k", []engine.Scope{engine.ScopeRead, engine.ScopeWrite})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	held := filepath.Join(t.TempDir(), "granted")
	p := startServeEnv(t, bin, data, []string{"EVENTOPS_TEST_HOLD_AFTER_GRANT=" + held})
	api := p.client(key.Reveal())
	v, tt := api.venueAndTicketType()
	resp, err := http.Post(sbURL+sandbox.Prefix+"acme/expire_tokens", "application/json", nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("expire_tokens: %v", err)
	}
	resp.Body.Close()
	ev, op := api.createEvent(dateEvent(v, tt))
	if !pollUntil(30*time.Second, 10*time.Millisecond, func() bool { _, err := os.Stat(held); return err == nil }) {
		t.Fatalf("no refresh was granted:\n%s", p.stderr.String())
	}
	if err := p.cmd.Process.Kill(); err != nil { // SIGKILL: the grant is not committed
		t.Fatal(err)
	}
	p.wait(10 * time.Second)
	if g := sandboxGrants(t, sbURL, "acme"); g["refresh_token"] != 1 {
		t.Fatalf("refresh grants before the restart: %v", g)
	}

	p = startServe(t, bin, data)
	api = p.client(key.Reveal())
	got := getJSON[client.Operation](api, fmt.Sprintf("/api/v2/events/%d/operations/%d?wait=30", ev, op), 200)
	if !pollUntil(60*time.Second, 20*time.Millisecond, func() bool {
		got = getJSON[client.Operation](api, fmt.Sprintf("/api/v2/events/%d/operations/%d?wait=5", ev, op), 200)
		return got.Terminal()
	}) || got.Status != client.StatusCompleted {
		t.Fatalf("the save after the restart: %+v\n%s", got, p.stderr.String())
	}
	if g := sandboxGrants(t, sbURL, "acme"); g["refresh_token"] != 2 {
		t.Errorf("refresh grants after the restart: %v, want 2 (the lost one, and one with the old refresh token)", g)
	}
	if strings.Contains(p.stderr.String(), in.RefreshToken.Reveal()) || strings.Contains(p.stderr.String(), in.ClientSecret.Reveal()) {
		t.Error("a secret reached the log")
	}
}
