package shopify_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"
)

// Shopify publishes its Admin API schema as the answer to the standard
// introspection query; gqlparser loads schemas from SDL only. schemaSDL
// turns the one into the other, so the tests can validate what the client
// sends, and compare the sandbox's schema, against Shopify's own.

// shopifySchemaFile is Shopify's public Admin API introspection for
// 2026-04, the newest version Shopify publishes as a file (the client
// speaks 2026-10; see sandboxDrift for what 2026-10 changed that we rely
// on).
const shopifySchemaFile = "testdata/admin-2026-04.introspection.json.gz"

// shopifySchema is Shopify's Admin schema, loaded once for the test binary.
var shopifySchema = sync.OnceValues(func() (*ast.Schema, error) {
	f, err := os.Open(shopifySchemaFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", shopifySchemaFile, err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", shopifySchemaFile, err)
	}
	return loadIntrospection(shopifySchemaFile, raw)
})

// loadIntrospection builds a schema from an introspection answer.
func loadIntrospection(name string, raw []byte) (*ast.Schema, error) {
	sdl, err := schemaSDL(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	s, err := gqlparser.LoadSchema(&ast.Source{Name: name, Input: sdl})
	if err != nil {
		return nil, fmt.Errorf("%s: load the converted schema: %w", name, err)
	}
	return s, nil
}

// introspection is what the converter reads of an introspection answer,
// with or without its {"data": ...} envelope. Descriptions are left out:
// validation does not need them.
type introspection struct {
	Data   *introspection `json:"data"`
	Schema *struct {
		QueryType        *introTypeRef    `json:"queryType"`
		MutationType     *introTypeRef    `json:"mutationType"`
		SubscriptionType *introTypeRef    `json:"subscriptionType"`
		Types            []introType      `json:"types"`
		Directives       []introDirective `json:"directives"`
	} `json:"__schema"`
}

type introTypeRef struct {
	Kind   string        `json:"kind"`
	Name   string        `json:"name"`
	OfType *introTypeRef `json:"ofType"`
}

type introType struct {
	Kind          string         `json:"kind"`
	Name          string         `json:"name"`
	Fields        []introField   `json:"fields"`
	InputFields   []introValue   `json:"inputFields"`
	Interfaces    []introTypeRef `json:"interfaces"`
	EnumValues    []introEnum    `json:"enumValues"`
	PossibleTypes []introTypeRef `json:"possibleTypes"`
}

type introField struct {
	Name              string       `json:"name"`
	Args              []introValue `json:"args"`
	Type              introTypeRef `json:"type"`
	IsDeprecated      bool         `json:"isDeprecated"`
	DeprecationReason *string      `json:"deprecationReason"`
}

// introValue is an argument or an input field; DefaultValue is a GraphQL
// literal, as SDL writes it.
type introValue struct {
	Name              string       `json:"name"`
	Type              introTypeRef `json:"type"`
	DefaultValue      *string      `json:"defaultValue"`
	IsDeprecated      bool         `json:"isDeprecated"`
	DeprecationReason *string      `json:"deprecationReason"`
}

type introEnum struct {
	Name              string  `json:"name"`
	IsDeprecated      bool    `json:"isDeprecated"`
	DeprecationReason *string `json:"deprecationReason"`
}

type introDirective struct {
	Name         string       `json:"name"`
	Locations    []string     `json:"locations"`
	Args         []introValue `json:"args"`
	IsRepeatable bool         `json:"isRepeatable"`
}

// prelude names what gqlparser declares itself (the built-in scalars, the
// introspection types, @skip, @include, @deprecated, @specifiedBy,
// @oneOf, @defer): declaring them again is an error.
var prelude = sync.OnceValue(func() map[string]bool {
	doc, err := parser.ParseSchema(validator.Prelude)
	if err != nil {
		panic(fmt.Sprintf("gqlparser's prelude: %v", err))
	}
	names := map[string]bool{}
	for _, d := range doc.Definitions {
		names[d.Name] = true
	}
	for _, d := range doc.Directives {
		names["@"+d.Name] = true
	}
	return names
})

// schemaSDL writes an introspection answer as SDL: the schema's root
// types, every type (scalars, objects and interfaces with their fields,
// arguments and interfaces, unions with their possible types, enums,
// input objects), default values, deprecations and directive definitions.
func schemaSDL(raw []byte) (string, error) {
	var in introspection
	if err := json.Unmarshal(raw, &in); err != nil {
		return "", fmt.Errorf("decode the introspection: %w", err)
	}
	if in.Schema == nil && in.Data != nil {
		in = *in.Data
	}
	s := in.Schema
	if s == nil || s.QueryType == nil {
		return "", fmt.Errorf("no __schema with a queryType")
	}
	skip := prelude()
	var b strings.Builder
	b.WriteString("schema {\n  query: " + s.QueryType.Name + "\n")
	if s.MutationType != nil {
		b.WriteString("  mutation: " + s.MutationType.Name + "\n")
	}
	if s.SubscriptionType != nil {
		b.WriteString("  subscription: " + s.SubscriptionType.Name + "\n")
	}
	b.WriteString("}\n")
	for _, d := range s.Directives {
		if skip["@"+d.Name] {
			continue
		}
		b.WriteString("\ndirective @" + d.Name + args(d.Args))
		if d.IsRepeatable {
			b.WriteString(" repeatable")
		}
		b.WriteString(" on " + strings.Join(d.Locations, " | ") + "\n")
	}
	for _, t := range s.Types {
		if skip[t.Name] {
			continue
		}
		if err := writeType(&b, t); err != nil {
			return "", err
		}
	}
	return b.String(), nil
}

func writeType(b *strings.Builder, t introType) error {
	b.WriteString("\n")
	switch t.Kind {
	case "SCALAR":
		b.WriteString("scalar " + t.Name + "\n")
	case "OBJECT", "INTERFACE":
		kw := map[string]string{"OBJECT": "type", "INTERFACE": "interface"}[t.Kind]
		b.WriteString(kw + " " + t.Name)
		if len(t.Interfaces) > 0 {
			names := make([]string, len(t.Interfaces))
			for i, x := range t.Interfaces {
				names[i] = x.Name
			}
			b.WriteString(" implements " + strings.Join(names, " & "))
		}
		b.WriteString(" {\n")
		for _, f := range t.Fields {
			b.WriteString("  " + f.Name + args(f.Args) + ": " + typeRef(f.Type) + deprecated(f.IsDeprecated, f.DeprecationReason) + "\n")
		}
		b.WriteString("}\n")
	case "UNION":
		names := make([]string, len(t.PossibleTypes))
		for i, x := range t.PossibleTypes {
			names[i] = x.Name
		}
		b.WriteString("union " + t.Name + " = " + strings.Join(names, " | ") + "\n")
	case "ENUM":
		b.WriteString("enum " + t.Name + " {\n")
		for _, v := range t.EnumValues {
			b.WriteString("  " + v.Name + deprecated(v.IsDeprecated, v.DeprecationReason) + "\n")
		}
		b.WriteString("}\n")
	case "INPUT_OBJECT":
		b.WriteString("input " + t.Name + " {\n")
		for _, v := range t.InputFields {
			b.WriteString("  " + value(v) + "\n")
		}
		b.WriteString("}\n")
	default:
		return fmt.Errorf("type %s: unknown kind %q", t.Name, t.Kind)
	}
	return nil
}

// args writes an argument list, or nothing.
func args(vs []introValue) string {
	if len(vs) == 0 {
		return ""
	}
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = value(v)
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// value writes an argument or an input field with its default.
func value(v introValue) string {
	s := v.Name + ": " + typeRef(v.Type)
	if v.DefaultValue != nil {
		s += " = " + *v.DefaultValue
	}
	return s + deprecated(v.IsDeprecated, v.DeprecationReason)
}

// typeRef writes a wrapped type: [Foo!]!.
func typeRef(r introTypeRef) string {
	switch r.Kind {
	case "NON_NULL":
		return typeRef(*r.OfType) + "!"
	case "LIST":
		return "[" + typeRef(*r.OfType) + "]"
	}
	return r.Name
}

func deprecated(is bool, reason *string) string {
	if !is {
		return ""
	}
	if reason == nil {
		return " @deprecated"
	}
	return " @deprecated(reason: " + graphqlString(*reason) + ")"
}

// graphqlString quotes s as a GraphQL string: JSON's escapes (\" \\ \n
// \uXXXX ...) are GraphQL's, once HTML escaping is off.
func graphqlString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}
