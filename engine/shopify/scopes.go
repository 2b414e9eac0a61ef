package shopify

// Scopes are the Admin API access scopes eventops needs from a shop, as the
// merchant grants them to the app whose token eventops holds (a granted
// write scope implies its read scope):
//
//   - write_products, write_inventory, read_locations: catalog, inventory;
//   - write_fulfillments: the fulfillment service that delivers tickets;
//   - write_publications: publishing products to the online store;
//   - write_orders: reading paid orders and refunding them;
//   - read_all_orders: orders placed more than 60 days ago, which Shopify
//     shows only to apps granted it — ticket presales often start months
//     before the event, and refunding them needs it. Without it a refund of
//     such an order fails with REFUND_SCOPE_MISSING.
var Scopes = []string{
	"write_products",
	"write_inventory",
	"read_locations",
	"write_fulfillments",
	"write_publications",
	"write_orders",
	"read_all_orders",
}
