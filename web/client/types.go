package client

import "time"

// Company is the API key's company (GET /api/v2).
type Company struct {
	ID   uint64 `json:"id"`
	Name string `json:"name"`
}

// Venue is a place with an IANA time zone.
type Venue struct {
	ID        uint64    `json:"id"`
	Name      string    `json:"name"`
	TimeZone  string    `json:"time_zone"`
	CreatedAt time.Time `json:"created_at"`
}

// VenueInput creates a venue.
type VenueInput struct {
	Name     string `json:"name"`
	TimeZone string `json:"time_zone"`
}

// TicketType is a reusable kind of ticket.
type TicketType struct {
	ID        uint64    `json:"id"`
	Name      string    `json:"name"`
	Kind      string    `json:"kind"`
	CreatedAt time.Time `json:"created_at"`
}

// TicketTypeInput creates a ticket type; Kind defaults to "admission".
type TicketTypeInput struct {
	Name string `json:"name"`
	Kind string `json:"kind,omitempty"`
}

// Money is a price: Amount in the currency's minor unit (cents for USD, yen
// for JPY). Decimal and Formatted are filled in answers only.
type Money struct {
	Amount    int64  `json:"amount"`
	Currency  string `json:"currency"`
	Decimal   string `json:"decimal,omitempty"`
	Formatted string `json:"formatted,omitempty"`
}

// Recurrence is a recurring event's rule: Count or Until (YYYY-MM-DD, a
// local date in the venue's zone), not both.
type Recurrence struct {
	Frequency string   `json:"frequency"` // daily, weekly, monthly
	Interval  int      `json:"interval,omitempty"`
	ByDay     []string `json:"by_day,omitempty"` // MO..SU, weekly only
	Count     int      `json:"count,omitempty"`
	Until     string   `json:"until,omitempty"`
}

// Event types.
const (
	EventDate      = "date"
	EventRecurring = "recurring"
)

// EventInput is the body of an event create (DESIGN §3.0): everything a
// save needs. Optional attributes are left out when zero.
type EventInput struct {
	Name              string                  `json:"name"`
	Slug              string                  `json:"slug,omitempty"`
	Type              string                  `json:"type"`
	VenueID           uint64                  `json:"venue_id"`
	StartsAt          time.Time               `json:"starts_at"`
	EndsAt            time.Time               `json:"ends_at"`
	PublishedAt       *time.Time              `json:"published_at,omitempty"`
	Capacity          *int                    `json:"capacity,omitempty"`
	SplitProducts     bool                    `json:"split_products,omitempty"`
	Recurrence        *Recurrence             `json:"recurrence,omitempty"`
	RegistrationTypes []RegistrationTypeInput `json:"registration_types"`
}

// RegistrationTypeInput is one way of registering for an event. ID is
// sent on an update only: it keeps and updates that registration type;
// entries without one are created, and those left out are removed.
type RegistrationTypeInput struct {
	ID           uint64     `json:"id,omitempty"`
	Name         string     `json:"name"`
	TicketTypeID uint64     `json:"ticket_type_id"`
	Price        MoneyInput `json:"price"`
	Quantity     *int       `json:"quantity,omitempty"`
}

// MoneyInput is a price as sent.
type MoneyInput struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

// OrderInput is a box-office sale of an event (POST /events/{id}/orders,
// under "order").
type OrderInput struct {
	RegistrationTypeID uint64 `json:"registration_type_id"`
	Quantity           int    `json:"quantity"`
}

// ZonedTime is a time in the venue's zone.
type ZonedTime struct {
	TZ    string `json:"tz"`
	Local string `json:"local"`
	UTC   string `json:"utc"`
}

// Event is an event as the API shows it.
type Event struct {
	ID            uint64     `json:"id"`
	Type          string     `json:"type"`
	ParentEventID *uint64    `json:"parent_event_id"`
	Name          string     `json:"name"`
	Slug          string     `json:"slug"`
	VenueID       uint64     `json:"venue_id"`
	StartsAt      time.Time  `json:"starts_at"`
	EndsAt        time.Time  `json:"ends_at"`
	Start         ZonedTime  `json:"start"`
	End           ZonedTime  `json:"end"`
	PublishedAt   *time.Time `json:"published_at"`
	Capacity      *int       `json:"capacity"`
	Sold          *int       `json:"sold"`
	Available     *int       `json:"available"`
	// Oversold is, on a date event, the seats sold beyond its capacity
	// (shop sales that landed while a save lowered the shop); null on a
	// recurring template.
	Oversold          *int               `json:"oversold"`
	SplitProducts     bool               `json:"split_products"`
	Recurrence        *Recurrence        `json:"recurrence"`
	RegistrationTypes []RegistrationType `json:"registration_types"`
	// KeptOccurrenceIDs lists a recurring event's occurrences that its
	// rule no longer yields but that stay because they were sold.
	KeptOccurrenceIDs []uint64  `json:"kept_occurrence_ids"`
	Deletable         bool      `json:"deletable"`
	ShopifyProductIDs []string  `json:"shopify_product_ids"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
}

// RegistrationType is one of an event's registration types.
type RegistrationType struct {
	ID           uint64 `json:"id"`
	Name         string `json:"name"`
	TicketTypeID uint64 `json:"ticket_type_id"`
	Price        Money  `json:"price"`
	Quantity     *int   `json:"quantity"`
	Sold         *int   `json:"sold"`
	Available    *int   `json:"available"`
	// ShopAvailable is what the shop currently offers of the type (the
	// allocation last written there); null without a shop.
	ShopAvailable    *int    `json:"shop_available"`
	ShopifyProductID *string `json:"shopify_product_id"`
	ShopifyVariantID *string `json:"shopify_variant_id"`
}

// Operation statuses. Only StatusCompleted and StatusFailed are terminal.
const (
	StatusPending   = "pending"
	StatusRunning   = "running"
	StatusCompleted = "completed"
	StatusFailed    = "failed"
)

// Terminal reports whether an operation or phase status never changes
// again: completed or failed, nothing else (a status this client does not
// know is not terminal).
func Terminal(status string) bool { return status == StatusCompleted || status == StatusFailed }

// Progress is units done over units; an operation's or phase's progress is
// nil until there is something meaningful to say. Percent never decreases
// while an operation runs: for an operation or an aggregate phase it weighs
// each planned phase's share (children divide their parent's), while
// Completed and Total count leaf phases and Total may grow as phases split.
type Progress struct {
	Percent   int `json:"percent"`
	Completed int `json:"completed"`
	Total     int `json:"total"`
}

// OpError is why an operation or phase failed (or, as a phase's last_error,
// the transient failure being retried). Phase and PhaseID are nil for a
// refund or a cancel. Stack is set only for OPERATION_WORK_PANICKED: the
// stack of the panic, for a bug report.
type OpError struct {
	Code    string  `json:"code"`
	Message string  `json:"message"`
	Phase   *string `json:"phase"`
	PhaseID *uint64 `json:"phase_id"`
	Stack   string  `json:"stack,omitempty"`
}

// Operation is the background work a write started (DESIGN §4).
type Operation struct {
	ID         uint64     `json:"id"`
	Action     string     `json:"action"` // save, delete, refund
	EventID    uint64     `json:"event_id"`
	Status     string     `json:"status"`
	Progress   *Progress  `json:"progress"`
	Error      *OpError   `json:"error"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	StartedAt  *time.Time `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	Phases     []Phase    `json:"phases"`
	// Version counts the operation's persisted changes: keep the highest
	// seen and drop older states (webhooks are not ordered).
	Version uint64 `json:"version"`
	// PhasesTruncated is set in a webhook body whose phase children were
	// cut; read the operation for the whole tree.
	PhasesTruncated bool `json:"phases_truncated,omitempty"`
}

// Phase is a node of an operation's phase tree, of any depth.
type Phase struct {
	ID         uint64     `json:"id"`
	Name       string     `json:"name"`
	Status     string     `json:"status"`
	Progress   *Progress  `json:"progress"`
	Error      *OpError   `json:"error"`
	StartedAt  *time.Time `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	Attempts   int        `json:"attempts"`
	LastError  *OpError   `json:"last_error"`
	Phases     []Phase    `json:"phases"`
}

// Terminal reports whether the operation is completed or failed.
func (op *Operation) Terminal() bool { return Terminal(op.Status) }

// Phase finds the first phase named name anywhere in the tree (depth
// first, in the API's order); nil when there is none. Clients must not
// assume a fixed set of phases: the planner picks them.
func (op *Operation) Phase(name string) *Phase { return findPhase(op.Phases, name) }

func findPhase(ps []Phase, name string) *Phase {
	for i := range ps {
		if ps[i].Name == name {
			return &ps[i]
		}
		if p := findPhase(ps[i].Phases, name); p != nil {
			return p
		}
	}
	return nil
}

// Page is one page of a list. There is no total: follow NextCursor until
// Last (a page may hold fewer items than its size, even none, and not be
// the last).
type Page[T any] struct {
	Data []T      `json:"data"`
	Meta ListMeta `json:"meta"`
}

// ListMeta describes a page.
type ListMeta struct {
	Count int `json:"count"`
	Page  struct {
		Size       int     `json:"size"`
		NextCursor *string `json:"next_cursor"`
		First      bool    `json:"first"`
		Last       bool    `json:"last"`
	} `json:"page"`
	Links struct {
		Self string  `json:"self"`
		Next *string `json:"next"`
	} `json:"links"`
}

// ListOptions are the paging and search parameters of a list.
type ListOptions struct {
	// Search keeps items whose name contains it, ignoring case
	// (filter[search]; venues and ticket types).
	Search string
	Cursor string
	Size   int // 1..100; 0 means the server's default (25)
}
