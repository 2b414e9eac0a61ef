package docs_test

import (
	"io"
	"io/fs"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/gofiber/fiber/v2"

	"eventops/static"
	"eventops/web/docs"
)

// serve runs the documents on a real listener and returns its base URL.
func serve(t *testing.T) string {
	t.Helper()
	d, err := docs.Load()
	if err != nil {
		t.Fatal(err)
	}
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	d.Mount(app)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.Shutdown() })
	return "http://" + ln.Addr().String()
}

func get(t *testing.T, url string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

var (
	hrefs = regexp.MustCompile(`(?:href|src)="([^"]+)"`)
	ids   = regexp.MustCompile(`id="([^"]+)"`)
)

// TestEveryDocumentIsServedAndItsLinksResolve walks the documents as a
// reader clicking through them would: every Markdown file of static/docs is
// listed on the index and served, and every link between documents (and to
// their pictures) reaches a page, with the anchor it names.
func TestEveryDocumentIsServedAndItsLinksResolve(t *testing.T) {
	base := serve(t)
	code, h, index := get(t, base+"/docs/")
	if code != 200 || !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("index: %d, CSP %q", code, h.Get("Content-Security-Policy"))
	}
	files, err := fs.Glob(static.Docs, "docs/*.md")
	if err != nil || len(files) < 8 {
		t.Fatalf("documents embedded: %v %v", files, err)
	}
	pages := map[string]string{}
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(f, "docs/"), ".md")
		if !strings.Contains(index, `href="/docs/`+name+`"`) {
			t.Errorf("the index does not link %s", name)
		}
		code, _, body := get(t, base+"/docs/"+name)
		if code != 200 || !strings.Contains(body, "<h1") {
			t.Fatalf("/docs/%s: %d", name, code)
		}
		if strings.Contains(body, ".md\"") {
			t.Errorf("/docs/%s keeps a link to a .md file", name)
		}
		pages["/docs/"+name] = body
	}
	checked := 0
	for from, body := range pages {
		for _, m := range hrefs.FindAllStringSubmatch(body, -1) {
			link := m[1]
			if !strings.HasPrefix(link, "/docs/") {
				continue
			}
			path, frag, _ := strings.Cut(link, "#")
			target, ok := pages[path]
			if !ok {
				code, h, b := get(t, base+path)
				if code != 200 {
					t.Errorf("%s links %s: %d", from, link, code)
					continue
				}
				if strings.HasPrefix(path, "/docs/img/") && !strings.HasPrefix(h.Get("Content-Type"), "image/") {
					t.Errorf("%s: picture %s served as %q", from, path, h.Get("Content-Type"))
				}
				target = b
			}
			if frag != "" && !hasID(target, frag) {
				t.Errorf("%s links %s: no element with id %q there", from, link, frag)
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no link between documents was checked")
	}
	t.Logf("%d documents, %d links between them resolve", len(pages), checked)
}

func hasID(page, id string) bool {
	for _, m := range ids.FindAllStringSubmatch(page, -1) {
		if m[1] == id {
			return true
		}
	}
	return false
}

func TestUnknownDocumentIsNotFound(t *testing.T) {
	base := serve(t)
	for _, p := range []string{"/docs/nope", "/docs/img/nope.png", "/docs/img/..%2Fapi.md"} {
		if code, _, body := get(t, base+p); code != 404 || !strings.Contains(body, "No such document") {
			t.Errorf("%s: %d", p, code)
		}
	}
	// A link copied from the code host, with its .md, still works.
	if code, _, _ := get(t, base+"/docs/api.md"); code != 200 {
		t.Errorf("/docs/api.md: %d", code)
	}
}

func TestRawHTMLInDocumentsIsNotRendered(t *testing.T) {
	fsys := fstest.MapFS{
		"docs/a.md": {Data: []byte("# A\n\n<script>alert(1)</script>\n\n[b](b.md#x) ![p](img/p.png) [out](https://example.com/a.md)\n")},
		"docs/b.md": {Data: []byte("# B\n\n## X\n")},
	}
	d, err := docs.LoadFS(fsys, "docs")
	if err != nil {
		t.Fatal(err)
	}
	html := d.HTML("a")
	if strings.Contains(html, "<script>") {
		t.Errorf("raw HTML rendered: %s", html)
	}
	for _, want := range []string{`href="/docs/b#x"`, `src="/docs/img/p.png"`, `href="https://example.com/a.md"`} {
		if !strings.Contains(html, want) {
			t.Errorf("want %s in %s", want, html)
		}
	}
}
