package engine

import (
	"context"
	"errors"
	"strings"
	"time"
)

// StaffSession is a staff member's dashboard sign-in, kept in the store so
// that a restart keeps staff signed in. It is stored under the SHA-256 of
// the cookie value (Hash): the file never holds a value that would sign
// anyone in. The dashboard decides the expiry rules; the engine keeps the
// record and drops a user's sessions when the user is removed.
type StaffSession struct {
	Hash    []byte    `json:"hash"`
	UserID  uint64    `json:"user_id"`
	Created time.Time `json:"created"`
	// Seen is the last request's time, written at most once a minute
	// (TouchEvery): the idle expiry is as exact as that.
	Seen time.Time `json:"seen"`
	// Expires is when the session ends at the latest, idle or not; the
	// store prunes sessions by it.
	Expires time.Time `json:"expires"`
	// Connects are the session's Connect with Shopify flows under way
	// (connect_flows.go): kept with the session they are bound to, so
	// that whichever node the shop's callback reaches completes them.
	Connects []ConnectFlow `json:"connects,omitempty"`
}

// SessionTouchEvery is how stale a session's Seen may be before a request
// writes it again: one write a minute per session, not one per request.
const SessionTouchEvery = time.Minute

// PutSession writes a session (a new one at sign-in, or a later Seen).
func (e *Engine) PutSession(ctx context.Context, s *StaffSession) error {
	if s == nil || len(s.Hash) == 0 || s.UserID == 0 {
		return errors.New("put session: hash and user are required")
	}
	return e.store.Update(ctx, func(tx Tx) error { return tx.PutSession(s) })
}

// TouchSession records a session's use at seen, in one transaction that
// reads the session again and writes only if it still exists (and seen is
// later): a sign-out or expiry committed since the caller read it is never
// undone by the touch.
func (e *Engine) TouchSession(ctx context.Context, hash []byte, seen time.Time) error {
	return e.store.Update(ctx, func(tx Tx) error {
		s, err := tx.Session(hash)
		if err != nil || s == nil || !seen.After(s.Seen) {
			return err
		}
		s.Seen = seen
		return tx.PutSession(s)
	})
}

// Session returns a stored session and its user, or (nil, nil, nil) when
// either is gone (signed out, pruned, or the user removed).
func (e *Engine) Session(hash []byte) (*StaffSession, *User, error) {
	var s *StaffSession
	var u *User
	err := e.store.View(func(tx Tx) error {
		var err error
		if s, err = tx.Session(hash); err != nil || s == nil {
			return err
		}
		u, err = tx.User(s.UserID)
		return err
	})
	if err != nil || s == nil || u == nil {
		return nil, nil, err
	}
	return s, u, nil
}

// EndSession deletes a session (sign-out, expiry); an absent one is no
// error.
func (e *Engine) EndSession(ctx context.Context, hash []byte) error {
	return e.store.Update(ctx, func(tx Tx) error { return tx.DeleteSession(hash) })
}

// PruneSessions deletes sessions whose absolute expiry has passed, in small
// batches, and reports how many it deleted.
func (e *Engine) PruneSessions(ctx context.Context) (int, error) {
	const batch = 500
	before := e.now()
	total := 0
	for {
		var n int
		err := e.store.Update(ctx, func(tx Tx) error {
			var err error
			n, err = tx.PruneSessions(before, batch)
			return err
		})
		total += n
		if err != nil || n < batch {
			return total, err
		}
	}
}

// RemoveUser deletes a staff user and, in the same commit, every session of
// theirs: a removed user's open pages are signed out at their next request.
func (e *Engine) RemoveUser(ctx context.Context, email string) (*User, error) {
	var u *User
	err := e.store.Update(ctx, func(tx Tx) error {
		var err error
		if u, err = tx.UserByEmail(strings.ToLower(strings.TrimSpace(email))); err != nil {
			return err
		}
		if u == nil {
			return NotFound("no staff user with that email")
		}
		if _, err := tx.DeleteUserSessions(u.ID); err != nil {
			return err
		}
		return tx.DeleteUser(u.ID)
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}
