package web

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/andybalholm/brotli"

	"eventops/engine/shopify/sandbox"
	"eventops/web/client"
	"eventops/web/httperr"
)

// bombMember is one gzip member holding 1 MiB of zeros (about 1 KB).
var bombMember = sync.OnceValue(func() []byte {
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	_, _ = zw.Write(make([]byte, 1<<20))
	_ = zw.Close()
	return b.Bytes()
})

// gzipBomb is a multi-member gzip stream (valid: gzip readers go on to the
// next member) of as many 1 MiB members as fit in BodyLimit: about 1 MB on
// the wire, more than 1 GB once decoded. It returns the decoded size.
func gzipBomb() ([]byte, int64) {
	m := bombMember()
	n := BodyLimit / len(m)
	return bytes.Repeat(m, n), int64(n) << 20
}

// bombRoute is a route that reads a body, as a client reaches it.
type bombRoute struct {
	name, method, path, contentType string
	headers                         []hdr
}

func bombRoutes(f *fixture, shopToken string) []bombRoute {
	return []bombRoute{
		{"webhook without credentials", "POST", "/webhooks/shopify/orders/create", "application/json", nil},
		{"API write with a key", "POST", "/api/v2/venues", "application/json",
			[]hdr{{"Authorization", "Token " + f.keyA}}},
		{"API write without a key", "POST", "/api/v2/events", "application/json", nil},
		{"dashboard form", "POST", "/login", "application/x-www-form-urlencoded", nil},
		{"sandbox GraphQL", "POST", "/sandbox/shopify/bomb/admin/api/2025-10/graphql.json", "application/json",
			[]hdr{{"X-Shopify-Access-Token", shopToken}}},
	}
}

// bombSetup is an installation with the built-in sandbox mounted and a shop
// in it, so that every kind of route that reads a body is there.
func bombSetup(t testing.TB) (*fixture, string) {
	t.Helper()
	sb, err := sandbox.New(sandbox.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	shop, err := sb.CreateShop("bomb")
	if err != nil {
		t.Fatal(err)
	}
	f := setup(t, withConfig(func(c *Config) { c.Sandbox = sb.Handler() }))
	return f, shop.AccessToken
}

func (f *fixture) sendEncoded(r bombRoute, encoding string, body []byte) *resp {
	f.t.Helper()
	req := httptest.NewRequest(r.method, r.path, bytes.NewReader(body))
	req.Header.Set("Content-Type", r.contentType)
	req.Header.Set("Content-Encoding", encoding)
	for _, h := range r.headers {
		req.Header.Set(h.k, h.v)
	}
	res, err := f.srv.App().Test(req, -1)
	if err != nil {
		f.t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	out := &resp{Status: res.StatusCode, Header: res.Header, Body: b, req: req}
	checkOpenAPI(f.t, out)
	return out
}

// A 1 MB gzip body that holds more than 1 GB is refused with 413 on every
// route that reads a body, credentials or not, after decoding no more than
// the limit, and without the heap growing by the decoded size. Not
// parallel: the allocation figures are the process's.
func TestCompressedBodyOverTheLimitIsRefused(t *testing.T) {
	f, token := bombSetup(t)
	bomb, decoded := gzipBomb()
	if len(bomb) > BodyLimit || decoded < 1e9 {
		t.Fatalf("the bomb is %d bytes holding %d: want at most %d holding 1 GB", len(bomb), decoded, BodyLimit)
	}
	for _, r := range bombRoutes(f, token) {
		t.Run(r.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			start := f.srv.decodedBytes.Load()

			res := f.sendEncoded(r, "gzip", bomb)

			runtime.GC()
			runtime.ReadMemStats(&after)
			res.expectProblem(t, http.StatusRequestEntityTooLarge, httperr.TypePayloadTooLarge)
			if n := f.srv.decodedBytes.Load() - start; n > BodyLimit+1 {
				t.Errorf("decoded %d bytes, want at most the limit (%d) + 1", n, BodyLimit)
			}
			const maxGrowth = 20 << 20
			if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > maxGrowth {
				t.Errorf("the heap grew by %d MB", grew>>20)
			}
			// Everything allocated while answering (app.Test's copies of
			// the 1 MB request and the race detector's included): nothing
			// like the decoded gigabyte.
			total := after.TotalAlloc - before.TotalAlloc
			if total > 64<<20 {
				t.Errorf("answering allocated %d MB", total>>20)
			}
			t.Logf("decoded %d bytes of %d; heap %+d KB; allocated %d KB", f.srv.decodedBytes.Load()-start, decoded,
				(int64(after.HeapAlloc)-int64(before.HeapAlloc))>>10, total>>10)
		})
	}
}

// A 5 KB gzip of a 5 MB JSON body is 413, not the 422 of a body read in
// full; so is the same body in deflate, and in two codings.
func TestCompressedJSONOverTheLimitIs413(t *testing.T) {
	t.Parallel()
	f, _ := bombSetup(t)
	big := []byte(`{"venue": {"name": "` + strings.Repeat("a", 5<<20) + `", "time_zone": "UTC"}}`)
	api := bombRoute{"API", "POST", "/api/v2/venues", "application/json", []hdr{{"Authorization", "Token " + f.keyA}}}
	for _, enc := range []string{"gzip", "x-gzip", "deflate", "identity, gzip", "gzip, identity"} {
		f.sendEncoded(api, enc, encode(t, enc, big)).expectProblem(t, http.StatusRequestEntityTooLarge, httperr.TypePayloadTooLarge)
	}
	f.sendEncoded(api, "gzip, deflate", encode(t, "deflate", encode(t, "gzip", big))).
		expectProblem(t, http.StatusRequestEntityTooLarge, httperr.TypePayloadTooLarge)
	if n := len(encode(t, "gzip", big)); n > 10<<10 {
		t.Fatalf("the gzip body is %d bytes, want about 5 KB", n)
	}
}

// Compressed bodies under the limit work everywhere, as if sent plain: the
// API decodes them, the dashboard reads the form, and the decoded body is
// what a webhook's signature covers.
func TestCompressedBodyUnderTheLimitIsDecoded(t *testing.T) {
	t.Parallel()
	f, _ := bombSetup(t)
	api := bombRoute{"API", "POST", "/api/v2/venues", "application/json", []hdr{{"Authorization", "Token " + f.keyA}}}
	body := []byte(`{"venue": {"name": "Zipped Hall", "time_zone": "Europe/Berlin"}}`)
	for _, enc := range []string{"gzip", "deflate", "gzip, deflate", "identity"} {
		v := decode[client.Venue](t, f.sendEncoded(api, enc, encode(t, enc, body)).expect(t, http.StatusCreated))
		if v.Name != "Zipped Hall" || v.TimeZone != "Europe/Berlin" {
			t.Fatalf("%s: created %+v", enc, v)
		}
	}
	// Exactly the limit, decoded, is accepted as far as the body goes.
	exact := append([]byte(`{"venue": {"name": "`), bytes.Repeat([]byte("a"), BodyLimit)...)
	exact = append(exact[:BodyLimit-len(`", "time_zone": "UTC"}}`)], `", "time_zone": "UTC"}}`...)
	r := f.sendEncoded(api, "gzip", encode(t, "gzip", exact))
	if r.Status == http.StatusRequestEntityTooLarge {
		t.Fatalf("a body of exactly %d bytes decoded was refused: %s", BodyLimit, r.Body)
	}
}

// Codings we do not know are 415, data that is not what the coding says is
// 400, and neither changes anything.
func TestBadContentEncodingIsRefused(t *testing.T) {
	t.Parallel()
	f, _ := bombSetup(t)
	api := bombRoute{"API", "POST", "/api/v2/venues", "application/json", []hdr{{"Authorization", "Token " + f.keyA}}}
	body := []byte(`{"venue": {"name": "Hall", "time_zone": "UTC"}}`)
	for _, tc := range []struct {
		name, encoding string
		body           []byte
		status         int
		typ            string
	}{
		{"unknown coding", "compress", body, http.StatusUnsupportedMediaType, httperr.TypeUnsupportedMediaType},
		{"unsupported coding", "zstd", body, http.StatusUnsupportedMediaType, httperr.TypeUnsupportedMediaType},
		{"stacked codings", "gzip, gzip, gzip", encode(t, "gzip", encode(t, "gzip", encode(t, "gzip", body))),
			http.StatusUnsupportedMediaType, httperr.TypeUnsupportedMediaType},
		{"plain body called gzip", "gzip", body, http.StatusBadRequest, httperr.TypeBadRequest},
		{"truncated gzip", "gzip", encode(t, "gzip", body)[:20], http.StatusBadRequest, httperr.TypeBadRequest},
		{"plain body called deflate", "deflate", body, http.StatusBadRequest, httperr.TypeBadRequest},
		// A few bytes of br make its decoder allocate megabytes: refused
		// before any decoding, like any coding we do not take.
		{"br", "br", encode(t, "br", body), http.StatusUnsupportedMediaType, httperr.TypeUnsupportedMediaType},
		{"br after gzip", "gzip, br", encode(t, "br", encode(t, "gzip", body)), http.StatusUnsupportedMediaType, httperr.TypeUnsupportedMediaType},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.sendEncoded(api, tc.encoding, tc.body).expectProblem(t, tc.status, tc.typ)
		})
	}
	list := decode[client.Page[client.Venue]](t, f.do("GET", "/api/v2/venues", f.keyA, nil).expect(t, http.StatusOK))
	if n := len(list.Data); n != 0 {
		t.Fatalf("%d venues after refused writes", n)
	}
}

// encode applies the codings of a Content-Encoding value, in order.
func encode(t testing.TB, encoding string, body []byte) []byte {
	t.Helper()
	for _, coding := range strings.Split(encoding, ",") {
		var b bytes.Buffer
		var w io.WriteCloser
		switch strings.TrimSpace(coding) {
		case "identity":
			continue
		case "gzip", "x-gzip":
			w, _ = gzip.NewWriterLevel(&b, gzip.BestCompression)
		case "deflate":
			w, _ = zlib.NewWriterLevel(&b, zlib.BestCompression)
		case "br":
			w = brotli.NewWriterLevel(&b, brotli.BestCompression)
		default:
			t.Fatalf("no encoder for %q", coding)
		}
		if _, err := w.Write(body); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		body = b.Bytes()
	}
	return body
}

// BenchmarkDecompressionBomb measures how long refusing the 1 GB gzip bomb
// takes (decoding 1 MiB of it, then 413), through app.Test.
func BenchmarkDecompressionBomb(b *testing.B) {
	f, token := bombSetup(b)
	bomb, _ := gzipBomb()
	r := bombRoutes(f, token)[0]
	b.SetBytes(int64(len(bomb)))
	for b.Loop() {
		if res := f.sendEncoded(r, "gzip", bomb); res.Status != http.StatusRequestEntityTooLarge {
			b.Fatalf("status %d", res.Status)
		}
	}
}

// Content-Encoding sent on two lines is one list, in order: both codings
// are undone (the first line alone left the body deflated: 400).
func TestContentEncodingOnSeveralLines(t *testing.T) {
	t.Parallel()
	f, _ := bombSetup(t)
	body := encode(t, "gzip, deflate", []byte(`{"venue": {"name": "Two Lines", "time_zone": "UTC"}}`))
	req := httptest.NewRequest("POST", "/api/v2/venues", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Token "+f.keyA)
	req.Header.Add("Content-Encoding", "gzip")
	req.Header.Add("Content-Encoding", "deflate")
	res, err := f.srv.App().Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("status %d, want 201: %s", res.StatusCode, b)
	}
}
