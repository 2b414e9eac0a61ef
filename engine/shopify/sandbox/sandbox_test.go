package sandbox

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The tests speak plain HTTP and JSON to the sandbox, as a client written
// from Shopify's documentation would.

const testVersion = "2026-10"

type bundle struct {
	t     *testing.T
	sb    *Sandbox
	srv   *httptest.Server
	shop  ShopCredentials
	hooks *hookReceiver
}

// setup builds a sandbox with control routes, a webhook receiver as its
// default webhook target, an HTTP server and one shop named "test".
func setup(t *testing.T, opts Options) *bundle {
	t.Helper()
	hooks := newHookReceiver(t)
	if opts.WebhookURL == "" {
		opts.WebhookURL = hooks.srv.URL + "/webhooks/shopify"
	}
	opts.Control = true
	if opts.WebhookBackoff == 0 {
		opts.WebhookBackoff = 10 * time.Millisecond
	}
	sb, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	srv := httptest.NewServer(sb.Handler())
	t.Cleanup(srv.Close)
	creds, err := sb.CreateShop("test")
	if err != nil {
		t.Fatal(err)
	}
	return &bundle{t: t, sb: sb, srv: srv, shop: creds, hooks: hooks}
}

func (b *bundle) endpoint() string {
	return b.srv.URL + "/sandbox/shopify/" + b.shop.Name + "/admin/api/" + testVersion + "/graphql.json"
}

// answer is a decoded GraphQL answer.
type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

// get digs into the answer: "data.productSet.product.id", with numeric
// segments indexing lists.
func (a answer) get(path string) any {
	return dig(a.body, path)
}

func (a answer) str(path string) string {
	s, _ := a.get(path).(string)
	return s
}

func (a answer) num(path string) float64 {
	n, _ := a.get(path).(float64)
	return n
}

func (a answer) list(path string) []any {
	l, _ := a.get(path).([]any)
	return l
}

func dig(v any, path string) any {
	for _, seg := range strings.Split(path, ".") {
		switch t := v.(type) {
		case map[string]any:
			v = t[seg]
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(t) {
				return nil
			}
			v = t[i]
		default:
			return nil
		}
	}
	return v
}

// gql posts a GraphQL request with the shop's token.
func (b *bundle) gql(query string, vars map[string]any) answer {
	b.t.Helper()
	return b.gqlAs(b.shop.AccessToken, query, vars)
}

func (b *bundle) gqlAs(token, query string, vars map[string]any) answer {
	b.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, b.endpoint(), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Shopify-Access-Token", token)
	resp, err := b.srv.Client().Do(req)
	if err != nil {
		b.t.Fatalf("POST graphql: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: raw}
	_ = json.Unmarshal(raw, &a.body)
	return a
}

// mustData posts and fails the test on an HTTP error or top-level errors.
func (b *bundle) mustData(query string, vars map[string]any) answer {
	b.t.Helper()
	a := b.gql(query, vars)
	if a.status != http.StatusOK || a.get("errors") != nil {
		b.t.Fatalf("graphql answered %d: %s", a.status, a.raw)
	}
	return a
}

// control calls a control route and decodes its JSON answer.
func (b *bundle) control(method, path string, body any) (int, map[string]any) {
	b.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, b.srv.URL+"/sandbox/shopify/"+b.shop.Name+path, rd)
	resp, err := b.srv.Client().Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

func (b *bundle) faults(rules ...FaultRule) {
	b.t.Helper()
	if status, out := b.control(http.MethodPost, "/faults", map[string]any{"rules": rules}); status != http.StatusOK {
		b.t.Fatalf("POST faults: %d %v", status, out)
	}
}

func (b *bundle) state() ShopState {
	b.t.Helper()
	resp, err := b.srv.Client().Get(b.srv.URL + "/sandbox/shopify/" + b.shop.Name + "/state")
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	var st ShopState
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		b.t.Fatal(err)
	}
	return st
}

// --- fixtures -------------------------------------------------------------------------

const mProductSet = `mutation ProductSet($input: ProductSetInput!, $identifier: ProductSetIdentifiers) {
  productSet(input: $input, identifier: $identifier, synchronous: true) {
    product {
      id handle title status
      variants(first: 250) { nodes { id sku price title inventoryItem { id tracked requiresShipping } } }
    }
    userErrors { field message code }
  }
}`

const mFulfillmentServiceCreate = `mutation($name: String!) {
  fulfillmentServiceCreate(name: $name, inventoryManagement: true, trackingSupport: false) {
    fulfillmentService { id serviceName location { id } }
    userErrors { field message }
  }
}`

// tiers is a variants input: one variant per (name, price, quantity).
func tiers(location string, t ...any) []any {
	var out []any
	for i := 0; i+2 < len(t); i += 3 {
		name, price, qty := t[i].(string), t[i+1].(string), t[i+2].(int)
		v := map[string]any{
			"optionValues":    []any{map[string]any{"optionName": "Ticket", "name": name}},
			"price":           price,
			"sku":             "sku-" + strings.ToLower(strings.ReplaceAll(name, " ", "-")),
			"inventoryPolicy": "DENY",
			"inventoryItem":   map[string]any{"tracked": true, "requiresShipping": false},
		}
		if location != "" {
			v["inventoryQuantities"] = []any{map[string]any{"locationId": location, "name": "available", "quantity": qty}}
		}
		out = append(out, v)
	}
	return out
}

func productInput(title string, names []string, variants []any) map[string]any {
	vals := make([]any, len(names))
	for i, n := range names {
		vals[i] = map[string]any{"name": n}
	}
	return map[string]any{
		"title":          title,
		"status":         "ACTIVE",
		"productOptions": []any{map[string]any{"name": "Ticket", "values": vals}},
		"variants":       variants,
	}
}

// catalog creates a fulfillment service and one product with two tracked
// variants stocked there (GA: 10 at 25.00, VIP: 5 at 90.00).
type catalogIDs struct {
	location, product string
	variants, items   []string
}

func (b *bundle) catalog() catalogIDs {
	b.t.Helper()
	fs := b.mustData(mFulfillmentServiceCreate, map[string]any{"name": "eventops"})
	loc := fs.str("data.fulfillmentServiceCreate.fulfillmentService.location.id")
	a := b.mustData(mProductSet, map[string]any{
		"identifier": map[string]any{"handle": "jazz-night"},
		"input":      productInput("Jazz Night", []string{"GA", "VIP"}, tiers(loc, "GA", "25.00", 10, "VIP", "90.00", 5)),
	})
	if errs := a.list("data.productSet.userErrors"); len(errs) > 0 {
		b.t.Fatalf("productSet userErrors: %v", errs)
	}
	ids := catalogIDs{location: loc, product: a.str("data.productSet.product.id")}
	for _, n := range a.list("data.productSet.product.variants.nodes") {
		ids.variants = append(ids.variants, dig(n, "id").(string))
		ids.items = append(ids.items, dig(n, "inventoryItem.id").(string))
	}
	return ids
}

// --- webhooks ----------------------------------------------------------------------------

type hook struct {
	path   string
	header http.Header
	body   []byte
}

func (h hook) json() map[string]any {
	var m map[string]any
	_ = json.Unmarshal(h.body, &m)
	return m
}

// hookReceiver records the webhooks it gets; it can be told to fail the
// next deliveries.
type hookReceiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	got  []hook
	fail int
	note chan struct{}
}

func newHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{note: make(chan struct{}, 100)}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		failing := h.fail > 0
		if failing {
			h.fail--
		}
		h.got = append(h.got, hook{path: r.URL.Path, header: r.Header.Clone(), body: body})
		h.mu.Unlock()
		select {
		case h.note <- struct{}{}:
		default:
		}
		if failing {
			http.Error(w, "not now", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookReceiver) failNext(n int) {
	h.mu.Lock()
	h.fail = n
	h.mu.Unlock()
}

func (h *hookReceiver) all() []hook {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hook{}, h.got...)
}

// wait waits for at least n deliveries of topic.
func (h *hookReceiver) wait(t *testing.T, topic string, n int) []hook {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		var out []hook
		for _, x := range h.all() {
			if x.header.Get("X-Shopify-Topic") == topic {
				out = append(out, x)
			}
		}
		if len(out) >= n {
			return out
		}
		select {
		case <-h.note:
		case <-deadline:
			t.Fatalf("waited for %d %s webhooks, got %d", n, topic, len(out))
		}
	}
}

func validHMAC(secret string, h hook) bool {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(h.body)
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	return hmac.Equal([]byte(want), []byte(h.header.Get("X-Shopify-Hmac-Sha256")))
}

func numericID(gid string) string {
	return gid[strings.LastIndex(gid, "/")+1:]
}

func mustEqual[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

func codes(errs []any) string {
	var out []string
	for _, e := range errs {
		out = append(out, fmt.Sprint(dig(e, "code")))
	}
	return strings.Join(out, ",")
}

// eventually waits until cond holds, for up to 5 s, checking it every few
// milliseconds.
func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			if !cond() {
				t.Fatal("condition not met in time")
			}
			return
		case <-tick.C:
		}
	}
}

// checkFile runs bbolt's consistency check on a closed sandbox file.
func checkFile(t *testing.T, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
	if err != nil {
		t.Fatalf("bbolt check: %v", err)
	}
}
