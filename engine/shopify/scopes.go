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
//     such an order fails with REFUND_SCOPE_MISSING;
//   - write_assigned_fulfillment_orders: marking ticket lines fulfilled
//     (fulfil.go). Shopify assigns the fulfillment orders of items stocked
//     at a fulfillment service's location to that service's app, and shows
//     and lets it fulfil them only with the assigned-fulfillment-orders
//     scopes (read_assigned_fulfillment_orders to see them through
//     Order.fulfillmentOrders, write_ to call fulfillmentCreate on them;
//     the write implies the read). The merchant-managed and third-party
//     fulfillment-order scopes are not asked for: eventops fulfils only
//     the lines at its own location, never the merchant's other goods.
var Scopes = []string{
	"write_products",
	"write_inventory",
	"read_locations",
	"write_fulfillments",
	"write_publications",
	"write_orders",
	"read_all_orders",
	"write_assigned_fulfillment_orders",
}
