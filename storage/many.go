package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"eventops/engine"
)

// Reads of many things of one kind at once, for the engine's read groups
// (engine/readgroup.go): the API keys of concurrent requests, the
// operations their GETs and long-polls read. On PostgreSQL each is one
// statement (`... k = any($1)`) without a transaction around it, so one
// round trip answers every caller that joined; the rows are then decoded
// by the same typed code as any read (tx.APIKeyByHash, tx.Operation),
// from memory. On bbolt it is one View.

// APIKeysByHash returns the API keys (or admin tokens), revoked or not,
// whose whole-key hashes are hashes, in their order; nil where no key has
// the hash.
func (db *DB) APIKeysByHash(hashes [][]byte) ([]*engine.APIKey, error) {
	out := make([]*engine.APIKey, len(hashes))
	pre := preload{index: string(indexBuckets[idxAPIKeyHash]), table: string(tbAPIKeys.name), keys: hashes}
	err := db.viewMany(pre, func(t engine.Tx) error {
		for i, h := range hashes {
			k, err := t.APIKeyByHash(h)
			if err != nil {
				return err
			}
			out[i] = k
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// OperationsByID returns the operations with these ids, in their order;
// nil where none has the id.
func (db *DB) OperationsByID(ids []uint64) ([]*engine.Operation, error) {
	out := make([]*engine.Operation, len(ids))
	keys := make([][]byte, len(ids))
	for i, id := range ids {
		keys[i] = idKey(id)
	}
	err := db.viewMany(preload{table: string(tbOperations.name), keys: keys}, func(t engine.Tx) error {
		for i, id := range ids {
			op, err := t.Operation(id)
			if err != nil {
				return err
			}
			out[i] = op
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// sharedReadTimeout bounds a read of many keys (see preload).
const sharedReadTimeout = 10 * time.Second

// preload names the rows a function run by viewMany reads: keys of table,
// or, with index, the entries keys of that unique index and the records of
// table they name.
type preload struct {
	index, table string
	keys         [][]byte
}

// viewMany runs fn, which reads only the rows pre names, in one snapshot.
func (db *DB) viewMany(pre preload, fn func(engine.Tx) error) error {
	if db.pg == nil {
		return db.View(fn)
	}
	db.mu.RLock()
	closed := db.closed
	db.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	return db.pg.viewMany(db.cache, pre, fn)
}

// viewMany reads pre's rows in one statement, then runs fn on them from
// memory. Should fn read anything else, it runs again in a view (a
// transaction: one snapshot for all its reads).
func (p *pgStore) viewMany(cache *caches, pre preload, fn func(engine.Tx) error) (err error) {
	reads, err := p.preload(pre)
	if err != nil {
		return err
	}
	// Single, and its one statement sent: any other read stops fn with
	// errSecondRead before it reaches a connection.
	kv := &pgKV{ctx: p.ctx, stats: &p.reads, reads: reads, single: true, sent: true}
	err = func() (err error) {
		defer catch(&err)
		return run(kv, cache, fn)
	}()
	if errors.Is(err, errSecondRead) {
		return p.view(cache, fn)
	}
	return err
}

// preload reads pre's rows into a transaction's read map (an absent key
// maps to nil, as a point read that found nothing leaves it).
//
// The statement is bounded (sharedReadTimeout): every request of the node
// that needs a key or an operation waits on it, and one stuck on a dead
// connection must not hold them all.
func (p *pgStore) preload(pre preload) (map[string][]byte, error) {
	ctx, cancel := context.WithTimeout(p.ctx, sharedReadTimeout)
	defer cancel()
	reads := make(map[string][]byte, 2*len(pre.keys))
	p.reads.trips.Add(1)
	p.reads.gets.Add(1)
	var rows pgx.Rows
	var err error
	if pre.index != "" {
		for _, k := range pre.keys {
			reads[readKey(pre.index, k)] = nil
		}
		rows, err = p.pool.Query(ctx, `select i.k, i.v, r.v, r.k is not null from kv i
			left join kv r on r.bucket = $3 and r.k = i.v
			where i.bucket = $1 and i.k = any($2::bytea[])`, pre.index, pre.keys, pre.table)
	} else {
		for _, k := range pre.keys {
			reads[readKey(pre.table, k)] = nil
		}
		rows, err = p.pool.Query(ctx, `select k, v from kv where bucket = $1 and k = any($2::bytea[])`,
			pre.table, pre.keys)
	}
	if err != nil {
		return nil, p.closedOr(fmt.Errorf("view %s: %w", p.where, err))
	}
	defer rows.Close()
	for rows.Next() {
		if pre.index == "" {
			var k, v []byte
			if err := rows.Scan(&k, &v); err != nil {
				return nil, fmt.Errorf("view %s: %w", p.where, err)
			}
			if v == nil {
				v = []byte{} // present and empty, as bbolt answers
			}
			reads[readKey(pre.table, k)] = v
			continue
		}
		var ik, pk, v []byte
		var present bool
		if err := rows.Scan(&ik, &pk, &v, &present); err != nil {
			return nil, fmt.Errorf("view %s: %w", p.where, err)
		}
		if pk == nil {
			pk = []byte{}
		}
		reads[readKey(pre.index, ik)] = pk
		if present && v == nil {
			v = []byte{}
		}
		reads[readKey(pre.table, pk)] = v
	}
	if err := rows.Err(); err != nil {
		return nil, p.closedOr(fmt.Errorf("view %s: %w", p.where, err))
	}
	return reads, nil
}
