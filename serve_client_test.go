package main

// A small client of the JSON API for the serve tests, for both the
// in-process server and the binary: raw requests with the status each
// expects, and the few creates the tests need.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"eventops/web"
)

type apiClient struct {
	t    testing.TB
	base string
	key  string
	http *http.Client
}

func (a *apiClient) request(method, path, body string, headers ...string) (*http.Response, []byte, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, a.base+path, rd)
	if err != nil {
		return nil, nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.key != "" {
		req.Header.Set("Authorization", "Token "+a.key)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := a.http.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res, b, err
}

// do sends a request and fails the test unless it is answered with want.
func (a *apiClient) do(method, path, body string, want int, headers ...string) (*http.Response, []byte) {
	a.t.Helper()
	res, b, err := a.request(method, path, body, headers...)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	if res.StatusCode != want {
		a.t.Fatalf("%s %s: %d, want %d: %s", method, path, res.StatusCode, want, b)
	}
	return res, b
}

// getJSON sends GET path, fails the test unless it is answered with want,
// and reads the body as T: one of web/client's types for an API answer,
// json.RawMessage where only being JSON matters (probes).
func getJSON[T any](a *apiClient, path string, want int) T {
	a.t.Helper()
	_, b := a.do("GET", path, "", want)
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		a.t.Fatalf("GET %s: not a %T: %v: %s", path, v, err, b)
	}
	return v
}

func (a *apiClient) venueAndTicketType() (venue, ticketType uint64) {
	a.t.Helper()
	_, b := a.do("POST", "/api/v2/venues", `{"venue": {"name": "Blue Room", "time_zone": "America/Chicago"}}`, 201)
	venue = idOf(a.t, b)
	_, b = a.do("POST", "/api/v2/ticket_types", `{"ticket_type": {"name": "General admission"}}`, 201)
	return venue, idOf(a.t, b)
}

// createEvent posts an event and returns its id and its operation's.
func (a *apiClient) createEvent(body string) (event, op uint64) {
	a.t.Helper()
	res, b := a.do("POST", "/api/v2/events", body, 201)
	op, err := strconv.ParseUint(res.Header.Get(web.HeaderOperationID), 10, 64)
	if err != nil {
		a.t.Fatalf("no operation id: %v", res.Header)
	}
	return idOf(a.t, b), op
}

func idOf(t testing.TB, body []byte) uint64 {
	t.Helper()
	var m struct {
		ID uint64 `json:"id"`
	}
	if err := json.Unmarshal(body, &m); err != nil || m.ID == 0 {
		t.Fatalf("no id in %s (%v)", body, err)
	}
	return m.ID
}

func dateEvent(venue, ticketType uint64) string {
	return fmt.Sprintf(`{"event": {"name": "Jazz Night", "type": "date", "venue_id": %d,
  "starts_at": "2026-12-05T19:00:00Z", "ends_at": "2026-12-05T23:00:00Z", "capacity": 200,
  "registration_types": [{"name": "GA", "ticket_type_id": %d, "price": {"amount": 2500, "currency": "USD"}, "quantity": 150}]}}`,
		venue, ticketType)
}

// recurringEvent has count daily occurrences: its save does measurable
// work (hundreds of child events and their ticket structures).
func recurringEvent(venue, ticketType uint64, count int) string {
	return fmt.Sprintf(`{"event": {"name": "Residency", "type": "recurring", "venue_id": %d,
  "starts_at": "2027-01-01T19:00:00Z", "ends_at": "2027-01-01T22:00:00Z", "capacity": 100,
  "recurrence": {"frequency": "daily", "interval": 1, "count": %d},
  "registration_types": [{"name": "GA", "ticket_type_id": %d, "price": {"amount": 1000, "currency": "USD"}, "quantity": 100}]}}`,
		venue, count, ticketType)
}
