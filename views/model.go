package views

import (
	"time"

	"eventops/engine"
)

// The view models: what the handlers load and the templates show. Templates
// do no I/O; everything they need is here.

// Names resolves ids to display names; an unknown id shows as "#id".
type Names struct {
	Companies map[uint64]string
}

// Company names a company.
func (n Names) Company(id uint64) string {
	if s, ok := n.Companies[id]; ok {
		return s
	}
	return "#" + utoa(id)
}

// Counts is the number of operations per status: pending and running now,
// completed and failed within Window. Partial marks lower bounds (the start-up
// count stopped at its cap).
type Counts struct {
	Pending, Running, Completed, Failed int
	// Canceled are the operations an operator canceled (failed with
	// OPERATION_CANCELED), counted apart: they are not in Failed.
	Canceled int
	Window   string
	Partial  bool
}

// Minute is one bar of the operations-per-minute chart.
type Minute struct {
	Start   time.Time
	Created int
	Failed  int
}

// ChartData is the last hour, one Minute per minute, oldest first.
type ChartData struct {
	Minutes []Minute
}

// Overview is the live part of the overview page.
type Overview struct {
	Chart    ChartData
	Failures []*engine.Operation
	Names    Names
	// Groups are the failures of the last 24 h by code, company and
	// phase, most first (operator cancels are not failures).
	Groups []FailureGroup
}

// FailureGroup is a group of failures: how many, hour by hour (Trend,
// oldest first), and the latest.
type FailureGroup struct {
	Code      engine.Code
	CompanyID uint64
	Phase     string
	Count     int
	Trend     []int
	LastOp    uint64
	LastAt    time.Time
}

// Row is an operation in an operations table.
type Row struct {
	Op    *engine.Operation
	Names Names
}

// OpFilter is the operations list's query, as the form shows it.
type OpFilter struct {
	Status, Action, Code string
	Company, Event       string // ids as typed, "" for any
	// From and To bound created_at (from inclusive, to exclusive), as
	// typed: RFC 3339, or a datetime-local value read as UTC.
	From, To string
}

// Rows is an operations table: its rows, and the cursor of the next page.
type Rows struct {
	Rows []Row
	// Next is the link to the next (older) page, "" on the last one.
	Next string
}

// OperationsPage is /operations.
type OperationsPage struct {
	Filter    OpFilter
	Rows      Rows
	Counts    Counts
	Companies []*engine.Company
	Codes     []engine.Code
	// Paged is set when this is not the first page.
	Paged bool
}

// OperationView is an operation as its page shows it.
type OperationView struct {
	Op   *engine.Operation
	JSON string // the API's representation, indented
	// JSONBig says the JSON is over MaxInlineJSON without it having been
	// built (JSON is empty): an operation of many phases, whose JSON is a
	// download and need not be marshalled on every push.
	JSONBig bool
	Company string
	Event   string // the event's name, "" when unknown or deleted
	// All shows every child of long lists (?phases=all); otherwise a long
	// list shows the children that matter (see phasetree.go).
	All bool
	// Now is when the view was made, for the critical path of running work.
	Now time.Time
	// Refunds are what a refund operation refunded, when known.
	Refunds []RefundLine
}

// RefundLine is one order a refund operation refunded.
type RefundLine struct {
	OrderID uint64
	Amount  string
	Status  string
}

// OperationPage is /operations/{id}.
type OperationPage struct {
	View OperationView
	// RetriedAs are the operations made by retrying this one, oldest
	// first (a failure retried once has one).
	RetriedAs []uint64
	// Admin forms carry the session's CSRF token.
	Admin bool
	CSRF  string
}

// EventsPage is /events: one company's top-level events.
type EventsPage struct {
	Companies []*engine.Company
	Company   uint64
	Events    []*engine.EventView
	Next      string
	// Last is each event's newest operation, kept live.
	Last map[uint64]*engine.Operation
}

// EventView is the live part of an event page.
type EventView struct {
	View        *engine.EventView
	Occurrences []*engine.EventView
	// MoreOccurrences is set when the page lists only the first ones.
	MoreOccurrences bool
	RegTypes        map[uint64]engine.RegistrationType
}

// EventPage is /events/{id}.
type EventPage struct {
	Live    EventView
	Company string
	Parent  *engine.Event
	Rows    Rows
	// Deleted marks an event whose delete was accepted: only its
	// operations are shown.
	Deleted bool
	// CurrencyMismatch names the event's price currencies its company's
	// shop (selling in ShopCurrency) cannot hold, "" when there is none:
	// the page flags such an event, whose Shopify phases fail with
	// SHOPIFY_CURRENCY_MISMATCH until its prices change.
	CurrencyMismatch string
	ShopCurrency     string
}

// CompaniesPage is /companies.
type CompaniesPage struct {
	Companies []*engine.Company
	Admin     bool
	CSRF      string
	// Error is a validation failure of the last form, shown above it.
	Error string
	// OAuth offers Connect with Shopify (the server has a Shopify app).
	OAuth bool
}

// KeyRow is an API key with its company's name.
type KeyRow struct {
	Key     *engine.APIKey
	Company string
}

// KeysPage is /keys. Created holds the keys just made, taken from the
// session's one-time flash by the page the creation redirected to: the
// plain keys are shown then and never again.
type KeysPage struct {
	Keys      []KeyRow
	Companies []*engine.Company
	Admin     bool
	CSRF      string
	Created   []*CreatedKey
	Error     string
	// AdminTokens are the installation admin tokens, newest first (set
	// for admins only).
	AdminTokens []*engine.APIKey
}

// CreatedKey is a key just made, with its plain value.
type CreatedKey struct {
	Key     *engine.APIKey
	Company string
	Plain   string
}

// AliasRow is one API key's use of the deprecated aliases.
type AliasRow struct {
	Use     *engine.AliasUse
	Key     *engine.APIKey // nil when the key no longer exists
	Company string
}

// AuditPage is /audit.
type AuditPage struct {
	Entries []*engine.AuditEntry
	Next    string
}

// StorageHealth is what the storage page shows of the data file.
type StorageHealth struct {
	Path        string
	FileSize    int64
	FreePages   int
	OpenReadTxs int
	Commits     uint64
	Updates     uint64
}

// StoragePage is /storage; Error is set when the stats could not be read,
// Missing when the server was given none.
type StoragePage struct {
	Health  StorageHealth
	Missing bool
	Error   string
}

// SandboxPage is /sandbox: the sandbox's state, or why there is none.
type SandboxPage struct {
	Shops   []SandboxShop
	Missing bool
	Error   string
}

// SandboxShop is one shop of the sandbox, its state as generic JSON.
type SandboxShop struct {
	Name     string
	Sections []JSONSection
}

// JSONSection is one top-level member of a shop's state: a table when it is
// a list of objects, else its value as text.
type JSONSection struct {
	Name    string
	Columns []string
	Rows    [][]string
	Text    string
}

// ErrorPage is an HTML error.
type ErrorPage struct {
	Status  int
	Title   string
	Message string
}

// LoginPage is /login.
type LoginPage struct {
	Email string
	Next  string
	CSRF  string
	Error string
}
