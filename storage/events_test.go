package storage

import (
	"slices"
	"testing"
	"time"

	"eventops/engine"
)

var base = time.Date(2030, 5, 1, 18, 0, 0, 0, time.UTC)

// seedEvents writes ten events of company 1 starting an hour apart (each
// lasting 30 minutes, named out of start order), a recurring event 20 with
// three occurrences, and one event of company 2.
func seedEvents(t *testing.T, db *DB) {
	t.Helper()
	names := []string{"delta", "Alpha", "juliet", "charlie", "echo", "bravo", "india", "Golf", "foxtrot", "hotel"}
	update(t, db, func(tx engine.Tx) error {
		for i, name := range names {
			start := base.Add(time.Duration(i) * time.Hour)
			if err := tx.PutEvent(&engine.Event{
				ID: uint64(i + 1), CompanyID: 1, Type: engine.EventDate, Name: name,
				StartsAt: start, EndsAt: start.Add(30 * time.Minute),
			}); err != nil {
				return err
			}
		}
		if err := tx.PutEvent(&engine.Event{ID: 20, CompanyID: 1, Type: engine.EventRecurring, Name: "weekly",
			StartsAt: base.Add(-48 * time.Hour), EndsAt: base.Add(-47 * time.Hour)}); err != nil {
			return err
		}
		for i := range 3 {
			start := base.Add(time.Duration(7*24*(2-i)) * time.Hour) // stored out of start order
			if err := tx.PutEvent(&engine.Event{ID: uint64(21 + i), CompanyID: 1, ParentID: 20, Type: engine.EventDate,
				Name: "weekly", StartsAt: start, EndsAt: start.Add(time.Hour)}); err != nil {
				return err
			}
		}
		return tx.PutEvent(&engine.Event{ID: 30, CompanyID: 2, Name: "other company", StartsAt: base, EndsAt: base.Add(time.Hour)})
	})
}

// listEvents pages through q and returns the ids in order.
func listEvents(t *testing.T, db *DB, q engine.EventQuery) []uint64 {
	t.Helper()
	var ids []uint64
	view(t, db, func(tx engine.Tx) error {
		for calls := 0; ; calls++ {
			page, next, err := tx.Events(q)
			if err != nil {
				return err
			}
			for _, e := range page {
				ids = append(ids, e.ID)
			}
			if next == "" {
				return nil
			}
			if calls > 100 {
				t.Fatal("pagination does not end")
			}
			q.Cursor = next
		}
	})
	return ids
}

func TestEventsSortFilterAndCursor(t *testing.T) {
	t.Parallel()
	db := setup(t)
	seedEvents(t, db)
	now := base.Add(4*time.Hour + 10*time.Minute) // during event 5

	weekly := uint64(20)
	top := uint64(0)
	tests := []struct {
		name string
		q    engine.EventQuery
		want []uint64
	}{
		{"by start", engine.EventQuery{}, []uint64{20, 1, 23, 2, 3, 4, 5, 6, 7, 8, 9, 10, 22, 21}},
		{"by start desc", engine.EventQuery{Desc: true}, []uint64{21, 22, 10, 9, 8, 7, 6, 5, 4, 3, 2, 23, 1, 20}},
		{"by id", engine.EventQuery{Sort: engine.SortID}, []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20, 21, 22, 23}},
		{"by id desc", engine.EventQuery{Sort: engine.SortID, Desc: true}, []uint64{23, 22, 21, 20, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1}},
		{"by name", engine.EventQuery{Sort: engine.SortName}, []uint64{2, 6, 4, 1, 5, 9, 8, 10, 7, 3, 20, 21, 22, 23}},
		{"by name desc", engine.EventQuery{Sort: engine.SortName, Desc: true}, []uint64{23, 22, 21, 20, 3, 7, 10, 8, 9, 5, 1, 4, 6, 2}},
		{"future", engine.EventQuery{When: "future", Now: now}, []uint64{6, 7, 8, 9, 10, 22, 21}},
		{"active", engine.EventQuery{When: "active", Now: now}, []uint64{5}},
		{"past", engine.EventQuery{When: "past", Now: now}, []uint64{20, 1, 23, 2, 3, 4}},
		{"past desc", engine.EventQuery{When: "past", Now: now, Desc: true}, []uint64{4, 3, 2, 23, 1, 20}},
		{"past by name", engine.EventQuery{When: "past", Now: now, Sort: engine.SortName}, []uint64{2, 4, 1, 3, 20, 23}},
		{"from to inclusive", engine.EventQuery{From: ptr(base.Add(2 * time.Hour)), To: ptr(base.Add(5 * time.Hour))}, []uint64{3, 4, 5, 6}},
		{"from to by id desc", engine.EventQuery{Sort: engine.SortID, Desc: true, From: ptr(base.Add(2 * time.Hour)), To: ptr(base.Add(5 * time.Hour))}, []uint64{6, 5, 4, 3}},
		{"future and to", engine.EventQuery{When: "future", Now: now, To: ptr(base.Add(7 * time.Hour))}, []uint64{6, 7, 8}},
		{"empty range", engine.EventQuery{From: ptr(base.Add(5 * time.Hour)), To: ptr(base.Add(2 * time.Hour))}, nil},
		{"occurrences", engine.EventQuery{ParentID: &weekly}, []uint64{23, 22, 21}},
		{"occurrences desc", engine.EventQuery{ParentID: &weekly, Desc: true}, []uint64{21, 22, 23}},
		{"occurrences by id", engine.EventQuery{ParentID: &weekly, Sort: engine.SortID}, []uint64{21, 22, 23}},
		{"future occurrences", engine.EventQuery{ParentID: &weekly, When: "future", Now: now}, []uint64{22, 21}},
		{"top level only", engine.EventQuery{ParentID: &top, Sort: engine.SortID, When: "past", Now: now}, []uint64{1, 2, 3, 4, 20}},
	}
	for _, tt := range tests {
		for _, limit := range []int{0, 1, 3} {
			q := tt.q
			q.CompanyID, q.Limit = 1, limit
			if got := listEvents(t, db, q); !slices.Equal(got, tt.want) {
				t.Errorf("%s, limit %d: got %v, want %v", tt.name, limit, got, tt.want)
			}
		}
	}
	if got := listEvents(t, db, engine.EventQuery{CompanyID: 2}); !slices.Equal(got, []uint64{30}) {
		t.Errorf("company 2: got %v", got)
	}
}

func TestEventsRejectsForeignCursorAndBadInput(t *testing.T) {
	t.Parallel()
	db := setup(t)
	seedEvents(t, db)
	view(t, db, func(tx engine.Tx) error {
		_, cursor, err := tx.Events(engine.EventQuery{CompanyID: 1, Limit: 2})
		if err != nil || cursor == "" {
			t.Fatalf("first page: cursor %q, %v", cursor, err)
		}
		for name, q := range map[string]engine.EventQuery{
			"other sort":      {CompanyID: 1, Sort: engine.SortName, Cursor: cursor},
			"other direction": {CompanyID: 1, Desc: true, Cursor: cursor},
			"other company":   {CompanyID: 2, Cursor: cursor},
			"garbage":         {CompanyID: 1, Cursor: "!!"},
			"bad when":        {CompanyID: 1, When: "soon"},
			"bad sort":        {CompanyID: 1, Sort: "slug"},
		} {
			if _, _, err := tx.Events(q); engine.ErrorKind(err) != engine.KindInvalid {
				t.Errorf("%s: err = %v, want an invalid-input error", name, err)
			}
		}
		return nil
	})
}

func TestDeletedEventLeavesListsButStaysReadable(t *testing.T) {
	t.Parallel()
	db := setup(t)
	seedEvents(t, db)
	update(t, db, func(tx engine.Tx) error {
		for _, id := range []uint64{3, 22} {
			e, err := tx.Event(id)
			if err != nil {
				return err
			}
			e.Deleted = true
			if err := tx.PutEvent(e); err != nil {
				return err
			}
		}
		// Moving an event re-files it under its new start.
		e, err := tx.Event(1)
		if err != nil {
			return err
		}
		e.StartsAt, e.Name = base.Add(1000*time.Hour), "zulu"
		return tx.PutEvent(e)
	})
	for _, sort := range []engine.EventSort{engine.SortStartsAt, engine.SortID, engine.SortName} {
		ids := listEvents(t, db, engine.EventQuery{CompanyID: 1, Sort: sort})
		if slices.Contains(ids, 3) || slices.Contains(ids, 22) || len(ids) != 12 {
			t.Errorf("sort %s: %v still lists deleted events", sort, ids)
		}
	}
	if got := listEvents(t, db, engine.EventQuery{CompanyID: 1}); got[len(got)-1] != 1 {
		t.Errorf("moved event not last by start: %v", got)
	}
	if got := listEvents(t, db, engine.EventQuery{CompanyID: 1, Sort: engine.SortName, Desc: true}); got[0] != 1 {
		t.Errorf("renamed event not first by name desc: %v", got)
	}
	view(t, db, func(tx engine.Tx) error {
		children, err := tx.ChildEvents(20)
		if err != nil {
			return err
		}
		var ids []uint64
		for _, c := range children {
			ids = append(ids, c.ID)
		}
		if !slices.Equal(ids, []uint64{23, 21}) {
			t.Errorf("children = %v, want [23 21] by start", ids)
		}
		e, err := tx.Event(3)
		if err != nil || e == nil || !e.Deleted || e.Name != "juliet" {
			t.Errorf("deleted event by id = %+v, %v", e, err)
		}
		return nil
	})
}
