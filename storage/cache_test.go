package storage

import (
	"context"
	"errors"
	"testing"

	"eventops/engine"
)

// The decode cache is invisible: a reader changing the record it got does
// not change what the next reader gets, a write is read back at once (in
// its own transaction and after it), and a write rolled back leaves the
// committed value readable.
func TestDecodeCacheNeverAnswersStale(t *testing.T) {
	db := setup(t)
	read := func() *engine.TicketStructure {
		var s *engine.TicketStructure
		view(t, db, func(tx engine.Tx) error {
			var err error
			s, err = tx.TicketStructure(7)
			return err
		})
		return s
	}
	written := &engine.TicketStructure{EventID: 7, Capacity: ptr(10),
		Products: []engine.Product{{Key: "e7", Variants: []engine.Variant{{Title: "GA", Available: ptr(10)}}}}}
	update(t, db, func(tx engine.Tx) error { return tx.PutTicketStructure(written) })
	*written.Capacity = 55 // the writer's own copy, changed after the write
	first := read()
	if *first.Capacity != 10 {
		t.Fatalf("capacity = %d after the writer changed its copy, want the written 10", *first.Capacity)
	}
	*first.Capacity = 99
	*first.Products[0].Variants[0].Available = 99
	first.Products[0].Key = "changed"
	if again := read(); *again.Capacity != 10 || *again.Products[0].Variants[0].Available != 10 || again.Products[0].Key != "e7" {
		t.Fatalf("a reader's change leaked into the next read: %+v", again)
	}

	update(t, db, func(tx engine.Tx) error {
		s, err := tx.TicketStructure(7)
		if err != nil {
			return err
		}
		*s.Products[0].Variants[0].Available = 4
		if err := tx.PutTicketStructure(s); err != nil {
			return err
		}
		if in, err := tx.TicketStructure(7); err != nil || *in.Products[0].Variants[0].Available != 4 {
			t.Errorf("inside the writing transaction: %+v, %v; want available 4", in, err)
		}
		return nil
	})
	if got := read(); *got.Products[0].Variants[0].Available != 4 {
		t.Fatalf("after the write: available %d, want 4", *got.Products[0].Variants[0].Available)
	}

	errUndo := errors.New("undo")
	err := db.Update(context.Background(), func(tx engine.Tx) error {
		s, _ := tx.TicketStructure(7)
		*s.Products[0].Variants[0].Available = 1
		if err := tx.PutTicketStructure(s); err != nil {
			return err
		}
		if in, _ := tx.TicketStructure(7); *in.Products[0].Variants[0].Available != 1 {
			t.Errorf("inside the rolled back transaction: available %d, want 1", *in.Products[0].Variants[0].Available)
		}
		return errUndo
	})
	if !errors.Is(err, errUndo) {
		t.Fatalf("update = %v, want the function's error", err)
	}
	if got := read(); *got.Products[0].Variants[0].Available != 4 {
		t.Errorf("after a rollback: available %d, want the committed 4", *got.Products[0].Variants[0].Available)
	}
}
