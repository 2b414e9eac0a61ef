package storage

import (
	"cmp"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"eventops/engine"
)

// The PostgreSQL store keeps the buckets of the bbolt layout as rows of one
// table, kv(bucket, k, v) (migrations/), so that the typed code runs
// unchanged on it through kvTx (pgkv.go). Update keeps the group commit:
// the one writer goroutine runs a batch of update functions in one
// SERIALIZABLE transaction, buffering their writes in memory (reads see
// them) and sending them in one round trip before the commit. A
// serialization failure (40001, or a deadlock, 40P01) runs the whole batch
// again: Update's "may run more than once".

//go:embed migrations/*.sql
var migrations embed.FS

// ErrPasswordInURL refuses a database URL that carries a password where a
// process list would show it (a flag).
var ErrPasswordInURL = errors.New("the database URL holds a password: pass it in EVENTOPS_DATABASE_URL or a PGPASSFILE instead")

// ErrNodeRunning is returned by LockNode when another serve node holds the
// database.
var ErrNodeRunning = errors.New("another eventops process holds this database's copy lock (store copy)")

// nodeLockKey is the session advisory lock a serve node holds.
const nodeLockKey int64 = 0x6576656e746f7073 // "eventops"

// pgStore is the PostgreSQL half of a DB.
type pgStore struct {
	pool   *pgxpool.Pool
	where  string // host and database, without credentials
	ctx    context.Context
	cancel context.CancelFunc
	nodeMu sync.Mutex
	node   *pgx.Conn     // holds the node lock (LockNode)
	lost   chan struct{} // closed when another node took the lock

	claims   batcher[*claimReq] // leases_claims.go
	finishes batcher[*finishReq]

	retries atomic.Uint64 // batches run again after a serialization failure
	reads   pgCounters
}

// CheckURLFlag refuses a URL given on the command line that holds a
// password.
func CheckURLFlag(raw string) error {
	if raw == "" {
		return nil
	}
	if _, err := pgconn.ParseConfig(raw); err != nil {
		return fmt.Errorf("database URL: %w", redactErr(err))
	}
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			return ErrPasswordInURL
		}
	}
	if strings.Contains(raw, "password=") {
		return ErrPasswordInURL
	}
	return nil
}

// redactErr drops pgx's echo of a connection string from an error.
func redactErr(err error) error {
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		return errors.New("cannot parse the database URL")
	}
	return err
}

// OpenPostgres connects to the database at rawURL, applies the embedded
// migrations under goose's advisory lock, records the installation id when
// the database has none, and returns a DB on it. A password may come from
// the URL (from the environment, never a flag: see CheckURLFlag), from
// PGPASSFILE or ~/.pgpass (libpq's rules, which pgx follows).
func OpenPostgres(ctx context.Context, rawURL string, opts Options) (*DB, error) {
	opts = opts.withDefaults()
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", redactErr(err))
	}
	if !strings.Contains(rawURL, "pool_max_conns") {
		cfg.MaxConns = 16
	}
	// The statements on kv go by its primary key, those on the lease
	// tables by theirs: a plan never depends on the arguments, so plan
	// once per connection rather than on each of a prepared statement's
	// first runs (which cost as much as running it). A URL may set
	// another mode.
	if _, ok := cfg.ConnConfig.RuntimeParams["plan_cache_mode"]; !ok {
		cfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_generic_plan"
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		// An unreachable host must not hold a request (or /readyz)
		// for the system's TCP timeout.
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	where := fmt.Sprintf("postgres %s/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Database)
	openCtx, cancelOpen := context.WithTimeout(ctx, 30*time.Second)
	defer cancelOpen()
	pool, err := pgxpool.NewWithConfig(openCtx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", where, err)
	}
	if err := migrate(openCtx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open %s: %w", where, err)
	}
	if err := initMeta(openCtx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open %s: %w", where, err)
	}
	bg, cancel := context.WithCancel(context.Background())
	db := &DB{
		path:       where,
		pg:         &pgStore{pool: pool, where: where, ctx: bg, cancel: cancel, lost: make(chan struct{})},
		opts:       opts,
		reqs:       make(chan *request, opts.MaxBatch),
		writerDone: make(chan struct{}),
		cache:      newCaches(),
	}
	go db.writer()
	if err := indexActiveQueues(openCtx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", where, err)
	}
	return db, nil
}

// migrate applies the embedded migrations, one node at a time (goose's
// session advisory lock), and refuses a database a newer binary migrated.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	sqlDB := stdlib.OpenDBFromPool(pool)
	defer sqlDB.Close()
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, sub,
		goose.WithSessionLocker(locker), goose.WithTableName("eventops_schema_migrations"))
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	current, target, err := p.GetVersions(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if current > target {
		return fmt.Errorf("schema version %d, this binary knows up to %d: %w", current, target, ErrSchemaTooNew)
	}
	return nil
}

// initMeta records the layout version and, once, the installation id.
func initMeta(ctx context.Context, pool *pgxpool.Pool) error {
	var raw []byte
	err := pool.QueryRow(ctx, `select v from kv where bucket = 'meta' and k = $1`, keySchemaVersion).Scan(&raw)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return err
	case len(raw) == 8 && idOf(raw) > SchemaVersion:
		return fmt.Errorf("schema version %d, this binary knows up to %d: %w", idOf(raw), SchemaVersion, ErrSchemaTooNew)
	}
	id, err := newInstallationID()
	if err != nil {
		return err
	}
	b := &pgx.Batch{}
	b.Queue(`insert into kv (bucket, k, v) values ('meta', $1, $2) on conflict do nothing`, keyInstallationID, []byte(id))
	b.Queue(`insert into kv (bucket, k, v) values ('meta', $1, $2) on conflict do nothing`, keySchemaVersion, idKey(SchemaVersion))
	return pool.SendBatch(ctx, b).Close()
}

// Postgres reports whether db is on PostgreSQL.
func (db *DB) Postgres() bool { return db.pg != nil }

// LockNode takes the session advisory lock that lets one serve node at a
// time run on a database (until leases exist), or fails with ErrNodeRunning.
// The lock lives as long as its connection: should the connection drop (the
// database restarted, the network failed), a keeper takes it again when the
// database answers, and closes NodeLockLost if another node took it first.
func (db *DB) LockNode(ctx context.Context) error {
	if db.pg == nil {
		return nil
	}
	p := db.pg
	conn, ok, err := p.tryNodeLock(ctx)
	if err != nil {
		return fmt.Errorf("lock %s: %w", p.where, err)
	}
	if !ok {
		return ErrNodeRunning
	}
	p.nodeMu.Lock()
	p.node = conn
	p.nodeMu.Unlock()
	go p.keepNodeLock()
	return nil
}

// NodeLockLost is closed when the node lock was lost to another node (never
// on bbolt, whose file lock cannot be lost).
func (db *DB) NodeLockLost() <-chan struct{} {
	if db.pg == nil {
		return nil
	}
	return db.pg.lost
}

func (p *pgStore) tryNodeLock(ctx context.Context) (*pgx.Conn, bool, error) {
	conn, err := pgx.ConnectConfig(ctx, p.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, false, err
	}
	var ok bool
	if err := conn.QueryRow(ctx, `select pg_try_advisory_lock($1)`, nodeLockKey).Scan(&ok); err != nil || !ok {
		conn.Close(ctx)
		return nil, false, err
	}
	return conn, true, nil
}

// keepNodeLock checks the lock's connection every second and takes the
// lock again after the connection was lost.
func (p *pgStore) keepNodeLock() {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-tick.C:
		}
		p.nodeMu.Lock()
		conn := p.node
		p.nodeMu.Unlock()
		if conn != nil {
			ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
			err := conn.Ping(ctx)
			cancel()
			if err == nil {
				continue
			}
			conn.Close(context.Background())
			p.nodeMu.Lock()
			p.node = nil
			p.nodeMu.Unlock()
		}
		ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
		conn, ok, err := p.tryNodeLock(ctx)
		cancel()
		switch {
		case err != nil: // the database is still away: try again
		case !ok:
			close(p.lost)
			return
		default:
			p.nodeMu.Lock()
			p.node = conn
			p.nodeMu.Unlock()
		}
	}
}

// size is the database's size in bytes (0 when it does not answer).
func (p *pgStore) size() int64 {
	var n int64
	p.pool.QueryRow(p.ctx, `select pg_database_size(current_database())`).Scan(&n)
	return n
}

func (p *pgStore) close() error {
	p.cancel()
	p.nodeMu.Lock()
	if p.node != nil {
		// Unlocked before the connection goes: the server frees a
		// closed connection's locks only once it has seen it close,
		// and another process may take the lock at once.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		p.node.Exec(ctx, `select pg_advisory_unlock($1)`, nodeLockKey)
		p.node.Close(ctx)
		cancel()
		p.node = nil
	}
	p.nodeMu.Unlock()
	p.pool.Close()
	return nil
}

// pgFault carries a database error out of a kvBucket method, which has no
// error to return (bbolt's reads cannot fail): the method panics with it and
// view and runTx turn it back into the error of the whole transaction.
type pgFault struct{ err error }

func (f pgFault) Error() string { return f.err.Error() }
func (f pgFault) Unwrap() error { return f.err }

// catch turns a pgFault panic into err; other panics go on.
func catch(err *error) {
	if p := recover(); p != nil {
		f, ok := p.(pgFault)
		if !ok {
			panic(p)
		}
		*err = f
	}
}

// retryable reports a serialization failure or a deadlock: the transaction
// may succeed when run again.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// uniqueViolation reports a duplicate key (23505).
func uniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// view runs fn in a REPEATABLE READ, READ ONLY transaction: one snapshot.
// The begin rides with the first read, and the rollback is not waited for
// (the connection goes back to the pool once it is done), so a View of one
// read costs one round trip. A View that reads nothing still checks that
// the database answers (/readyz relies on it).
func (p *pgStore) view(cache *caches, fn func(engine.Tx) error) (err error) {
	return p.viewMode(cache, fn, false)
}

// viewOne runs fn, which reads once, without a transaction: its one
// statement is its own snapshot, and no begin or rollback is sent. Should
// fn read a second time, it is stopped and runs again in a view.
func (p *pgStore) viewOne(cache *caches, fn func(engine.Tx) error) error {
	err := p.viewMode(cache, fn, true)
	if errors.Is(err, errSecondRead) {
		return p.viewMode(cache, fn, false)
	}
	return err
}

func (p *pgStore) viewMode(cache *caches, fn func(engine.Tx) error, single bool) (err error) {
	conn, err := p.pool.Acquire(p.ctx)
	if err != nil {
		return p.closedOr(fmt.Errorf("view %s: %w", p.where, err))
	}
	kv := &pgKV{ctx: p.ctx, conn: conn, stats: &p.reads, single: single,
		begin: "begin isolation level repeatable read read only"}
	if single {
		kv.begin = ""
	}
	defer func() {
		if kv.begin != "" || single { // no transaction open
			conn.Release()
			return
		}
		go func() {
			p.reads.trips.Add(1)
			conn.Exec(context.Background(), "rollback")
			conn.Release()
		}()
	}()
	defer catch(&err)
	err = run(kv, cache, fn)
	if (kv.begin != "" || (single && !kv.sent)) && err == nil {
		if perr := conn.Ping(p.ctx); perr != nil {
			return p.closedOr(fmt.Errorf("view %s: %w", p.where, perr))
		}
	}
	return err
}

func (p *pgStore) closedOr(err error) error {
	if p.ctx.Err() != nil {
		return ErrClosed
	}
	return err
}

// maxAttempts bounds the runs of one batch after serialization failures.
const maxAttempts = 20

// runTx runs reqs in one SERIALIZABLE transaction and commits. A function
// that fails has its writes dropped from the buffer (nothing of it reached
// the database), so the others go on in the same transaction; its caller is
// answered once the commit is decided, since a serializable transaction's
// reads are trustworthy only then. The contract is commit's: failed is
// always -1 here.
func (p *pgStore) runTx(reqs []*request, cache *caches) (failed int, fnErr, err error) {
	assume := true
	for attempt := 1; ; attempt++ {
		fails, err := p.attempt(reqs, cache, assume)
		if err != nil && assume && uniqueViolation(err) && attempt < maxAttempts {
			// A key taken absent was there (a record stored under
			// an id its sequence had not handed out): run again,
			// reading every key.
			assume = false
			continue
		}
		if err != nil && retryable(err) && attempt < maxAttempts {
			p.retries.Add(1)
			time.Sleep(time.Duration(attempt) * time.Millisecond)
			continue
		}
		for i, e := range fails {
			if e != nil {
				reqs[i].answer(e)
			}
		}
		if err != nil {
			err = p.closedOr(fmt.Errorf("commit %s: %w", p.where, err))
		}
		return -1, nil, err
	}
}

func (p *pgStore) attempt(reqs []*request, cache *caches, assume bool) (fails []error, err error) {
	fails = make([]error, len(reqs))
	conn, err := p.pool.Acquire(p.ctx)
	if err != nil {
		return fails, err
	}
	// Released after a failure in the middle of a transaction, the
	// connection is closed by the pool (it is not idle), which ends the
	// transaction.
	defer conn.Release()
	kv := &pgKV{ctx: p.ctx, conn: conn, ov: newOverlay(), stats: &p.reads, assume: assume,
		begin: "begin isolation level serializable"}
	// What every function will read, and the fences they run under, go
	// in one round trip with the batch's first read.
	var fences []engine.Fence // held in queue order, as every statement locking several queues does
	for _, r := range reqs {
		if f := engine.FenceOf(r.ctx); f != nil {
			fences = append(fences, *f)
		}
		if ahead := engine.ReadAheadOf(r.ctx); ahead != nil {
			if err := run(kv, cache, func(t engine.Tx) error { ahead(t); return nil }); err != nil {
				return fails, err
			}
		}
	}
	slices.SortFunc(fences, func(a, b engine.Fence) int { return cmp.Compare(a.Queue, b.Queue) })
	held := kv.queueFences(fences)
	for i, r := range reqs {
		kv.ov.mark()
		fn := r.fn
		if f := engine.FenceOf(r.ctx); f != nil {
			fn = kv.fenced(f, held, fn)
		}
		_, e := runSafe(kv, cache, fn)
		var f pgFault
		if errors.As(e, &f) {
			return fails, f.err
		}
		if e != nil {
			kv.ov.undo()
			fails[i] = e
		}
	}
	return fails, kv.commit()
}
