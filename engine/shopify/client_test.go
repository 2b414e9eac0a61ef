package shopify_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"eventops/engine"
	"eventops/engine/shopify"
)

// fakeShop answers the GraphQL endpoint from a script, one answer per call.
type fakeShop struct {
	calls  atomic.Int32
	script []func(w http.ResponseWriter)
	token  atomic.Value
}

func (f *fakeShop) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.token.Store(r.Header.Get("X-Shopify-Access-Token"))
	n := int(f.calls.Add(1)) - 1
	if !strings.HasSuffix(r.URL.Path, "/admin/api/2026-10/graphql.json") || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("X-Request-Id", "req-1")
	w.Header().Set("X-Shopify-API-Version", "2026-10")
	if n >= len(f.script) {
		n = len(f.script) - 1
	}
	f.script[n](w)
}

func answer(status int, body string, headers ...string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write([]byte(body))
	}
}

const okAnswer = `{"data":{"shop":{"name":"x"}},"extensions":{"cost":{"requestedQueryCost":2,"actualQueryCost":2,"throttleStatus":{"maximumAvailable":2000,"currentlyAvailable":1998,"restoreRate":1000}}}}`

const throttledAnswer = `{"errors":[{"message":"Throttled","extensions":{"code":"THROTTLED","documentation":"https://shopify.dev/api/usage/limits"}}],"extensions":{"cost":{"requestedQueryCost":10,"actualQueryCost":null,"throttleStatus":{"maximumAvailable":2000,"currentlyAvailable":5,"restoreRate":1000}}}}`

func fakeClient(t *testing.T, f *fakeShop, policy shopify.ClientPolicy) *shopify.Client {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	if policy.Attempts == 0 {
		policy = shopify.ClientPolicy{Attempts: 3, Base: time.Millisecond, Max: 5 * time.Millisecond, Deadline: 5 * time.Second, Timeout: 2 * time.Second}
	}
	c, err := shopify.NewClient(shopify.Config{Client: policy, Logger: quietLogger()},
		&engine.Shop{Domain: srv.URL}, engine.Secret("shpat_secret"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func code(err error) (engine.Code, bool) {
	var ee *engine.Error
	if errors.As(err, &ee) {
		return ee.Code, ee.Transient
	}
	return "", false
}

// What the client retries by itself, what it hands to the engine, and how.
func TestClientRetries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		script     []func(http.ResponseWriter)
		resendable bool
		wantCalls  int32
		wantCode   engine.Code // "" for success
		transient  bool
	}{
		{"throttled at HTTP 200, then served", []func(http.ResponseWriter){answer(200, throttledAnswer), answer(200, okAnswer)}, false, 2, "", false},
		{"429 with Retry-After, then served", []func(http.ResponseWriter){answer(429, `{"errors":"Too many"}`, "Retry-After", "0"), answer(200, okAnswer)}, false, 2, "", false},
		{"throttled past the attempts", []func(http.ResponseWriter){answer(200, throttledAnswer)}, true, 3, engine.CodeShopifyThrottledExhausted, true},
		{"503 on a resendable call is re-sent", []func(http.ResponseWriter){answer(503, ``), answer(200, okAnswer)}, true, 2, "", false},
		{"503 past the attempts", []func(http.ResponseWriter){answer(503, ``)}, true, 3, engine.CodeShopifyUnavailable, true},
		{"a lost mutation answer is not re-sent", []func(http.ResponseWriter){answer(502, ``), answer(200, okAnswer)}, false, 1, engine.CodeShopifyUnavailable, true},
		{"401 is permanent", []func(http.ResponseWriter){answer(401, `{"errors":"[API] Invalid API key or access token"}`)}, true, 1, engine.CodeShopifyAuthRejected, false},
		{"403 is permanent", []func(http.ResponseWriter){answer(403, ``)}, true, 1, engine.CodeShopifyAuthRejected, false},
		{"402 frozen shop is permanent", []func(http.ResponseWriter){answer(402, ``)}, true, 1, engine.CodeShopifyUnavailable, false},
		{"423 locked shop is permanent", []func(http.ResponseWriter){answer(423, ``)}, true, 1, engine.CodeShopifyUnavailable, false},
		{"ACCESS_DENIED is permanent", []func(http.ResponseWriter){answer(200, `{"errors":[{"message":"Access denied","extensions":{"code":"ACCESS_DENIED"}}]}`)}, true, 1, engine.CodeShopifyAuthRejected, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeShop{script: tc.script}
			c := fakeClient(t, f, shopify.ClientPolicy{})
			var out struct {
				Shop struct {
					Name string `json:"name"`
				} `json:"shop"`
			}
			err := c.Do(context.Background(), shopify.Call{Name: "Shop", Query: `{ shop { name } }`, Resendable: tc.resendable}, &out)
			if got := f.calls.Load(); got != tc.wantCalls {
				t.Errorf("calls = %d, want %d", got, tc.wantCalls)
			}
			if tc.wantCode == "" {
				if err != nil || out.Shop.Name != "x" {
					t.Fatalf("Do = %v, %+v", err, out)
				}
				return
			}
			got, transient := code(err)
			if got != tc.wantCode || transient != tc.transient {
				t.Fatalf("Do = %v, want %s (transient %v)", err, tc.wantCode, tc.transient)
			}
			if strings.Contains(err.Error(), "shpat_secret") {
				t.Errorf("the error shows the token: %v", err)
			}
		})
	}
}

// The token travels in X-Shopify-Access-Token; top-level errors beside no
// data come back typed.
func TestClientSendsTokenAndTypesErrors(t *testing.T) {
	t.Parallel()
	f := &fakeShop{script: []func(http.ResponseWriter){answer(200, `{"errors":[{"message":"Field 'nope' doesn't exist on type 'Shop'","extensions":{"code":"undefinedField"}}]}`)}}
	c := fakeClient(t, f, shopify.ClientPolicy{})
	err := c.Do(context.Background(), shopify.Call{Name: "Bad", Query: `{ shop { nope } }`, Resendable: true}, nil)
	var ge shopify.GraphQLErrors
	if !errors.As(err, &ge) || ge[0].Code() != "undefinedField" {
		t.Fatalf("Do = %v, want GraphQLErrors", err)
	}
	if got, _ := f.token.Load().(string); got != "shpat_secret" {
		t.Errorf("token sent = %q", got)
	}
}

func TestBaseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		shop    engine.Shop
		sandbox string
		want    string
	}{
		{engine.Shop{Domain: "acme.myshopify.com"}, "", "https://acme.myshopify.com"},
		{engine.Shop{Domain: "http://127.0.0.1:9000/"}, "", "http://127.0.0.1:9000"},
		{engine.Shop{Domain: "https://proxy.example/shops/acme"}, "", "https://proxy.example/shops/acme"},
		{engine.Shop{Sandbox: true, Domain: "demo"}, "http://127.0.0.1:8080/", "http://127.0.0.1:8080/sandbox/shopify/demo"},
	}
	for _, tc := range tests {
		got, err := shopify.BaseURL(&tc.shop, tc.sandbox)
		if err != nil || got != tc.want {
			t.Errorf("BaseURL(%+v) = %q, %v; want %q", tc.shop, got, err, tc.want)
		}
	}
	for _, bad := range []engine.Shop{{Domain: ""}, {Domain: "a b"}, {Sandbox: true, Domain: "demo"}} {
		if got, err := shopify.BaseURL(&bad, ""); err == nil {
			t.Errorf("BaseURL(%+v) = %q, want an error", bad, got)
		}
	}
	if got := shopify.Endpoint("https://acme.myshopify.com"); got != "https://acme.myshopify.com/admin/api/2026-10/graphql.json" {
		t.Errorf("Endpoint = %q", got)
	}
}
