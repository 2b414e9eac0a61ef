// Package static holds the dashboard's assets, embedded in the binary and
// served under content-hashed names so that they can be cached forever.
//
// It imports nothing of eventops. views imports it for the hashed URLs its
// pages link to; web/dash imports it to serve them (Lookup). Nothing else
// needs it.
package static

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"path"
	"strings"
)

//go:embed css js vendor
var files embed.FS

// Docs holds the reference documents (docs/*.md and the pictures under
// docs/img), which the binary serves at /docs/ (web/docs), so that an
// installation's documents always match its version.
//
//go:embed docs
var Docs embed.FS

// Asset is one embedded file.
type Asset struct {
	Name        string // e.g. "css/app.css"
	URL         string // e.g. "/static/css/app.3f2a9c1b.css"
	ContentType string
	Body        []byte
}

var (
	byName = map[string]*Asset{}
	byURL  = map[string]*Asset{}
)

func init() {
	err := fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, "LICENSE") {
			return err
		}
		body, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		ext := path.Ext(p)
		a := &Asset{
			Name:        p,
			URL:         "/static/" + strings.TrimSuffix(p, ext) + "." + hex.EncodeToString(sum[:4]) + ext,
			ContentType: mime.TypeByExtension(ext),
			Body:        body,
		}
		byName[p] = a
		byURL[a.URL] = a
		return nil
	})
	if err != nil {
		panic(err)
	}
}

// URL is the content-hashed URL of an asset by its name; it panics on an
// unknown name, which is a programming error caught by any page test.
func URL(name string) string {
	a, ok := byName[name]
	if !ok {
		panic("static: no asset " + name)
	}
	return a.URL
}

// Lookup finds an asset by its hashed URL path.
func Lookup(urlPath string) (*Asset, bool) {
	a, ok := byURL[urlPath]
	return a, ok
}
