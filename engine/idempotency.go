package engine

import (
	"bytes"
	"context"
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
// commit as the write itself, so a crash can never leave a write without its
// record (and a retry never duplicates it); the response is added once it is
// rendered. A record with Response nil (the server stopped in between) is
// answered by rendering the resources it names.
type IdempotencyRecord struct {
	Scope       string    `json:"scope"`
	Key         string    `json:"key"`
	RequestHash []byte    `json:"request_hash"`
	EventID     uint64    `json:"event_id,omitempty"`
	OperationID uint64    `json:"operation_id,omitempty"`
	ResourceID  uint64    `json:"resource_id,omitempty"` // venue, ticket type or order
	Response    *Response `json:"response,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
}

// Response is a stored answer to replay.
type Response struct {
	Status int               `json:"status"`
	Header map[string]string `json:"header"`
	Body   []byte            `json:"body"`
}

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

// WithIdempotency makes the next engine write on ctx idempotent under k.
func WithIdempotency(ctx context.Context, k IdempotencyKey) context.Context {
	return context.WithValue(ctx, idemCtxKey{}, k)
}

// claimIdempotency runs inside a write's transaction before the write: it
// answers a replay, refuses a reuse with another body, or returns a record
// for the caller to fill in and put (nil when ctx carries no key).
func claimIdempotency(ctx context.Context, tx Tx, now time.Time) (*IdempotencyRecord, error) {
	k, ok := ctx.Value(idemCtxKey{}).(IdempotencyKey)
	if !ok {
		return nil, nil
	}
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
	return &IdempotencyRecord{Scope: k.Scope, Key: k.Key, RequestHash: k.RequestHash, CreatedAt: now}, nil
}

// putIdempotency stores a claimed record; rec nil is a no-op.
func putIdempotency(tx Tx, rec *IdempotencyRecord, eventID, opID, resourceID uint64) error {
	if rec == nil {
		return nil
	}
	rec.EventID, rec.OperationID, rec.ResourceID = eventID, opID, resourceID
	return tx.PutIdempotency(rec)
}

// CompleteIdempotency adds the rendered response to the record of ctx's key.
func (e *Engine) CompleteIdempotency(ctx context.Context, resp Response) error {
	k, ok := ctx.Value(idemCtxKey{}).(IdempotencyKey)
	if !ok {
		return nil
	}
	return e.store.Update(context.WithoutCancel(ctx), func(tx Tx) error {
		rec, err := tx.Idempotency(k.Scope, k.Key)
		if err != nil || rec == nil {
			return err
		}
		r := resp
		rec.Response = &r
		return tx.PutIdempotency(rec)
	})
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
	if _, ok := ctx.Value(idemCtxKey{}).(IdempotencyKey); !ok {
		return nil
	}
	return e.store.View(func(tx Tx) error {
		_, err := claimIdempotency(ctx, tx, e.now())
		return err
	})
}
