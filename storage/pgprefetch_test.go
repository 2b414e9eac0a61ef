package storage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"eventops/engine"
	"eventops/storage/pgtest"
)

// A record stored under an id its sequence never handed out (a hand-made
// fixture, a damaged copy) is not lost track of when NextID then hands that
// id out: PostgreSQL takes the new id's key absent without reading it, the
// commit's insert finds the row, and the batch runs again reading it, so
// the put moves the old version's index entries as bbolt does.
func TestNewIDOverAStrayRecordMovesItsIndexEntries(t *testing.T) {
	for _, pg := range []bool{false, true} {
		name := map[bool]string{false: "bbolt", true: "postgres"}[pg]
		t.Run(name, func(t *testing.T) {
			db := setupStore(t, pg)
			at := time.Date(2027, 3, 1, 19, 0, 0, 0, time.UTC)
			update(t, db, func(tx engine.Tx) error {
				return tx.PutEvent(&engine.Event{ID: 1, CompanyID: 7, Name: "Stray", StartsAt: at})
			})
			update(t, db, func(tx engine.Tx) error {
				id, err := tx.NextID(engine.SeqEvent)
				if err != nil {
					return err
				}
				if id != 1 {
					t.Fatalf("next id = %d, want 1", id)
				}
				return tx.PutEvent(&engine.Event{ID: id, CompanyID: 7, Name: "Fresh", StartsAt: at.Add(time.Hour)})
			})
			var names [][]byte
			view(t, db, func(etx engine.Tx) error {
				b, err := etx.(*tx).bucket(indexBuckets[idxEventName])
				if err != nil {
					return err
				}
				c := b.Cursor()
				for k, _ := c.First(); k != nil; k, _ = c.Next() {
					names = append(names, bytes.Clone(k))
				}
				return nil
			})
			if len(names) != 1 || !bytes.Contains(names[0], []byte("fresh")) {
				t.Fatalf("name index = %q, want the one entry of \"Fresh\"", names)
			}
		})
	}
}

// trips is the PostgreSQL store's round-trip count.
func trips(db *DB) uint64 { return db.pg.reads.trips.Load() }

// A statement queued on a transaction rides with its next read: the begin,
// the statement and the read go in one round trip, and the statement's
// rows reach its function.
func TestPostgresQueuedStatementRidesWithTheFirstRead(t *testing.T) {
	t.Parallel()
	db := openPG(t, pgtest.Database(t))
	update(t, db, func(etx engine.Tx) error {
		b, err := etx.(*tx).writable([]byte("fence"))
		if err != nil {
			return err
		}
		return b.Put([]byte("q1"), []byte("owner-a"))
	})
	var owner string
	var during uint64
	update(t, db, func(etx engine.Tx) error {
		p := etx.(*tx).kv.(*pgKV)
		before := trips(db)
		p.queue(queued{
			sql:  `select v from kv where bucket = 'fence' and k = $1 for share`,
			args: []any{[]byte("q1")},
			each: func(rows pgx.Rows) error {
				for rows.Next() {
					var v []byte
					if err := rows.Scan(&v); err != nil {
						return err
					}
					owner = string(v)
				}
				return nil
			},
		})
		b, err := etx.(*tx).writable([]byte("fence"))
		if err != nil {
			return err
		}
		if b.Get([]byte("other")) != nil {
			t.Error("absent key read as present")
		}
		during = trips(db) - before
		return b.Put([]byte("other"), []byte("x"))
	})
	if owner != "owner-a" {
		t.Errorf("queued statement read %q, want owner-a", owner)
	}
	if during != 1 {
		t.Errorf("begin, queued statement and read took %d round trips, want 1", during)
	}
}

// A queued check that fails stops the commit, whether it rode with a read
// or was still queued at the commit: nothing the transaction wrote is
// stored.
func TestPostgresFailedQueuedCheckCommitsNothing(t *testing.T) {
	t.Parallel()
	db := openPG(t, pgtest.Database(t))
	errFenced := errors.New("fenced: the queue has another owner")
	check := queued{
		sql: `select count(*) from kv where bucket = 'fence' and k = 'q1'`,
		each: func(rows pgx.Rows) error {
			var n int
			for rows.Next() {
				if err := rows.Scan(&n); err != nil {
					return err
				}
			}
			if n == 0 {
				return errFenced
			}
			return nil
		},
	}
	for _, read := range []bool{false, true} {
		key := []byte{'k', map[bool]byte{false: '0', true: '1'}[read]}
		err := db.Update(context.Background(), func(etx engine.Tx) error {
			etx.(*tx).kv.(*pgKV).queue(check)
			b, err := etx.(*tx).writable([]byte("data"))
			if err != nil {
				return err
			}
			if read {
				b.Get([]byte("anything"))
			}
			return b.Put(key, []byte("v"))
		})
		if !errors.Is(err, errFenced) {
			t.Errorf("read=%v: update = %v, want the failed check", read, err)
		}
		view(t, db, func(etx engine.Tx) error {
			b, err := etx.(*tx).bucket([]byte("data"))
			if err != nil {
				return err
			}
			if v := b.Get(key); v != nil {
				t.Errorf("read=%v: the write of a transaction whose check failed is stored: %q", read, v)
			}
			return nil
		})
	}
}

// ViewOne reads one thing in one round trip (no begin, no rollback); a
// function that reads more runs again in a View and still gets a snapshot.
func TestPostgresViewOne(t *testing.T) {
	t.Parallel()
	db := openPG(t, pgtest.Database(t))
	hash := sha256.Sum256([]byte("plain key"))
	update(t, db, func(tx engine.Tx) error {
		if err := tx.PutAPIKey(&engine.APIKey{ID: 3, CompanyID: 1, Name: "ci", Hash: hash[:], Scopes: []engine.Scope{engine.ScopeRead}}); err != nil {
			return err
		}
		return tx.PutOperation(&engine.Operation{ID: 9, CompanyID: 1, Status: engine.StatusPending})
	})
	before := trips(db)
	var k *engine.APIKey
	if err := db.ViewOne(func(tx engine.Tx) (err error) {
		k, err = tx.APIKeyByHash(hash[:])
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if k == nil || k.ID != 3 {
		t.Fatalf("key by hash = %+v, want key 3", k)
	}
	if n := trips(db) - before; n != 1 {
		t.Errorf("a key by its hash took %d round trips, want 1 (index entry and record in one query)", n)
	}
	runs := 0
	var op *engine.Operation
	if err := db.ViewOne(func(tx engine.Tx) (err error) {
		runs++
		if k, err = tx.APIKeyByHash(hash[:]); err != nil {
			return err
		}
		op, err = tx.Operation(9)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if runs != 2 || k == nil || op == nil || op.ID != 9 {
		t.Errorf("two reads: runs=%d key=%v op=%v, want a second run in a View reading both", runs, k, op)
	}
}

// The first page of a range read is asked once per transaction, and a
// cursor over it still sees the transaction's own writes.
func TestPostgresFirstPageIsRememberedInATransaction(t *testing.T) {
	t.Parallel()
	db := openPG(t, pgtest.Database(t))
	name := []byte("pages")
	update(t, db, func(etx engine.Tx) error {
		b, _ := etx.(*tx).writable(name)
		for _, k := range []string{"a1", "a3", "b1"} {
			if err := b.Put([]byte(k), []byte(k)); err != nil {
				return err
			}
		}
		return nil
	})
	walk := func(b kvBucket) (keys []string) {
		c := b.Cursor()
		for k, _ := c.Seek([]byte("a")); k != nil && k[0] == 'a'; k, _ = c.Next() {
			keys = append(keys, string(k))
		}
		return keys
	}
	update(t, db, func(etx engine.Tx) error {
		b, _ := etx.(*tx).writable(name)
		first := walk(b)
		scans := db.pg.reads.scans.Load()
		if err := b.Put([]byte("a2"), []byte("a2")); err != nil {
			return err
		}
		if err := b.Delete([]byte("a3")); err != nil {
			return err
		}
		second := walk(b)
		if n := db.pg.reads.scans.Load() - scans; n != 0 {
			t.Errorf("the same range asked %d more times", n)
		}
		if got, want := first, []string{"a1", "a3"}; !equal(got, want) {
			t.Errorf("first walk = %q, want %q", got, want)
		}
		if got, want := second, []string{"a1", "a2"}; !equal(got, want) {
			t.Errorf("walk after writes = %q, want %q", got, want)
		}
		return nil
	})
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A check queued by one update function of a batch, recorded rather than
// returned by its rows' function, fails that function alone: it flushes
// the queue before returning, and the other functions of the batch commit.
func TestPostgresQueuedCheckFailsOneFunctionOfABatch(t *testing.T) {
	t.Parallel()
	db := openPG(t, pgtest.Database(t))
	errFenced := errors.New("fenced")
	fenced := func(key string, owned bool) func(engine.Tx) error {
		return func(etx engine.Tx) error {
			p := etx.(*tx).kv.(*pgKV)
			var ok bool
			p.queue(queued{sql: `select $1::bool`, args: []any{owned}, each: func(rows pgx.Rows) error {
				for rows.Next() {
					if err := rows.Scan(&ok); err != nil {
						return err
					}
				}
				return nil
			}})
			b, err := etx.(*tx).writable([]byte("data"))
			if err != nil {
				return err
			}
			if err := b.Put([]byte(key), []byte("v")); err != nil {
				return err
			}
			if err := p.flushQueued(); err != nil {
				return err
			}
			if !ok {
				return errFenced
			}
			return nil
		}
	}
	errs := make(chan error, 2)
	for _, c := range []struct {
		key   string
		owned bool
	}{{"mine", true}, {"lost", false}} {
		go func() { errs <- db.Update(context.Background(), fenced(c.key, c.owned)) }()
	}
	var fencedN, okN int
	for range 2 {
		switch err := <-errs; {
		case errors.Is(err, errFenced):
			fencedN++
		case err == nil:
			okN++
		default:
			t.Fatalf("update: %v", err)
		}
	}
	if fencedN != 1 || okN != 1 {
		t.Fatalf("fenced=%d committed=%d, want one each", fencedN, okN)
	}
	view(t, db, func(etx engine.Tx) error {
		b, err := etx.(*tx).bucket([]byte("data"))
		if err != nil {
			return err
		}
		if b.Get([]byte("mine")) == nil || b.Get([]byte("lost")) != nil {
			t.Errorf("stored: mine=%q lost=%q, want only mine", b.Get([]byte("mine")), b.Get([]byte("lost")))
		}
		return nil
	})
}
