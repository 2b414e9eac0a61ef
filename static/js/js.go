// Package js holds the dashboard's own scripts, embedded and served under
// content-hashed URLs like the assets of package static (same URL scheme,
// same immutable caching). It is a package of its own so that the scripts
// live beside the stylesheet's owner without touching static's embed list;
// folding it into static means adding "js" to static's go:embed line.
package js

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"path"
	"strings"
)

//go:embed *.js
var files embed.FS

// Asset is one embedded script.
type Asset struct {
	Name        string // e.g. "conn.js"
	URL         string // e.g. "/static/js/conn.3f2a9c1b.js"
	ContentType string
	Body        []byte
}

var (
	byName = map[string]*Asset{}
	byURL  = map[string]*Asset{}
)

func init() {
	err := fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
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
			URL:         "/static/js/" + strings.TrimSuffix(p, ext) + "." + hex.EncodeToString(sum[:4]) + ext,
			ContentType: "text/javascript; charset=utf-8",
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

// URL is the content-hashed URL of a script by its file name; it panics on
// an unknown name, which any page test catches.
func URL(name string) string {
	a, ok := byName[name]
	if !ok {
		panic("js: no script " + name)
	}
	return a.URL
}

// Lookup finds a script by its hashed URL path.
func Lookup(urlPath string) (*Asset, bool) {
	a, ok := byURL[urlPath]
	return a, ok
}
