package storage

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"go.etcd.io/bbolt"

	"eventops/engine"
)

func installationID(t *testing.T, db *DB) string {
	t.Helper()
	var id string
	if err := db.View(func(tx engine.Tx) (err error) { id, err = tx.InstallationID(); return err }); err != nil {
		t.Fatalf("installation id: %v", err)
	}
	return id
}

// The installation id is drawn at the first start and kept: a reopen, and a
// backup copy of the file, have the same; another data file has another.
func TestInstallationIDIsKept(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "eventops.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	id := installationID(t, db)
	if !engine.ValidInstallationID(id) {
		t.Fatalf("installation id %q is not 8 lowercase base32 characters", id)
	}
	var buf bytes.Buffer
	if _, err := db.Backup(&buf); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := installationID(t, db); got != id {
		t.Errorf("after reopening: %q, want %q", got, id)
	}
	db.Close()

	copyPath := filepath.Join(dir, "copy.db")
	if err := os.WriteFile(copyPath, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	cp, err := Open(copyPath, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := installationID(t, cp); got != id {
		t.Errorf("the backup copy has %q, want %q", got, id)
	}
	cp.Close()

	other, err := Open(filepath.Join(dir, "other.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if got := installationID(t, other); got == id {
		t.Errorf("a fresh data file has the same id %q", got)
	}
}

// A data file written before installation ids (schema version current, no
// id) gets one at the first start of this binary, and keeps it.
func TestInstallationIDForAnOlderFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "eventops.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	bdb, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := bdb.Update(func(btx *bbolt.Tx) error { return btx.Bucket(bkMeta).Delete(keyInstallationID) }); err != nil {
		t.Fatal(err)
	}
	bdb.Close()

	db, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	id := installationID(t, db)
	db.Close()
	db, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := installationID(t, db); got != id || !engine.ValidInstallationID(id) {
		t.Errorf("installation id %q, then %q", id, got)
	}
}
