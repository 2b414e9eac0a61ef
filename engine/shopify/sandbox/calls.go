package sandbox

import (
	"encoding/json"
	"slices"
	"sync"
	"time"
)

// Call is one entry of a shop's call log: every request to the GraphQL
// endpoint, answered or not, with the answer it got. The log is kept in
// memory (the last Options.CallLogSize calls per shop); it does not survive
// a restart.
type Call struct {
	Seq            int64           `json:"seq"`
	Time           time.Time       `json:"time"`
	RequestID      string          `json:"request_id"`
	APIVersion     string          `json:"api_version"`
	Type           string          `json:"type,omitempty"`      // query or mutation
	Operation      string          `json:"operation,omitempty"` // the first root field: productSet
	Fields         []string        `json:"fields,omitempty"`    // every root field
	OperationName  string          `json:"operation_name,omitempty"`
	Query          string          `json:"query,omitempty"`
	Variables      json.RawMessage `json:"variables,omitempty"`
	IdempotencyKey string          `json:"idempotency_key,omitempty"`
	Replayed       bool            `json:"replayed,omitempty"` // answered from an idempotency key
	RequestedCost  int             `json:"requested_cost"`
	ActualCost     *int            `json:"actual_cost"`
	Status         int             `json:"status"`          // the HTTP status (0: dropped)
	Fault          string          `json:"fault,omitempty"` // the injected fault, if any
	Response       json.RawMessage `json:"response,omitempty"`
}

// Has reports whether the call touched a root field.
func (c Call) Has(field string) bool { return slices.Contains(c.Fields, field) }

// callLog is a ring of the last calls.
type callLog struct {
	mu   sync.Mutex
	buf  []Call
	next int
	full bool
	seq  int64
}

func newCallLog(size int) *callLog { return &callLog{buf: make([]Call, size)} }

func (l *callLog) add(c Call) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	c.Seq = l.seq
	l.buf[l.next] = c
	l.next++
	if l.next == len(l.buf) {
		l.next, l.full = 0, true
	}
}

// list returns the kept calls, oldest first, that touched field ("" for all).
func (l *callLog) list(field string) []Call {
	l.mu.Lock()
	defer l.mu.Unlock()
	var all []Call
	if l.full {
		all = append(all, l.buf[l.next:]...)
	}
	all = append(all, l.buf[:l.next]...)
	out := make([]Call, 0, len(all))
	for _, c := range all {
		if field == "" || c.Has(field) {
			out = append(out, c)
		}
	}
	return out
}

// Calls returns a shop's call log, oldest first; with field set, only the
// calls that touched that root field (e.g. "productSet").
func (s *Sandbox) Calls(shopName, field string) ([]Call, error) {
	sh, err := s.shop(shopName)
	if err != nil {
		return nil, err
	}
	return sh.calls.list(field), nil
}
