package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"time"
)

// IdempotencyKey is a client's Idempotency-Key, scoped to its API key, method
// and path, with a hash of the request body it came with.
type IdempotencyKey struct {
	Scope       string // e.g. "7 POST /api/v2/events"
	Key         string
	RequestHash []byte
}

// IdempotencyRecord remembers a successful write. It is inserted in the same
// commit as the write itself, with the answer to replay, so a crash can never
// leave a write without its record (a retry never duplicates it) nor a record
// without its answer.
type IdempotencyRecord struct {
	Scope       string `json:"scope"`
	Key         string `json:"key"`
	RequestHash []byte `json:"request_hash"`
	// The ids the write made or touched, for the record's reader.
	EventID     uint64 `json:"event_id,omitempty"`
	OperationID uint64 `json:"operation_id,omitempty"`
	ResourceID  uint64 `json:"resource_id,omitempty"` // venue, ticket type or order
	// Answer is what the key's RenderFunc made of the write, in the
	// caller's own encoding: the engine stores and returns it unread.
	Answer []byte `json:"answer,omitempty"`
	// LegacyAnswer is the answer as the previous version stored it, in a
	// commit of its own after the write's (a JSON object of the caller's);
	// nil on records written since. Records live 24 h: once a release has
	// run that long, nothing reads it any more.
	LegacyAnswer json.RawMessage `json:"response,omitempty"`
	CreatedAt    time.Time       `json:"created_at"`
}

// WriteResult is what a write made, as its own transaction reads it: the
// engine hands it to the RenderFunc of the request's idempotency key. Only
// the fields of the write's kind are set.
type WriteResult struct {
	Event      *EventView  // CreateEvent, UpdateEvent
	Operation  *Operation  // the operation the write started (CreateOrder: nil unless it did) or cancelled
	Venue      *Venue      // CreateVenue
	TicketType *TicketType // CreateTicketType
	Order      *Order      // CreateOrder
}

// RenderFunc makes the answer of a write that is stored with its
// idempotency record, in the same commit. It runs inside the write's
// transaction (which it must not reach outside of: no I/O, no store), and
// may run more than once; an error refuses the write.
type RenderFunc func(WriteResult) ([]byte, error)

// IdempotencyRetention is how long a record is kept (at least 24 h).
const IdempotencyRetention = 24 * time.Hour

// ErrIdempotencyReused: the key was used with another request body.
var ErrIdempotencyReused = &Error{Kind: KindInvalid, Message: "this Idempotency-Key was used with a different request"}

// ReplayError is returned by a write whose idempotency key was already used
// with the same request: Record holds the first outcome, nothing was done.
type ReplayError struct{ Record *IdempotencyRecord }

func (e *ReplayError) Error() string { return "idempotent replay" }

// AsReplay returns the record of a replay error.
func AsReplay(err error) (*IdempotencyRecord, bool) {
	var r *ReplayError
	if errors.As(err, &r) {
		return r.Record, true
	}
	return nil, false
}

type idemCtxKey struct{}

// idemCtx is what WithIdempotency puts on a context.
type idemCtx struct {
	key    IdempotencyKey
	render RenderFunc
}

// WithIdempotency makes the next engine write on ctx idempotent under k;
// render makes the answer stored with its record (nil: none is stored).
func WithIdempotency(ctx context.Context, k IdempotencyKey, render RenderFunc) context.Context {
	return context.WithValue(ctx, idemCtxKey{}, idemCtx{key: k, render: render})
}

// WithoutIdempotency drops the key WithIdempotency put on ctx, for a
// command made of several writes (a bulk retry) that must not claim it
// with the first.
func WithoutIdempotency(ctx context.Context) context.Context {
	return context.WithValue(ctx, idemCtxKey{}, nil)
}

// idemClaim is a claimed key: the record to put once the write is made.
type idemClaim struct {
	rec    *IdempotencyRecord
	render RenderFunc
}

// claimIdempotency runs inside a write's transaction before the write: it
// answers a replay, refuses a reuse with another body, or returns a claim
// for the caller to put once written (nil when ctx carries no key).
func claimIdempotency(ctx context.Context, tx Tx, now time.Time) (*idemClaim, error) {
	ic, ok := ctx.Value(idemCtxKey{}).(idemCtx)
	if !ok {
		return nil, nil
	}
	k := ic.key
	old, err := tx.Idempotency(k.Scope, k.Key)
	if err != nil {
		return nil, err
	}
	if old != nil && now.Sub(old.CreatedAt) < IdempotencyRetention {
		if !bytes.Equal(old.RequestHash, k.RequestHash) {
			return nil, ErrIdempotencyReused
		}
		return nil, &ReplayError{Record: old}
	}
	return &idemClaim{rec: &IdempotencyRecord{Scope: k.Scope, Key: k.Key, RequestHash: k.RequestHash, CreatedAt: now},
		render: ic.render}, nil
}

// put stores the claimed record with the ids and the rendered answer of
// what the write made; result is read only when there is an answer to
// render. A nil claim is a no-op.
func (c *idemClaim) put(tx Tx, eventID, opID, resourceID uint64, result func() (WriteResult, error)) error {
	if c == nil {
		return nil
	}
	rec := *c.rec // the transaction may run again: the claim stays as claimed
	rec.EventID, rec.OperationID, rec.ResourceID = eventID, opID, resourceID
	if c.render != nil {
		r, err := result()
		if err != nil {
			return err
		}
		if rec.Answer, err = c.render(r); err != nil {
			return err
		}
	}
	return tx.PutIdempotency(&rec)
}

// resultOf is a result already at hand.
func resultOf(r WriteResult) func() (WriteResult, error) {
	return func() (WriteResult, error) { return r, nil }
}

// PruneIdempotency deletes records older than twice the retention, in small
// transactions, and reports how many it deleted.
func (e *Engine) PruneIdempotency(ctx context.Context) (int, error) {
	const batch = 500
	before := e.now().Add(-2 * IdempotencyRetention)
	total := 0
	for {
		var n int
		err := e.store.Update(ctx, func(tx Tx) error {
			var err error
			n, err = tx.PruneIdempotency(before, batch)
			return err
		})
		total += n
		if err != nil || n < batch || ctx.Err() != nil {
			return total, err
		}
	}
}

// CheckIdempotency looks up the idempotency key carried by ctx before a
// write runs: it returns a *ReplayError when the key was already used with
// the same request, ErrIdempotencyReused when it was used with another, and
// nil otherwise (or when ctx carries no key). A write's own preconditions
// (the event still live, say) must not turn a replay into an error, so the
// API checks first; the write claims the key again inside its transaction,
// which settles races.
func (e *Engine) CheckIdempotency(ctx context.Context) error {
	if _, ok := ctx.Value(idemCtxKey{}).(idemCtx); !ok {
		return nil
	}
	return e.store.View(func(tx Tx) error {
		_, err := claimIdempotency(ctx, tx, e.now())
		return err
	})
}
