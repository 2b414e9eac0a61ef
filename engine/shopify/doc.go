// Package shopify is eventops' side of Shopify: every part of Shopify's
// protocols lives here, and the engine sees only its own domain types.
//
// What lives here:
//
//   - The Admin GraphQL client (client.go, graphql.go, throttle.go and the
//     retries inside one call): one endpoint per shop, the access token in
//     X-Shopify-Access-Token, typed userErrors, throttling read from
//     extensions.cost and paced per shop, 429/5xx/transport errors retried
//     under a deadline; what it cannot absorb it hands to the engine as a
//     transient *engine.Error, so that the phase retry takes over.
//   - The work of the Shopify phases (works.go: catalog, inventory,
//     metafields, delivery, publish; setup.go: the one-time shop set-up and
//     its webhook subscriptions), of refunds through the shop (refund.go)
//     and the shop's currency (currency.go): implementations of the
//     engine's engine.Work, engine.RefundWork and engine.ShopReader.
//   - The webhook receiver (webhooks.go, webhook_payloads.go): shop
//     domains, the X-Shopify-Hmac-Sha256 signature, the REST payloads of
//     orders/create, refunds/create, orders/cancelled and app/uninstalled,
//     turned into the engine's domain commands (RecordShopSale,
//     RefundShopLines, CancelShopOrder, RevokeShop). WebhookReceiver
//     satisfies web.ShopWebhooks.
//   - Reconciliation (reconcile.go): a Reconciler reads each connected
//     shop's orders updated since its high-water mark, at start-up, on a
//     timer and when a phase asks (reconcileShop), and records what the
//     webhooks missed through the same domain commands; and the fulfilment
//     of recorded sales' ticket lines in the shop (fulfil.go).
//   - Shopify's small codecs, once: global ids (gid.go) and the SKU the
//     catalog gives a variant (sku.go).
//
// Imports: the engine (its types and interfaces) and the standard library;
// the sandbox (subpackage sandbox) stands in for a shop over HTTP and
// imports nothing of ours. Imported by: the composition root only
// (package main's serve.go wires Works, ShopReader and WebhookReceiver into
// the engine and web), and tests. Never by engine, storage, web or views:
// they declare the interfaces this package implements.
package shopify
