package sandbox_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"eventops/engine/shopify/sandbox"
)

// A host application mounts the sandbox under /sandbox/shopify/ in its own
// server, creates a shop, and hands the credentials to its client, which
// then calls the shop's Admin API endpoint.
func Example() {
	sb, err := sandbox.New(sandbox.Options{
		RestoreRate: sandbox.DefaultRestoreRate,
		WebhookURL:  "http://127.0.0.1:8080/webhooks/shopify",
	})
	if err != nil {
		panic(err)
	}
	defer sb.Close()

	mux := http.NewServeMux()
	mux.Handle(sandbox.Prefix, sb.Handler())
	srv := httptest.NewServer(mux)
	defer srv.Close()

	shop, err := sb.CreateShop("Demo")
	if err != nil {
		panic(err)
	}
	endpoint := srv.URL + sandbox.Prefix + shop.Name + "/admin/api/2026-10/graphql.json"
	req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(`{"query": "{ shop { name myshopifyDomain } }"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Shopify-Access-Token", shop.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Header.Get("X-Shopify-API-Version"))
	fmt.Println(strings.Split(string(body), `,"extensions"`)[0])
	// Output:
	// 2026-10
	// {"data":{"shop":{"name":"demo","myshopifyDomain":"demo.myshopify.com"}}
}
