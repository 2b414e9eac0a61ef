package storage

import (
	"bytes"
	"errors"
	"fmt"
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
	if limit <= 0 {
		return 0, nil
	}
	ib, err := t.bucket(indexBuckets[idxIdempotencyCreated])
	if err != nil {
		return 0, err
	}
	end := key(nil).time(before)
	var pks [][]byte
	c := ib.Cursor()
	for k, _ := c.First(); k != nil && bytes.Compare(k, end) < 0 && len(pks) < limit; k, _ = c.Next() {
		pks = append(pks, clone(k[8:]))
	}
	// Deleted after the scan: deleting under a live cursor can skip keys.
	for i, pk := range pks {
		if err := t.remove(tbIdempotency, pk); err != nil {
			return i, fmt.Errorf("prune idempotency records: %w", err)
		}
	}
	return len(pks), nil
}
