package engine_test

import (
	"context"
	"testing"
	"time"

	"eventops/engine"
	"eventops/storage/storetest"
)

// On PostgreSQL, the API key's check at every request and the read of an
// operation by id are one statement each, without a transaction around it
// (no begin, no rollback), through whatever the engine wraps its store in.
func TestKeyCheckAndOperationReadAreOneRoundTripEach(t *testing.T) {
	if !storetest.Postgres() {
		t.Skip("round trips are PostgreSQL's: run with EVENTOPS_TEST_STORE=postgres")
	}
	b := setupIdle(t)
	_, secret, err := b.eng.CreateAPIKey(context.Background(), b.company.ID, "ci", []engine.Scope{engine.ScopeRead})
	if err != nil {
		t.Fatal(err)
	}
	trips := func() uint64 {
		time.Sleep(50 * time.Millisecond) // a view's rollback is sent after it returns
		st, err := b.db.Stats()
		if err != nil {
			t.Fatal(err)
		}
		return st.RoundTrips
	}
	before := trips()
	if _, err := b.eng.Authenticate(secret.Reveal()); err != nil {
		t.Fatalf("authenticate: %v", err)
	}
	if n := trips() - before; n != 1 {
		t.Errorf("an API key's check took %d round trips, want 1", n)
	}
	before = trips()
	if _, err := b.eng.Operation(b.company.ID, 1<<40); engine.ErrorKind(err) != engine.KindNotFound {
		t.Fatalf("operation read = %v, want not found", err)
	}
	if n := trips() - before; n != 1 {
		t.Errorf("an operation's read took %d round trips, want 1", n)
	}
}
