package shopify_test

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// sandboxDrift lists where the sandbox's schema knowingly differs from
// Shopify's 2026-04 schema, each with its reason. Keys are what
// compareSchemas reports. Anything else that differs fails
// TestSandboxSchemaIsShopifys: remove it from the sandbox, or, when it is
// a 2026-10 change the client relies on, list it here with where it is
// documented.
var sandboxDrift = map[string]string{}

// TestSandboxSchemaIsShopifys compares the sandbox's schema.graphql with
// Shopify's own, declaration by declaration. The sandbox declares a subset:
// every type, field, argument, input field, enum value, union member,
// interface and directive it declares must exist in Shopify's schema with
// the same type, nullability included (a sandbox that is stricter or
// looser than Shopify lets a client pass tests that a shop fails), and the
// same default value. An argument or input field that Shopify requires must
// be declared. What the sandbox leaves out is not compared.
func TestSandboxSchemaIsShopifys(t *testing.T) {
	shop, err := shopifySchema()
	if err != nil {
		t.Fatal(err)
	}
	sdl, err := os.ReadFile("sandbox/schema.graphql")
	if err != nil {
		t.Fatal(err)
	}
	sb, err := gqlparser.LoadSchema(&ast.Source{Name: "sandbox/schema.graphql", Input: string(sdl)})
	if err != nil {
		t.Fatal(err)
	}
	diffs := compareSchemas(sb, shop)
	for _, key := range sortedKeys(diffs) {
		if _, ok := sandboxDrift[key]; !ok {
			t.Errorf("%s: %s", key, diffs[key])
		}
	}
	for _, key := range sortedKeys(sandboxDrift) {
		if _, ok := diffs[key]; !ok {
			t.Errorf("sandboxDrift lists %s, which no longer differs: remove the entry", key)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// compareSchemas reports what sb declares differently from shop, keyed by
// the declaration's coordinate (Type, Type.field, Type.field(arg),
// Input.field, Enum.VALUE, @directive(arg)).
func compareSchemas(sb, shop *ast.Schema) map[string]string {
	diffs := map[string]string{}
	add := func(key, format string, args ...any) { diffs[key] = fmt.Sprintf(format, args...) }

	roots := func(s *ast.Schema) string {
		name := func(d *ast.Definition) string {
			if d == nil {
				return ""
			}
			return d.Name
		}
		return name(s.Query) + "/" + name(s.Mutation) + "/" + name(s.Subscription)
	}
	if a, b := roots(sb), roots(shop); a != b {
		add("schema", "root types %s, Shopify's %s", a, b)
	}

	for _, name := range sortedKeys(sb.Types) {
		def := sb.Types[name]
		if def.BuiltIn {
			continue
		}
		rdef := shop.Types[name]
		if rdef == nil {
			add(name, "not in Shopify's schema")
			continue
		}
		if def.Kind != rdef.Kind {
			add(name, "a %s, Shopify's is a %s", def.Kind, rdef.Kind)
			continue
		}
		for _, i := range def.Interfaces {
			if !slices.Contains(rdef.Interfaces, i) {
				add(name+" implements "+i, "Shopify's %s does not implement %s", name, i)
			}
		}
		switch def.Kind {
		case ast.Object, ast.Interface:
			for _, f := range def.Fields {
				if f.Name == "__typename" || f.Name == "__schema" || f.Name == "__type" {
					continue
				}
				key := name + "." + f.Name
				rf := rdef.Fields.ForName(f.Name)
				if rf == nil {
					add(key, "not in Shopify's schema")
					continue
				}
				if f.Type.String() != rf.Type.String() {
					add(key, "is %s, Shopify's is %s", f.Type, rf.Type)
				}
				compareValues(key, f.Arguments, rf.Arguments, add)
			}
		case ast.InputObject:
			compareValues(name, inputValues(def.Fields), inputValues(rdef.Fields), add)
		case ast.Enum:
			for _, v := range def.EnumValues {
				if rdef.EnumValues.ForName(v.Name) == nil {
					add(name+"."+v.Name, "not a value of Shopify's %s", name)
				}
			}
		case ast.Union:
			for _, m := range def.Types {
				if !slices.Contains(rdef.Types, m) {
					add(name+" = "+m, "not a member of Shopify's %s", name)
				}
			}
		}
	}

	for _, name := range sortedKeys(sb.Directives) {
		d := sb.Directives[name]
		if d.Position != nil && d.Position.Src != nil && d.Position.Src.BuiltIn {
			continue
		}
		key := "@" + name
		rd := shop.Directives[name]
		if rd == nil {
			add(key, "not in Shopify's schema")
			continue
		}
		for _, l := range d.Locations {
			if !slices.Contains(rd.Locations, l) {
				add(key+" on "+string(l), "Shopify's @%s is not allowed on %s", name, l)
			}
		}
		compareValues(key, d.Arguments, rd.Arguments, add)
	}
	return diffs
}

// inputValues views input fields as argument definitions: both are typed
// values with an optional default, and compare alike.
func inputValues(fields ast.FieldList) ast.ArgumentDefinitionList {
	out := make(ast.ArgumentDefinitionList, len(fields))
	for i, f := range fields {
		out[i] = &ast.ArgumentDefinition{Name: f.Name, Type: f.Type, DefaultValue: f.DefaultValue}
	}
	return out
}

// compareValues compares the arguments (or input fields) of one
// declaration: the same type and default for each the sandbox declares,
// and every one Shopify requires declared.
func compareValues(owner string, sb, shop ast.ArgumentDefinitionList, add func(key, format string, args ...any)) {
	key := func(name string) string {
		if strings.HasPrefix(owner, "@") || strings.Contains(owner, ".") {
			return owner + "(" + name + ")" // an argument
		}
		return owner + "." + name // an input field
	}
	for _, a := range sb {
		ra := shop.ForName(a.Name)
		if ra == nil {
			add(key(a.Name), "not in Shopify's schema")
			continue
		}
		if a.Type.String() != ra.Type.String() {
			add(key(a.Name), "is %s, Shopify's is %s", a.Type, ra.Type)
		}
		if d, rd := literal(a.DefaultValue), literal(ra.DefaultValue); d != rd {
			add(key(a.Name)+" default", "defaults to %q, Shopify's to %q", d, rd)
		}
	}
	for _, ra := range shop {
		if ra.Type.NonNull && ra.DefaultValue == nil && sb.ForName(ra.Name) == nil {
			add(key(ra.Name), "required by Shopify (%s), not declared", ra.Type)
		}
	}
}

func literal(v *ast.Value) string {
	if v == nil {
		return ""
	}
	return v.String()
}
