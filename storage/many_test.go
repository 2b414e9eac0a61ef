package storage

import (
	"crypto/sha256"
	"testing"
	"time"

	"eventops/engine"
	"eventops/storage/pgtest"
)

// manyFixture stores keys 1 (live) and 2 (revoked), and operations 7 and 8.
func manyFixture(t *testing.T, db *DB) (live, revoked []byte) {
	t.Helper()
	h1, h2 := sha256.Sum256([]byte("live key")), sha256.Sum256([]byte("revoked key"))
	at := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	update(t, db, func(tx engine.Tx) error {
		for _, k := range []*engine.APIKey{
			{ID: 1, CompanyID: 1, Name: "live", Hash: h1[:], Scopes: []engine.Scope{engine.ScopeRead}},
			{ID: 2, CompanyID: 1, Name: "revoked", Hash: h2[:], Scopes: []engine.Scope{engine.ScopeRead}, RevokedAt: &at},
		} {
			if err := tx.PutAPIKey(k); err != nil {
				return err
			}
		}
		for _, op := range []*engine.Operation{
			{ID: 7, CompanyID: 1, Status: engine.StatusRunning, Version: 3},
			{ID: 8, CompanyID: 2, Status: engine.StatusCompleted, Version: 5},
		} {
			if err := tx.PutOperation(op); err != nil {
				return err
			}
		}
		return nil
	})
	return h1[:], h2[:]
}

// Many keys by hash and many operations by id are read at once, in the
// order asked, nil where nothing has the hash or id, a revoked key as
// stored; the same hash or id asked twice answers twice.
func TestReadManyKeysAndOperations(t *testing.T) {
	t.Parallel()
	db := setup(t)
	live, revoked := manyFixture(t, db)
	unknown := sha256.Sum256([]byte("no such key"))
	keys, err := db.APIKeysByHash([][]byte{unknown[:], revoked, live, live})
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 4 || keys[0] != nil || keys[1] == nil || keys[1].ID != 2 || keys[1].RevokedAt == nil ||
		keys[2] == nil || keys[2].ID != 1 || keys[2].Name != "live" || keys[3] == nil || keys[3].ID != 1 {
		t.Fatalf("keys by hash: %+v", keys)
	}
	ops, err := db.OperationsByID([]uint64{8, 99, 7})
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) != 3 || ops[0] == nil || ops[0].ID != 8 || ops[0].Version != 5 || ops[1] != nil ||
		ops[2] == nil || ops[2].ID != 7 || ops[2].Status != engine.StatusRunning {
		t.Fatalf("operations by id: %+v", ops)
	}
	if keys, err := db.APIKeysByHash(nil); err != nil || len(keys) != 0 {
		t.Fatalf("no hashes: %v %v", keys, err)
	}
}

// On PostgreSQL, however many keys or ids are asked, the read is one
// statement: one round trip, no transaction.
func TestPostgresReadManyIsOneRoundTrip(t *testing.T) {
	t.Parallel()
	db := openPG(t, pgtest.Database(t))
	live, revoked := manyFixture(t, db)
	before := trips(db)
	if _, err := db.APIKeysByHash([][]byte{live, revoked, []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if n := trips(db) - before; n != 1 {
		t.Errorf("three keys by hash: %d round trips, want 1", n)
	}
	before = trips(db)
	if _, err := db.OperationsByID([]uint64{7, 8, 9}); err != nil {
		t.Fatal(err)
	}
	if n := trips(db) - before; n != 1 {
		t.Errorf("three operations by id: %d round trips, want 1", n)
	}
}
