package shopify

// The GraphQL documents the phases send, as constants: what the client says
// to a shop is readable in one place. Payload fields follow the 2026-10
// schema: productSet, inventorySetQuantities and metafieldsSet answer typed
// userErrors with a code; the other mutations answer the generic UserError
// (field, message). Every string constant here that starts with query or
// mutation is validated against Shopify's published schema
// (testdata/admin-2026-04.introspection.json.gz), as written and with the
// variables each test sends: see documents_test.go.

const qSetupLookup = `query SetupLookup {
  shop { fulfillmentServices { id serviceName location { id } } }
  publications(first: 20) { nodes { id catalog { title } } }
}`

const qWebhookSubscriptions = `query WebhookSubscriptions {
  webhookSubscriptions(first: 100) { nodes { id topic uri } }
}`

const mFulfillmentServiceCreate = `mutation FulfillmentServiceCreate($name: String!) {
  fulfillmentServiceCreate(name: $name, inventoryManagement: true, trackingSupport: false) {
    fulfillmentService { id serviceName location { id } }
    userErrors { field message }
  }
}`

const mWebhookSubscriptionCreate = `mutation WebhookSubscriptionCreate($topic: WebhookSubscriptionTopic!, $sub: WebhookSubscriptionInput!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $sub) {
    webhookSubscription { id topic uri }
    userErrors { field message }
  }
}`

// productSet upserts by handle: a re-run (after a crash, a lost answer)
// finds the product it created instead of making another.
const mProductSet = `mutation ProductSet($input: ProductSetInput!, $identifier: ProductSetIdentifiers, $n: Int!) {
  productSet(input: $input, identifier: $identifier, synchronous: true) {
    product {
      id
      variants(first: $n) { nodes { id sku inventoryItem { id requiresShipping } } }
    }
    userErrors { field message code }
  }
}`

// qProductByHandle finds a product we may have created without learning its
// ids (the answer was lost, or we crashed before recording them).
const qProductByHandle = `query ProductByHandle($handle: String!, $n: Int!) {
  productByIdentifier(identifier: {handle: $handle}) {
    id
    variants(first: $n) { nodes { id sku inventoryItem { id } } }
  }
}`

const qProductExists = `query ProductExists($id: ID!) {
  product(id: $id) { id }
}`

const mProductDelete = `mutation ProductDelete($id: ID!) {
  productDelete(input: {id: $id}, synchronous: true) {
    deletedProductId
    userErrors { field message }
  }
}`

// qInventoryLevels reads what the shop holds of each item at our location;
// a null inventoryLevel means the item is not stocked there.
const qInventoryLevels = `query InventoryLevels($ids: [ID!]!, $location: ID!) {
  nodes(ids: $ids) {
    ... on InventoryItem {
      id
      inventoryLevel(locationId: $location) {
        quantities(names: ["available"]) { name quantity }
      }
    }
  }
}`

// mInventorySet sets absolute quantities with compare-and-set: every
// quantity carries changeFromQuantity, what we read. The idempotency key is
// derived from the operation, the phase and the exact batch, so a resumed
// phase that computes the same batch re-sends the same key.
const mInventorySet = `mutation InventorySet($input: InventorySetQuantitiesInput!, $key: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $key) {
    inventoryAdjustmentGroup { id }
    userErrors { field message code }
  }
}`

const mInventoryActivate = `mutation InventoryActivate($item: ID!, $location: ID!, $key: String!) {
  inventoryActivate(inventoryItemId: $item, locationId: $location) @idempotent(key: $key) {
    inventoryLevel { id }
    userErrors { field message }
  }
}`

const mMetafieldsSet = `mutation MetafieldsSet($metafields: [MetafieldsSetInput!]!) {
  metafieldsSet(metafields: $metafields) {
    metafields { id }
    userErrors { field message code elementIndex }
  }
}`

const qDelivery = `query Delivery($service: ID!, $items: [ID!]!) {
  fulfillmentService(id: $service) { id location { id } }
  nodes(ids: $items) { ... on InventoryItem { id requiresShipping } }
}`

const mInventoryItemUpdate = `mutation InventoryItemUpdate($id: ID!) {
  inventoryItemUpdate(id: $id, input: {requiresShipping: false}) {
    inventoryItem { id requiresShipping }
    userErrors { field message }
  }
}`

const qPublications = `query Publications {
  publications(first: 20) { nodes { id catalog { title } } }
}`

const mPublish = `mutation Publish($id: ID!, $input: [PublicationInput!]!) {
  publishablePublish(id: $id, input: $input) {
    userErrors { field message }
  }
}`

const mUnpublish = `mutation Unpublish($id: ID!, $input: [PublicationInput!]!) {
  publishableUnpublish(id: $id, input: $input) {
    userErrors { field message }
  }
}`

// qOrderForRefund reads what is still refundable of an order, line by line.
const qOrderForRefund = `query OrderForRefund($id: ID!) {
  order(id: $id) {
    id
    currencyCode
    presentmentCurrencyCode
    lineItems(first: 100) {
      nodes { id sku quantity refundableQuantity variant { id } }
    }
  }
}`

// qSuggestedRefund asks the shop how to return the money of the line items
// a refund names: the transactions (gateway, parent payment, amount in shop
// and presentment money) that refundCreate must carry to move money.
const qSuggestedRefund = `query SuggestedRefund($id: ID!, $lines: [RefundLineItemInput!]) {
  order(id: $id) {
    suggestedRefund(refundLineItems: $lines) {
      suggestedTransactions {
        amountSet { shopMoney { amount currencyCode } presentmentMoney { amount currencyCode } }
        gateway
        kind
        parentTransaction { id }
      }
    }
  }
}`

// mRefundCreate always carries an idempotency key derived from (operation,
// shop order): a resumed refund re-sends the same key and the shop answers
// the first result instead of refunding twice.
const mRefundCreate = `mutation RefundCreate($input: RefundInput!, $key: String!) {
  refundCreate(input: $input) @idempotent(key: $key) {
    refund { id }
    userErrors { field message }
  }
}`
