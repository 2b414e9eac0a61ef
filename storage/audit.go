package storage

import (
	"errors"
	"fmt"

	"eventops/engine"
)

// The audit log is one bucket of entries keyed by id (engine.SeqAudit), read
// newest first. The bucket is created by the first write, so files made
// before the audit log existed need no migration; a read of a file without it
// finds no entries.
var tbAudit = table{[]byte("audit"), "audit entry"}

var _ engine.AuditTx = (*tx)(nil)

// PutAudit appends (or rewrites) an entry under its id.
func (t *tx) PutAudit(a *engine.AuditEntry) error {
	if a == nil {
		return errors.New("store audit entry: nil")
	}
	if _, err := t.open(tbAudit.name, true, true); err != nil {
		return err
	}
	return t.put(tbAudit, a.ID, a, nil)
}

// AuditEntries lists entries newest first with ids below q.Before (0: from
// the newest), at most q.Limit (default 25, at most 100). The cursor is the
// id to pass as the next Before, 0 on the last page. Its cost follows the
// limit, not the size of the log.
func (t *tx) AuditEntries(q engine.AuditQuery) ([]*engine.AuditEntry, uint64, error) {
	if t.kv == nil {
		return nil, 0, errTxDone
	}
	b, err := t.kv.bucket(tbAudit.name, false, false)
	if err != nil || b == nil {
		return nil, 0, err
	}
	w := walk{b: b, desc: true}
	if q.Before != 0 {
		w.after = idKey(q.Before)
	}
	limit := clampLimit(q.Limit)
	items, next, err := page(w, limit, limit+1, func(k, v []byte) (*engine.AuditEntry, bool, error) {
		a, err := decode[engine.AuditEntry](tbAudit, k, v)
		return a, err == nil, err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("list audit entries: %w", err)
	}
	return items, idOf(next), nil
}
