// Package storage implements engine.Store on bbolt (one file holds an
// installation's whole state) and on PostgreSQL (pg.go: the same buckets as
// rows of one table). The typed code is written once, on the bucket and
// cursor primitives of kv.go, which each store implements; this is the only
// package that imports bbolt or pgx.
//
// It imports engine (the Store and Tx it implements, and the records it
// keeps) and nothing else of eventops. Only package main imports it, to open
// the data file and hand it to the engine; web and its subpackages reach the
// file through the interfaces they declare (web.DataFile) and never import
// storage outside their tests (which build real installations on it), so
// that a second store (PostgreSQL) changes main and nothing else.
//
// # Layout
//
// Every record lives in a primary bucket keyed by its id as 8 big-endian
// bytes (ticket structures by their event id, alias uses by their API key
// id, idempotency records by scope|key). A record's value is a small
// header followed by the record as JSON (encoding/json):
//
//	0x01 | uvarint n | n × (index id byte | uvarint len | index key) | JSON
//
// The header lists the index keys the record currently occupies. A Put reads
// the old header (never the old JSON), deletes the keys the new version no
// longer has and adds the new ones, so no index ever holds a stale entry and
// no index maintenance needs entity-specific diff code. The same header lets
// list queries test filters (status, action, code, ...) without decoding JSON.
// Index ids are persisted in headers: never renumber them.
//
// Index buckets hold keys only (empty values), except the two unique lookups
// (API key hash → id, lower-cased user email → id) whose value is the id.
// Key parts: ids as 8 big-endian bytes, times as big-endian unix nanoseconds
// with the sign bit flipped (so times before 1970 sort first), strings (names,
// statuses, actions, codes) followed by a 0x00 terminator so that one string
// is never the prefix of another's keys.
//
//	idx_apikey_hash       hash                       → id
//	idx_apikey_company    company|id
//	idx_user_email        lower(email)               → id
//	idx_venue_company     company|id
//	idx_tickettype_company company|id
//	idx_event_company     company|id                 (live events only)
//	idx_event_start       company|starts_at|id       (live events only)
//	idx_event_name        company|lower(name)|id     (live events only)
//	idx_event_parent      parent|starts_at|id        (live occurrences only)
//	idx_order_event       event|id
//	idx_op_event          event|op
//	idx_op_company        company|op
//	idx_op_status         status|op
//	idx_op_company_status company|status|op
//	idx_op_company_action company|action|op
//	idx_op_company_code   company|code|op            (failed operations)
//	idx_op_action         action|op
//	idx_op_code           code|op                    (failed operations)
//	idx_idempotency_created created_at|scope|key
//
// The meta bucket holds the schema version and the installation id
// (engine.Tx.InstallationID); the seq bucket one counter per
// engine.Sequence.
//
// # Lists
//
// Every list that can grow without bound is a bounded scan of one index: a
// call examines at most 20 × limit index entries. When that budget runs out
// before the page is full, the call returns what matched so far with a cursor
// to continue from, so a page may be short (even empty) while the cursor is
// not done. The cost of a page never grows with the number of records stored.
//
// # Writes
//
// Update is a group commit: one writer goroutine runs every queued update
// function in one read-write transaction and commits once (see DB.Update;
// on PostgreSQL, pg.go).
package storage
