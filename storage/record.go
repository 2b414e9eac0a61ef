package storage

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"eventops/engine"
)

// recordFormat is the first byte of every stored value.
const recordFormat = 0x01

// entry is one index key a record occupies. A unique entry maps its key to
// the record's id (a lookup: API key hash, user email); any other entry is a
// key with an empty value.
type entry struct {
	idx    index
	key    []byte
	unique bool
}

// indexKey is an index key as read back from a record header; key aliases
// the stored value and is valid only inside the transaction.
type indexKey struct {
	idx index
	key []byte
}

var errCorrupt = errors.New("corrupt record header")

// encodeRecord lays out the header naming the index keys of the record, then
// the record as JSON.
func encodeRecord(entries []entry, v any) ([]byte, error) {
	js, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	n := 1 + binary.MaxVarintLen64 + len(js)
	for _, e := range entries {
		n += 1 + binary.MaxVarintLen64 + len(e.key)
	}
	buf := make([]byte, 0, n)
	buf = append(buf, recordFormat)
	buf = binary.AppendUvarint(buf, uint64(len(entries)))
	for _, e := range entries {
		buf = append(buf, byte(e.idx))
		buf = binary.AppendUvarint(buf, uint64(len(e.key)))
		buf = append(buf, e.key...)
	}
	return append(buf, js...), nil
}

// parseRecord splits a stored value into the index keys of its header and its
// JSON body. Both alias v.
func parseRecord(v []byte) ([]indexKey, []byte, error) {
	if len(v) == 0 || v[0] != recordFormat {
		return nil, nil, errCorrupt
	}
	rest := v[1:]
	count, n := binary.Uvarint(rest)
	if n <= 0 || count > uint64(len(rest)) {
		return nil, nil, errCorrupt
	}
	rest = rest[n:]
	keys := make([]indexKey, 0, count)
	for range count {
		if len(rest) == 0 {
			return nil, nil, errCorrupt
		}
		idx := index(rest[0])
		size, n := binary.Uvarint(rest[1:])
		if n <= 0 || size > uint64(len(rest)-1-n) {
			return nil, nil, errCorrupt
		}
		start := 1 + n
		keys = append(keys, indexKey{idx: idx, key: rest[start : start+int(size)]})
		rest = rest[start+int(size):]
	}
	return keys, rest, nil
}

// decode unmarshals a stored value. encoding/json copies every string and
// byte slice, so the result never aliases the file.
func decode[T any](tb table, pk, v []byte) (*T, error) {
	_, body, err := parseRecord(v)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", describe(tb, pk), err)
	}
	out := new(T)
	if err := json.Unmarshal(body, out); err != nil {
		return nil, fmt.Errorf("load %s: %w", describe(tb, pk), err)
	}
	return out, nil
}

// describe names a record in errors: "event 42".
func describe(tb table, pk []byte) string {
	if len(pk) == 8 {
		return fmt.Sprintf("%s %d", tb.noun, idOf(pk))
	}
	return fmt.Sprintf("%s %q", tb.noun, pk)
}

// get loads one record by id; (nil, nil) when it does not exist.
func get[T any](t *tx, tb table, id uint64) (*T, error) {
	return getKey[T](t, tb, idKey(id))
}

// getKey loads one record by primary key; (nil, nil) when it does not exist.
func getKey[T any](t *tx, tb table, pk []byte) (*T, error) {
	b, err := t.bucket(tb.name)
	if err != nil {
		return nil, err
	}
	v := b.Get(pk)
	if v == nil {
		return nil, nil
	}
	return decode[T](tb, pk, v)
}

// all loads every record of a table in id order. Only for tables that stay
// small (companies, users, every API key).
func all[T any](t *tx, tb table) ([]*T, error) {
	b, err := t.bucket(tb.name)
	if err != nil {
		return nil, err
	}
	var out []*T
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		rec, err := decode[T](tb, k, v)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}

// byIndex loads the records whose ids end the keys under prefix in an index,
// in key order. Only for lists bounded by the domain (an event's orders, a
// recurring event's occurrences).
func byIndex[T any](t *tx, tb table, idx index, prefix []byte) ([]*T, error) {
	ib, err := t.bucket(indexBuckets[idx])
	if err != nil {
		return nil, err
	}
	var out []*T
	c := ib.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		rec, err := get[T](t, tb, idOf(k))
		if err != nil {
			return nil, err
		}
		if rec == nil {
			return nil, fmt.Errorf("index %s: %s %d is missing", indexBuckets[idx], tb.noun, idOf(k))
		}
		out = append(out, rec)
	}
	return out, nil
}

// lookup resolves a unique index key (whose value is a primary key) to a
// record.
func lookup[T any](t *tx, tb table, idx index, k []byte) (*T, error) {
	ib, err := t.bucket(indexBuckets[idx])
	if err != nil {
		return nil, err
	}
	if p, ok := t.kv.(*pgKV); ok {
		p.follow(string(indexBuckets[idx]), k, string(tb.name)) // one round trip for both
	}
	pk := ib.Get(k)
	if pk == nil {
		return nil, nil
	}
	return getKey[T](t, tb, pk)
}

// empty is the value of every keys-only index entry.
var empty = []byte{}

// put writes a record under its id; see putKey.
func (t *tx) put(tb table, id uint64, v any, entries []entry) error {
	if id == 0 {
		return fmt.Errorf("store %s: id is 0", tb.noun)
	}
	return t.putKey(tb, idKey(id), v, entries)
}

// putKey writes a record and moves its index entries from those its previous
// version occupied (read from the old header, without decoding JSON) to
// entries. A unique entry held by another record fails the put with a
// conflict before anything is written. pk and the entries' keys must not be
// modified afterwards (bbolt keeps them until the commit).
func (t *tx) putKey(tb table, pk []byte, v any, entries []entry) error {
	val, err := encodeRecord(entries, v)
	if err != nil {
		return fmt.Errorf("store %s: %w", describe(tb, pk), err)
	}
	return t.putRecord(tb, pk, val, entries)
}

// putRecord is putKey with the record encoded (val is kept by bbolt until
// the commit: it must not be modified).
func (t *tx) putRecord(tb table, pk, val []byte, entries []entry) error {
	b, err := t.writable(tb.name)
	if err != nil {
		return err
	}
	var old []indexKey
	if prev := b.Get(pk); prev != nil {
		if old, _, err = parseRecord(prev); err != nil {
			return fmt.Errorf("store %s: %w", describe(tb, pk), err)
		}
	}
	for _, e := range entries {
		if !e.unique {
			continue
		}
		ib, err := t.bucket(indexBuckets[e.idx])
		if err != nil {
			return err
		}
		if cur := ib.Get(e.key); cur != nil && !bytes.Equal(cur, pk) {
			return engine.Conflict("another %s already has this %s", tb.noun, uniqueName[e.idx])
		}
	}
	for _, o := range old {
		if hasEntry(entries, o) {
			continue
		}
		ib, err := t.bucket(indexBuckets[o.idx])
		if err != nil {
			return err
		}
		if err := ib.Delete(o.key); err != nil {
			return fmt.Errorf("store %s: unindex: %w", describe(tb, pk), err)
		}
	}
	for _, e := range entries {
		if hasOld(old, e) {
			continue
		}
		ib, err := t.bucket(indexBuckets[e.idx])
		if err != nil {
			return err
		}
		value := empty
		if e.unique {
			value = pk
		}
		if err := ib.Put(e.key, value); err != nil {
			return fmt.Errorf("store %s: index: %w", describe(tb, pk), err)
		}
	}
	if err := b.Put(pk, val); err != nil {
		return fmt.Errorf("store %s: %w", describe(tb, pk), err)
	}
	return nil
}

// remove deletes a record and every index entry it occupies; an absent
// record is not an error.
func (t *tx) remove(tb table, pk []byte) error {
	b, err := t.writable(tb.name)
	if err != nil {
		return err
	}
	prev := b.Get(pk)
	if prev == nil {
		return nil
	}
	old, _, err := parseRecord(prev)
	if err != nil {
		return fmt.Errorf("delete %s: %w", describe(tb, pk), err)
	}
	for _, o := range old {
		ib, err := t.bucket(indexBuckets[o.idx])
		if err != nil {
			return err
		}
		if err := ib.Delete(o.key); err != nil {
			return fmt.Errorf("delete %s: unindex: %w", describe(tb, pk), err)
		}
	}
	if err := b.Delete(pk); err != nil {
		return fmt.Errorf("delete %s: %w", describe(tb, pk), err)
	}
	return nil
}

// uniqueName names what a unique index holds, for conflict messages.
var uniqueName = map[index]string{
	idxAPIKeyHash: "key hash",
	idxUserEmail:  "email",
}

func hasEntry(entries []entry, k indexKey) bool {
	for _, e := range entries {
		if e.idx == k.idx && bytes.Equal(e.key, k.key) {
			return true
		}
	}
	return false
}

func hasOld(old []indexKey, e entry) bool {
	for _, o := range old {
		if o.idx == e.idx && bytes.Equal(o.key, e.key) {
			return true
		}
	}
	return false
}

// pruneBefore deletes, oldest first, up to limit records of tb whose entry
// in the time index idx (a time key, then the record's primary key) is
// before the given time, and reports how many it deleted. It reads only the
// index, so its cost follows limit, not the number stored.
func (t *tx) pruneBefore(tb table, idx index, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	ib, err := t.bucket(indexBuckets[idx])
	if err != nil {
		return 0, err
	}
	end := key(nil).time(before)
	var pks [][]byte
	c := ib.Cursor()
	for k, _ := c.First(); k != nil && bytes.Compare(k, end) < 0 && len(pks) < limit; k, _ = c.Next() {
		pks = append(pks, clone(k[len(end):]))
	}
	// Deleted after the scan: deleting under a live cursor can skip keys.
	for i, pk := range pks {
		if err := t.remove(tb, pk); err != nil {
			return i, fmt.Errorf("prune %s: %w", tb.noun, err)
		}
	}
	return len(pks), nil
}
