// Package sandbox emulates the Shopify Admin GraphQL API closely enough
// that a client written from Shopify's documentation runs against it
// unchanged. It stands in for an outside service: it imports nothing of
// eventops and keeps its shops in memory or in its own bbolt file.
//
// # Who may import it
//
// Only the composition root (package main: `eventops sandbox`, the
// built-in sandbox `eventops serve` mounts beside the app, and `company
// create --shopify sandbox`) and tests (engine/shopify
// runs its real client against it over HTTP; web's webhook tests and the
// soak drive it). engine, web and storage never import it in production
// code: to them it is a shop at a URL, reached through engine/shopify's
// client like any other.
//
// # What lives where
//
//   - sandbox.go, http.go: the Sandbox and its routes; control.go: the
//     merchant's and buyers' side (admin orders, refunds, cancellations,
//     revoking), also served as control routes; calls.go and faults.go:
//     the call log and injected faults; cost.go: the cost model and
//     bucket; store.go: the bbolt file; state.go: ShopState, what /state
//     answers.
//   - model.go, money.go: the shop's model (products, variants, inventory,
//     metafields, orders) and its money.
//   - schema.go, graphql.go, exec.go: the embedded schema, parsing and
//     validating documents, and executing them.
//   - resolvers.go and res_*.go: the query root and each kind of object
//     (res_product.go, res_inventory.go, res_metafields.go, res_shop.go,
//     res_order.go), beside the file that writes it: mutations.go (the
//     mutation root) and mut_*.go (mut_product.go, mut_inventory.go,
//     mut_metafields.go, mut_setup.go), orders.go (orders and refunds),
//     orders_query.go (orders(query:, sortKey:) and its cursors),
//     fulfillment.go (fulfillment orders and fulfillmentCreate).
//   - webhooks.go: webhook payloads, signing and delivery.
//
// # Routes
//
// Handler serves everything below Prefix ("/sandbox/shopify/"), with the
// prefix in the path: mount it as is (mux.Handle(sandbox.Prefix, h), or in
// Fiber app.All("/sandbox/shopify/*", adaptor.HTTPHandler(h))); a path
// already stripped of "/sandbox/shopify" is served too, so
// http.StripPrefix works as well. `eventops sandbox` serves the same
// handler alone, at the same paths.
//
//	POST   /sandbox/shopify/{shop}/admin/api/{version}/graphql.json   the Admin API
//	GET    /sandbox/shopify/state                     every shop's state, keyed by shop
//	GET    /sandbox/shopify/{shop}/state              one shop's state
//	POST   /sandbox/shopify/{shop}/admin/oauth/access_token   token grants (oauth.go)
//	GET    /sandbox/shopify/{shop}/admin/oauth/authorize      the merchant approves (or declines) an install
//
// With Options.Control, and then only for loopback clients, requests whose
// context carries ControlAccess, or requests Options.AuthorizeControl
// accepts (403 otherwise; 404 without Control):
//
//	POST   /sandbox/shopify/shops                     {"name": "acme"[, "currency": "EUR"]}: the shop created (201) or, when it exists, its app reinstalled with a new token (200) → {"shop": ProvisionedShop}, the credentials included: how eventops serve nodes on PostgreSQL (--sandbox-url) connect companies to the one sandbox they share
//	GET    /sandbox/shopify/{shop}/calls[?operation=productSet]   the call log
//	GET    /sandbox/shopify/{shop}/faults             pending fault rules
//	POST   /sandbox/shopify/{shop}/faults             {"rules": [FaultRule...]}, appended
//	DELETE /sandbox/shopify/{shop}/faults             clears them
//	POST   /sandbox/shopify/{shop}/orders             {"variant_id": gid or number, "quantity": n[, "presentment_currency": "EUR", "presentment_unit_price": "30.50"]} → 201 {"order": ...}
//	POST   /sandbox/shopify/{shop}/orders/{id}/refund [{"refund_line_items": [{"line_item_id", "quantity", "restock_type"}], "note"}] → 201 {"refund": ...}
//	POST   /sandbox/shopify/{shop}/orders/{id}/cancel [{"reason": "customer"}]
//	DELETE /sandbox/shopify/{shop}/products/{id}      a product deleted behind the app's back → 204
//	POST   /sandbox/shopify/{shop}/products/{id}/handle {"handle": "..."}: a merchant's handle edit → 204
//	POST   /sandbox/shopify/{shop}/revoke             the app uninstalled
//	GET    /sandbox/shopify/{shop}/credentials        {admin_url, access_token, api_secret, client_id, client_secret}
//	POST   /sandbox/shopify/{shop}/expire_tokens      every access token of the app's grants expires → {"expired": n}
//	POST   /sandbox/shopify/{shop}/app                {"withhold_scopes": [...], "deny_install": bool}
//	GET    /sandbox/shopify/{shop}/deliveries         webhook deliveries
//	POST   /sandbox/shopify/{shop}/deliveries/{webhook id}/redeliver
//
// Ids in control paths are numbers or URL-encoded gids. Control errors are
// {"error": "..."} with 404 (unknown shop or object), 422 (refused: not
// enough inventory, nothing left to refund, a bad fault rule).
//
// # The API
//
// The schema (schema.graphql, embedded) is a subset of Shopify's: every
// type, field, argument, input field and enum value it declares is in
// Shopify's published 2026-04 schema with the same type and default
// (engine/shopify's TestSandboxSchemaIsShopifys checks it against the copy
// in engine/shopify/testdata); documents are parsed and validated by
// gqlparser and executed against the shop's model, returning exactly the
// selected fields (aliases, variables, fragments, @skip/@include).
// Versions 2025-10 to 2026-10 are served; any other is served as 2025-10.
// Every answer carries X-Shopify-API-Version and X-Request-Id. A bad,
// missing, expired or revoked token is 401; an unknown shop 404. Ids are
// gid://shopify/Type/N, numbered per shop from 1 in the order things are
// made, so the same calls give the same ids. Each shop starts with
// Location/1 ("Shop location") and Publication/1 ("Online Store", catalog
// title "Online Store").
//
// Money: each shop has a currency, USD unless created with another
// (CreateShopWith, `eventops sandbox --shop NAME:JPY`), answered as
// shop { currencyCode }. Prices are held in its minor unit and refused
// (INVALID_VARIANT) with more decimals than it has; orders are in it, and
// a buyer's order may carry a presentment currency and unit price, which
// the webhooks (price_set, total_price_set) and MoneyBags show beside the
// shop's money. See money.go.
//
// Cost: see cost.go. Every answer carries extensions.cost; a call whose
// requested cost exceeds the bucket's content answers HTTP 200 with
// errors[0].extensions.code THROTTLED, no data and actualQueryCost null;
// above 1,000 requested points it answers MAX_COST_EXCEEDED. An unlimited
// bucket (RestoreRate 0) reports maximumAvailable = currentlyAvailable =
// BucketSize and restoreRate 0.
//
// userError codes the sandbox answers (the real enums):
//
//   - productSet: PRODUCT_DOES_NOT_EXIST (identifier.id or input.id not
//     found), INPUT_MISMATCH, MISSING_FIELD_REQUIRED (no title on create),
//     INVALID_PRODUCT (blank title, title over 255 characters),
//     INVALID_INPUT (handle over 255), HANDLE_NOT_UNIQUE, VARIANTS_OVER_LIMIT
//     (more than 250 variants), PRODUCT_OPTIONS_INPUT_MISSING,
//     OPTIONS_OVER_LIMIT, DUPLICATED_OPTION_NAME, DUPLICATED_OPTION_VALUE,
//     OPTION_VALUES_MISSING, OPTION_DOES_NOT_EXIST, OPTION_VALUE_DOES_NOT_EXIST,
//     PRODUCT_VARIANT_DOES_NOT_EXIST, INVALID_VARIANT (price, duplicate
//     combination, SKU over 255 characters), NOT_FOUND (inventoryQuantities location),
//     VARIANTS_INPUT_MISSING, INVALID_METAFIELD, INVALID_INPUT.
//   - inventorySetQuantities: CHANGE_FROM_QUANTITY_STALE,
//     COMPARE_QUANTITY_REQUIRED (changeFromQuantity left out from 2026-04;
//     before, a quantity without it is set unchecked: compareQuantity is
//     not modelled), INVALID_INVENTORY_ITEM, INVALID_LOCATION,
//     ITEM_NOT_STOCKED_AT_LOCATION, INVALID_QUANTITY_NEGATIVE,
//     INVALID_QUANTITY_TOO_HIGH, INVALID_NAME, INVALID_REASON,
//     INVALID_REFERENCE_DOCUMENT, NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR,
//     IDEMPOTENCY_KEY_PARAMETER_MISMATCH.
//   - metafieldsSet (with elementIndex): LESS_THAN_OR_EQUAL_TO (more than
//     25), BLANK, TOO_SHORT, TOO_LONG (key > 64, value > 65,535 bytes),
//     INVALID (owner, characters), INVALID_TYPE (unknown, or not the
//     existing metafield's), INVALID_VALUE, STALE_OBJECT and
//     INVALID_COMPARE_DIGEST (compareDigest), TAKEN (same metafield twice).
//   - The generic UserError (productDelete, inventoryActivate,
//     inventoryDeactivate, inventoryItemUpdate, fulfillmentServiceCreate,
//     webhookSubscriptionCreate/Delete, publishablePublish/Unpublish,
//     refundCreate) has field and message only, as in Shopify's schema:
//     no code to select. productDelete of a missing product answers
//     "Product does not exist" on field ["id"]; refunding more than was
//     bought answers "Quantity cannot refund more items than were
//     purchased (N refundable)"; an idempotency key reused with other
//     arguments answers "The same idempotency key cannot be used with
//     different operation parameters.".
//
// @idempotent(key:) is accepted on refundCreate, inventoryActivate and
// inventorySetQuantities (a top-level BAD_REQUEST error elsewhere), and
// required on all three from 2026-04 (a top-level BAD_REQUEST error
// without it), as Shopify's schema says of each. A key is remembered per
// shop and mutation for 24 hours with a hash of the field's resolved
// arguments: the same key with the same arguments answers the original
// result (re-read from the current state), with other arguments
// IDEMPOTENCY_KEY_PARAMETER_MISMATCH. Keys survive a reopen.
//
// # Webhooks
//
// orders/create (buyer orders, sell_between), refunds/create (refundCreate
// and admin refunds), orders/cancelled (admin cancellations; they do not
// also send refunds/create) and app/uninstalled (revoke) are POSTed as
// Shopify's REST payloads, signed with X-Shopify-Hmac-Sha256 =
// base64(HMAC-SHA256(body, the shop's webhook secret)), with X-Shopify-Topic,
// X-Shopify-Shop-Domain ({shop}.myshopify.com), X-Shopify-Webhook-Id
// (unique per delivery, kept across retries and Redeliver),
// X-Shopify-Event-Id and X-Shopify-API-Version. Targets: every
// subscription made with webhookSubscriptionCreate for the topic; without
// one, Options.WebhookURL + "/" + topic (as if the app declared it in its
// configuration); without either, nothing is sent. Revoking removes the
// shop's subscriptions after app/uninstalled is queued. Deliveries are
// stored with the change that caused them, sent in order per shop after
// the commit, and retried with backoff when the receiver fails: doubling
// from Options.WebhookBackoff, or, with Options.WebhookRetryScale, on
// Shopify's schedule (8 retries over 4 hours), scaled. A drop_webhooks
// fault rule makes the shop give up on a topic's deliveries unsent.
//
// # Orders query and fulfillment orders
//
// orders(query:, sortKey:) filters on updated_at and created_at (>, >=, <,
// <=, whole seconds), sorts by UPDATED_AT, CREATED_AT, PROCESSED_AT or ID
// (ties by id) and pages with cursors holding the sort value. Each order
// has one fulfillment order at its location (OPEN, IN_PROGRESS, CLOSED);
// fulfillmentCreate fulfils its lines and refuses a CLOSED one. At a
// fulfillment service's location the fulfillment request is submitted with
// the order (requestStatus SUBMITTED) and must be accepted
// (fulfillmentOrderAcceptFulfillmentRequest: ACCEPTED, IN_PROGRESS) before
// fulfillmentCreate takes it, as Shopify's lifecycle for service-managed
// locations has it.
//
// # Inventory
//
// Each inventory level holds available and committed; on_hand is their sum.
// A buyer's order moves available to committed at the location where the
// item has most available; a refund with restockType CANCEL or RETURN moves
// the refunded quantity from committed back to available, NO_RESTOCK
// (refundCreate's default) writes it off committed. New variants made by
// productSet without inventoryQuantities are stocked at Location/1.
//
// # Money
//
// A buyer pays an order's total through one SALE transaction on the
// "bogus" gateway. Only refundCreate's transactions move money: a refund of
// line items alone records the refund and leaves totalRefundedSet as it
// was, as on a real shop. Order.suggestedRefund(refundLineItems:) answers
// the lines' price (capped by what is left to refund) and one
// SUGGESTED_REFUND transaction whose parentTransaction is the sale.
// Transactions must be REFUNDs of the order on its gateway, in
// input.currency (which must be the presentment currency when it differs
// from the shop's); returning more than is left to refund is refused with
// "Refund amount … exceeds what is left to refund on the order" unless
// allowOverRefunding. Admin refunds and cancellations return the lines'
// price.
//
// GrantAllOrders(shop, false) withholds the read_all_orders scope: orders
// placed more than 60 days ago (OrderOptions.PlacedAt backdates one) are
// then invisible, order(id:) answering null, as on a real shop.
// inventoryDeactivate (a merchant's "stop stocking here") removes a level
// and its quantities; it is refused for the item's only location.
//
// # Durability
//
// With Options.Path every change is committed to the sandbox's own bbolt
// file before it is answered (faults and the call log are kept in memory);
// New restores shops, sequences, idempotency keys and pending webhooks.
// Close after the HTTP server serving Handler has stopped.
package sandbox
