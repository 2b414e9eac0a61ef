package storage

import (
	"bytes"
	"encoding/base64"

	"eventops/engine"
)

const (
	defaultLimit = 25
	maxLimit     = 100
	// budgetFactor bounds a list call to examining budgetFactor × limit
	// index entries, whatever the filters and the number of records.
	budgetFactor = 20
)

// clampLimit applies the default and the cap of every list.
func clampLimit(n int) int {
	switch {
	case n <= 0:
		return defaultLimit
	case n > maxLimit:
		return maxLimit
	}
	return n
}

// walk is a bounded, resumable scan over a contiguous range of one bucket's
// keys: those starting with prefix and within [lo, hi] when set.
type walk struct {
	b      kvBucket
	prefix []byte
	lo, hi []byte // inclusive bounds, nil for none
	desc   bool
	after  []byte // resume strictly after this key (in scan order); nil: from the start
}

// start positions c on the first key of the walk.
func (w *walk) start(c kvCursor) ([]byte, []byte) {
	if !w.desc {
		from, inclusive := w.lo, true
		if from == nil {
			from = w.prefix
		}
		if w.after != nil && bytes.Compare(w.after, from) >= 0 {
			from, inclusive = w.after, false
		}
		k, v := c.Seek(from)
		if k != nil && !inclusive && bytes.Equal(k, from) {
			k, v = c.Next()
		}
		return k, v
	}
	to, inclusive := w.hi, true
	if to == nil {
		to, inclusive = successor(w.prefix), false
	}
	if w.after != nil && (to == nil || bytes.Compare(w.after, to) <= 0) {
		to, inclusive = w.after, false
	}
	if to == nil {
		return c.Last()
	}
	k, v := c.Seek(to)
	switch {
	case k == nil:
		return c.Last()
	case inclusive && bytes.Equal(k, to):
		return k, v
	}
	return c.Prev()
}

func (w *walk) step(c kvCursor) ([]byte, []byte) {
	if w.desc {
		return c.Prev()
	}
	return c.Next()
}

// in reports whether k belongs to the walk's range. The range is contiguous,
// so the first key outside it ends the walk.
func (w *walk) in(k []byte) bool {
	return k != nil && bytes.HasPrefix(k, w.prefix) &&
		(w.lo == nil || bytes.Compare(k, w.lo) >= 0) &&
		(w.hi == nil || bytes.Compare(k, w.hi) <= 0)
}

// page collects up to limit items for which load reports a match, examining
// at most budget keys. next is the key to resume after (a copy), or nil when
// the range holds no further match. When the page fills, page looks for one
// more match so that a last page says so; when the budget runs out first, next
// is the last key examined and the page may be short or even empty.
func page[T any](w walk, limit, budget int, load func(k, v []byte) (T, bool, error)) (items []T, next []byte, err error) {
	c := w.b.Cursor()
	var last []byte // the last key consumed: returned or rejected
	examined := 0
	for k, v := w.start(c); w.in(k); k, v = w.step(c) {
		if examined == budget {
			return items, clone(last), nil
		}
		examined++
		item, ok, err := load(k, v)
		if err != nil {
			return nil, nil, err
		}
		if ok && len(items) == limit {
			return items, clone(last), nil // a further match exists: not consumed
		}
		if ok {
			items = append(items, item)
		}
		last = k
	}
	return items, nil, nil
}

// Cursors of key-ordered lists are the base64url of a tag byte (the index),
// a direction byte and the key to resume after. They are opaque to clients
// and rejected when they belong to another list.

func encodeCursor(idx index, desc bool, k []byte) string {
	if k == nil {
		return ""
	}
	dir := byte(0)
	if desc {
		dir = 1
	}
	return base64.RawURLEncoding.EncodeToString(append([]byte{byte(idx), dir}, k...))
}

func decodeCursor(s string, idx index, desc bool, prefix []byte) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	dir := byte(0)
	if desc {
		dir = 1
	}
	if err != nil || len(raw) < 2 || index(raw[0]) != idx || raw[1] != dir || !bytes.HasPrefix(raw[2:], prefix) {
		return nil, engine.Invalid(engine.FieldError{
			Attribute: "cursor", Code: "invalid",
			Message: "is not a cursor of this list (it must come from the same query)",
		})
	}
	return raw[2:], nil
}
