package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Created is the answer to a create: the resource, the operation it started
// (0 when none), and whether the server replayed the answer to an earlier
// request with the same Idempotency-Key instead of creating anything.
type Created[T any] struct {
	Resource    T
	OperationID uint64
	Replayed    bool
}

func created[T any](res *response, v T) (*Created[T], error) {
	c := &Created[T]{Resource: v, Replayed: strings.EqualFold(res.header.Get(HeaderReplayed), "true")}
	op := res.header.Get(HeaderOperationID)
	if op == "" {
		op = res.header.Get(HeaderSyncJobID)
	}
	if op != "" {
		id, err := strconv.ParseUint(op, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s header %q is not an operation id", HeaderOperationID, op)
		}
		c.OperationID = id
	}
	return c, nil
}

// Company answers GET /api/v2: the API key's company. It is the cheapest
// way to check a URL and a key.
func (c *Client) Company(ctx context.Context) (*Company, error) {
	var out Company
	if err := c.getJSON(ctx, "/", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (o ListOptions) query() url.Values {
	q := url.Values{}
	if o.Search != "" {
		q.Set("filter[search]", o.Search)
	}
	if o.Cursor != "" {
		q.Set("page[cursor]", o.Cursor)
	}
	if o.Size > 0 {
		q.Set("page[size]", strconv.Itoa(o.Size))
	}
	return q
}

// Venues lists one page of venues.
func (c *Client) Venues(ctx context.Context, o ListOptions) (*Page[Venue], error) {
	var out Page[Venue]
	if err := c.getJSON(ctx, "/venues", o.query(), &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// AllVenues lists every venue whose name contains search (all when empty),
// following the pages.
func (c *Client) AllVenues(ctx context.Context, search string) ([]Venue, error) {
	return all(ctx, search, c.Venues)
}

// Venue reads one venue.
func (c *Client) Venue(ctx context.Context, id uint64) (*Venue, error) {
	var out Venue
	if err := c.getJSON(ctx, idPath("/venues", id), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateVenue creates a venue; idemKey ("" for none) makes it safe to repeat.
func (c *Client) CreateVenue(ctx context.Context, in VenueInput, idemKey string) (*Created[Venue], error) {
	var out Venue
	res, err := c.postJSON(ctx, "/venues", "venue", in, idemKey, &out)
	if err != nil {
		return nil, err
	}
	return created(res, out)
}

// TicketTypes lists one page of ticket types.
func (c *Client) TicketTypes(ctx context.Context, o ListOptions) (*Page[TicketType], error) {
	var out Page[TicketType]
	if err := c.getJSON(ctx, "/ticket_types", o.query(), &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// AllTicketTypes lists every ticket type whose name contains search.
func (c *Client) AllTicketTypes(ctx context.Context, search string) ([]TicketType, error) {
	return all(ctx, search, c.TicketTypes)
}

// CreateTicketType creates a ticket type; idemKey ("" for none) makes it
// safe to repeat.
func (c *Client) CreateTicketType(ctx context.Context, in TicketTypeInput, idemKey string) (*Created[TicketType], error) {
	var out TicketType
	res, err := c.postJSON(ctx, "/ticket_types", "ticket_type", in, idemKey, &out)
	if err != nil {
		return nil, err
	}
	return created(res, out)
}

// maxPages bounds a walk through a list, against a server whose cursors
// never end.
const maxPages = 10_000

func all[T any](ctx context.Context, search string, list func(context.Context, ListOptions) (*Page[T], error)) ([]T, error) {
	o := ListOptions{Search: search, Size: 100}
	var out []T
	for range maxPages {
		p, err := list(ctx, o)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Data...)
		if p.Meta.Page.Last || p.Meta.Page.NextCursor == nil || *p.Meta.Page.NextCursor == "" {
			return out, nil
		}
		o.Cursor = *p.Meta.Page.NextCursor
	}
	return nil, fmt.Errorf("list: more than %d pages", maxPages)
}

// CreateEvent creates an event and starts its save operation (in
// Created.OperationID). With an idemKey a repeat of the same body creates
// nothing and answers the first response again (Created.Replayed); it is
// also what makes a create safe to retry after a 5xx or a lost connection.
func (c *Client) CreateEvent(ctx context.Context, in EventInput, idemKey string) (*Created[Event], error) {
	var out Event
	res, err := c.postJSON(ctx, "/events", "event", in, idemKey, &out)
	if err != nil {
		return nil, err
	}
	return created(res, out)
}

// Event reads one event.
func (c *Client) Event(ctx context.Context, id uint64) (*Event, error) {
	var out Event
	if err := c.getJSON(ctx, idPath("/events", id), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// EventListOptions filter and sort GET /events.
type EventListOptions struct {
	ListOptions
	// Status is future, active or past ("" for all).
	Status string
	// ParentEventID keeps a recurring event's occurrences; a pointer to 0
	// keeps the events that are not occurrences.
	ParentEventID *uint64
	From, To      *time.Time // on starts_at
	// Sort is starts_at, id or name, with a leading '-' for descending
	// ("" is the server's default, by start).
	Sort string
}

// Events lists one page of events.
func (c *Client) Events(ctx context.Context, o EventListOptions) (*Page[Event], error) {
	if o.Search != "" {
		return nil, fmt.Errorf("events: filter[search] is not a filter of events")
	}
	q := o.ListOptions.query()
	if o.Status != "" {
		q.Set("filter[status]", o.Status)
	}
	if o.ParentEventID != nil {
		if *o.ParentEventID == 0 {
			q.Set("filter[parent_event_id]", "null")
		} else {
			q.Set("filter[parent_event_id]", strconv.FormatUint(*o.ParentEventID, 10))
		}
	}
	if o.From != nil {
		q.Set("filter[starts_at][from]", o.From.UTC().Format(time.RFC3339))
	}
	if o.To != nil {
		q.Set("filter[starts_at][to]", o.To.UTC().Format(time.RFC3339))
	}
	if o.Sort != "" {
		key, dir := strings.TrimPrefix(o.Sort, "-"), "asc"
		if strings.HasPrefix(o.Sort, "-") {
			dir = "desc"
		}
		q.Set("sort["+key+"]", dir)
	}
	var out Page[Event]
	if err := c.getJSON(ctx, "/events", q, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// AllEvents lists every event the options select, following the pages
// (o.Cursor and o.Size are managed here).
func (c *Client) AllEvents(ctx context.Context, o EventListOptions) ([]Event, error) {
	o.Size = 100
	return all(ctx, "", func(ctx context.Context, lo ListOptions) (*Page[Event], error) {
		o.Cursor = lo.Cursor
		return c.Events(ctx, o)
	})
}

// PollOptions make a GET of an operation conditional and long-polling.
type PollOptions struct {
	// ETag is the tag of the state already known: sent as If-None-Match,
	// the answer is NotModified while the operation has not changed.
	ETag string
	// Wait long-polls: the server holds the request until the operation
	// changes (or, with ETag, differs from it) or Wait elapses (at most
	// 60 s, in whole seconds).
	Wait time.Duration
}

// OperationPoll is the answer to a poll of an operation.
type OperationPoll struct {
	// Operation is nil when NotModified.
	Operation   *Operation
	NotModified bool
	ETag        string
	// RetryAfter is the server's suggested poll interval (set while the
	// operation is not terminal).
	RetryAfter time.Duration
}

// Operation reads operation opID of event eventID, conditionally and
// long-polling as o says.
func (c *Client) Operation(ctx context.Context, eventID, opID uint64, o PollOptions) (*OperationPoll, error) {
	r := &request{method: http.MethodGet,
		path: idPath(idPath("/events", eventID)+"/operations", opID), header: http.Header{}}
	if o.ETag != "" {
		r.header.Set("If-None-Match", o.ETag)
	}
	if o.Wait > 0 {
		secs := min(int((o.Wait+time.Second-1)/time.Second), 60)
		r.query = url.Values{"wait": {strconv.Itoa(secs)}}
		r.hold = time.Duration(secs) * time.Second
	}
	res, err := c.do(ctx, r)
	if err != nil {
		return nil, err
	}
	p := &OperationPoll{ETag: res.header.Get("ETag"), RetryAfter: retryAfter(res.header, c.now())}
	if res.status == http.StatusNotModified {
		p.NotModified = true
		if p.ETag == "" {
			p.ETag = o.ETag
		}
		return p, nil
	}
	p.Operation = new(Operation)
	if err := decode(res, r.path, p.Operation); err != nil {
		return nil, err
	}
	return p, nil
}

// OperationListOptions filter GET /operations (newest first).
type OperationListOptions struct {
	Cursor  string
	Size    int
	Status  string // pending, running, completed, failed
	Action  string // save, delete, refund
	EventID uint64
	Code    string // an error code such as TICKETS_STRUCTURE_EMPTY
}

// Operations lists one page of the company's operations.
func (c *Client) Operations(ctx context.Context, o OperationListOptions) (*Page[Operation], error) {
	q := ListOptions{Cursor: o.Cursor, Size: o.Size}.query()
	for k, v := range map[string]string{"filter[status]": o.Status, "filter[action]": o.Action, "filter[code]": o.Code} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if o.EventID != 0 {
		q.Set("filter[event_id]", strconv.FormatUint(o.EventID, 10))
	}
	var out Page[Operation]
	if err := c.getJSON(ctx, "/operations", q, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// AllOperations lists every operation the options select.
func (c *Client) AllOperations(ctx context.Context, o OperationListOptions) ([]Operation, error) {
	o.Size = 100
	return all(ctx, "", func(ctx context.Context, lo ListOptions) (*Page[Operation], error) {
		o.Cursor = lo.Cursor
		return c.Operations(ctx, o)
	})
}
