package storage

import "go.etcd.io/bbolt"

// The typed code of this package (companies, events, operations, sessions,
// the outbox, ...) is written on a few primitives over flat buckets of
// ordered byte keys: get, put and delete by key, and cursors that seek and
// step in key order. kvTx, kvBucket and kvCursor are those primitives; bbolt
// (this file) and PostgreSQL (pg*.go) implement them, so that every typed
// method runs on both stores without a twin.
//
// Keys and values returned by Get and by cursors are valid only inside the
// transaction and must not be modified; keys and values handed to Put must
// not be modified afterwards (both stores keep them until the commit).

// kvTx opens the buckets of one transaction.
type kvTx interface {
	// bucket returns a top-level bucket, or nil when it does not exist.
	// write says the caller is about to change it; create makes it when
	// missing (only with write).
	bucket(name []byte, write, create bool) (kvBucket, error)
}

// kvBucket is one bucket of ordered byte keys.
type kvBucket interface {
	Get(k []byte) []byte
	Put(k, v []byte) error
	Delete(k []byte) error
	Cursor() kvCursor
}

// kvCursor walks a bucket in key order, as bbolt's cursor does: every method
// returns the key and value it lands on, or a nil key past either end.
type kvCursor interface {
	First() ([]byte, []byte)
	Last() ([]byte, []byte)
	// Seek lands on the first key at or after k.
	Seek(k []byte) ([]byte, []byte)
	Next() ([]byte, []byte)
	Prev() ([]byte, []byte)
}

// boltTx is kvTx on a bbolt transaction.
type boltTx struct{ btx *bbolt.Tx }

func (b boltTx) bucket(name []byte, write, create bool) (kvBucket, error) {
	bk := b.btx.Bucket(name)
	if bk == nil && create {
		var err error
		if bk, err = b.btx.CreateBucketIfNotExists(name); err != nil {
			return nil, err
		}
	}
	if bk == nil {
		return nil, nil
	}
	if write {
		// Records are keyed by ascending ids, so writes append: pages
		// filled to 90 % instead of bbolt's default half-split take a
		// third less space and fewer pages per commit.
		bk.FillPercent = 0.9
	}
	return boltBucket{bk}, nil
}

// boltBucket and boltCursor hold one pointer each, so that storing them in
// an interface allocates nothing.
type boltBucket struct{ b *bbolt.Bucket }

func (b boltBucket) Get(k []byte) []byte   { return b.b.Get(k) }
func (b boltBucket) Put(k, v []byte) error { return b.b.Put(k, v) }
func (b boltBucket) Delete(k []byte) error { return b.b.Delete(k) }
func (b boltBucket) Cursor() kvCursor      { return boltCursor{b.b.Cursor()} }

type boltCursor struct{ c *bbolt.Cursor }

func (c boltCursor) First() ([]byte, []byte)        { return c.c.First() }
func (c boltCursor) Last() ([]byte, []byte)         { return c.c.Last() }
func (c boltCursor) Seek(k []byte) ([]byte, []byte) { return c.c.Seek(k) }
func (c boltCursor) Next() ([]byte, []byte)         { return c.c.Next() }
func (c boltCursor) Prev() ([]byte, []byte)         { return c.c.Prev() }
