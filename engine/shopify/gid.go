package shopify

import "strconv"

// Global ids. Shopify's GraphQL Admin API names every resource by a global
// id, gid://shopify/{Type}/{number}; its REST payloads (webhooks) carry the
// number, and most also the gid (admin_graphql_api_id). The engine stores
// gids as opaque strings; only this package builds them (from a REST
// payload's numbers); it reads none (the GraphQL API takes them back as
// they came).

// shopGID is the global id of a Shopify resource of type typ ("Order",
// "LineItem", ...) and number id; "" for id 0 (no resource).
func shopGID(typ string, id int64) string {
	if id == 0 {
		return ""
	}
	return globalID("shopify", typ, strconv.FormatInt(id, 10))
}

// gidOr is a REST payload's admin_graphql_api_id when given, else the gid
// built from its numeric id.
func gidOr(gid, typ string, id int64) string {
	if gid != "" {
		return gid
	}
	return shopGID(typ, id)
}

// globalID is gid://{app}/{typ}/{id}: Shopify's form, also used for our own
// resources where the shop takes a URI (an inventory change's reference
// document names the operation that made it).
func globalID(app, typ, id string) string {
	return "gid://" + app + "/" + typ + "/" + id
}
