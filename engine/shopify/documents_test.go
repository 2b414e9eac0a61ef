package shopify_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gql "github.com/vektah/gqlparser/v2/ast"
	gqlparse "github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"

	"eventops/engine/shopify/sandbox"
)

// Every GraphQL document the client can send is checked against Shopify's
// own schema twice: as written (TestClientDocumentsAreShopifys), and as
// sent, with the variables the client really sent in every test of this
// package that runs it against the sandbox (checkSentCalls, run when each
// test ends). TestMain fails a full run in which a document was never sent.

// clientDocuments are the package's GraphQL documents by their text: every
// string constant of its non-test Go files whose value is a query or a
// mutation. Reading the source, not a list, is what makes a new document
// impossible to forget.
var clientDocuments = sync.OnceValues(func() (map[string]string, error) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		return nil, err
	}
	docs := map[string]string{}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			return nil, err
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, v := range vs.Values {
					lit, ok := v.(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						continue
					}
					text, err := strconv.Unquote(lit.Value)
					if err != nil || !isDocument(text) {
						continue
					}
					docs[text] = vs.Names[i].Name
				}
			}
		}
	}
	if len(docs) == 0 {
		return nil, errors.New("no GraphQL documents found in the package's source")
	}
	return docs, nil
})

var operationStart = regexp.MustCompile(`^\s*(query|mutation)\b`)

func isDocument(s string) bool { return operationStart.MatchString(s) }

func TestClientDocumentsAreShopifys(t *testing.T) {
	docs, err := clientDocuments()
	if err != nil {
		t.Fatal(err)
	}
	schema, err := shopifySchema()
	if err != nil {
		t.Fatal(err)
	}
	for text, name := range docs {
		if _, err := checkDocument(schema, text); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// checkDocument parses and validates a document against schema, and
// refuses what Shopify has deprecated: a deprecated field, argument, input
// field or enum value is one a later version removes, and the client
// speaks a later version than the schema file.
func checkDocument(schema *gql.Schema, text string) (*gql.QueryDocument, error) {
	doc, err := gqlparse.ParseQuery(&gql.Source{Name: "document", Input: text})
	if err != nil {
		return nil, err
	}
	if errs := validator.ValidateWithRules(schema, doc, nil); len(errs) > 0 {
		return nil, errs
	}
	var deprecated []string
	events := &validator.Events{}
	events.OnField(func(_ *validator.Walker, f *gql.Field) {
		if f.Definition == nil {
			return
		}
		if isDeprecated(f.Definition.Directives) {
			deprecated = append(deprecated, f.ObjectDefinition.Name+"."+f.Name)
		}
		for _, a := range f.Arguments {
			if def := f.Definition.Arguments.ForName(a.Name); def != nil && isDeprecated(def.Directives) {
				deprecated = append(deprecated, f.ObjectDefinition.Name+"."+f.Name+"("+a.Name+")")
			}
		}
	})
	events.OnValue(func(_ *validator.Walker, v *gql.Value) {
		if v.Definition == nil {
			return
		}
		switch v.Kind {
		case gql.EnumValue:
			if ev := v.Definition.EnumValues.ForName(v.Raw); ev != nil && isDeprecated(ev.Directives) {
				deprecated = append(deprecated, v.Definition.Name+"."+v.Raw)
			}
		case gql.ObjectValue:
			for _, c := range v.Children {
				if fd := v.Definition.Fields.ForName(c.Name); fd != nil && isDeprecated(fd.Directives) {
					deprecated = append(deprecated, v.Definition.Name+"."+c.Name)
				}
			}
		}
	})
	validator.Walk(schema, doc, events)
	if len(deprecated) > 0 {
		return nil, fmt.Errorf("uses what Shopify deprecated: %s", strings.Join(deprecated, ", "))
	}
	return doc, nil
}

func isDeprecated(ds gql.DirectiveList) bool { return ds.ForName("deprecated") != nil }

// checkedDocs caches checkDocument by text; sentDocs counts, by constant
// name, the calls whose variables were checked.
var (
	sentMu      sync.Mutex
	checkedDocs = map[string]*gql.QueryDocument{}
	sentDocs    = map[string]int{}
)

// checkSentCalls validates every call the client sent to a sandbox shop
// against Shopify's schema, with the variables it sent. Calls that are not
// one of the client's documents (a test reading the shop) are skipped.
func checkSentCalls(t testing.TB, sb *sandbox.Sandbox, shop string) {
	t.Helper()
	docs, err := clientDocuments()
	if err != nil {
		t.Fatal(err)
	}
	schema, err := shopifySchema()
	if err != nil {
		t.Fatal(err)
	}
	calls, err := sb.Calls(shop, "")
	if err != nil {
		t.Fatalf("call log: %v", err)
	}
	sentMu.Lock()
	defer sentMu.Unlock()
	for _, c := range calls {
		name, ok := docs[c.Query]
		if !ok {
			continue
		}
		doc := checkedDocs[c.Query]
		if doc == nil {
			if doc, err = checkDocument(schema, c.Query); err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			checkedDocs[c.Query] = doc
		}
		if err := checkVariables(schema, doc, c.OperationName, c.Variables); err != nil {
			t.Errorf("%s sent variables Shopify refuses: %v\nvariables: %s", name, err, c.Variables)
			continue
		}
		sentDocs[name]++
	}
}

// unsentDocuments lists the documents no test sent (checkSentCalls never
// saw them).
func unsentDocuments() []string {
	docs, err := clientDocuments()
	if err != nil {
		return []string{err.Error()}
	}
	sentMu.Lock()
	defer sentMu.Unlock()
	var out []string
	for _, name := range docs {
		if sentDocs[name] == 0 {
			out = append(out, name)
		}
	}
	return out
}

// checkVariables checks the variables of a call as Shopify would coerce
// them: gqlparser's coercion (types, nullability, unknown input fields),
// then what it leaves to the server (checkValue).
func checkVariables(schema *gql.Schema, doc *gql.QueryDocument, opName string, raw json.RawMessage) error {
	var op *gql.OperationDefinition
	switch {
	case opName != "":
		op = doc.Operations.ForName(opName)
	case len(doc.Operations) == 1:
		op = doc.Operations[0]
	}
	if op == nil {
		return fmt.Errorf("no operation %q in the document", opName)
	}
	var vars map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &vars); err != nil {
			return fmt.Errorf("variables: %w", err)
		}
	}
	if _, err := validator.VariableValues(schema, op, vars); err != nil {
		return err
	}
	var problems []string
	for _, def := range op.VariableDefinitions {
		if v, ok := vars[def.Variable]; ok {
			problems = append(problems, checkValue(schema, def.Type, v, "$"+def.Variable)...)
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

var decimal = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

// checkValue checks a coerced variable value for what gqlparser leaves to
// the server: Shopify's own scalars (ids are gids; Money and Decimal are
// decimal strings, so no float rounds a price; URL, DateTime), and
// deprecated input fields and enum values.
func checkValue(schema *gql.Schema, typ *gql.Type, v any, path string) []string {
	if v == nil {
		return nil
	}
	if typ.Elem != nil {
		list, ok := v.([]any)
		if !ok {
			return checkValue(schema, typ.Elem, v, path)
		}
		var out []string
		for i, e := range list {
			out = append(out, checkValue(schema, typ.Elem, e, fmt.Sprintf("%s[%d]", path, i))...)
		}
		return out
	}
	def := schema.Types[typ.NamedType]
	bad := func(format string, a ...any) []string {
		return []string{path + ": " + fmt.Sprintf(format, a...)}
	}
	switch def.Kind {
	case gql.InputObject:
		obj, _ := v.(map[string]any)
		var out []string
		for k, fv := range obj {
			fd := def.Fields.ForName(k)
			if fd == nil {
				continue // gqlparser refused it already
			}
			if isDeprecated(fd.Directives) {
				out = append(out, path+"."+k+": deprecated by Shopify")
			}
			out = append(out, checkValue(schema, fd.Type, fv, path+"."+k)...)
		}
		return out
	case gql.Enum:
		if ev := def.EnumValues.ForName(fmt.Sprint(v)); ev != nil && isDeprecated(ev.Directives) {
			return bad("%s.%v is deprecated by Shopify", def.Name, v)
		}
		return nil
	}
	s, isString := v.(string)
	switch def.Name {
	case "ID":
		if !isString || !strings.HasPrefix(s, "gid://shopify/") {
			return bad("%v is not a gid://shopify/ id", v)
		}
	case "Money", "Decimal":
		if !isString || !decimal.MatchString(s) {
			return bad("%v is not a decimal string", v)
		}
	case "URL":
		if u, err := url.Parse(s); !isString || err != nil || !u.IsAbs() {
			return bad("%v is not an absolute URL", v)
		}
	case "DateTime":
		if _, err := time.Parse(time.RFC3339, s); !isString || err != nil {
			return bad("%v is not an ISO 8601 date and time", v)
		}
	}
	return nil
}

func TestCheckVariablesCatchesWhatShopifyRefuses(t *testing.T) {
	schema, err := shopifySchema()
	if err != nil {
		t.Fatal(err)
	}
	const doc = `mutation M($input: InventorySetQuantitiesInput!, $key: String!, $p: ProductSetInput!) {
  inventorySetQuantities(input: $input) @idempotent(key: $key) { userErrors { field message code } }
  productSet(input: $p) { userErrors { field } }
}`
	d, err := checkDocument(schema, doc)
	if err != nil {
		t.Fatal(err)
	}
	good := `{"key": "k", "input": {"name": "available", "reason": "correction", "quantities": [
	  {"inventoryItemId": "gid://shopify/InventoryItem/1", "locationId": "gid://shopify/Location/1", "quantity": 3, "changeFromQuantity": null}]},
	  "p": {"title": "T", "variants": [{"optionValues": [{"optionName": "Title", "name": "A"}], "price": "12.50"}]}}`
	if err := checkVariables(schema, d, "", json.RawMessage(good)); err != nil {
		t.Fatalf("good variables refused: %v", err)
	}
	for name, vars := range map[string]string{
		"compareQuantity (gone in 2026-04)": strings.Replace(good, `"changeFromQuantity": null`, `"compareQuantity": 2`, 1),
		"a number id":                       strings.Replace(good, `"gid://shopify/Location/1"`, `1`, 1),
		"a float price":                     strings.Replace(good, `"12.50"`, `12.5`, 1),
		"no key":                            strings.Replace(good, `"key": "k", `, ``, 1),
		"a fractional quantity":             strings.Replace(good, `"quantity": 3`, `"quantity": 2.5`, 1),
	} {
		if err := checkVariables(schema, d, "", json.RawMessage(vars)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := checkDocument(schema, `query { shop { fulfillmentServices { id fulfillmentOrdersOptIn } } }`); err == nil ||
		!strings.Contains(err.Error(), "FulfillmentService.fulfillmentOrdersOptIn") {
		t.Errorf("a deprecated field: %v", err)
	}
}
