package shopify

import (
	"strconv"
	"strings"

	"eventops/engine"
)

// SKUs. The catalog phase gives each variant the SKU
// eventops-{installation}-{occurrence}-{registration type} (skuOf): it
// names what the variant sells, so that an order's line item maps back to
// it even after the product was recreated (new variant ids), and whose
// installation wrote it (engine/installation.go). Variants saved before
// installation ids have eventops-{occurrence}-{registration type} (sku)
// until their next save; orders of either form are read. The merchant may
// change a SKU in the shop; the engine then matches the variant id
// instead. At most 59 characters, within Shopify's 255.

// sku is a variant's SKU in the form written before installation ids.
func sku(occ uint64, rt uint64) string {
	return "eventops-" + strconv.FormatUint(occ, 10) + "-" + strconv.FormatUint(rt, 10)
}

// skuOf is the SKU an installation gives a variant.
func skuOf(installation string, occ uint64, rt uint64) string {
	return "eventops-" + installation + "-" + strconv.FormatUint(occ, 10) + "-" + strconv.FormatUint(rt, 10)
}

// parseSKU reverses skuOf and sku, whatever the installation. Surrounding
// blanks are ignored (a merchant's edit may leave them); anything else,
// and an id 0 (no event nor registration type has it), is not ours.
func parseSKU(s string) (occ, rt uint64, ok bool) {
	_, occ, rt, ok = parseSKUOf(s)
	return occ, rt, ok
}

// parseSKUOf is parseSKU that also answers the installation that wrote the
// SKU ("" for the form without one).
func parseSKUOf(s string) (installation string, occ, rt uint64, ok bool) {
	rest, found := strings.CutPrefix(strings.TrimSpace(s), "eventops-")
	if !found {
		return "", 0, 0, false
	}
	parts := strings.Split(rest, "-")
	switch {
	case len(parts) == 3 && engine.ValidInstallationID(parts[0]):
		installation, parts = parts[0], parts[1:]
	case len(parts) != 2:
		return "", 0, 0, false
	}
	o, err1 := strconv.ParseUint(parts[0], 10, 64)
	r, err2 := strconv.ParseUint(parts[1], 10, 64)
	if err1 != nil || err2 != nil || o == 0 || r == 0 {
		return "", 0, 0, false
	}
	return installation, o, r, true
}
