package engine_test

import (
	"testing"

	"eventops/engine"
)

func TestCheckPublicURL(t *testing.T) {
	t.Parallel()
	for u, ok := range map[string]bool{
		"https://events.example.com": true, "http://127.0.0.1:8080": true, "http://localhost:8080/x": true,
		"http://[::1]:8080": true, "http://events.example.com": false, "http://10.0.0.2:8080": false, "ftp://x": false,
	} {
		err := engine.CheckPublicURL(u)
		if (err == nil) != ok {
			t.Errorf("%s: %v", u, err)
		}
		if err != nil && err.(*engine.Error).Code != engine.CodeShopifyPublicURLInsecure {
			t.Errorf("%s: code %v", u, err)
		}
	}
}
