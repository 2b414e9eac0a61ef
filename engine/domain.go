package engine

import (
	"encoding/json"
	"log/slog"
	"time"
)

// Company is the tenant. It is either not connected to Shopify (Shop nil) or
// connected to exactly one shop.
type Company struct {
	ID        uint64    `json:"id"`
	Name      string    `json:"name"`
	Shop      *Shop     `json:"shop,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Shopify reports whether the company mirrors its events into a shop.
func (c *Company) Shopify() bool { return c != nil && c.Shop != nil }

// Shop is a company's connection to a Shopify store.
type Shop struct {
	// Sandbox is true for a shop of the built-in sandbox.
	Sandbox bool `json:"sandbox"`
	// Domain is the shop's myshopify domain or the base URL of its Admin API.
	Domain string `json:"domain"`
	// Revoked is set when the app was uninstalled or the token refused.
	Revoked bool `json:"revoked,omitempty"`
	// Currency is the shop's currency (Shopify's shop { currencyCode }),
	// read when the shop is connected, or at start-up and by the catalog
	// phase for a connection made before it was kept; "" until read. A
	// shop holds prices in its currency only: events of the company are
	// priced in it (see checkShopCurrency), and its orders are recorded
	// in it.
	Currency string `json:"currency,omitempty"`
	// Setup remembers the one-time shop set-up (fulfillment service and its
	// location, publication, webhooks) once done.
	Setup *ShopSetup `json:"setup,omitempty"`
	// Reconciled is how far the reconciliation has read the shop's orders
	// (see ShopMark); nil until its first pass.
	Reconciled *ShopMark `json:"reconciled,omitempty"`
	// Unfulfilled lists the shop orders recorded as sales whose ticket
	// lines are still to be marked fulfilled in the shop (shop_fulfil.go).
	Unfulfilled []string `json:"unfulfilled,omitempty"`
	// AccessToken and WebhookSecret are sealed (encrypted at rest by the
	// store's Sealer); they are opened only to call the shop or check a
	// webhook signature.
	AccessToken   []byte `json:"access_token,omitempty"`
	WebhookSecret []byte `json:"webhook_secret,omitempty"`

	// Auth is how eventops gets the shop's tokens ("" is ShopAuthToken);
	// see shop_auth.go. ClientID is the app's (not a secret);
	// ClientSecret and RefreshToken are sealed like the token. The
	// times are those of the access token held (nil: it does not expire),
	// of its refresh token, and of the last time eventops got one.
	Auth             ShopAuth   `json:"auth,omitempty"`
	ClientID         string     `json:"client_id,omitempty"`
	ClientSecret     []byte     `json:"client_secret,omitempty"`
	RefreshToken     []byte     `json:"refresh_token,omitempty"`
	TokenExpiresAt   *time.Time `json:"token_expires_at,omitempty"`
	RefreshExpiresAt *time.Time `json:"refresh_expires_at,omitempty"`
	TokenRefreshedAt *time.Time `json:"token_refreshed_at,omitempty"`
	// TokenRefused is set when the shop refused the last token request
	// (a wrong or rotated client secret, an expired refresh token): until
	// a grant succeeds or the shop is reconnected, every call fails with
	// SHOPIFY_AUTH_REJECTED, and the dashboard says so on every page.
	// It holds Shopify's refusal, never a secret.
	TokenRefused   string     `json:"token_refused,omitempty"`
	TokenRefusedAt *time.Time `json:"token_refused_at,omitempty"`
	// Scopes are the access scopes the shop granted, as read at connect.
	Scopes []string `json:"scopes,omitempty"`
}

// Kind is the connection's kind, ShopAuthToken for connections made
// before kinds existed.
func (s *Shop) Kind() ShopAuth {
	if s == nil || s.Auth == "" {
		return ShopAuthToken
	}
	return s.Auth
}

// ShopSetup is what catalog's first run created in the shop.
type ShopSetup struct {
	FulfillmentServiceID string `json:"fulfillment_service_id"`
	LocationID           string `json:"location_id"`
	PublicationID        string `json:"publication_id"`
	Webhooks             bool   `json:"webhooks"`
}

// Secret is a credential in memory. It never reaches a log line (LogValue) or
// fmt output (String); use Reveal where the plain value is needed.
type Secret string

// LogValue keeps secrets out of every slog line.
func (Secret) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// String keeps secrets out of fmt output.
func (Secret) String() string { return "[redacted]" }

// Reveal returns the plain value.
func (s Secret) Reveal() string { return string(s) }

// Scope of an API key.
type Scope string

const (
	ScopeRead  Scope = "read"
	ScopeWrite Scope = "write"
)

// APIKey belongs to one company. Only a hash of the key is stored.
type APIKey struct {
	ID        uint64     `json:"id"`
	CompanyID uint64     `json:"company_id"`
	Name      string     `json:"name"`
	Prefix    string     `json:"prefix"` // first characters, to recognise a key in lists
	Hash      []byte     `json:"hash"`   // SHA-256 of the whole key
	Scopes    []Scope    `json:"scopes"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	LastUsed  *time.Time `json:"last_used_at,omitempty"`
}

// Can reports whether the key holds scope s.
func (k *APIKey) Can(s Scope) bool {
	for _, have := range k.Scopes {
		if have == s {
			return true
		}
	}
	return false
}

// Role of a staff user.
type Role string

const (
	RoleAdmin  Role = "admin"
	RoleViewer Role = "viewer"
)

// User is a staff member who signs in to the dashboard.
type User struct {
	ID           uint64    `json:"id"`
	Email        string    `json:"email"`
	Role         Role      `json:"role"`
	PasswordHash []byte    `json:"password_hash"` // bcrypt
	CreatedAt    time.Time `json:"created_at"`
}

// Venue is where events happen; its zone drives recurrence and local times.
type Venue struct {
	ID        uint64    `json:"id"`
	CompanyID uint64    `json:"company_id"`
	Name      string    `json:"name"`
	TimeZone  string    `json:"time_zone"`
	CreatedAt time.Time `json:"created_at"`
}

// TicketType is reusable across events.
type TicketType struct {
	ID        uint64    `json:"id"`
	CompanyID uint64    `json:"company_id"`
	Name      string    `json:"name"`
	Kind      string    `json:"kind"`
	CreatedAt time.Time `json:"created_at"`
}

// EventType is "date" (one occurrence) or "recurring" (a template).
type EventType string

const (
	EventDate      EventType = "date"
	EventRecurring EventType = "recurring"
)

// RegistrationType is one way to register for an event: a ticket type at a
// price, with an optional quantity limit.
type RegistrationType struct {
	ID           uint64 `json:"id"`
	Name         string `json:"name"`
	TicketTypeID uint64 `json:"ticket_type_id"`
	Price        Money  `json:"price"`
	Quantity     *int   `json:"quantity"` // nil: no per-type limit
}

// Event is a date event or a recurring template; occurrences are date events
// with ParentID set.
type Event struct {
	ID                uint64             `json:"id"`
	CompanyID         uint64             `json:"company_id"`
	Type              EventType          `json:"type"`
	ParentID          uint64             `json:"parent_event_id,omitempty"`
	Name              string             `json:"name"`
	Slug              string             `json:"slug"`
	VenueID           uint64             `json:"venue_id"`
	StartsAt          time.Time          `json:"starts_at"`
	EndsAt            time.Time          `json:"ends_at"`
	PublishedAt       *time.Time         `json:"published_at,omitempty"`
	Capacity          *int               `json:"capacity"` // nil: no shared limit
	RegistrationTypes []RegistrationType `json:"registration_types"`
	SplitProducts     bool               `json:"split_products"`
	Recurrence        *Recurrence        `json:"recurrence,omitempty"`
	// Withdrawn lists products the event had in its shop that no ticket
	// structure holds any more: the combined product after split_products
	// was switched on (or the split ones after it was switched off), a
	// split product whose registration type was removed, and on a
	// recurring event the products of occurrences dropped from the rule.
	// The next catalog phase of the event (or of its recurring parent)
	// deletes them from the shop, then forgets them.
	Withdrawn []ShopProductRef `json:"withdrawn_products,omitempty"`
	// KeptOccurrenceIDs, on a recurring event, lists the occurrences its
	// rule no longer yields but that stay because they have paid orders: a
	// sale that landed after the API checked a change of the rule (a change
	// that drops a sold occurrence is otherwise refused with
	// occurrence_sold). Each save of the rule recomputes it; a refunded or
	// again-yielded occurrence leaves the list.
	KeptOccurrenceIDs []uint64 `json:"kept_occurrence_ids,omitempty"`
	// Deleted marks an event whose delete operation has been accepted; it is
	// gone from the API but its operations stay readable.
	Deleted   bool      `json:"deleted,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// ShopProductRef names a product in the company's shop.
type ShopProductRef struct {
	ID     string `json:"id"` // the shop's product id (opaque here; engine/shopify reads it)
	Handle string `json:"handle"`
}

// QueueID is the event whose queue this event's operations share: a recurring
// event and its occurrences run in the parent's order (DESIGN §4.1).
func (e *Event) QueueID() uint64 {
	if e.ParentID != 0 {
		return e.ParentID
	}
	return e.ID
}

// OrderStatus of an order.
type OrderStatus string

const (
	OrderPaid     OrderStatus = "paid"
	OrderRefunded OrderStatus = "refunded"
)

// Order is a minimal sale record.
type Order struct {
	ID                 uint64      `json:"id"`
	CompanyID          uint64      `json:"company_id"`
	EventID            uint64      `json:"event_id"`
	RegistrationTypeID uint64      `json:"registration_type_id"`
	Quantity           int         `json:"quantity"`
	Amount             Money       `json:"amount"`
	Status             OrderStatus `json:"status"`
	ShopifyOrderID     string      `json:"shopify_order_id,omitempty"`
	CreatedAt          time.Time   `json:"created_at"`
	RefundedAt         *time.Time  `json:"refunded_at,omitempty"`
	// ShopifyLineItemID is the shop's line item (a gid) an order placed in
	// the shop was recorded from: refunds made in the shop name line items.
	ShopifyLineItemID string `json:"shopify_line_item_id,omitempty"`
	// ShopifyRefundIDs are the shop refunds (gids) applied to this order,
	// so that a refund delivered twice (under two webhook ids) counts once.
	ShopifyRefundIDs []string `json:"shopify_refund_ids,omitempty"`
	// Presentment is, for an order placed in the shop, what the buyer
	// paid in the currency the shop presented to them (Shopify's
	// presentment money, which may differ from the shop's currency that
	// Amount is in); nil for box-office orders and payloads without it.
	Presentment *Money `json:"presentment,omitempty"`
	// RegistrationTypeName and UnitPrice are the registration type's name
	// and the price of one as sold, kept on the order so that it reads
	// (and refunds) the same once the type is gone. Orders recorded before
	// they were kept have "" and nil.
	RegistrationTypeName string `json:"registration_type_name,omitempty"`
	UnitPrice            *Money `json:"unit_price,omitempty"`
	// Retired is set on a shop order recorded after what it sold was gone:
	// its registration type removed from the event, its occurrence
	// dropped from the recurrence, or its event deleted (the buyer paid
	// while the shop still offered it). The order counts as any other:
	// listed, sold, refunded.
	Retired bool `json:"retired,omitempty"`
	// OccurrenceID is, for an order of an occurrence that was gone when it
	// was recorded, that occurrence: the order is recorded against the
	// recurring event (EventID), where it is listed and refunded. 0: the
	// order is recorded against the event that sold it.
	OccurrenceID uint64 `json:"occurrence_id,omitempty"`
	// ShopifyRefund is the refund input computed for this order's shop
	// order by a refund operation, persisted before it is first sent (see
	// SaveShopRefund).
	ShopifyRefund *ShopRefundInput `json:"shopify_refund,omitempty"`
	// Version counts the order's writes (putOrder), so webhook receivers
	// and pollers can order what they see (DESIGN §8).
	Version uint64 `json:"version,omitempty"`
}

// SoldEventID is the date event (occurrence) the order sold: the one its
// shop line item's SKU names.
func (o *Order) SoldEventID() uint64 {
	if o.OccurrenceID != 0 {
		return o.OccurrenceID
	}
	return o.EventID
}

// ShopRefundInput is a shop refund as computed once by refund operation
// OperationID: the refundCreate input (line items and the money-moving
// transactions the shop suggested), kept verbatim. A resumed refund re-sends
// exactly these bytes under the same idempotency key instead of asking the
// shop again, whose new answer (after a partial refund, a changed rate)
// would make the key's parameters differ and be refused with
// IDEMPOTENCY_KEY_PARAMETER_MISMATCH.
type ShopRefundInput struct {
	OperationID uint64          `json:"operation_id"`
	Input       json.RawMessage `json:"input"`
}

// Product is a sellable product of our own, written by the tickets phase:
// what catalog mirrors into the shop (one per event or occurrence, or one per
// registration type with split products).
type Product struct {
	Key              string    `json:"key"`      // stable identity: "e{event}" or "e{event}-r{regtype}"
	EventID          uint64    `json:"event_id"` // the date event (occurrence) it sells
	Title            string    `json:"title"`
	Handle           string    `json:"handle"`
	Variants         []Variant `json:"variants"`
	ShopifyProductID string    `json:"shopify_product_id,omitempty"`
}

// Variant is one registration type of a product.
type Variant struct {
	RegistrationTypeID uint64 `json:"registration_type_id"`
	Title              string `json:"title"`
	Price              Money  `json:"price"`
	// Available is what is left to sell (DESIGN §2); nil when unlimited.
	Available        *int   `json:"available"`
	ShopifyVariantID string `json:"shopify_variant_id,omitempty"`
	InventoryItemID  string `json:"inventory_item_id,omitempty"`
	// CreatedBy is the operation whose catalog phase created the variant
	// in the shop, stocked with 0 available at the app's location and not
	// requiring shipping (as the shop answered). That operation's inventory
	// phase sets its quantity with compare-and-set from 0 without reading
	// it first (a wrong guess is refused as stale, and the phase reads),
	// and its delivery phase has nothing left to check.
	CreatedBy uint64 `json:"created_by_op,omitempty"`
	// ShopOffer is the quantity eventops last wrote for the variant in the
	// shop (its allocation, see Allocate; nil: never written), and
	// ShopOfferSold the recorded sold of its type when it was written. The
	// inventory phase compares the shop's level with them: a level lower
	// than ShopOffer minus the sales recorded since is a sale not recorded
	// yet, never written over. The API shows ShopOffer as shop_available.
	ShopOffer     *int `json:"shop_offer,omitempty"`
	ShopOfferSold int  `json:"shop_offer_sold,omitempty"`
	// ShopPending is a quantity eventops is writing (or wrote) for the
	// variant whose answer it has not recorded: committed before the
	// write is sent, cleared when its answer is recorded in ShopOffer.
	// ShopPendingSold is the recorded sold of its type it counted. A
	// write the shop applied but whose answer was lost leaves the level
	// at ShopPending (less the sales since): the inventory phase takes
	// such a level as eventops' own write, never as a sale.
	ShopPending     *int `json:"shop_pending,omitempty"`
	ShopPendingSold int  `json:"shop_pending_sold,omitempty"`
}

// TicketStructure is the tickets phase's record for one date event: per
// registration type, its limit and what is sold, and the products to mirror.
type TicketStructure struct {
	EventID  uint64        `json:"event_id"`
	Capacity *int          `json:"capacity"`
	Types    []TicketLimit `json:"types"`
	Products []Product     `json:"products"`
	// Dropped lists the inventory items of mirrored variants whose
	// registration type was removed from the occurrence: the next save's
	// first Shopify step sets them to 0 in the shop before its catalog
	// step deletes them (the buyer could otherwise take a removed type
	// meanwhile), and forgets them once catalog is done.
	Dropped []string `json:"dropped_inventory_items,omitempty"`
	// Takes are the box-office sales in flight (box_office_takes.go):
	// written only by them; a rebuild keeps them (putStructure).
	Takes []BoxOfficeTake `json:"box_office_takes,omitempty"`
	// SoldAll is the paid quantity of the occurrence over all its types,
	// retired ones included (what the capacity is shared by).
	SoldAll   int       `json:"sold_all,omitempty"`
	UpdatedBy uint64    `json:"updated_by_phase"` // phase id that wrote it
	UpdatedAt time.Time `json:"updated_at"`
	// Revision counts rebuilds: every write bumps it, so a structure built
	// outside a commit can tell whether it is still the current one.
	Revision uint64 `json:"revision"`
}

// TicketLimit is one registration type in one occurrence.
type TicketLimit struct {
	RegistrationTypeID uint64 `json:"registration_type_id"`
	Quantity           *int   `json:"quantity"`
	Sold               int    `json:"sold"`
	Available          *int   `json:"available"`
	// ShopSold is the part of Sold that was sold in the shop (what moved
	// the shop's level, unlike box-office sales).
	ShopSold int `json:"shop_sold,omitempty"`
}

// Available is what is left to sell of a registration type:
// min(quantity − sold of that type, capacity − sold of all types), either
// term absent when its limit is absent; never negative.
func Available(quantity *int, soldType int, capacity *int, soldAll int) *int {
	var out *int
	if quantity != nil {
		v := *quantity - soldType
		out = &v
	}
	if capacity != nil {
		v := *capacity - soldAll
		if out == nil || v < *out {
			out = &v
		}
	}
	if out != nil && *out < 0 {
		z := 0
		out = &z
	}
	return out
}
