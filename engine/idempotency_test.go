package engine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"eventops/engine"
)

// A keyed write stores its rendered answer in its own commit: after a crash
// right after the command returns, the record on disk holds the bytes the
// render function made (from what the write made, as its transaction read
// it), and a replay returns them unread; nothing is written twice.
func TestIdempotencyAnswerInTheWritesCommit(t *testing.T) {
	t.Parallel()
	b := setup(t, engine.Config{})
	k := engine.IdempotencyKey{Scope: "1 POST /api/v2/events", Key: "row-1", RequestHash: []byte{1}}
	var renders int
	render := func(r engine.WriteResult) ([]byte, error) {
		renders++
		if r.Event == nil || r.Event.Venue == nil || r.Operation == nil {
			return nil, fmt.Errorf("result without the event view or its operation: %+v", r)
		}
		return fmt.Appendf(nil, "event %d %q in %s, operation %d %s",
			r.Event.Event.ID, r.Event.Event.Name, r.Event.Venue.TimeZone, r.Operation.ID, r.Operation.Status), nil
	}
	ctx := engine.WithIdempotency(context.Background(), k, render)
	ev, op, err := b.eng.CreateEvent(ctx, b.company.ID, b.dateInput("Keyed", 5))
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Appendf(nil, "event %d %q in America/Chicago, operation %d pending", ev.ID, "Keyed", op.ID)

	b.crashStore()
	b.reopen(engine.Config{})
	var rec *engine.IdempotencyRecord
	b.view(func(tx engine.Tx) error {
		var err error
		rec, err = tx.Idempotency(k.Scope, k.Key)
		return err
	})
	if rec == nil || !bytes.Equal(rec.Answer, want) || rec.EventID != ev.ID || rec.OperationID != op.ID {
		t.Fatalf("record after the crash: %+v, want answer %q", rec, want)
	}

	n := renders
	_, _, err = b.eng.CreateEvent(ctx, b.company.ID, b.dateInput("Keyed", 5))
	replay, ok := engine.AsReplay(err)
	if !ok || !bytes.Equal(replay.Answer, want) {
		t.Fatalf("replay: %v, %+v", err, replay)
	}
	if renders != n {
		t.Fatal("a replay rendered again")
	}
	if err := b.eng.CheckIdempotency(ctx); !errors.As(err, new(*engine.ReplayError)) {
		t.Fatalf("check: %v", err)
	}
}

// A render function that fails refuses the write: nothing is stored, and
// the key stays unused.
func TestIdempotencyRenderFailureRefusesTheWrite(t *testing.T) {
	t.Parallel()
	b := setup(t, engine.Config{})
	k := engine.IdempotencyKey{Scope: "1 POST /api/v2/venues", Key: "v", RequestHash: []byte{1}}
	boom := errors.New("cannot render")
	ctx := engine.WithIdempotency(context.Background(), k, func(engine.WriteResult) ([]byte, error) { return nil, boom })
	if _, err := b.eng.CreateVenue(ctx, b.company.ID, engine.VenueInput{Name: "Hall", TimeZone: "UTC"}); !errors.Is(err, boom) {
		t.Fatalf("create: %v, want %v", err, boom)
	}
	vs, _, err := b.eng.Venues(engine.NamedQuery{CompanyID: b.company.ID, Search: "Hall", Limit: 10})
	if err != nil || len(vs) != 0 {
		t.Fatalf("venues after a refused write: %v, %v", vs, err)
	}
	ok := engine.WithIdempotency(context.Background(), k, func(r engine.WriteResult) ([]byte, error) {
		return []byte(r.Venue.Name), nil
	})
	if _, err := b.eng.CreateVenue(ok, b.company.ID, engine.VenueInput{Name: "Hall", TimeZone: "UTC"}); err != nil {
		t.Fatalf("the key was kept by a refused write: %v", err)
	}
}
