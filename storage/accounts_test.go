package storage

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"

	"eventops/engine"
)

func TestAPIKeysAndUsersLookups(t *testing.T) {
	t.Parallel()
	db := setup(t)
	h1, h2 := sha256.Sum256([]byte("key one")), sha256.Sum256([]byte("key two"))
	update(t, db, func(tx engine.Tx) error {
		for _, k := range []*engine.APIKey{
			{ID: 1, CompanyID: 7, Name: "one", Hash: h1[:], Scopes: []engine.Scope{engine.ScopeRead}},
			{ID: 2, CompanyID: 8, Name: "two", Hash: h2[:]},
			{ID: 3, CompanyID: 7, Name: "three"},
		} {
			if err := tx.PutAPIKey(k); err != nil {
				return err
			}
		}
		return tx.PutUser(&engine.User{ID: 1, Email: "Ada@Example.com", Role: engine.RoleAdmin})
	})
	view(t, db, func(tx engine.Tx) error {
		k, err := tx.APIKeyByHash(h2[:])
		if err != nil || k == nil || k.ID != 2 {
			t.Errorf("by hash = %+v, %v", k, err)
		}
		if k, _ := tx.APIKeyByHash([]byte("nope")); k != nil {
			t.Errorf("unknown hash found key %d", k.ID)
		}
		keys, err := tx.APIKeys(7)
		if err != nil || len(keys) != 2 || keys[0].ID != 1 || keys[1].ID != 3 {
			t.Errorf("company 7 keys = %v, %v", keys, err)
		}
		if keys, _ := tx.APIKeys(0); len(keys) != 3 {
			t.Errorf("every key: %d, want 3", len(keys))
		}
		u, err := tx.UserByEmail("ada@EXAMPLE.com")
		if err != nil || u == nil || u.ID != 1 || u.Email != "Ada@Example.com" {
			t.Errorf("by email = %+v, %v", u, err)
		}
		return nil
	})

	// An email taken by another user is a conflict, and nothing is written.
	err := db.Update(t.Context(), func(tx engine.Tx) error {
		return tx.PutUser(&engine.User{ID: 2, Email: "ADA@example.com"})
	})
	if engine.ErrorKind(err) != engine.KindConflict {
		t.Fatalf("duplicate email: err = %v, want a conflict", err)
	}
	// Changing one's own email frees the old one.
	update(t, db, func(tx engine.Tx) error {
		return tx.PutUser(&engine.User{ID: 1, Email: "ada@new.example"})
	})
	view(t, db, func(tx engine.Tx) error {
		if u, _ := tx.UserByEmail("ada@example.com"); u != nil {
			t.Error("old email still finds the user")
		}
		if users, _ := tx.Users(); len(users) != 1 {
			t.Errorf("users = %d, want 1", len(users))
		}
		return nil
	})
}

func TestVenuesAndTicketTypesSearchAndCursor(t *testing.T) {
	t.Parallel()
	db := setup(t)
	update(t, db, func(tx engine.Tx) error {
		for i := uint64(1); i <= 60; i++ {
			name := fmt.Sprintf("Hall %d", i)
			if i%10 == 0 {
				name = fmt.Sprintf("Grand ARENA %d", i)
			}
			if err := tx.PutVenue(&engine.Venue{ID: i, CompanyID: 1 + i%2, Name: name}); err != nil {
				return err
			}
			if err := tx.PutTicketType(&engine.TicketType{ID: i, CompanyID: 1, Name: name}); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, db, func(tx engine.Tx) error {
		var ids []uint64
		for q := (engine.NamedQuery{CompanyID: 2, Limit: 4}); ; {
			page, next, err := tx.Venues(q)
			if err != nil {
				return err
			}
			for _, v := range page {
				ids = append(ids, v.ID)
			}
			if q.Cursor = next; next == "" {
				break
			}
		}
		if len(ids) != 30 || ids[0] != 1 || ids[29] != 59 {
			t.Errorf("company 2 venues = %v", ids)
		}

		ids = ids[:0]
		for q := (engine.NamedQuery{CompanyID: 1, Search: "arena", Limit: 1}); ; {
			page, next, err := tx.TicketTypes(q)
			if err != nil {
				return err
			}
			for _, v := range page {
				ids = append(ids, v.ID)
			}
			if q.Cursor = next; next == "" {
				break
			}
		}
		if fmt.Sprint(ids) != "[10 20 30 40 50 60]" {
			t.Errorf("search arena = %v", ids)
		}
		if _, _, err := tx.Venues(engine.NamedQuery{CompanyID: 1, Cursor: "AAAA"}); engine.ErrorKind(err) != engine.KindInvalid {
			t.Errorf("bad cursor: err = %v", err)
		}
		return nil
	})
}

// Values handed out by a transaction stay valid after it ends, even once
// later writes have grown and remapped the file.
func TestValuesOutliveTransaction(t *testing.T) {
	t.Parallel()
	db := setup(t)
	hash := sha256.Sum256([]byte("k"))
	start := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	update(t, db, func(tx engine.Tx) error {
		if err := tx.PutAPIKey(&engine.APIKey{ID: 1, CompanyID: 1, Hash: hash[:], Name: "primary"}); err != nil {
			return err
		}
		return tx.PutEvent(&engine.Event{ID: 1, CompanyID: 1, Name: "Opening night", StartsAt: start,
			RegistrationTypes: []engine.RegistrationType{{ID: 1, Name: "Adult", Quantity: ptr(10)}}})
	})
	var key *engine.APIKey
	var events []*engine.Event
	view(t, db, func(tx engine.Tx) error {
		var err error
		if key, err = tx.APIKeyByHash(hash[:]); err != nil {
			return err
		}
		events, _, err = tx.Events(engine.EventQuery{CompanyID: 1})
		return err
	})
	big := strings.Repeat("x", 64<<10)
	for i := range 8 {
		update(t, db, func(tx engine.Tx) error {
			for j := range 50 {
				if err := tx.PutVenue(&engine.Venue{ID: uint64(i*50 + j + 1), CompanyID: 1, Name: big}); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if !bytes.Equal(key.Hash, hash[:]) || key.Name != "primary" {
		t.Errorf("key changed after its transaction: %+v", key)
	}
	if len(events) != 1 || events[0].Name != "Opening night" || !events[0].StartsAt.Equal(start) ||
		*events[0].RegistrationTypes[0].Quantity != 10 {
		t.Errorf("event changed after its transaction: %+v", events)
	}
}

func TestRecordsWithoutIndexes(t *testing.T) {
	t.Parallel()
	db := setup(t)
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	// An id of 0 fails the put, and with it the whole update.
	err := db.Update(t.Context(), func(tx engine.Tx) error {
		if err := tx.PutCompany(&engine.Company{ID: 1, Name: "a"}); err != nil {
			return err
		}
		return tx.PutCompany(&engine.Company{ID: 0})
	})
	if err == nil {
		t.Fatal("company id 0 was stored")
	}
	view(t, db, func(tx engine.Tx) error {
		if cs, _ := tx.Companies(); len(cs) != 0 {
			t.Errorf("a failed update left %d companies", len(cs))
		}
		return nil
	})
	err = db.Update(t.Context(), func(tx engine.Tx) error {
		if err := tx.PutCompany(&engine.Company{ID: 2, Name: "b", Shop: &engine.Shop{AccessToken: []byte{1, 2}}}); err != nil {
			return err
		}
		if err := tx.PutCompany(&engine.Company{ID: 1, Name: "a"}); err != nil {
			return err
		}
		if err := tx.PutTicketStructure(&engine.TicketStructure{EventID: 9, Capacity: ptr(5)}); err != nil {
			return err
		}
		for id := uint64(1); id <= 3; id++ {
			if err := tx.PutOrder(&engine.Order{ID: id, EventID: 9 + id%2, Status: engine.OrderPaid}); err != nil {
				return err
			}
		}
		return tx.PutAliasUse(&engine.AliasUse{APIKeyID: 4, Count: 2, LastSeen: now})
	})
	if err != nil {
		t.Fatal(err)
	}
	view(t, db, func(tx engine.Tx) error {
		cs, _ := tx.Companies()
		if len(cs) != 2 || cs[0].ID != 1 || !cs[1].Shopify() || !bytes.Equal(cs[1].Shop.AccessToken, []byte{1, 2}) {
			t.Errorf("companies = %+v", cs)
		}
		if s, _ := tx.TicketStructure(9); s == nil || *s.Capacity != 5 {
			t.Errorf("ticket structure = %+v", s)
		}
		if orders, _ := tx.Orders(9); len(orders) != 1 || orders[0].ID != 2 {
			t.Errorf("orders of event 9 = %v", orders)
		}
		if orders, _ := tx.Orders(10); len(orders) != 2 || orders[0].ID != 1 || orders[1].ID != 3 {
			t.Errorf("orders of event 10 = %v", orders)
		}
		if uses, _ := tx.AliasUses(); len(uses) != 1 || uses[0].Count != 2 {
			t.Errorf("alias uses = %v", uses)
		}
		return nil
	})
	update(t, db, func(tx engine.Tx) error { return tx.DeleteTicketStructure(9) })
	update(t, db, func(tx engine.Tx) error { return tx.DeleteTicketStructure(9) }) // absent: fine
	view(t, db, func(tx engine.Tx) error {
		if s, _ := tx.TicketStructure(9); s != nil {
			t.Error("ticket structure survived its delete")
		}
		return nil
	})
}

func TestIdempotencyRecordsAndPruning(t *testing.T) {
	t.Parallel()
	db := setup(t)
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	update(t, db, func(tx engine.Tx) error {
		for i := range 10 {
			if err := tx.PutIdempotency(&engine.IdempotencyRecord{
				Scope: "7 POST /api/v2/events", Key: fmt.Sprintf("k%d", i),
				RequestHash: []byte{byte(i)}, CreatedAt: t0.Add(time.Duration(i) * time.Hour),
			}); err != nil {
				return err
			}
		}
		return nil
	})
	// Re-putting a record (a changed answer) keeps one index entry.
	update(t, db, func(tx engine.Tx) error {
		r, err := tx.Idempotency("7 POST /api/v2/events", "k0")
		if err != nil || r == nil {
			return fmt.Errorf("k0 = %v, %v", r, err)
		}
		r.Answer = []byte("answer")
		return tx.PutIdempotency(r)
	})
	var pruned []int
	for range 3 {
		update(t, db, func(tx engine.Tx) error {
			n, err := tx.PruneIdempotency(t0.Add(5*time.Hour), 2)
			pruned = append(pruned, n)
			return err
		})
	}
	if fmt.Sprint(pruned) != "[2 2 1]" {
		t.Errorf("pruned per call = %v, want [2 2 1]", pruned)
	}
	view(t, db, func(tx engine.Tx) error {
		for i := range 10 {
			r, err := tx.Idempotency("7 POST /api/v2/events", fmt.Sprintf("k%d", i))
			if err != nil {
				return err
			}
			if (r != nil) != (i >= 5) {
				t.Errorf("record k%d present = %v", i, r != nil)
			}
		}
		if r, _ := tx.Idempotency("8 POST /api/v2/events", "k9"); r != nil {
			t.Error("a key is visible under another scope")
		}
		return nil
	})
}
