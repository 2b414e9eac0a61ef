package docs

import "io/fs"

// LoadFS renders the documents of dir in fsys.
func LoadFS(fsys fs.FS, dir string) (*Docs, error) { return load(fsys, dir) }

// HTML is a document's rendered body, "" for an unknown name.
func (d *Docs) HTML(name string) string {
	if p, ok := d.pages[name]; ok {
		return p.HTML
	}
	return ""
}
