package storage

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"eventops/engine"
	"eventops/storage/pgtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

// setup opens a fresh store that is consistency-checked and closed when the
// test ends: a bbolt data file, or with EVENTOPS_TEST_STORE=postgres a fresh
// PostgreSQL database (pgtest), so that every test written on setup is the
// conformance suite of both stores.
func setup(t testing.TB) *DB {
	t.Helper()
	return setupStore(t, pgtest.Postgres())
}

// setupBolt is setup on bbolt whatever the environment asks: for what only
// a data file has (its lock, its copy).
func setupBolt(t testing.TB) *DB {
	t.Helper()
	return setupStore(t, false)
}

func setupStore(t testing.TB, postgres bool) *DB {
	t.Helper()
	var db *DB
	var err error
	if postgres {
		db, err = OpenPostgres(context.Background(), pgtest.Database(t), Options{})
	} else {
		db, err = Open(filepath.Join(t.TempDir(), "data", "eventops.db"), Options{})
	}
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Check(); err != nil {
			t.Errorf("check: %v", err)
		}
		if err := db.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return db
}

func update(t testing.TB, db *DB, fn func(tx engine.Tx) error) {
	t.Helper()
	if err := db.Update(context.Background(), fn); err != nil {
		t.Fatalf("update: %v", err)
	}
}

func view(t testing.TB, db *DB, fn func(tx engine.Tx) error) {
	t.Helper()
	if err := db.View(fn); err != nil {
		t.Fatalf("view: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }
