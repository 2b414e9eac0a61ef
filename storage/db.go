package storage

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"

	"eventops/engine"
)

// SchemaVersion is the layout this binary reads and writes. A file written by
// a newer binary is refused (ErrSchemaTooNew) rather than misread.
const SchemaVersion uint64 = 1

var (
	// ErrSchemaTooNew is returned by Open for a file whose schema version is
	// newer than SchemaVersion. The file is left untouched.
	ErrSchemaTooNew = errors.New("data file was written by a newer eventops")
	// ErrClosed is returned by Update and View after Close.
	ErrClosed = errors.New("storage: database is closed")
)

var (
	keySchemaVersion  = []byte("schema_version")
	keyInstallationID = []byte("installation_id") // engine.Tx.InstallationID
	keyShopifyApp     = []byte("shopify_app")     // engine.Tx.ShopifyApp
)

// Options tune Open. The zero value is what production uses.
type Options struct {
	// Timeout bounds the wait for the file lock held by another process
	// (then Open fails with engine.ErrStoreLocked). 0 means 1 s.
	Timeout time.Duration
	// MaxBatch caps how many Update functions share one commit. 0 means 2000.
	MaxBatch int
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 2000
	}
	return o
}

// DB is an open data file. It implements engine.Store. Every commit is
// synced to disk (bbolt's NoSync stays false).
type DB struct {
	path string
	bolt *bbolt.DB // nil on PostgreSQL
	pg   *pgStore  // nil on bbolt (pg.go)
	opts Options

	// mu guards closed against a send on reqs racing Close.
	mu         sync.RWMutex
	closed     bool
	reqs       chan *request
	writerDone chan struct{}
	closeOnce  sync.Once
	closeErr   error

	cache *caches

	locksOnce sync.Once
	locks     *locker // named locks (locks.go)

	commits atomic.Uint64 // successful group commits
	updates atomic.Uint64 // update functions durably committed
}

var _ engine.Store = (*DB)(nil)

// Open opens (creating it and its directory if needed) the data file at path.
// It fails with engine.ErrStoreLocked when another process holds the file
// for longer than opts.Timeout, and with ErrSchemaTooNew, writing nothing,
// when the file was written by a newer binary.
func Open(path string, opts Options) (*DB, error) {
	opts = opts.withDefaults()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	// A file written by a newer binary is checked read-only first: opening
	// it read-write could already write to it (bbolt may rewrite the
	// freelist on open).
	if fi, err := os.Stat(path); err == nil && fi.Size() > 0 {
		if err := checkVersion(path, opts.Timeout); err != nil {
			return nil, err
		}
	}
	bdb, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: opts.Timeout})
	if err != nil {
		return nil, openError(path, err)
	}
	if err := initFile(bdb); err != nil {
		bdb.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db := &DB{
		path:       path,
		bolt:       bdb,
		opts:       opts,
		reqs:       make(chan *request, opts.MaxBatch),
		writerDone: make(chan struct{}),
		cache:      newCaches(),
	}
	go db.writer()
	return db, nil
}

func openError(path string, err error) error {
	if errors.Is(err, bbolt.ErrTimeout) {
		return fmt.Errorf("open %s: %w", path, engine.ErrStoreLocked)
	}
	return fmt.Errorf("open %s: %w", path, err)
}

// checkVersion refuses a file of a newer schema without writing to it.
func checkVersion(path string, timeout time.Duration) error {
	bdb, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: timeout, ReadOnly: true})
	if err != nil {
		return openError(path, err)
	}
	defer bdb.Close()
	return bdb.View(func(btx *bbolt.Tx) error {
		if v := fileVersion(btx); v > SchemaVersion {
			return fmt.Errorf("open %s: schema version %d, this binary knows up to %d: %w",
				path, v, SchemaVersion, ErrSchemaTooNew)
		}
		return nil
	})
}

func fileVersion(btx *bbolt.Tx) uint64 {
	if b := btx.Bucket(bkMeta); b != nil {
		if v := b.Get(keySchemaVersion); len(v) == 8 {
			return binary.BigEndian.Uint64(v)
		}
	}
	return 0
}

// initFile creates the buckets and records the schema version, committing
// only when something is missing: opening a current file writes nothing.
func initFile(bdb *bbolt.DB) error {
	ready := false
	err := bdb.View(func(btx *bbolt.Tx) error {
		v := fileVersion(btx)
		if v > SchemaVersion {
			return fmt.Errorf("schema version %d, this binary knows up to %d: %w", v, SchemaVersion, ErrSchemaTooNew)
		}
		ready = v == SchemaVersion && btx.Bucket(bkMeta).Get(keyInstallationID) != nil
		for _, name := range allBuckets() {
			if btx.Bucket(name) == nil {
				ready = false
			}
		}
		return nil
	})
	if err != nil || ready {
		return err
	}
	return bdb.Update(func(btx *bbolt.Tx) error {
		// Checked again under the write lock: another binary may have
		// upgraded the file since.
		if v := fileVersion(btx); v > SchemaVersion {
			return fmt.Errorf("schema version %d, this binary knows up to %d: %w", v, SchemaVersion, ErrSchemaTooNew)
		}
		for _, name := range allBuckets() {
			if _, err := btx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		meta := btx.Bucket(bkMeta)
		if meta.Get(keyInstallationID) == nil {
			// Chosen once, at the first start of this binary on the file
			// (a new file, or one an older eventops wrote): every copy of
			// the file keeps it.
			id, err := newInstallationID()
			if err != nil {
				return err
			}
			if err := meta.Put(keyInstallationID, []byte(id)); err != nil {
				return fmt.Errorf("record installation id: %w", err)
			}
		}
		return meta.Put(keySchemaVersion, idKey(SchemaVersion))
	})
}

// newInstallationID draws an installation id: engine.InstallationIDLen
// random characters of the lowercase base32 alphabet (a–z, 2–7), which
// Shopify keeps as they are in handles and SKUs. 40 bits make two
// installations on one shop drawing the same id negligible.
func newInstallationID() (string, error) {
	raw := make([]byte, 5)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("draw installation id: %w", err)
	}
	id := strings.ToLower(base32.StdEncoding.EncodeToString(raw))
	if !engine.ValidInstallationID(id) {
		return "", fmt.Errorf("draw installation id: %q is not one", id)
	}
	return id, nil
}

// Path is the data file's path.
func (db *DB) Path() string { return db.path }

// Close lets every queued Update finish, then closes the file (waiting for
// open View transactions). It is safe to call more than once; later calls
// return the first call's result.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		db.mu.Lock()
		db.closed = true
		close(db.reqs)
		db.mu.Unlock()
		<-db.writerDone
		db.locker().close()
		if db.pg != nil {
			db.closeErr = db.pg.close()
			return
		}
		if err := db.bolt.Close(); err != nil {
			db.closeErr = fmt.Errorf("close %s: %w", db.path, err)
		}
	})
	return db.closeErr
}

// View runs fn in a read-only transaction. It must not call Update (a read
// transaction held while waiting for a write can deadlock bbolt's remap), and
// should copy what it needs and return quickly: a long read stalls writers.
func (db *DB) View(fn func(engine.Tx) error) error {
	db.mu.RLock()
	closed := db.closed
	db.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	if db.pg != nil {
		return db.pg.view(db.cache, fn)
	}
	err := db.bolt.View(func(btx *bbolt.Tx) error { return run(boltTx{btx}, db.cache, fn) })
	if errors.Is(err, bbolt.ErrDatabaseNotOpen) {
		return ErrClosed // Close won the race with the check above
	}
	return err
}

// ViewOne runs fn, which reads one thing (a key, an index entry and the
// record it names, a page of a range) or reads ahead everything it reads
// (its first read carries them all), in a read-only snapshot. On
// PostgreSQL its one statement needs no transaction around it, sparing the
// begin and the rollback; a function that reads more is stopped at its
// second statement and runs again in a View, so fn may run twice (it must
// only read). On bbolt it is View.
func (db *DB) ViewOne(fn func(engine.Tx) error) error {
	if db.pg == nil {
		return db.View(fn)
	}
	db.mu.RLock()
	closed := db.closed
	db.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	return db.pg.viewOne(db.cache, fn)
}

// Stats is a snapshot of the data file for the dashboard.
type Stats struct {
	FileSize    int64  // bytes on disk (the file never shrinks without a compaction)
	FreePages   int    // pages free for reuse, including pending ones
	OpenReadTxs int    // read transactions open now
	Commits     uint64 // group commits since Open
	Updates     uint64 // Update functions committed since Open
	// PostgreSQL only: point reads and range reads sent to the database
	// since Open (each a round trip; a transaction reads a key once).
	Gets, Scans uint64
	// PostgreSQL only: batches run again after a serialization failure.
	Retries uint64
	// PostgreSQL only: round trips of every transaction, and of the
	// writer's (whose transactions run one at a time).
	RoundTrips, WriterTrips uint64
}

// Stats reports the file's size and bbolt's page and transaction counters.
func (db *DB) Stats() (Stats, error) {
	if db.pg != nil {
		return Stats{
			FileSize:    db.pg.size(),
			OpenReadTxs: int(db.pg.pool.Stat().AcquiredConns()),
			Commits:     db.commits.Load(),
			Updates:     db.updates.Load(),
			Gets:        db.pg.reads.gets.Load(),
			Scans:       db.pg.reads.scans.Load(),
			Retries:     db.pg.retries.Load(),
			RoundTrips:  db.pg.reads.trips.Load(),
			WriterTrips: db.pg.reads.writerTrips.Load(),
		}, nil
	}
	fi, err := os.Stat(db.path)
	if err != nil {
		return Stats{}, fmt.Errorf("stats %s: %w", db.path, err)
	}
	bs := db.bolt.Stats()
	return Stats{
		FileSize:    fi.Size(),
		FreePages:   bs.FreePageN + bs.PendingPageN,
		OpenReadTxs: bs.OpenTxN,
		Commits:     db.commits.Load(),
		Updates:     db.updates.Load(),
	}, nil
}

// Check runs bbolt's consistency check (page reachability, freelist, key
// order) and returns every problem found, joined.
//
// It runs in a read-write transaction (and writes nothing): bbolt's check
// compares the pages it reaches with the database's live freelist, which a
// concurrent commit changes under a read transaction, so a check beside
// writers would report pages in flight as "unreachable unfreed".
//
// On PostgreSQL the server keeps its own pages: Check asks it to answer.
func (db *DB) Check() error {
	if db.pg != nil {
		return db.View(func(engine.Tx) error { return nil })
	}
	return db.bolt.Update(func(btx *bbolt.Tx) error {
		var errs []error
		for err := range btx.Check() {
			errs = append(errs, err)
		}
		if len(errs) > 0 {
			return fmt.Errorf("check %s: %w", db.path, errors.Join(errs...))
		}
		return nil
	})
}
