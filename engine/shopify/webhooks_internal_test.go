package shopify

import (
	"slices"
	"testing"

	"eventops/engine"
)

// The X-Shopify-Shop-Domain values that name a connected shop, however its
// domain was given.
func TestShopDomains(t *testing.T) {
	tests := []struct {
		shop engine.Shop
		want []string
	}{
		{engine.Shop{Sandbox: true, Domain: "demo"}, []string{"demo.myshopify.com", "demo"}},
		{engine.Shop{Sandbox: true, Domain: " Demo. "}, []string{"demo.myshopify.com", "demo"}},
		{engine.Shop{Domain: "real-shop.myshopify.com"}, []string{"real-shop.myshopify.com"}},
		{engine.Shop{Domain: "Real-Shop.myshopify.com/"}, []string{"real-shop.myshopify.com"}},
		{engine.Shop{Domain: "real-shop"}, []string{"real-shop.myshopify.com"}},
		{engine.Shop{Domain: "https://real-shop.myshopify.com"}, []string{"real-shop.myshopify.com"}},
		{engine.Shop{Domain: "http://127.0.0.1:9999/sandbox/shopify/real-shop/"}, []string{"127.0.0.1", "real-shop.myshopify.com"}},
		{engine.Shop{Domain: ""}, nil},
	}
	for _, tc := range tests {
		if got := shopDomains(&tc.shop); !slices.Equal(got, tc.want) {
			t.Errorf("shopDomains(%+v) = %q, want %q", tc.shop, got, tc.want)
		}
	}
}

// A signature verifies only under the secret it was made with, over the
// exact body; an empty secret verifies nothing.
func TestValidSignature(t *testing.T) {
	body := []byte(`{"id": 1}`)
	good := SignWebhook("s3cret", body)
	tests := []struct {
		name      string
		secret    engine.Secret
		body      []byte
		signature string
		want      bool
	}{
		{"as the shop signs", "s3cret", body, good, true},
		{"blanks around the header value", "s3cret", body, " " + good + "\n", true},
		{"another secret", "other", body, good, false},
		{"another body", "s3cret", []byte(`{"id": 2}`), good, false},
		{"no secret", "", body, SignWebhook("", body), false},
		{"not base64", "s3cret", body, "%%%", false},
		{"empty", "s3cret", body, "", false},
		{"hex, not base64", "s3cret", body, "6a1f", false},
	}
	for _, tc := range tests {
		if got := validSignature(tc.secret, tc.body, tc.signature); got != tc.want {
			t.Errorf("%s: validSignature = %v, want %v", tc.name, got, tc.want)
		}
	}
}
