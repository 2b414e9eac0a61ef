package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"go.etcd.io/bbolt"
)

// ErrNotEmpty refuses to copy an installation into a database that holds
// one already.
var ErrNotEmpty = errors.New("the database already holds an installation's records: store copy needs an empty one")

// CopyToPostgres copies every bucket of the bbolt file src (records, index
// entries, sequences, and the meta bucket with the installation id) into
// the empty PostgreSQL store dst, in one transaction read from one bbolt
// snapshot, then counts the rows of every bucket on both sides and fails
// unless they match. It holds dst's node lock meanwhile, so that no serve
// node writes into the database during the copy. It returns the counts by
// bucket.
func CopyToPostgres(ctx context.Context, src, dst *DB) (map[string]int, error) {
	if src.bolt == nil || dst.pg == nil {
		return nil, errors.New("store copy: from a bbolt file to a PostgreSQL database")
	}
	if err := dst.LockNode(ctx); err != nil {
		return nil, fmt.Errorf("store copy: %w", err)
	}
	pool := dst.pg.pool
	var n int
	if err := pool.QueryRow(ctx, `select count(*) from kv where bucket <> 'meta'`).Scan(&n); err != nil {
		return nil, fmt.Errorf("store copy: %w", err)
	}
	if n > 0 {
		return nil, ErrNotEmpty
	}
	want := map[string]int{}
	err := src.bolt.View(func(btx *bbolt.Tx) error {
		var names []string
		if err := btx.ForEach(func(name []byte, _ *bbolt.Bucket) error {
			names = append(names, string(name))
			return nil
		}); err != nil {
			return err
		}
		slices.Sort(names)
		ptx, err := pool.Begin(ctx)
		if err != nil {
			return err
		}
		defer ptx.Rollback(context.Background())
		// The file's meta (installation id, layout version) replaces what
		// OpenPostgres recorded in the empty database.
		if _, err := ptx.Exec(ctx, `delete from kv where bucket = 'meta'`); err != nil {
			return err
		}
		i := 0
		var c *bbolt.Cursor
		var k, v []byte
		rows := pgx.CopyFromFunc(func() ([]any, error) {
			for {
				if c == nil {
					if i == len(names) {
						return nil, nil
					}
					c = btx.Bucket([]byte(names[i])).Cursor()
					k, v = c.First()
				} else {
					k, v = c.Next()
				}
				if k == nil {
					c = nil
					i++
					continue
				}
				if v == nil {
					return nil, fmt.Errorf("bucket %s holds a nested bucket", names[i])
				}
				want[names[i]]++
				return []any{names[i], k, v}, nil
			}
		})
		if _, err := ptx.CopyFrom(ctx, pgx.Identifier{"kv"}, []string{"bucket", "k", "v"}, rows); err != nil {
			return err
		}
		return ptx.Commit(ctx)
	})
	if err != nil {
		return nil, fmt.Errorf("store copy: %w", err)
	}
	got := map[string]int{}
	res, err := pool.Query(ctx, `select bucket, count(*) from kv group by bucket`)
	if err != nil {
		return nil, fmt.Errorf("store copy: count: %w", err)
	}
	for res.Next() {
		var b string
		var c int
		if err := res.Scan(&b, &c); err != nil {
			return nil, fmt.Errorf("store copy: count: %w", err)
		}
		got[b] = c
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("store copy: count: %w", err)
	}
	var bad []error
	for b, w := range want {
		if got[b] != w {
			bad = append(bad, fmt.Errorf("%s: %d in the file, %d in the database", b, w, got[b]))
		}
	}
	for b, g := range got {
		if _, ok := want[b]; !ok {
			bad = append(bad, fmt.Errorf("%s: none in the file, %d in the database", b, g))
		}
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("store copy: counts differ: %w", errors.Join(bad...))
	}
	return want, nil
}
