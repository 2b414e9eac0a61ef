package engine

import (
	"context"
	"errors"
	"time"
)

// Store is the durable state of an installation. The storage package
// implements it on bbolt and on PostgreSQL; the engine owns every rule about
// what is written.
type Store interface {
	// Update runs fn in a read-write transaction and returns once the
	// transaction is durably committed. Concurrent Updates share commits
	// (group commit): fn may run more than once and must have no effect
	// outside tx (on PostgreSQL it also runs again after a serialization
	// failure). An error from fn rolls back fn's writes only and is
	// returned as is.
	Update(ctx context.Context, fn func(tx Tx) error) error
	// View runs fn in a read-only transaction. Values returned by Tx
	// methods are the caller's own (copied out of the file).
	View(fn func(tx Tx) error) error
	Close() error
}

// ErrStoreLocked is returned by storage.Open when another process holds the
// data file.
var ErrStoreLocked = errors.New("data file is in use by another eventops process")

// Sequence names an id sequence. Operations and phases share one.
type Sequence string

const (
	SeqOperation  Sequence = "operation" // operations and phases
	SeqCompany    Sequence = "company"
	SeqAPIKey     Sequence = "apikey"
	SeqUser       Sequence = "user"
	SeqVenue      Sequence = "venue"
	SeqTicketType Sequence = "ticket_type"
	SeqEvent      Sequence = "event"
	SeqRegType    Sequence = "registration_type"
	SeqOrder      Sequence = "order"
)

// Tx is one transaction. Getters return (nil, nil) when the record does not
// exist; callers decide whether that is a 404.
type Tx interface {
	NextID(seq Sequence) (uint64, error)

	// InstallationID identifies this installation among others writing
	// into the same shop (see installation.go). The store chose it at its
	// first start and keeps it in the data file, so every node and every
	// copy of the file has the same.
	InstallationID() (string, error)
	// ShopifyApp is the installation's public Shopify app (nil: none set);
	// PutShopifyApp replaces it.
	ShopifyApp() (*ShopifyApp, error)
	PutShopifyApp(a *ShopifyApp) error

	Company(id uint64) (*Company, error)
	PutCompany(c *Company) error
	Companies() ([]*Company, error)

	APIKey(id uint64) (*APIKey, error)
	APIKeyByHash(hash []byte) (*APIKey, error)
	PutAPIKey(k *APIKey) error
	APIKeys(companyID uint64) ([]*APIKey, error) // companyID 0: every company

	User(id uint64) (*User, error)
	UserByEmail(email string) (*User, error)
	PutUser(u *User) error
	Users() ([]*User, error)

	Venue(id uint64) (*Venue, error)
	PutVenue(v *Venue) error
	Venues(q NamedQuery) ([]*Venue, string, error)

	TicketType(id uint64) (*TicketType, error)
	PutTicketType(t *TicketType) error
	TicketTypes(q NamedQuery) ([]*TicketType, string, error)

	// PutEvent writes an event and keeps its list indexes; an event with
	// Deleted set leaves every list (Event still finds it by id).
	Event(id uint64) (*Event, error)
	PutEvent(e *Event) error
	Events(q EventQuery) ([]*Event, string, error)
	// ChildEvents lists a recurring event's live occurrences by start.
	ChildEvents(parentID uint64) ([]*Event, error)

	TicketStructure(eventID uint64) (*TicketStructure, error)
	PutTicketStructure(s *TicketStructure) error
	DeleteTicketStructure(eventID uint64) error

	Order(id uint64) (*Order, error)
	PutOrder(o *Order) error
	Orders(eventID uint64) ([]*Order, error) // in id order

	// PutOperation writes an operation and keeps every index of it (by
	// event, company, status, action and error code) current.
	Operation(id uint64) (*Operation, error)
	PutOperation(o *Operation) error
	Operations(q OperationQuery) ([]*Operation, uint64, error)
	// ActiveOperations are the pending and running ones in id order,
	// read from the status index (never a scan of everything).
	ActiveOperations() ([]*Operation, error)
	// PruneOperations deletes up to limit terminal operations finished
	// before t, oldest first, and reports how many it deleted.
	PruneOperations(before time.Time, limit int) (int, error)

	// Idempotency records, by scope and key.
	Idempotency(scope, key string) (*IdempotencyRecord, error)
	PutIdempotency(r *IdempotencyRecord) error
	// PruneIdempotency deletes up to limit records created before t and
	// reports how many it deleted.
	PruneIdempotency(before time.Time, limit int) (int, error)

	// AliasUses lists per-key use of the deprecated sync-job aliases.
	AliasUses() ([]*AliasUse, error)
	PutAliasUse(u *AliasUse) error

	// ---- Shopify webhooks (engine/webhooks.go, storage/webhooks.go) ----

	// Webhook returns the record of a delivery a company received, by its
	// X-Shopify-Webhook-Id, or (nil, nil): a delivery is handled once.
	Webhook(companyID uint64, webhookID string) (*WebhookRecord, error)
	// PutWebhook remembers a delivery, indexed by when it was received.
	PutWebhook(w *WebhookRecord) error
	// PruneWebhooks deletes up to limit records received before t, oldest
	// first, and reports how many it deleted.
	PruneWebhooks(before time.Time, limit int) (int, error)
	// IndexShopOrder makes an order placed in the shop findable by
	// ShopOrders; call it in the transaction that first writes the order.
	// The entry never changes (an order keeps its shop order id).
	IndexShopOrder(o *Order) error
	// ShopOrders lists the orders recorded from one shop order of a company
	// (its line items, and parts split off by partial refunds), in id order.
	ShopOrders(companyID uint64, shopifyOrderID string) ([]*Order, error)

	// ---- Staff sessions (engine/sessions.go, storage/sessions.go) ----

	// DeleteUser removes a staff user (an absent one is no error).
	DeleteUser(id uint64) error
	// Session returns a session by the hash of its cookie, or (nil, nil).
	Session(hash []byte) (*StaffSession, error)
	// PutSession writes a session, indexed by user and by its absolute
	// expiry.
	PutSession(s *StaffSession) error
	// DeleteSession removes a session; an absent one is no error.
	DeleteSession(hash []byte) error
	// DeleteUserSessions removes every session of a user and reports how
	// many.
	DeleteUserSessions(userID uint64) (int, error)
	// PruneSessions deletes up to limit sessions expiring before t, oldest
	// first, and reports how many it deleted.
	PruneSessions(before time.Time, limit int) (int, error)
}

// NamedQuery lists a company's venues or ticket types by id, optionally
// narrowed to names containing Search (case-insensitive).
type NamedQuery struct {
	CompanyID uint64
	Search    string
	Cursor    string // opaque; "" starts at the beginning
	Limit     int
}

// EventSort orders an event list.
type EventSort string

const (
	SortStartsAt EventSort = "starts_at"
	SortID       EventSort = "id"
	SortName     EventSort = "name"
)

// EventQuery lists a company's live (not deleted) events.
type EventQuery struct {
	CompanyID uint64
	ParentID  *uint64   // only the occurrences of this recurring event
	When      string    // "", "future", "active" or "past", relative to Now
	Now       time.Time // for When
	From, To  *time.Time
	Sort      EventSort
	Desc      bool
	Cursor    string // opaque; "" starts at the beginning
	Limit     int
}

// OperationQuery lists operations newest first. Zero fields do not filter;
// CompanyID 0 means every company (staff).
type OperationQuery struct {
	CompanyID uint64
	EventID   uint64
	Status    Status
	Action    Action
	Code      Code
	// CreatedFrom and CreatedTo bound created_at: From ≤ created_at < To;
	// a zero time does not bound.
	CreatedFrom time.Time
	CreatedTo   time.Time
	Before      uint64 // cursor: only ids below it; 0 starts at the newest
	Limit       int
}

// CreatedIn reports whether at is within the query's created_at bounds.
func (q OperationQuery) CreatedIn(at time.Time) bool {
	return (q.CreatedFrom.IsZero() || !at.Before(q.CreatedFrom)) && (q.CreatedTo.IsZero() || at.Before(q.CreatedTo))
}
