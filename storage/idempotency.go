package storage

import (
	"errors"
	"time"

	"eventops/engine"
)

// idempotencyKey is the primary key of a record: scope, then key.
func idempotencyKey(scope, k string) []byte { return key(nil).str(scope).str(k) }

// Idempotency returns the record of (scope, key), or (nil, nil).
func (t *tx) Idempotency(scope, k string) (*engine.IdempotencyRecord, error) {
	return getKey[engine.IdempotencyRecord](t, tbIdempotency, idempotencyKey(scope, k))
}

// PutIdempotency writes r under (r.Scope, r.Key), indexed by its creation
// time for pruning.
func (t *tx) PutIdempotency(r *engine.IdempotencyRecord) error {
	if r == nil {
		return errors.New("store idempotency record: nil")
	}
	pk := idempotencyKey(r.Scope, r.Key)
	return t.putKey(tbIdempotency, pk, r, []entry{
		{idx: idxIdempotencyCreated, key: key(nil).time(r.CreatedAt).append(pk)},
	})
}

// PruneIdempotency deletes up to limit records created before the given time,
// oldest first, and reports how many it deleted. It reads only the creation
// index, so its cost follows limit, not the number stored.
func (t *tx) PruneIdempotency(before time.Time, limit int) (int, error) {
	return t.pruneBefore(tbIdempotency, idxIdempotencyCreated, before, limit)
}
