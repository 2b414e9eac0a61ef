package storage

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"
)

// The limits several serve nodes share on PostgreSQL (migration 00003):
// the API rate limit's budget and the dashboard's sign-in buckets. Each is
// one statement outside the group commit (a counter, not a record: it needs
// no SERIALIZABLE batch, and must not wait behind one). On bbolt one process
// owns the file, and the web layer keeps these limits in memory as before
// (Postgres reports which).

// ErrNotShared is returned by the shared limits on bbolt, where the web
// layer counts in memory instead.
var ErrNotShared = errors.New("storage: shared limits need PostgreSQL")

// limitTimeout bounds one limit statement: a request must not hang on an
// unreachable database for the system's TCP timeout.
const limitTimeout = 5 * time.Second

// ReserveRate reserves up to want requests of key's budget in the fixed
// window starting at window (any number that names the window, such as a
// unix minute), of limit in all across every node: got is how many were
// granted (0 once the window is spent), used how many every node has
// reserved of the window now, got included. See rate_take in
// migrations/00003_limits.sql.
func (db *DB) ReserveRate(ctx context.Context, key string, window int64, limit, want int) (got, used int, err error) {
	if db.pg == nil {
		return 0, 0, ErrNotShared
	}
	ctx, cancel := context.WithTimeout(ctx, limitTimeout)
	defer cancel()
	var g, u int32
	err = db.pg.pool.QueryRow(ctx, `select granted, reserved from rate_take($1, $2, $3, $4)`, key, window, int32(limit), int32(want)).Scan(&g, &u)
	if err != nil {
		return 0, 0, db.pg.closedOr(fmt.Errorf("rate limit %s: %w", db.pg.where, err))
	}
	return int(g), int(u), nil
}

// TakeLogin takes a sign-in attempt from the bucket of every key (a client
// IP, an email), or from none of them, and returns 0 or how long until the
// attempt would be allowed. Buckets hold burst attempts and regain one per
// refill, by the database's clock; the keys are stored as SHA-256.
func (db *DB) TakeLogin(ctx context.Context, keys []string, burst int, refill time.Duration) (time.Duration, error) {
	if db.pg == nil {
		return 0, ErrNotShared
	}
	ctx, cancel := context.WithTimeout(ctx, limitTimeout)
	defer cancel()
	var wait float64
	err := db.pg.pool.QueryRow(ctx, `select login_take($1, $2, $3)`, loginKeys(keys), float64(burst), refill.Seconds()).Scan(&wait)
	if err != nil {
		return 0, db.pg.closedOr(fmt.Errorf("sign-in limit %s: %w", db.pg.where, err))
	}
	return time.Duration(wait * float64(time.Second)), nil
}

// RefundLogin gives back the attempt TakeLogin took from each key's bucket
// (the sign-in succeeded).
func (db *DB) RefundLogin(ctx context.Context, keys []string, burst int, refill time.Duration) error {
	if db.pg == nil {
		return ErrNotShared
	}
	ctx, cancel := context.WithTimeout(ctx, limitTimeout)
	defer cancel()
	_, err := db.pg.pool.Exec(ctx, `select login_refund($1, $2, $3)`, loginKeys(keys), float64(burst), refill.Seconds())
	if err != nil {
		return db.pg.closedOr(fmt.Errorf("sign-in limit %s: %w", db.pg.where, err))
	}
	return nil
}

func loginKeys(keys []string) [][]byte {
	out := make([][]byte, len(keys))
	for i, k := range keys {
		sum := sha256.Sum256([]byte(k))
		out[i] = sum[:]
	}
	return out
}
