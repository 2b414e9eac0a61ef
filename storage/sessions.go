package storage

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"eventops/engine"
)

// Staff sessions of the dashboard (engine/sessions.go).
//
//	sessions             hash of the cookie value      → engine.StaffSession
//	idx_session_user     user id|hash                  (revoke a removed user's sessions)
//	idx_session_expires  absolute expiry|hash          (pruning)
//
// The key is the SHA-256 of the cookie's random value: the file holds
// nothing that signs anyone in.

// Session returns a session by hash, or (nil, nil).
func (t *tx) Session(hash []byte) (*engine.StaffSession, error) {
	if len(hash) == 0 {
		return nil, nil
	}
	return getKey[engine.StaffSession](t, tbSessions, hash)
}

// PutSession writes s under its hash, indexed by user and expiry.
func (t *tx) PutSession(s *engine.StaffSession) error {
	if s == nil || len(s.Hash) == 0 || s.UserID == 0 {
		return errors.New("store staff session: hash and user are required")
	}
	pk := clone(s.Hash)
	return t.putKey(tbSessions, pk, s, []entry{
		{idx: idxSessionUser, key: key(nil).u64(s.UserID).append(pk)},
		{idx: idxSessionExpires, key: key(nil).time(s.Expires).append(pk)},
	})
}

// DeleteSession removes a session and its index entries.
func (t *tx) DeleteSession(hash []byte) error {
	if len(hash) == 0 {
		return nil
	}
	return t.remove(tbSessions, clone(hash))
}

// DeleteUserSessions removes every session of a user.
func (t *tx) DeleteUserSessions(userID uint64) (int, error) {
	ib, err := t.bucket(indexBuckets[idxSessionUser])
	if err != nil {
		return 0, err
	}
	prefix := key(nil).u64(userID)
	var pks [][]byte
	c := ib.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		pks = append(pks, clone(k[len(prefix):]))
	}
	// Deleted after the scan: deleting under a live cursor can skip keys.
	for i, pk := range pks {
		if err := t.remove(tbSessions, pk); err != nil {
			return i, fmt.Errorf("delete sessions of user %d: %w", userID, err)
		}
	}
	return len(pks), nil
}

// PruneSessions deletes up to limit sessions whose absolute expiry is
// before the given time, oldest first.
func (t *tx) PruneSessions(before time.Time, limit int) (int, error) {
	return t.pruneBefore(tbSessions, idxSessionExpires, before, limit)
}

// DeleteUser removes a staff user and their email index entry.
func (t *tx) DeleteUser(id uint64) error {
	return t.remove(tbUsers, idKey(id))
}
