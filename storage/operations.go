package storage

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"time"

	"eventops/engine"
)

// Operation returns the operation with id (phases included), or (nil, nil).
func (t *tx) Operation(id uint64) (*engine.Operation, error) {
	return get[engine.Operation](t, tbOperations, id)
}

// PutOperation writes o and moves its index entries. The previous status and
// error code are read from the stored record's header (no JSON decode), so a
// status change deletes exactly the stale status and code keys.
func (t *tx) PutOperation(o *engine.Operation) error {
	if o == nil {
		return errors.New("store operation: nil")
	}
	return t.put(tbOperations, o.ID, o, opEntries(o))
}

// PruneOperations deletes up to limit terminal operations that finished
// before the given time, oldest first, with their index entries, and reports
// how many it deleted. It reads only the finished index: its cost follows
// limit, not the number stored.
func (t *tx) PruneOperations(before time.Time, limit int) (int, error) {
	return t.pruneBefore(tbOperations, idxOpFinished, before, limit)
}

func opEntries(o *engine.Operation) []entry {
	id, c := o.ID, o.CompanyID
	st, ac := string(o.Status), string(o.Action)
	es := make([]entry, 0, 8)
	if o.EventID != 0 {
		es = append(es, entry{idx: idxOpEvent, key: key(nil).u64(o.EventID).u64(id)})
	}
	es = append(es,
		entry{idx: idxOpCompany, key: key(nil).u64(c).u64(id)},
		entry{idx: idxOpStatus, key: key(nil).str(st).u64(id)},
		entry{idx: idxOpCompanyStatus, key: key(nil).u64(c).str(st).u64(id)},
		entry{idx: idxOpCompanyAction, key: key(nil).u64(c).str(ac).u64(id)},
		entry{idx: idxOpAction, key: key(nil).str(ac).u64(id)},
	)
	if !o.Status.Terminal() {
		es = append(es, entry{idx: idxOpQueueActive, key: key(nil).u64(o.QueueID).u64(id)})
	}
	if o.Status.Terminal() && o.FinishedAt != nil {
		es = append(es, entry{idx: idxOpFinished, key: key(nil).time(*o.FinishedAt).u64(id)})
	}
	if o.Error != nil && o.Error.Code != "" {
		code := string(o.Error.Code)
		es = append(es,
			entry{idx: idxOpCompanyCode, key: key(nil).u64(c).str(code).u64(id)},
			entry{idx: idxOpCode, key: key(nil).str(code).u64(id)},
		)
	}
	return es
}

// opFilter is one filter of an operation query: the record must occupy a key
// of idx made of prefix and its own id.
type opFilter struct {
	idx    index
	prefix []byte
}

func opFilters(q engine.OperationQuery) []opFilter {
	var fs []opFilter
	if q.EventID != 0 {
		fs = append(fs, opFilter{idxOpEvent, key(nil).u64(q.EventID)})
	}
	if q.CompanyID != 0 {
		fs = append(fs, opFilter{idxOpCompany, key(nil).u64(q.CompanyID)})
	}
	if q.Status != "" {
		fs = append(fs, opFilter{idxOpStatus, key(nil).str(string(q.Status))})
	}
	if q.Action != "" {
		fs = append(fs, opFilter{idxOpAction, key(nil).str(string(q.Action))})
	}
	if q.Code != "" {
		fs = append(fs, opFilter{idxOpCode, key(nil).str(string(q.Code))})
	}
	return fs
}

// opPlan picks the most selective index for the filters present: event, then
// company with code, status or action, then company, then the global code,
// status and action indexes. Index 0 means the primary bucket.
func opPlan(q engine.OperationQuery) (index, []byte) {
	c := q.CompanyID
	switch {
	case q.EventID != 0:
		return idxOpEvent, key(nil).u64(q.EventID)
	case c != 0 && q.Code != "":
		return idxOpCompanyCode, key(nil).u64(c).str(string(q.Code))
	case c != 0 && q.Status != "":
		return idxOpCompanyStatus, key(nil).u64(c).str(string(q.Status))
	case c != 0 && q.Action != "":
		return idxOpCompanyAction, key(nil).u64(c).str(string(q.Action))
	case c != 0:
		return idxOpCompany, key(nil).u64(c)
	case q.Code != "":
		return idxOpCode, key(nil).str(string(q.Code))
	case q.Status != "":
		return idxOpStatus, key(nil).str(string(q.Status))
	case q.Action != "":
		return idxOpAction, key(nil).str(string(q.Action))
	}
	return 0, nil
}

// matches tests the filters on a record's header, before any JSON decode.
func matches(keys []indexKey, fs []opFilter) bool {
	for _, f := range fs {
		found := false
		for _, k := range keys {
			if k.idx == f.idx && len(k.key) == len(f.prefix)+8 && bytes.HasPrefix(k.key, f.prefix) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// Operations lists operations newest first (descending id) with ids below
// q.Before when it is set, at most q.Limit (default 25, at most 100). It scans
// one index (see opPlan), tests the other filters on record headers and
// examines at most 20 × limit entries: the cursor returned is the id to pass
// as the next Before, or 0 when nothing further matches. A page can be short,
// or empty, with a non-zero cursor when the budget ran out first.
func (t *tx) Operations(q engine.OperationQuery) ([]*engine.Operation, uint64, error) {
	ops, err := t.bucket(tbOperations.name)
	if err != nil {
		return nil, 0, err
	}
	idx, prefix := opPlan(q)
	b := ops
	if idx != 0 {
		if b, err = t.bucket(indexBuckets[idx]); err != nil {
			return nil, 0, err
		}
	}
	w := walk{b: b, prefix: prefix, desc: true}
	if q.Before != 0 {
		w.after = key(clone(prefix)).u64(q.Before)
	}
	filters := opFilters(q)
	limit := clampLimit(q.Limit)
	items, next, err := page(w, limit, limit*budgetFactor, func(k, v []byte) (*engine.Operation, bool, error) {
		id := idOf(k)
		if idx != 0 {
			if v = ops.Get(idKey(id)); v == nil {
				return nil, false, fmt.Errorf("index %s: operation %d is missing", indexBuckets[idx], id)
			}
		}
		keys, _, err := parseRecord(v)
		if err != nil {
			return nil, false, fmt.Errorf("load operation %d: %w", id, err)
		}
		if !matches(keys, filters) {
			return nil, false, nil
		}
		op, err := decode[engine.Operation](tbOperations, k[len(k)-8:], v)
		if err != nil {
			return nil, false, err
		}
		return op, q.CreatedIn(op.CreatedAt), nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("list operations: %w", err)
	}
	return items, idOf(next), nil
}

// ActiveOperations returns the pending and running operations in id order,
// read from the status index.
func (t *tx) ActiveOperations() ([]*engine.Operation, error) {
	ib, err := t.bucket(indexBuckets[idxOpStatus])
	if err != nil {
		return nil, err
	}
	var ids []uint64
	for _, st := range []engine.Status{engine.StatusPending, engine.StatusRunning} {
		prefix := key(nil).str(string(st))
		c := ib.Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			ids = append(ids, idOf(k))
		}
	}
	slices.Sort(ids)
	out := make([]*engine.Operation, 0, len(ids))
	for _, id := range ids {
		op, err := t.Operation(id)
		if err != nil {
			return nil, err
		}
		if op == nil {
			return nil, fmt.Errorf("index %s: operation %d is missing", indexBuckets[idxOpStatus], id)
		}
		out = append(out, op)
	}
	return out, nil
}
