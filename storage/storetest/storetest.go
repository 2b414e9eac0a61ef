// Package storetest opens the store a test runs on: a bbolt data file, or
// with EVENTOPS_TEST_STORE=postgres a fresh PostgreSQL database (see
// pgtest), so that the engine, API and Shopify tests that touch storage run
// against both stores unchanged. Only tests import it.
package storetest

import (
	"context"
	"sync"
	"testing"

	"eventops/storage"
	"eventops/storage/pgtest"
)

var (
	mu   sync.Mutex
	urls = map[string]string{} // data file path → its database
)

// Postgres reports whether the tests run on PostgreSQL.
func Postgres() bool { return pgtest.Postgres() }

// Open opens the store standing for the data file at path: the file itself
// on bbolt; on PostgreSQL a database created for path at its first opening
// (dropped when t ends), the same one when path is opened again (a restart).
func Open(t testing.TB, path string, opts storage.Options) (*storage.DB, error) {
	t.Helper()
	if !pgtest.Postgres() {
		return storage.Open(path, opts)
	}
	return storage.OpenPostgres(context.Background(), URL(t, path), opts)
}

// URL is the database standing for path (see Open).
func URL(t testing.TB, path string) string {
	t.Helper()
	mu.Lock()
	u, ok := urls[path]
	mu.Unlock()
	if ok {
		return u
	}
	u = pgtest.Database(t)
	mu.Lock()
	urls[path] = u
	mu.Unlock()
	t.Cleanup(func() {
		mu.Lock()
		delete(urls, path)
		mu.Unlock()
	})
	return u
}

// Main runs a package's tests, then stops the throwaway cluster if one was
// started: call it from TestMain.
func Main(m *testing.M) int {
	code := m.Run()
	pgtest.Stop()
	return code
}
