package storage

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"eventops/engine"
)

// Named locks (engine.Locks). On bbolt, which one process owns, a lock by
// name in memory. On PostgreSQL, the same lock in memory first (two holders
// in one process must not share the session lock, which is reentrant),
// then a session advisory lock keyed by a 64-bit hash of the name, taken
// on one connection per DB kept for the locks (application_name "eventops
// locks"), apart from the pool: a pooled connection would carry the lock
// to whoever borrows it next. Waiting (Lock) polls pg_try_advisory_lock
// rather than blocking the shared connection in pg_advisory_lock. The
// connection's queries never run under a caller's context (pgx closes a
// connection whose query is cancelled, which would drop every lock the
// node holds). A keeper pings the connection every second while locks are
// held; when it has dropped, every lock it held is lost (Lost closes: the
// database ended the session, so another node may take them now), and
// the next lock connects again.

// lockPing is how often the keeper checks the locks' connection.
const lockPing = time.Second

// lockWait bounds the pause between two attempts of a waiting Lock.
const lockWait = 200 * time.Millisecond

// locker is a DB's named locks.
type locker struct {
	local *engine.LocalLocks
	pg    *pgStore // nil on bbolt

	mu      sync.Mutex // guards what follows and serializes the use of conn
	conn    *pgx.Conn
	gen     uint64 // counts connections: a lock of an older one is gone
	held    map[*pgLock]struct{}
	keeping bool
	closed  bool
}

// pgLock is a lock held on the locks' connection.
type pgLock struct {
	lk    *locker
	local engine.Lock
	key   int64
	gen   uint64
	lost  chan struct{}
	once  sync.Once
	lostO sync.Once
}

func (l *pgLock) Lost() <-chan struct{} { return l.lost }

func (l *pgLock) Unlock() {
	l.once.Do(func() {
		l.lk.release(l)
		l.local.Unlock()
	})
}

func (l *pgLock) markLost() { l.lostO.Do(func() { close(l.lost) }) }

// ErrLocksClosed is returned by TryLock and Lock after Close.
var ErrLocksClosed = errors.New("storage: locks of a closed database")

func (db *DB) locker() *locker {
	db.locksOnce.Do(func() {
		db.locks = &locker{local: engine.NewLocalLocks(), pg: db.pg, held: map[*pgLock]struct{}{}}
	})
	return db.locks
}

var _ engine.Locks = (*DB)(nil)

// TryLock takes the lock named name if no holder, on any node sharing the
// database, has it (ok false: nothing is held). See engine.Locks.
func (db *DB) TryLock(ctx context.Context, name string) (engine.Lock, bool, error) {
	lk := db.locker()
	local, ok, err := lk.local.TryLock(ctx, name)
	if err != nil || !ok || lk.pg == nil {
		return local, ok, err
	}
	l, ok, err := lk.try(local, lockKey(name))
	if err != nil || !ok {
		local.Unlock()
		if err != nil {
			return nil, false, fmt.Errorf("lock %q: %w", name, err)
		}
		return nil, false, nil
	}
	return l, true, nil
}

// Lock waits for the lock named name, or for ctx to end. See engine.Locks.
func (db *DB) Lock(ctx context.Context, name string) (engine.Lock, error) {
	lk := db.locker()
	local, err := lk.local.Lock(ctx, name)
	if err != nil || lk.pg == nil {
		return local, err
	}
	key := lockKey(name)
	pause := 5 * time.Millisecond
	for {
		l, ok, err := lk.try(local, key)
		if err != nil {
			local.Unlock()
			return nil, fmt.Errorf("lock %q: %w", name, err)
		}
		if ok {
			return l, nil
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			local.Unlock()
			return nil, ctx.Err()
		case <-t.C:
		}
		if pause *= 2; pause > lockWait {
			pause = lockWait
		}
	}
}

// lockKey is the advisory lock key of a name.
func lockKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("eventops lock:"))
	h.Write([]byte(name))
	return int64(h.Sum64())
}

// try takes the advisory lock key on the locks' connection, connecting
// first when there is none.
func (lk *locker) try(local engine.Lock, key int64) (*pgLock, bool, error) {
	lk.mu.Lock()
	defer lk.mu.Unlock()
	if lk.closed {
		return nil, false, ErrLocksClosed
	}
	if lk.conn == nil {
		cfg := lk.pg.pool.Config().ConnConfig.Copy()
		cfg.RuntimeParams["application_name"] = "eventops locks"
		ctx, cancel := context.WithTimeout(lk.pg.ctx, 10*time.Second)
		conn, err := pgx.ConnectConfig(ctx, cfg)
		cancel()
		if err != nil {
			return nil, false, lk.pg.closedOr(fmt.Errorf("connect %s: %w", lk.pg.where, err))
		}
		lk.conn = conn
		lk.gen++
	}
	ctx, cancel := context.WithTimeout(lk.pg.ctx, 10*time.Second)
	defer cancel()
	var ok bool
	if err := lk.conn.QueryRow(ctx, `select pg_try_advisory_lock($1)`, key).Scan(&ok); err != nil {
		lk.dropLocked()
		return nil, false, lk.pg.closedOr(err)
	}
	if !ok {
		return nil, false, nil
	}
	l := &pgLock{lk: lk, local: local, key: key, gen: lk.gen, lost: make(chan struct{})}
	lk.held[l] = struct{}{}
	if !lk.keeping {
		lk.keeping = true
		go lk.keep()
	}
	return l, true, nil
}

// release lets the advisory lock of l go, when its connection is still the
// one that took it (otherwise the session that held it is gone, and the
// lock with it).
func (lk *locker) release(l *pgLock) {
	lk.mu.Lock()
	defer lk.mu.Unlock()
	if _, ok := lk.held[l]; !ok {
		return
	}
	delete(lk.held, l)
	if lk.conn == nil || l.gen != lk.gen {
		return
	}
	ctx, cancel := context.WithTimeout(lk.pg.ctx, 10*time.Second)
	defer cancel()
	if _, err := lk.conn.Exec(ctx, `select pg_advisory_unlock($1)`, l.key); err != nil {
		// Not known to be released: end the session, which releases it.
		lk.dropLocked()
	}
}

// dropLocked closes the connection; every lock it held is lost. lk.mu held.
func (lk *locker) dropLocked() {
	if lk.conn != nil {
		lk.conn.Close(context.Background())
		lk.conn = nil
	}
	for l := range lk.held {
		l.markLost()
		delete(lk.held, l)
	}
}

// keep checks the connection every lockPing while locks are held.
func (lk *locker) keep() {
	t := time.NewTicker(lockPing)
	defer t.Stop()
	for {
		select {
		case <-lk.pg.ctx.Done():
			return
		case <-t.C:
		}
		lk.mu.Lock()
		if len(lk.held) == 0 {
			lk.keeping = false
			lk.mu.Unlock()
			return
		}
		if lk.conn != nil {
			ctx, cancel := context.WithTimeout(lk.pg.ctx, 5*time.Second)
			if err := lk.conn.Ping(ctx); err != nil {
				lk.dropLocked()
			}
			cancel()
		}
		lk.mu.Unlock()
	}
}

// close ends the locks' connection (the database releases its locks).
func (lk *locker) close() {
	lk.mu.Lock()
	defer lk.mu.Unlock()
	lk.closed = true
	lk.dropLocked()
}
