package shopify

import (
	"strconv"
	"strings"
)

// Global ids. Shopify's GraphQL Admin API names every resource by a global
// id, gid://shopify/{Type}/{number}; its REST payloads (webhooks) carry the
// number, and most also the gid (admin_graphql_api_id). The engine stores
// gids as opaque strings; only this package builds or reads them.

// GID is the global id of a Shopify resource of type typ ("Order",
// "LineItem", ...) and number id; "" for id 0 (no resource).
func GID(typ string, id int64) string {
	if id == 0 {
		return ""
	}
	return globalID("shopify", typ, strconv.FormatInt(id, 10))
}

// ParseGID reverses GID: the type and number of a gid://shopify/ id. It
// refuses anything else (another app's gid, a missing or non-positive
// number, a query string such as Shopify puts on some ids).
func ParseGID(gid string) (typ string, id int64, ok bool) {
	rest, found := strings.CutPrefix(gid, "gid://shopify/")
	if !found {
		return "", 0, false
	}
	typ, num, found := strings.Cut(rest, "/")
	if !found || typ == "" {
		return "", 0, false
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 {
		return "", 0, false
	}
	return typ, n, true
}

// gidOr is a REST payload's admin_graphql_api_id when given, else the gid
// built from its numeric id.
func gidOr(gid, typ string, id int64) string {
	if gid != "" {
		return gid
	}
	return GID(typ, id)
}

// globalID is gid://{app}/{typ}/{id}: Shopify's form, also used for our own
// resources where the shop takes a URI (an inventory change's reference
// document names the operation that made it).
func globalID(app, typ, id string) string {
	return "gid://" + app + "/" + typ + "/" + id
}
