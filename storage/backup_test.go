package storage

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"eventops/engine"
)

// putOps commits n pending operations in one update and returns their ids.
func putOps(ctx context.Context, db *DB, n int) ([]uint64, error) {
	var ids []uint64
	err := db.Update(ctx, func(tx engine.Tx) error {
		ids = ids[:0] // the function may run twice
		for range n {
			id, err := tx.NextID(engine.SeqOperation)
			if err != nil {
				return err
			}
			now := time.Now().UTC()
			if err := tx.PutOperation(&engine.Operation{ID: id, CompanyID: 1, EventID: 7, QueueID: 7,
				Action: engine.ActionSave, Status: engine.StatusPending, CreatedAt: now, UpdatedAt: now,
				Version: 1, Phases: []*engine.Phase{}}); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	})
	return ids, err
}

// growOnce writes operations until the data file has grown once.
func growOnce(ctx context.Context, db *DB) error {
	st, err := db.Stats()
	if err != nil {
		return err
	}
	for range 100_000 {
		if _, err := putOps(ctx, db, 1); err != nil {
			return err
		}
		now, err := db.Stats()
		if err != nil || now.FileSize > st.FileSize {
			return err
		}
	}
	return errors.New("the data file never grew")
}

// committingWriter, at the backup's first write (its read transaction is
// open by then), has another goroutine commit writes, and goes on once they
// are committed. A backup that blocked writers would hold them forever: the
// writer gives up after 10 s and fails the backup.
type committingWriter struct {
	w      io.Writer
	commit func() error
	done   bool
}

func (c *committingWriter) Write(p []byte) (int, error) {
	if !c.done {
		c.done = true
		if err := c.commit(); err != nil {
			return 0, err
		}
	}
	return c.w.Write(p)
}

func TestBackupDuringWritesIsConsistent(t *testing.T) {
	t.Parallel()
	db := setupBolt(t)
	ctx := context.Background()
	before, err := putOps(ctx, db, 300)
	if err != nil {
		t.Fatal(err)
	}
	// bbolt remaps the file when it outgrows its mapping (doubling it up
	// to 1 GiB), and a remap waits for every read transaction, a backup's
	// included. Write until the file has just grown, so that the few
	// writes made during the backup fit in the new mapping. (storage.Open
	// could map more up front; see the README, "Backup and restore".)
	if err := growOnce(ctx, db); err != nil {
		t.Fatal(err)
	}

	// Writers commit while the backup runs (see committingWriter).
	var during atomic.Int64
	commit := func() error {
		done := make(chan error, 1)
		go func() {
			for range 3 {
				if _, err := putOps(ctx, db, 1); err != nil {
					done <- err
					return
				}
				during.Add(1)
			}
			done <- nil
		}()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			return errors.New("no write committed while the backup ran: the backup blocked writers")
		}
	}

	path := filepath.Join(t.TempDir(), "backup.db")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := db.Backup(&committingWriter{w: f, commit: commit})
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != n {
		t.Fatalf("backup reported %d bytes, file has %v (%v)", n, fi.Size(), err)
	}
	if during.Load() == 0 {
		t.Fatal("no write committed while the backup ran: the backup blocked writers")
	}

	// The copy is an ordinary data file: it opens, passes the consistency
	// check and holds everything committed before the backup began.
	cp, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("open backup: %v", err)
	}
	defer cp.Close()
	if err := cp.Check(); err != nil {
		t.Fatalf("backup fails the check: %v", err)
	}
	if err := cp.View(func(tx engine.Tx) error {
		for _, id := range before {
			op, err := tx.Operation(id)
			if err != nil {
				return err
			}
			if op == nil {
				t.Errorf("operation %d, committed before the backup, is missing from it", id)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// And it is a snapshot: it can be written to independently.
	if _, err := putOps(ctx, cp, 1); err != nil {
		t.Fatalf("write to the restored copy: %v", err)
	}
}

func TestBackupAfterCloseFails(t *testing.T) {
	t.Parallel()
	db, err := Open(filepath.Join(t.TempDir(), "eventops.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Backup(io.Discard); !errors.Is(err, ErrClosed) {
		t.Fatalf("backup after close: %v, want ErrClosed", err)
	}
}
