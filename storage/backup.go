package storage

import (
	"errors"
	"fmt"
	"io"

	"go.etcd.io/bbolt"
)

// ErrBackupPostgres: a PostgreSQL installation is backed up with the
// database's own tools (pg_dump, or base backups and WAL archiving).
var ErrBackupPostgres = errors.New("backup: the store is PostgreSQL: back it up with pg_dump or the server's base backups")

// BackupUnsupported says why Backup cannot copy this store ("" when it
// can): GET /backup answers it.
func (db *DB) BackupUnsupported() string {
	if db.pg != nil {
		return ErrBackupPostgres.Error()
	}
	return ""
}

// Backup writes a consistent snapshot of the data file to w while writers go
// on, and returns the bytes written. The snapshot is the file as of one
// committed state: bbolt copies it page by page inside one read transaction,
// so it opens as an ordinary data file (storage.Open) and passes Check.
//
// The read transaction lasts as long as w takes to accept the file. A long
// read transaction stalls writers when the file must grow (bbolt remaps it
// only once every reader is gone) and keeps Close waiting, so w should be
// fast: a local file, not a slow network client. The HTTP handler spools to
// a temporary file for that reason.
func (db *DB) Backup(w io.Writer) (int64, error) {
	db.mu.RLock()
	closed := db.closed
	db.mu.RUnlock()
	if closed {
		return 0, ErrClosed
	}
	if db.pg != nil {
		return 0, ErrBackupPostgres
	}
	var n int64
	err := db.bolt.View(func(btx *bbolt.Tx) error {
		var err error
		n, err = btx.WriteTo(w)
		return err
	})
	switch {
	case errors.Is(err, bbolt.ErrDatabaseNotOpen):
		return n, ErrClosed // Close won the race with the check above
	case err != nil:
		return n, fmt.Errorf("backup %s: %w", db.path, err)
	}
	return n, nil
}
