package engine

import (
	"bytes"
	"encoding/json"
	"time"
)

// Nullable is an attribute of a write that may be absent (Set false), null
// (Set true, Value nil) or a value.
type Nullable[T any] struct {
	Set   bool
	Value *T
}

// UnmarshalJSON records that the attribute was sent, null or not.
func (n *Nullable[T]) UnmarshalJSON(b []byte) error {
	n.Set = true
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		n.Value = nil
		return nil
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	n.Value = &v
	return nil
}

// EventInput is a create (everything a save needs) or a PATCH (only what
// changes). Pointers are nil when the attribute was not sent.
type EventInput struct {
	Name              *string                  `json:"name"`
	Slug              *string                  `json:"slug"`
	Type              *EventType               `json:"type"`
	VenueID           *uint64                  `json:"venue_id"`
	StartsAt          *time.Time               `json:"starts_at"`
	EndsAt            *time.Time               `json:"ends_at"`
	PublishedAt       Nullable[time.Time]      `json:"published_at"`
	Capacity          Nullable[int]            `json:"capacity"`
	SplitProducts     *bool                    `json:"split_products"`
	Recurrence        Nullable[Recurrence]     `json:"recurrence"`
	RegistrationTypes *[]RegistrationTypeInput `json:"registration_types"`
}

// RegistrationTypeInput is one entry of registration_types. On PATCH the list
// replaces the old one: entries with an id are kept and updated, the others
// created, missing ones removed.
type RegistrationTypeInput struct {
	ID           *uint64    `json:"id"`
	Name         string     `json:"name"`
	TicketTypeID uint64     `json:"ticket_type_id"`
	Price        MoneyInput `json:"price"`
	Quantity     *int       `json:"quantity"`
}

// MoneyInput is a price as sent: amount in the currency's minor unit.
type MoneyInput struct {
	Amount   *int64 `json:"amount"`
	Currency string `json:"currency"`
}

// OrderInput is a box-office sale.
type OrderInput struct {
	RegistrationTypeID uint64 `json:"registration_type_id"`
	Quantity           int    `json:"quantity"`
}

// VenueInput creates a venue.
type VenueInput struct {
	Name     string `json:"name"`
	TimeZone string `json:"time_zone"`
}

// TicketTypeInput creates a ticket type.
type TicketTypeInput struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
}
