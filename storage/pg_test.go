package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"eventops/engine"
	"eventops/storage/pgtest"
)

// openPG opens a DB on url, closed when the test ends.
func openPG(t *testing.T, url string) *DB {
	t.Helper()
	db, err := OpenPostgres(context.Background(), url, Options{})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Inside one transaction, cursors see the transaction's own writes (they
// are buffered until the commit) merged with the database's rows in key
// order, deletes hide rows, and a failed function's writes vanish.
func TestPostgresCursorsSeeBufferedWrites(t *testing.T) {
	t.Parallel()
	db := openPG(t, pgtest.Database(t))
	name := indexBuckets[idxOpStatus]
	k := func(i int) []byte { return []byte(fmt.Sprintf("k%03d", i)) }
	update(t, db, func(etx engine.Tx) error {
		b, err := etx.(*tx).writable(name)
		if err != nil {
			return err
		}
		for i := 0; i < 40; i += 2 { // even keys in the database
			if err := b.Put(k(i), []byte{byte(i)}); err != nil {
				return err
			}
		}
		return nil
	})
	errBoom := errors.New("boom")
	err := db.Update(context.Background(), func(etx engine.Tx) error {
		b, _ := etx.(*tx).writable(name)
		b.Put(k(1), []byte{1})
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("failing update = %v", err)
	}
	update(t, db, func(etx engine.Tx) error {
		b, err := etx.(*tx).writable(name)
		if err != nil {
			return err
		}
		for i := 1; i < 40; i += 4 { // some odd keys buffered
			b.Put(k(i), []byte{byte(i)})
		}
		b.Delete(k(10))
		b.Delete(k(11)) // never written: no effect
		b.Put(k(12), []byte{99})
		want := func() []string {
			var out []string
			for i := 0; i < 40; i++ {
				if i == 10 || (i%2 == 1 && i%4 != 1) {
					continue
				}
				out = append(out, string(k(i)))
			}
			return out
		}()
		var fwd, back []string
		c := b.Cursor()
		for key, v := c.First(); key != nil; key, v = c.Next() {
			fwd = append(fwd, string(key))
			if bytes.Equal(key, k(12)) && !bytes.Equal(v, []byte{99}) {
				t.Errorf("k012 = %v, want the buffered value", v)
			}
		}
		for key, _ := c.Last(); key != nil; key, _ = c.Prev() {
			back = append([]string{string(key)}, back...)
		}
		if fmt.Sprint(fwd) != fmt.Sprint(want) || fmt.Sprint(back) != fmt.Sprint(want) {
			t.Errorf("forward %v\nbackward %v\nwant %v", fwd, back, want)
		}
		if key, _ := c.Seek(k(10)); !bytes.Equal(key, k(12)) {
			t.Errorf("seek to a deleted key landed on %s", key)
		}
		if key, _ := c.Prev(); !bytes.Equal(key, k(9)) {
			t.Errorf("prev after seek landed on %s", key)
		}
		if b.Get(k(10)) != nil || b.Get(k(3)) != nil || !bytes.Equal(b.Get(k(5)), []byte{5}) {
			t.Error("Get does not see the buffered writes")
		}
		return nil
	})
	view(t, db, func(etx engine.Tx) error {
		b, _ := etx.(*tx).bucket(name)
		n := 0
		c := b.Cursor()
		for key, _ := c.First(); key != nil; key, _ = c.Next() {
			n++
		}
		if n != 29 {
			t.Errorf("%d keys committed, want 29", n)
		}
		return nil
	})
}

// Two stores on one database (a server and a scripting command) writing
// the same counter at once: serialization failures are retried, so every
// id is handed out exactly once.
func TestPostgresConcurrentStoresRetrySerializationFailures(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	a, b := openPG(t, url), openPG(t, url)
	const per = 60
	ids := make(chan uint64, 2*per)
	var wg sync.WaitGroup
	for _, db := range []*DB{a, b} {
		for range per {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var id uint64
				err := db.Update(context.Background(), func(tx engine.Tx) error {
					var err error
					id, err = tx.NextID(engine.SeqCompany)
					if err != nil {
						return err
					}
					return tx.PutCompany(&engine.Company{ID: id, Name: fmt.Sprint("c", id)})
				})
				if err != nil {
					t.Error(err)
					return
				}
				ids <- id
			}()
		}
	}
	wg.Wait()
	close(ids)
	t.Logf("serialization retries: %d and %d", a.pg.retries.Load(), b.pg.retries.Load())
	seen := map[uint64]bool{}
	for id := range ids {
		if seen[id] {
			t.Errorf("id %d handed out twice", id)
		}
		seen[id] = true
	}
	view(t, a, func(tx engine.Tx) error {
		cs, err := tx.Companies()
		if len(cs) != 2*per || err != nil {
			t.Errorf("%d companies (%v), want %d", len(cs), err, 2*per)
		}
		return nil
	})
}

// The installation id is chosen once and kept by every store opened on
// the database.
func TestPostgresInstallationIDIsKept(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	id := func(db *DB) string {
		var s string
		view(t, db, func(tx engine.Tx) error {
			var err error
			s, err = tx.InstallationID()
			return err
		})
		return s
	}
	first := id(openPG(t, url))
	if second := id(openPG(t, url)); first != second || !engine.ValidInstallationID(first) {
		t.Errorf("installation ids %q then %q", first, second)
	}
}

// One serve node per database until leases exist: a second is refused,
// saying why; once the first closes, another may start.
func TestPostgresSecondNodeIsRefused(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	a, b := openPG(t, url), openPG(t, url)
	ctx := context.Background()
	if err := a.LockNode(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.LockNode(ctx); !errors.Is(err, ErrNodeRunning) {
		t.Fatalf("second node: %v, want ErrNodeRunning", err)
	}
	a.Close()
	if err := b.LockNode(ctx); err != nil {
		t.Fatalf("after the first node stopped: %v", err)
	}
}

func TestPostgresURLFlagWithPasswordIsRefused(t *testing.T) {
	for _, u := range []string{"postgres://u:secret@db/x", "host=db user=u password=secret dbname=x"} {
		if err := CheckURLFlag(u); !errors.Is(err, ErrPasswordInURL) {
			t.Errorf("CheckURLFlag(…) = %v, want ErrPasswordInURL", err)
		}
	}
	for _, u := range []string{"postgres://u@db/x", "postgres:///x?host=/tmp"} {
		if err := CheckURLFlag(u); err != nil {
			t.Errorf("CheckURLFlag(%q) = %v", u, err)
		}
	}
}

// The PostgreSQL primitives answer as bbolt's do: the same random puts,
// deletes, gets and cursor walks (first, last, seek, next, prev, in any
// mix, over committed rows and the transaction's buffered writes, with
// some transactions failing after writing) give the same answers on both.
// Next and Prev are used as bbolt defines them: on a cursor that sits on a
// key, with no write since it was positioned (bbolt leaves a cursor moved
// past an end, or over a changed bucket, undefined).
func TestPostgresPrimitivesMatchBbolt(t *testing.T) {
	t.Parallel()
	bolt := setupBolt(t)
	pg := openPG(t, pgtest.Database(t))
	rng := rand.New(rand.NewPCG(19, 1))
	name := indexBuckets[idxOpCode]
	errFail := errors.New("fail")
	for round := range 60 {
		type op struct {
			kind int
			k    []byte
			v    []byte
		}
		var ops []op
		for range 40 {
			k := []byte{byte(rng.IntN(6)), byte(rng.IntN(8))}
			if rng.IntN(4) == 0 {
				k = k[:1] // prefixes of other keys, too
			}
			ops = append(ops, op{kind: rng.IntN(9), k: k, v: []byte{byte(rng.IntN(256))}})
		}
		fails := rng.IntN(5) == 0
		run := func(db *DB) []string {
			var log []string
			err := db.Update(context.Background(), func(etx engine.Tx) error {
				log = log[:0] // a run again starts over
				b, err := etx.(*tx).writable(name)
				if err != nil {
					return err
				}
				c := b.Cursor()
				on := false // the cursor sits on a key, nothing written since
				note := func(what string, k, v []byte) {
					on = k != nil
					log = append(log, fmt.Sprintf("%s %x=%x", what, k, v))
				}
				for _, o := range ops {
					kind := o.kind
					if (kind == 7 || kind == 8) && !on {
						kind = 6
					}
					switch kind {
					case 0, 1:
						b.Put(o.k, o.v)
						on = false
					case 2:
						b.Delete(o.k)
						on = false
					case 3:
						log = append(log, fmt.Sprintf("get %x=%x", o.k, b.Get(o.k)))
					case 4:
						k, v := c.First()
						note("first", k, v)
					case 5:
						k, v := c.Last()
						note("last", k, v)
					case 6:
						k, v := c.Seek(o.k)
						note("seek", k, v)
					case 7:
						k, v := c.Next()
						note("next", k, v)
					case 8:
						k, v := c.Prev()
						note("prev", k, v)
					}
				}
				if fails {
					return errFail
				}
				return nil
			})
			if err != nil && !errors.Is(err, errFail) {
				t.Fatal(err)
			}
			return log
		}
		a, b := run(bolt), run(pg)
		if fmt.Sprint(a) != fmt.Sprint(b) {
			for i := range min(len(a), len(b)) {
				if a[i] != b[i] {
					t.Fatalf("round %d, step %d: bbolt %s, PostgreSQL %s\nops: %v", round, i, a[i], b[i], ops)
				}
			}
			t.Fatalf("round %d: %d answers on bbolt, %d on PostgreSQL", round, len(a), len(b))
		}
	}
}
