package sandbox

import (
	_ "embed"
	"fmt"
	"sync"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

//go:embed schema.graphql
var schemaSDL string

var (
	schemaOnce sync.Once
	schemaDef  *ast.Schema
	schemaErr  error
)

// loadSchema parses the embedded SDL once.
func loadSchema() (*ast.Schema, error) {
	schemaOnce.Do(func() {
		s, err := gqlparser.LoadSchema(&ast.Source{Name: "schema.graphql", Input: schemaSDL})
		if err != nil {
			schemaErr = fmt.Errorf("sandbox schema: %w", err)
			return
		}
		schemaDef = s
	})
	return schemaDef, schemaErr
}
