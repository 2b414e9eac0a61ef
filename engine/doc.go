// Package engine is eventops' domain: companies, venues, events and their
// occurrences, orders, API keys, and the operations that carry every write
// to the outside (DESIGN §4). It owns the rules (validation, money,
// recurrence, availability) and the running of operations; it knows no
// HTTP, no HTML and no storage format.
//
// What lives here, by file:
//
//   - the domain and its commands: domain.go, accounts.go, venues.go,
//     events.go (create, update, delete, refund through one mutateEvent
//     frame), orders.go and order_refunds.go, the shop's commands as
//     domain commands (shop_sales.go, shop_refunds.go, shop_connect.go,
//     shop_currency.go; webhooks.go keeps deliveries handled once; the
//     protocol itself is engine/shopify's), aliases.go, input.go,
//     event_checks.go, limits.go, money.go and money_iso4217.go,
//     recurrence.go, timezones.go, clone.go, refs.go;
//   - reads as the API shows them: event_views.go; idempotency of writes:
//     idempotency.go;
//   - operations: operation.go (the record), planner.go (which phases),
//     rollup.go (aggregates), operations.go (create, cancel, retry, wait);
//   - running them: dispatch.go (the Dispatcher: queues, claims, cancels,
//     the bound on pending work), runner.go (one operation's loop),
//     step.go (transitions and their coalescing), attempt.go (the attempt
//     loop of a leaf phase or a refund), commit.go (the one commit of a
//     transition), retry.go (the one retry policy), refund.go, work.go and
//     work_local.go (the Work contract and the engine's own phases);
//   - what it reports: broker.go (published transitions), observer.go
//     (metrics), audit.go;
//   - the Store and Tx interfaces it runs on: store.go.
//
// Who may import it: package main, storage (which implements Store),
// engine/shopify (which implements Work against a shop and uses the retry
// policy), web and its rooms (web/client only for the retry policy: it
// knows the API by its contract, not by the engine's types) and views. engine imports none of them; it depends on the
// standard library and golang.org/x/crypto only, so its tests run on any
// Store (they use storage's bbolt one, from package engine_test).
package engine
