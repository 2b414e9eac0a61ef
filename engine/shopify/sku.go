package shopify

import (
	"strconv"
	"strings"
)

// SKUs. The catalog phase gives each variant the SKU
// eventops-{occurrence}-{registration type}: it names what the variant
// sells, so that an order's line item maps back to it even after the
// product was recreated (new variant ids). The merchant may change a SKU
// in the shop; the engine then matches the variant id instead.

// sku is a variant's stable SKU.
func sku(occ uint64, rt uint64) string {
	return "eventops-" + strconv.FormatUint(occ, 10) + "-" + strconv.FormatUint(rt, 10)
}

// parseSKU reverses sku. Surrounding blanks are ignored (a merchant's edit
// may leave them); anything else, and an id 0 (no event nor registration
// type has it), is not ours.
func parseSKU(s string) (occ, rt uint64, ok bool) {
	rest, found := strings.CutPrefix(strings.TrimSpace(s), "eventops-")
	if !found {
		return 0, 0, false
	}
	a, b, found := strings.Cut(rest, "-")
	if !found {
		return 0, 0, false
	}
	o, err1 := strconv.ParseUint(a, 10, 64)
	r, err2 := strconv.ParseUint(b, 10, 64)
	if err1 != nil || err2 != nil || o == 0 || r == 0 {
		return 0, 0, false
	}
	return o, r, true
}
