// Package docs serves the reference documents at /docs/: the Markdown of
// static/docs, embedded in the binary and rendered once at start with
// goldmark, so that an installation's documents always match its version.
// The same files read well on a code host: links between them are written
// as relative `.md` links there and rewritten to /docs/ paths here.
//
// The documents are public, like the OpenAPI document: they describe the
// software, never an installation's data. Raw HTML in the Markdown is not
// rendered (goldmark's default), and the pages run no script.
package docs

import (
	"bytes"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/a-h/templ"
	"github.com/gofiber/fiber/v2"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"

	"eventops/static"
	"eventops/views"
)

// Prefix is where the documents are served.
const Prefix = "/docs/"

// Docs is the rendered set of documents.
type Docs struct {
	pages  map[string]*views.Doc // by name, without ".md"
	index  []views.DocLink       // every document, in reading order
	images fs.FS                 // static/docs/img
}

// order is the reading order of the index; documents not named here follow
// in name order.
var order = []string{"api", "import", "shopify", "dashboard", "webhooks", "operating", "deploying", "postgres", "performance", "design", "architecture"}

// Load renders every document of static/docs.
func Load() (*Docs, error) {
	return load(static.Docs, "docs")
}

func load(fsys fs.FS, dir string) (*Docs, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("docs: %w", err)
	}
	names := map[string]bool{}
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".md"); ok && !e.IsDir() {
			names[n] = true
		}
	}
	md := goldmark.New(
		goldmark.WithExtensions(extension.GFM),
		goldmark.WithParserOptions(
			parser.WithAutoHeadingID(),
			parser.WithASTTransformers(util.Prioritized(linkRewriter{names: names}, 100)),
		),
	)
	d := &Docs{pages: map[string]*views.Doc{}}
	if img, err := fs.Sub(fsys, path.Join(dir, "img")); err == nil {
		d.images = img
	}
	for n := range names {
		src, err := fs.ReadFile(fsys, path.Join(dir, n+".md"))
		if err != nil {
			return nil, fmt.Errorf("docs: %w", err)
		}
		var html bytes.Buffer
		if err := md.Convert(src, &html); err != nil {
			return nil, fmt.Errorf("docs: %s.md: %w", n, err)
		}
		d.pages[n] = &views.Doc{Name: n, Title: title(src, n), HTML: html.String()}
	}
	rank := func(n string) int {
		for i, o := range order {
			if o == n {
				return i
			}
		}
		return len(order)
	}
	for n, p := range d.pages {
		d.index = append(d.index, views.DocLink{Name: n, Title: p.Title, URL: Prefix + n})
	}
	sort.Slice(d.index, func(i, j int) bool {
		a, b := d.index[i], d.index[j]
		if ra, rb := rank(a.Name), rank(b.Name); ra != rb {
			return ra < rb
		}
		return a.Name < b.Name
	})
	return d, nil
}

var heading = regexp.MustCompile(`(?m)^#\s+(.+)$`)

// title is the document's first level-one heading, else its name.
func title(src []byte, name string) string {
	if m := heading.FindSubmatch(src); m != nil {
		return strings.TrimSpace(string(m[1]))
	}
	return name
}

// Mount adds the routes: /docs/ (the index; /docs too, Fiber routes are not strict), /docs/NAME and /docs/img/FILE.
func (d *Docs) Mount(app *fiber.App) {
	app.Get(Prefix, func(c *fiber.Ctx) error { return d.render(c, http.StatusOK, views.DocIndexView(d.index)) })
	app.Get(Prefix+"img/:file", d.image)
	app.Get(Prefix+":name", func(c *fiber.Ctx) error {
		name := strings.TrimSuffix(c.Params("name"), ".md") // links copied from a code host
		p, ok := d.pages[name]
		if !ok {
			return d.render(c, http.StatusNotFound, views.DocNotFoundView(d.index))
		}
		return d.render(c, http.StatusOK, views.DocView(*p, d.index))
	})
}

func (d *Docs) render(c *fiber.Ctx, status int, page templ.Component) error {
	setHeaders(c)
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	c.Status(status)
	return page.Render(c.UserContext(), c.Response().BodyWriter())
}

func (d *Docs) image(c *fiber.Ctx) error {
	name := c.Params("file")
	if d.images == nil || !fs.ValidPath(name) || strings.Contains(name, "/") {
		return d.render(c, http.StatusNotFound, views.DocNotFoundView(d.index))
	}
	body, err := fs.ReadFile(d.images, name)
	if err != nil {
		return d.render(c, http.StatusNotFound, views.DocNotFoundView(d.index))
	}
	setHeaders(c)
	c.Set(fiber.HeaderContentType, mime.TypeByExtension(path.Ext(name)))
	c.Set(fiber.HeaderCacheControl, "public, max-age=3600")
	return c.Send(body)
}

// setHeaders: the pages load the dashboard's stylesheet and their own
// pictures, nothing else, and run no script.
func setHeaders(c *fiber.Ctx) {
	c.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set("Referrer-Policy", "same-origin")
}

// linkRewriter turns the links written for a code host into links of the
// served documents: "api.md#errors" becomes "/docs/api#errors",
// "img/x.png" becomes "/docs/img/x.png", and a link to the README (one level
// above the documents on the code host) becomes the index. Absolute URLs
// and in-page anchors are left as they are.
type linkRewriter struct{ names map[string]bool }

func (r linkRewriter) Transform(doc *ast.Document, _ text.Reader, _ parser.Context) {
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch l := n.(type) {
		case *ast.Link:
			l.Destination = []byte(r.rewrite(string(l.Destination)))
		case *ast.Image:
			l.Destination = []byte(r.rewrite(string(l.Destination)))
		}
		return ast.WalkContinue, nil
	})
}

func (r linkRewriter) rewrite(dest string) string {
	if dest == "" || strings.HasPrefix(dest, "#") || strings.HasPrefix(dest, "/") || strings.Contains(dest, ":") {
		return dest
	}
	file, frag, _ := strings.Cut(dest, "#")
	if frag != "" {
		frag = "#" + frag
	}
	file = strings.TrimPrefix(file, "./")
	if strings.HasPrefix(file, "img/") {
		return Prefix + file
	}
	if n, ok := strings.CutSuffix(file, ".md"); ok {
		if r.names[n] {
			return Prefix + n + frag
		}
		if path.Base(n) == "README" {
			return Prefix + frag
		}
	}
	return dest
}
