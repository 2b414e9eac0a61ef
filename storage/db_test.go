package storage

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"eventops/engine"
)

func TestOpenRefusesNewerSchemaAndWritesNothing(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "eventops.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// Pretend a newer binary wrote the file.
	bdb, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := bdb.Update(func(btx *bbolt.Tx) error {
		return btx.Bucket(bkMeta).Put(keySchemaVersion, idKey(SchemaVersion+1))
	}); err != nil {
		t.Fatal(err)
	}
	bdb.Close()
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	_, err = Open(path, Options{})
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("open newer file: err = %v, want ErrSchemaTooNew", err)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Fatal("opening a newer file changed it")
	}
}

func TestOpenLockedFile(t *testing.T) {
	t.Parallel()
	db := setupBolt(t)
	timeout := 200 * time.Millisecond
	start := time.Now()
	second, err := Open(db.Path(), Options{Timeout: timeout})
	if err == nil {
		second.Close()
		t.Fatal("second open of a held file succeeded")
	}
	if !errors.Is(err, engine.ErrStoreLocked) {
		t.Fatalf("err = %v, want ErrStoreLocked", err)
	}
	if elapsed := time.Since(start); elapsed > timeout+5*time.Second {
		t.Fatalf("second open took %v with a %v timeout", elapsed, timeout)
	}
}

func TestReopenKeepsDataAndVersion(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "nested", "dir", "eventops.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var id uint64
	update(t, db, func(tx engine.Tx) error {
		var err error
		if id, err = tx.NextID(engine.SeqCompany); err != nil {
			return err
		}
		return tx.PutCompany(&engine.Company{ID: id, Name: "Acme"})
	})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if err := db.Update(context.Background(), func(engine.Tx) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("update after close: err = %v, want ErrClosed", err)
	}
	if err := db.View(func(engine.Tx) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("view after close: err = %v, want ErrClosed", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("data file mode = %v, want 0600", fi.Mode().Perm())
	}

	db, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	view(t, db, func(tx engine.Tx) error {
		c, err := tx.Company(id)
		if err != nil || c == nil || c.Name != "Acme" {
			t.Fatalf("company after reopen = %+v, %v", c, err)
		}
		next, err := tx.NextID(engine.SeqCompany)
		if err == nil {
			t.Fatalf("NextID in a read-only transaction = %d, want an error", next)
		}
		return nil
	})
	if err := db.bolt.View(func(btx *bbolt.Tx) error {
		if v := fileVersion(btx); v != SchemaVersion {
			t.Errorf("schema version = %d, want %d", v, SchemaVersion)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestStats(t *testing.T) {
	t.Parallel()
	db := setup(t)
	update(t, db, func(tx engine.Tx) error { return tx.PutCompany(&engine.Company{ID: 1, Name: "a"}) })
	s, err := db.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if s.FileSize <= 0 || s.Commits != 1 || s.Updates != 1 {
		t.Fatalf("stats = %+v", s)
	}
}
