package sandbox

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"testing"
)

// Run as its own process, the sandbox never decodes a content coding and
// never reads past its limits: a compressed body is 415 (not a body it
// misreads as missing), and a body over the limit is 413 (not a truncated
// one it misreads as malformed), on the GraphQL endpoint and the control
// routes alike.
func TestBodiesAreCappedAndNeverDecoded(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	post := func(url string, body []byte, headers ...string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Shopify-Access-Token", b.shop.AccessToken)
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		res, err := b.srv.Client().Do(req)
		if err != nil {
			t.Fatalf("POST %s: %v", url, err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(raw)
	}
	query := []byte(`{"query": "{ shop { name } }"}`)
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	_, _ = zw.Write(query)
	_ = zw.Close()
	faults := b.srv.URL + "/sandbox/shopify/" + b.shop.Name + "/faults"

	for _, tc := range []struct {
		name, url string
		body      []byte
		headers   []string
		want      int
	}{
		{"plain GraphQL", b.endpoint(), query, nil, http.StatusOK},
		{"gzip GraphQL", b.endpoint(), zipped.Bytes(), []string{"Content-Encoding", "gzip"}, http.StatusUnsupportedMediaType},
		{"identity GraphQL", b.endpoint(), query, []string{"Content-Encoding", "identity"}, http.StatusOK},
		{"GraphQL over 4 MiB", b.endpoint(), []byte(`{"query": "` + strings.Repeat(" ", maxBody) + `{ shop { name } }"}`), nil, http.StatusRequestEntityTooLarge},
		{"gzip control", faults, zipped.Bytes(), []string{"Content-Encoding", "gzip"}, http.StatusUnsupportedMediaType},
		{"control over 1 MiB", faults, []byte(`{"rules": [], "note": "` + strings.Repeat("a", 1<<20) + `"}`), nil, http.StatusRequestEntityTooLarge},
	} {
		if status, body := post(tc.url, tc.body, tc.headers...); status != tc.want {
			t.Errorf("%s: %d, want %d\n%.300s", tc.name, status, tc.want, body)
		}
	}
}
