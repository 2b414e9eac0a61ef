package storage

import (
	"encoding/binary"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// key builds index and primary keys part by part. Every part sorts bytewise
// the way its value should sort.
type key []byte

// u64 appends n as 8 big-endian bytes.
func (k key) u64(n uint64) key { return binary.BigEndian.AppendUint64(k, n) }

// time appends t as big-endian unix nanoseconds with the sign bit flipped, so
// that times before 1970 sort before later ones. Times outside the int64
// nanosecond range (years 1678 to 2262), the zero time included, are clamped
// to its ends.
func (k key) time(t time.Time) key {
	var n int64
	switch {
	case t.Before(minNanoTime):
		n = math.MinInt64
	case t.After(maxNanoTime):
		n = math.MaxInt64
	default:
		n = t.UnixNano()
	}
	return k.u64(uint64(n) ^ (1 << 63))
}

var (
	minNanoTime = time.Unix(0, math.MinInt64)
	maxNanoTime = time.Unix(0, math.MaxInt64)
)

// append appends raw bytes (a whole other key).
func (k key) append(b []byte) key { return append(k, b...) }

// maxID appends the largest id, for an inclusive upper bound over every id.
func (k key) maxID() key { return k.u64(math.MaxUint64) }

// str appends s (without NUL bytes, at most maxKeyString bytes) and a 0x00
// terminator, so that keys of "ab" never fall under the prefix of "a".
func (k key) str(s string) key {
	if len(s) > maxKeyString {
		cut := maxKeyString
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	return append(append(k, s...), 0)
}

// maxKeyString bounds the string part of a key; longer names only lose
// ordering precision beyond this many bytes.
const maxKeyString = 256

// idKey is a primary key.
func idKey(id uint64) []byte { return key(nil).u64(id) }

// idOf returns the id that ends every index key (and is every primary key).
func idOf(k []byte) uint64 {
	if len(k) < 8 {
		return 0
	}
	return binary.BigEndian.Uint64(k[len(k)-8:])
}

// successor returns the smallest key greater than every key with prefix p, or
// nil when there is none (p empty or all 0xFF).
func successor(p []byte) []byte {
	s := append([]byte(nil), p...)
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] < 0xFF {
			s[i]++
			return s[:i+1]
		}
	}
	return nil
}

// clone copies b out of the transaction's memory.
func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}
