package main

// Which Shopify sandbox a server (or a scripting command) uses.
//
// On bbolt, serve runs the built-in sandbox: its shops in DATA/sandbox.db,
// served on serve's own listener at /sandbox/shopify/. On PostgreSQL no node
// runs it (each node would hold shops of its own, so a company connected on
// one node would have its shop on that node only): the nodes share one
// `eventops sandbox` process, named by --sandbox-url (EVENTOPS_SANDBOX_URL).
// Through it every node provisions sandbox shops (POST
// /sandbox/shopify/shops, a control route of that process: it must run with
// --control, and answers loopback clients only), reaches them with the
// Shopify client, and shows their state on the dashboard's sandbox page.
// Without the flag, sandbox connections are refused with
// SHOPIFY_SANDBOX_MISSING (engine.NoSandbox) and everything else works.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"eventops/engine"
	"eventops/engine/shopify/sandbox"
	"eventops/web/dash"
)

// sandboxURLUsage is --sandbox-url's help, shared by serve and the
// commands that connect companies.
// (flag's help takes a back-quoted word as the value's name: `URL`.)
const sandboxURLUsage = "with --database-url: the base `URL` of the eventops sandbox --control process every node shares (its listening line, e.g. http://127.0.0.1:8081); sandbox shops are made and reached there. Without it, on PostgreSQL, connecting a company to the sandbox is refused"

// parseSandboxURL checks --sandbox-url: an absolute http(s) URL, returned
// without a trailing slash and without the sandbox's own path
// (/sandbox/shopify), which is added where needed.
func parseSandboxURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("must be the http(s) base URL of an `eventops sandbox` process, such as http://127.0.0.1:8081")
	}
	u.Path = strings.TrimSuffix(strings.TrimRight(u.Path, "/"), strings.TrimSuffix(sandbox.Prefix, "/"))
	u.RawPath = ""
	return strings.TrimRight(u.String(), "/"), nil
}

// serveSandbox is the sandbox a server uses.
type serveSandbox struct {
	// shops provisions sandbox shops for the engine (connections made
	// from the dashboard, the bootstrap's demo shop).
	shops engine.SandboxShops
	// url is where the Shopify client reaches sandbox shops ("": none).
	url string
	// handler is mounted at /sandbox/shopify/ (the built-in one only).
	handler http.Handler
	// state feeds the dashboard's sandbox page (nil: "no sandbox").
	state dash.SandboxState
	// builtin is the built-in sandbox (nil on PostgreSQL).
	builtin *sandbox.Sandbox
	// where names it in the log: "built-in", the remote URL, or "none".
	where string
}

// Close closes the built-in sandbox's file.
func (s *serveSandbox) Close() error {
	if s.builtin == nil {
		return nil
	}
	return s.builtin.Close()
}

// openServeSandbox opens the sandbox serve uses: self is serve's own base
// URL (where the built-in one is served), authorize accepts admin requests
// to the built-in one's control routes.
func openServeSandbox(cfg serveConfig, postgres bool, self string, log *slog.Logger, authorize func(*http.Request) bool) (*serveSandbox, error) {
	if postgres {
		if cfg.sandboxURL == "" {
			log.Warn(engine.NoSandboxMessage + ": connecting a company to the sandbox is refused (" + string(engine.CodeShopifySandboxMissing) + ")")
			return &serveSandbox{shops: engine.NoSandbox{}, where: "none"}, nil
		}
		r := newRemoteSandbox(cfg.sandboxURL)
		return &serveSandbox{shops: r, url: r.base, state: r, where: r.base}, nil
	}
	// The built-in sandbox keeps its shops in its own file, committed
	// before it answers, like a real shop that outlives a crash of ours.
	sb, err := sandbox.New(sandbox.Options{
		Path: filepath.Join(cfg.data, sandboxFile), RestoreRate: cfg.sbRestoreRate, Control: cfg.sbControl,
		WebhookURL: cfg.publicURL + "/webhooks/shopify", Logger: log, TokenTTL: cfg.sbTokenTTL,
		AuthorizeControl: authorize,
	})
	if err != nil {
		return nil, err
	}
	h := sb.Handler()
	return &serveSandbox{shops: sandboxShops{sb}, url: self, handler: h, builtin: sb, where: "built-in",
		state: dash.SandboxStateFromHandler(h, "/sandbox/shopify/state")}, nil
}

// remoteSandbox is an `eventops sandbox` process reached over HTTP: it
// provisions shops (engine.SandboxShops) and gives the shops' state
// (dash.SandboxState).
type remoteSandbox struct {
	base string // without /sandbox/shopify
	http *http.Client
	// tries bounds the attempts of one provisioning, wait the pause
	// between them (a sandbox starting beside the nodes), within (about)
	// its whole time: no attempt starts after it.
	tries  int
	wait   time.Duration
	within time.Duration
}

func newRemoteSandbox(base string) *remoteSandbox {
	return &remoteSandbox{base: base, http: &http.Client{Timeout: 10 * time.Second},
		tries: 5, wait: 500 * time.Millisecond, within: 10 * time.Second}
}

// maxStateBody bounds the state read for the dashboard.
const maxStateBody = 64 << 20

// ProvisionShop creates the shop in the sandbox process, or reinstalls the
// app on it (a new token) when it exists. A sandbox that cannot be reached
// or answers 5xx is tried again a few times (for about 10 s at most), then
// refused as unavailable (503: nothing was stored); a sandbox that refuses (no --control, not a
// loopback client, a bad name) is a validation error saying so. Sending it
// again is safe: the shop is then reinstalled, and the last credentials
// answered are the ones that work.
func (r *remoteSandbox) ProvisionShop(name, currency string) (*engine.ShopInput, error) {
	body, _ := json.Marshal(map[string]string{"name": name, "currency": currency})
	endpoint := r.base + sandbox.Prefix + "shops"
	var last error
	start := time.Now()
	for try := range r.tries {
		if try > 0 {
			if time.Since(start)+r.wait > r.within {
				break
			}
			time.Sleep(r.wait)
		}
		res, err := r.http.Post(endpoint, "application/json", bytes.NewReader(body))
		if err != nil {
			last = err
			continue
		}
		raw, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		res.Body.Close()
		if err != nil {
			last = err
			continue
		}
		switch {
		case res.StatusCode >= 500:
			last = fmt.Errorf("it answered %d", res.StatusCode)
			continue
		case res.StatusCode == http.StatusNotFound:
			return nil, fmt.Errorf("the sandbox at %s does not provision shops: start it with --control", r.base)
		case res.StatusCode == http.StatusForbidden:
			return nil, fmt.Errorf("the sandbox at %s refused: its control routes answer loopback clients only, so run it on this node's machine", r.base)
		case res.StatusCode != http.StatusOK && res.StatusCode != http.StatusCreated:
			var e struct{ Error string }
			_ = json.Unmarshal(raw, &e)
			return nil, fmt.Errorf("the sandbox at %s answered %d: %s", r.base, res.StatusCode, e.Error)
		}
		var out struct{ Shop sandbox.ProvisionedShop }
		if err := json.Unmarshal(raw, &out); err != nil || out.Shop.Name == "" || out.Shop.AccessToken == "" {
			return nil, fmt.Errorf("the sandbox at %s answered no shop", r.base)
		}
		p := out.Shop
		return &engine.ShopInput{Sandbox: true, Domain: p.Name, Currency: p.Currency,
			AccessToken: engine.Secret(p.AccessToken), WebhookSecret: engine.Secret(p.WebhookSecret)}, nil
	}
	return nil, &engine.Error{Kind: engine.KindUnavailable,
		Message: fmt.Sprintf("the sandbox at %s did not answer (%v): is `eventops sandbox --control` running there? Nothing was stored; try again", r.base, last)}
}

// SandboxState reads every shop's state from the sandbox process, for the
// dashboard's sandbox page.
func (r *remoteSandbox) SandboxState(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.base+sandbox.Prefix+"state", nil)
	if err != nil {
		return nil, err
	}
	res, err := r.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("the sandbox at %s did not answer: %w", r.base, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the sandbox at %s answered %d", r.base, res.StatusCode)
	}
	raw, err := io.ReadAll(io.LimitReader(res.Body, maxStateBody+1))
	if err != nil {
		return nil, err
	}
	if len(raw) > maxStateBody {
		return nil, errors.New("the sandbox's state is over 64 MiB: read it at " + r.base + sandbox.Prefix + "state")
	}
	return raw, nil
}

// sandboxShop creates a shop in the built-in sandbox, in currency ("":
// USD), or rotates the token of an existing one (which keeps its
// currency), and returns the connection for a company, with the shop's
// currency: the sandbox is in this process, so it is known without a
// call (which, during start-up, no server would answer yet).
func sandboxShop(sb *sandbox.Sandbox, name, currency string) (*engine.ShopInput, error) {
	p, err := sb.ProvisionShop(name, sandbox.ShopOptions{Currency: currency})
	if err != nil {
		return nil, err
	}
	return &engine.ShopInput{Sandbox: true, Domain: p.Name, Currency: p.Currency,
		AccessToken: engine.Secret(p.AccessToken), WebhookSecret: engine.Secret(p.WebhookSecret)}, nil
}

// sandboxShops provisions built-in sandbox shops for the engine (a company
// connected or reconnected to the sandbox from the dashboard or the API).
type sandboxShops struct{ sb *sandbox.Sandbox }

func (p sandboxShops) ProvisionShop(name, currency string) (*engine.ShopInput, error) {
	return sandboxShop(p.sb, name, currency)
}
