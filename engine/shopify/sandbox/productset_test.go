package sandbox

import (
	"net/http"
	"strings"
	"testing"
)

func TestProductSetCreatesAndUpsertsByHandle(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	ids := b.catalog()
	mustEqual(t, "product id", ids.product, "gid://shopify/Product/1")
	mustEqual(t, "variants", len(ids.variants), 2)
	mustEqual(t, "location", ids.location, "gid://shopify/Location/2")

	// The same call again (a retry after a lost answer) finds the product
	// by its handle: same ids, no duplicate.
	a := b.mustData(mProductSet, map[string]any{
		"identifier": map[string]any{"handle": "jazz-night"},
		"input":      productInput("Jazz Night", []string{"GA", "VIP"}, tiers(ids.location, "GA", "25.00", 10, "VIP", "90.00", 5)),
	})
	mustEqual(t, "product id on upsert", a.str("data.productSet.product.id"), ids.product)
	mustEqual(t, "first variant kept", a.str("data.productSet.product.variants.nodes.0.id"), ids.variants[0])
	mustEqual(t, "first item kept", a.str("data.productSet.product.variants.nodes.0.inventoryItem.id"), ids.items[0])

	st := b.state()
	mustEqual(t, "products in the shop", len(st.Products), 1)
	mustEqual(t, "variants in the shop", len(st.Variants), 2)
	mustEqual(t, "price", st.Variants[1].Price, "90.00")
	mustEqual(t, "tracked", st.Variants[0].Tracked, true)
	mustEqual(t, "requires shipping", st.Variants[0].RequiresShipping, false)
	levels := map[string]int64{}
	for _, l := range st.InventoryLevels {
		levels[l.VariantID+"@"+l.LocationID] = l.Available
	}
	mustEqual(t, "GA at the service location", levels[ids.variants[0]+"@"+ids.location], 10)
	mustEqual(t, "VIP at the service location", levels[ids.variants[1]+"@"+ids.location], 5)

	// Read back by handle, as a client that lost the answer would.
	r := b.mustData(`query($h: String!) { productByIdentifier(identifier: {handle: $h}) { id title variants(first: 10) { nodes { sku } } } }`,
		map[string]any{"h": "jazz-night"})
	mustEqual(t, "by handle", r.str("data.productByIdentifier.id"), ids.product)
	mustEqual(t, "sku", r.str("data.productByIdentifier.variants.nodes.1.sku"), "sku-vip")
}

func TestProductSetRemovesVariantsLeftOut(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	ids := b.catalog()

	a := b.mustData(mProductSet, map[string]any{
		"identifier": map[string]any{"id": ids.product},
		"input":      productInput("Jazz Night", []string{"GA"}, tiers(ids.location, "GA", "30.00", 8)),
	})
	if errs := a.list("data.productSet.userErrors"); len(errs) > 0 {
		t.Fatalf("userErrors: %v", errs)
	}
	nodes := a.list("data.productSet.product.variants.nodes")
	mustEqual(t, "variants left", len(nodes), 1)
	mustEqual(t, "GA kept its id", dig(nodes[0], "id").(string), ids.variants[0])
	mustEqual(t, "GA re-priced", dig(nodes[0], "price").(string), "30.00")

	// The VIP variant and its inventory item are gone.
	gone := b.mustData(`query($v: ID!, $i: ID!) { productVariant(id: $v) { id } inventoryItem(id: $i) { id } }`,
		map[string]any{"v": ids.variants[1], "i": ids.items[1]})
	if gone.get("data.productVariant") != nil || gone.get("data.inventoryItem") != nil {
		t.Fatalf("removed variant still readable: %s", gone.raw)
	}
	st := b.state()
	mustEqual(t, "variants", len(st.Variants), 1)
	for _, l := range st.InventoryLevels {
		if l.InventoryItemID == ids.items[1] {
			t.Fatalf("the removed variant's inventory level is still there: %+v", l)
		}
	}
}

func TestProductSetUserErrors(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	ids := b.catalog()

	many := make([]string, 251)
	for i := range many {
		many[i] = "T" + strings.Repeat("x", i%5) + string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	var vs []any
	for _, n := range many {
		vs = append(vs, tiers("", n, "1.00", 0)...)
	}
	cases := []struct {
		name  string
		vars  map[string]any
		code  string
		field string
	}{
		{"over 250 variants", map[string]any{"input": productInput("Big", many, vs)}, "VARIANTS_OVER_LIMIT", "input.variants"},
		{"missing product", map[string]any{"identifier": map[string]any{"id": "gid://shopify/Product/999"},
			"input": map[string]any{"title": "x"}}, "PRODUCT_DOES_NOT_EXIST", "identifier.id"},
		{"no title", map[string]any{"input": map[string]any{"status": "DRAFT"}}, "MISSING_FIELD_REQUIRED", "input.title"},
		{"unknown option value", map[string]any{"input": productInput("Gig", []string{"GA"}, tiers(ids.location, "Balcony", "1.00", 1))},
			"OPTION_VALUE_DOES_NOT_EXIST", "input.variants.0.optionValues.0"},
		{"negative price", map[string]any{"input": productInput("Gig", []string{"GA"}, tiers(ids.location, "GA", "-1.00", 1))},
			"INVALID_VARIANT", "input.variants.0.price"},
		{"handle taken", map[string]any{"input": map[string]any{"title": "Other", "handle": "jazz-night"}}, "HANDLE_NOT_UNIQUE", "input.handle"},
	}
	for _, c := range cases {
		a := b.mustData(mProductSet, c.vars)
		errs := a.list("data.productSet.userErrors")
		if len(errs) == 0 {
			t.Fatalf("%s: no userErrors: %s", c.name, a.raw)
		}
		mustEqual(t, c.name+" code", dig(errs[0], "code").(string), c.code)
		var field []string
		for _, f := range dig(errs[0], "field").([]any) {
			field = append(field, f.(string))
		}
		mustEqual(t, c.name+" field", strings.Join(field, "."), c.field)
		if a.get("data.productSet.product") != nil {
			t.Fatalf("%s: a product came back with userErrors", c.name)
		}
	}
	mustEqual(t, "products after refusals", len(b.state().Products), 1)
}

func TestProductSetDefaultsAndAliases(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	a := b.mustData(`mutation {
	  first: productSet(input: {title: "Solo Show"}) { product { id handle hasOnlyDefaultVariant v: variants(first: 1) { edges { cursor node { title price inventoryItem { inventoryLevel(locationId: "gid://shopify/Location/1") { quantities(names: ["available", "on_hand", "committed"]) { name quantity } } } } } } } }
	  second: productSet(input: {title: "Solo Show"}) { product { handle ...P } }
	}
	fragment P on Product { __typename status }`, nil)
	mustEqual(t, "handle", a.str("data.first.product.handle"), "solo-show")
	mustEqual(t, "second handle is made unique", a.str("data.second.product.handle"), "solo-show-1")
	mustEqual(t, "fragment", a.str("data.second.product.__typename"), "Product")
	mustEqual(t, "status default", a.str("data.second.product.status"), "ACTIVE")
	mustEqual(t, "default variant", a.str("data.first.product.v.edges.0.node.title"), "Default Title")
	mustEqual(t, "price default", a.str("data.first.product.v.edges.0.node.price"), "0.00")
	mustEqual(t, "stocked at the shop location", len(a.list("data.first.product.v.edges.0.node.inventoryItem.inventoryLevel.quantities")), 3)
	if a.str("data.first.product.v.edges.0.cursor") == "" {
		t.Fatal("no cursor")
	}
}

func TestGraphQLEnvelope(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})

	// Headers on every answer; an unknown version is served as the oldest.
	a := b.gql(`{ shop { name myshopifyDomain } }`, nil)
	mustEqual(t, "status", a.status, http.StatusOK)
	mustEqual(t, "version header", a.header.Get("X-Shopify-API-Version"), testVersion)
	if a.header.Get("X-Request-Id") == "" {
		t.Fatal("no X-Request-Id")
	}
	mustEqual(t, "domain", a.str("data.shop.myshopifyDomain"), "test.myshopify.com")
	mustEqual(t, "cost", a.num("extensions.cost.requestedQueryCost"), 1)
	mustEqual(t, "bucket", a.num("extensions.cost.throttleStatus.maximumAvailable"), DefaultBucketSize)

	old := strings.Replace(b.endpoint(), testVersion, "2019-01", 1)
	req, _ := http.NewRequest(http.MethodPost, old, strings.NewReader(`{"query":"{ shop { id } }"}`))
	req.Header.Set("X-Shopify-Access-Token", b.shop.AccessToken)
	resp, err := b.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	mustEqual(t, "unknown version served as", resp.Header.Get("X-Shopify-API-Version"), supportedVersions[0])

	// Validation errors come as top-level errors at HTTP 200.
	bad := b.gql(`{ shop { nope } }`, nil)
	mustEqual(t, "validation status", bad.status, http.StatusOK)
	mustEqual(t, "validation code", bad.str("errors.0.extensions.code"), "GRAPHQL_VALIDATION_FAILED")

	// A bad token is 401.
	mustEqual(t, "bad token", b.gqlAs("shpat_nope", `{ shop { id } }`, nil).status, http.StatusUnauthorized)
	mustEqual(t, "no token", b.gqlAs("", `{ shop { id } }`, nil).status, http.StatusUnauthorized)

	// Connections need first or last.
	noFirst := b.gql(`{ products(query: "x") { nodes { id } } }`, nil)
	if noFirst.get("errors") == nil {
		t.Fatalf("products without first answered: %s", noFirst.raw)
	}

	// Too expensive.
	big := b.gql(`{ products(first: 250) { nodes { id variants(first: 250) { nodes { id } } } } }`, nil)
	mustEqual(t, "max cost", big.str("errors.0.extensions.code"), "MAX_COST_EXCEEDED")
}

// Shopify's length limits: a title, handle or SKU over 255 characters is
// refused with a userError and nothing is written; 255 is accepted.
func TestProductSetLengthLimits(t *testing.T) {
	t.Parallel()
	b := setup(t, Options{})
	long := strings.Repeat("x", 256)
	variant := func(sku string) []any {
		vs := tiers("", "GA", "25.00", 0)
		vs[0].(map[string]any)["sku"] = sku
		return vs
	}
	tests := []struct {
		name, title, handle, sku, code string
		field                          string
	}{
		{"title", long, "t", "s", "INVALID_PRODUCT", "input.title"},
		{"handle", "T", long, "s", "INVALID_INPUT", "input.handle"},
		{"sku", "T", "t", long, "INVALID_VARIANT", "input.variants.0.sku"},
	}
	for _, tc := range tests {
		in := productInput(tc.title, []string{"GA"}, variant(tc.sku))
		in["handle"] = tc.handle
		a := b.mustData(mProductSet, map[string]any{"input": in})
		errs := a.list("data.productSet.userErrors")
		if len(errs) != 1 || dig(errs[0], "code") != tc.code {
			t.Errorf("%s over 255: userErrors = %v, want one %s", tc.name, errs, tc.code)
			continue
		}
		var path []string
		for _, f := range dig(errs[0], "field").([]any) {
			path = append(path, f.(string))
		}
		mustEqual(t, tc.name+" error field", strings.Join(path, "."), tc.field)
	}
	mustEqual(t, "products after refusals", len(b.state().Products), 0)
	max := strings.Repeat("y", 255)
	in := productInput(max, []string{"GA"}, variant(max))
	in["handle"] = max
	a := b.mustData(mProductSet, map[string]any{"input": in})
	if errs := a.list("data.productSet.userErrors"); len(errs) > 0 {
		t.Fatalf("255 characters refused: %v", errs)
	}
}
