package shopify_test

import (
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// smallIntrospection is an introspection answer with one of everything the
// converter writes, in the shape Shopify publishes (envelope, built-in
// types listed again).
const smallIntrospection = `{"data": {"__schema": {
  "queryType": {"name": "QueryRoot"}, "mutationType": {"name": "Mutation"}, "subscriptionType": null,
  "directives": [
    {"name": "idempotent", "locations": ["FIELD"], "args": [
      {"name": "key", "type": {"kind": "NON_NULL", "name": null, "ofType": {"kind": "SCALAR", "name": "String", "ofType": null}}, "defaultValue": null}]},
    {"name": "skip", "locations": ["FIELD", "FRAGMENT_SPREAD", "INLINE_FRAGMENT"], "args": [
      {"name": "if", "type": {"kind": "NON_NULL", "name": null, "ofType": {"kind": "SCALAR", "name": "Boolean", "ofType": null}}, "defaultValue": null}]}
  ],
  "types": [
    {"kind": "SCALAR", "name": "String"},
    {"kind": "SCALAR", "name": "Boolean"},
    {"kind": "SCALAR", "name": "Money"},
    {"kind": "OBJECT", "name": "__Schema", "fields": []},
    {"kind": "INTERFACE", "name": "Node", "fields": [
      {"name": "id", "args": [], "type": {"kind": "NON_NULL", "name": null, "ofType": {"kind": "SCALAR", "name": "ID", "ofType": null}}}],
      "interfaces": [], "possibleTypes": [{"kind": "OBJECT", "name": "Product"}]},
    {"kind": "INTERFACE", "name": "Item", "fields": [
      {"name": "id", "args": [], "type": {"kind": "NON_NULL", "name": null, "ofType": {"kind": "SCALAR", "name": "ID", "ofType": null}}}],
      "interfaces": [{"kind": "INTERFACE", "name": "Node"}], "possibleTypes": [{"kind": "OBJECT", "name": "Product"}]},
    {"kind": "OBJECT", "name": "Product", "interfaces": [{"kind": "INTERFACE", "name": "Node"}, {"kind": "INTERFACE", "name": "Item"}], "fields": [
      {"name": "id", "args": [], "type": {"kind": "NON_NULL", "name": null, "ofType": {"kind": "SCALAR", "name": "ID", "ofType": null}}},
      {"name": "tags", "args": [{"name": "first", "type": {"kind": "SCALAR", "name": "Int"}, "defaultValue": "10"}],
       "type": {"kind": "NON_NULL", "ofType": {"kind": "LIST", "ofType": {"kind": "NON_NULL", "ofType": {"kind": "SCALAR", "name": "String"}}}}},
      {"name": "price", "args": [], "type": {"kind": "SCALAR", "name": "Money"},
       "isDeprecated": true, "deprecationReason": "Use \"priceSet\" <instead>."},
      {"name": "status", "args": [], "type": {"kind": "ENUM", "name": "Status"}}]},
    {"kind": "UNION", "name": "Result", "possibleTypes": [{"kind": "OBJECT", "name": "Product"}]},
    {"kind": "ENUM", "name": "Status", "enumValues": [
      {"name": "ACTIVE", "isDeprecated": false, "deprecationReason": null},
      {"name": "OLD", "isDeprecated": true, "deprecationReason": null}]},
    {"kind": "INPUT_OBJECT", "name": "ProductInput", "inputFields": [
      {"name": "title", "type": {"kind": "NON_NULL", "ofType": {"kind": "SCALAR", "name": "String"}}, "defaultValue": null},
      {"name": "status", "type": {"kind": "ENUM", "name": "Status"}, "defaultValue": "ACTIVE"},
      {"name": "tags", "type": {"kind": "LIST", "ofType": {"kind": "NON_NULL", "ofType": {"kind": "SCALAR", "name": "String"}}}, "defaultValue": "[\"a\"]"}]},
    {"kind": "OBJECT", "name": "QueryRoot", "interfaces": [], "fields": [
      {"name": "product", "args": [{"name": "id", "type": {"kind": "NON_NULL", "ofType": {"kind": "SCALAR", "name": "ID"}}, "defaultValue": null}],
       "type": {"kind": "OBJECT", "name": "Product"}},
      {"name": "search", "args": [], "type": {"kind": "NON_NULL", "ofType": {"kind": "LIST", "ofType": {"kind": "UNION", "name": "Result"}}}}]},
    {"kind": "OBJECT", "name": "Mutation", "interfaces": [], "fields": [
      {"name": "productCreate", "args": [{"name": "input", "type": {"kind": "NON_NULL", "ofType": {"kind": "INPUT_OBJECT", "name": "ProductInput"}}, "defaultValue": null}],
       "type": {"kind": "OBJECT", "name": "Product"}}]}
  ]}}}`

func TestIntrospectionConvertsToASchema(t *testing.T) {
	s, err := loadIntrospection("small", []byte(smallIntrospection))
	if err != nil {
		t.Fatal(err)
	}
	if s.Query.Name != "QueryRoot" || s.Mutation.Name != "Mutation" || s.Subscription != nil {
		t.Errorf("roots: %v %v %v", s.Query, s.Mutation, s.Subscription)
	}
	product := s.Types["Product"]
	field := func(def *ast.Definition, name string) *ast.FieldDefinition {
		t.Helper()
		f := def.Fields.ForName(name)
		if f == nil {
			t.Fatalf("%s.%s missing", def.Name, name)
		}
		return f
	}
	if got := field(product, "tags").Type.String(); got != "[String!]!" {
		t.Errorf("Product.tags: %s", got)
	}
	if a := field(product, "tags").Arguments.ForName("first"); a == nil || a.Type.String() != "Int" || a.DefaultValue.String() != "10" {
		t.Errorf("Product.tags(first): %+v", a)
	}
	d := field(product, "price").Directives.ForName("deprecated")
	if d == nil || d.Arguments.ForName("reason").Value.Raw != `Use "priceSet" <instead>.` {
		t.Errorf("Product.price deprecation: %+v", d)
	}
	if got := product.Interfaces; len(got) != 2 || got[0] != "Node" || got[1] != "Item" {
		t.Errorf("Product implements %v", got)
	}
	if got := s.Types["Item"].Interfaces; len(got) != 1 || got[0] != "Node" {
		t.Errorf("Item implements %v", got)
	}
	if got := s.Types["Result"]; got.Kind != ast.Union || len(got.Types) != 1 || got.Types[0] != "Product" {
		t.Errorf("union Result: %+v", got)
	}
	if v := s.Types["Status"].EnumValues.ForName("OLD"); v == nil || v.Directives.ForName("deprecated") == nil {
		t.Errorf("Status.OLD: %+v", v)
	}
	in := s.Types["ProductInput"]
	if f := in.Fields.ForName("status"); f == nil || f.DefaultValue.String() != "ACTIVE" {
		t.Errorf("ProductInput.status: %+v", f)
	}
	if f := in.Fields.ForName("tags"); f == nil || f.Type.String() != "[String!]" || f.DefaultValue.String() != `["a"]` {
		t.Errorf("ProductInput.tags: %+v", f)
	}
	if s.Types["Money"].Kind != ast.Scalar {
		t.Errorf("Money: %+v", s.Types["Money"])
	}
	if d := s.Directives["idempotent"]; d == nil || d.Arguments.ForName("key").Type.String() != "String!" {
		t.Errorf("@idempotent: %+v", d)
	}

	// The converted schema validates documents as Shopify would.
	good := `mutation M($in: ProductInput!) { productCreate(input: $in) @idempotent(key: "k") { id tags ... on Item { id } } }`
	if _, errs := gqlparser.LoadQueryWithRules(s, good, nil); errs != nil {
		t.Errorf("valid document refused: %v", errs)
	}
	for _, bad := range []string{
		`{ product(id: "1") { title } }`,                             // no such field
		`{ product { id } }`,                                         // required argument missing
		`mutation { productCreate(input: {status: ACTIVE}) { id } }`, // required input field missing
		`mutation { productCreate(input: {title: "x"}) @idempotent { id } }`,
		`{ search { id } }`, // a union has no fields
	} {
		if _, errs := gqlparser.LoadQueryWithRules(s, bad, nil); errs == nil {
			t.Errorf("invalid document accepted: %s", bad)
		}
	}
}

func TestShopifySchemaLoads(t *testing.T) {
	s, err := shopifySchema()
	if err != nil {
		t.Fatal(err)
	}
	// Facts SHOPIFY.md relies on, as a check that the whole file converted.
	q := s.Types["InventoryQuantityInput"]
	if q == nil || q.Fields.ForName("changeFromQuantity") == nil || q.Fields.ForName("compareQuantity") != nil {
		t.Errorf("InventoryQuantityInput: %+v", q)
	}
	if s.Types["UserError"].Fields.ForName("code") != nil {
		t.Error("UserError has a code")
	}
	if d := s.Directives["idempotent"]; d == nil || d.Arguments.ForName("key") == nil {
		t.Errorf("@idempotent: %+v", d)
	}
	if n := len(s.Types); n < 3000 {
		t.Errorf("only %d types", n)
	}
}
