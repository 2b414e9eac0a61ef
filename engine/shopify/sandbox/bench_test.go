package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// BenchmarkProductSetOverHTTP measures a productSet upsert of a two-variant
// product followed by a compare-and-set of its inventory, over HTTP,
// against an in-memory sandbox with an unlimited bucket.
func BenchmarkProductSetOverHTTP(b *testing.B) {
	sb, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer sb.Close()
	srv := httptest.NewServer(sb.Handler())
	defer srv.Close()
	creds, _ := sb.CreateShop("bench")
	endpoint := srv.URL + "/sandbox/shopify/bench/admin/api/2026-10/graphql.json"
	post := func(c *http.Client, query string, vars map[string]any) map[string]any {
		body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
		req, _ := http.NewRequest(http.MethodPost, endpoint, bytes.NewReader(body))
		req.Header.Set("X-Shopify-Access-Token", creds.AccessToken)
		resp, err := c.Do(req)
		if err != nil {
			b.Error(err) // not Fatal: this runs on RunParallel's goroutines too
			return nil
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var out map[string]any
		_ = json.Unmarshal(raw, &out)
		return out
	}
	loc := dig(post(srv.Client(), mFulfillmentServiceCreate, map[string]any{"name": "bench"}),
		"data.fulfillmentServiceCreate.fulfillmentService.location.id").(string)
	var n atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c := srv.Client()
		for pb.Next() {
			i := n.Add(1)
			a := post(c, mProductSet, map[string]any{
				"identifier": map[string]any{"handle": fmt.Sprintf("event-%d", i)},
				"input":      productInput(fmt.Sprintf("Event %d", i), []string{"GA", "VIP"}, tiers(loc, "GA", "25.00", 10, "VIP", "90.00", 5)),
			})
			item, ok := dig(a, "data.productSet.product.variants.nodes.0.inventoryItem.id").(string)
			if !ok {
				b.Errorf("productSet answered %v", a)
				return
			}
			in := setQuantity(item, loc, 8, 10)
			post(c, mInventorySet, map[string]any{"input": in, "key": fmt.Sprintf("k-%d", i)})
		}
	})
}

// BenchmarkHandler measures the sandbox's own work per call (no network):
// one productSet upsert of a two-variant product.
func BenchmarkHandler(b *testing.B) {
	sb, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer sb.Close()
	creds, _ := sb.CreateShop("bench")
	h := sb.Handler()
	body, _ := json.Marshal(map[string]any{"query": mProductSet, "variables": map[string]any{
		"identifier": map[string]any{"handle": "event"},
		"input":      productInput("Event", []string{"GA", "VIP"}, tiers("gid://shopify/Location/1", "GA", "25.00", 10, "VIP", "90.00", 5)),
	}})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest(http.MethodPost, "/sandbox/shopify/bench/admin/api/2026-10/graphql.json", bytes.NewReader(body))
		req.Header.Set("X-Shopify-Access-Token", creds.AccessToken)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code, rec.Body.String())
		}
	}
}
