package engine

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// Config wires an Engine. Store is required; everything else has a default.
type Config struct {
	Store Store
	// SharedStore says that other processes write Store while this engine
	// runs (PostgreSQL: the scripting commands, later other nodes): what
	// only a store read can tell (is this key revoked?) is then read from
	// the store at every use, never from a cache of this process.
	SharedStore bool
	// Workers bounds how many operations run at once (default 64).
	Workers int
	// MaxPending bounds the operations the engine holds unfinished
	// (waiting in a queue or running): past it, the commands of clients
	// that would start one (create, update, delete, refund, retry) fail
	// with ErrOverloaded before anything is stored. Operations the engine
	// starts itself after a sale or refund (inventory-only saves) are never
	// refused, since a buyer has paid, but they count. 0 means no bound.
	MaxPending int
	// BulkExamine bounds the operations one bulk retry or cancel reads,
	// acted on or skipped (default 10,000); a call that reaches it says
	// where to go on (BulkResult.Next).
	BulkExamine int
	// Work maps a phase name to its work; the local phases (recurrence,
	// tickets) are registered by New unless given here.
	Work map[string]Work
	// Refund does a refund operation's work (default: LocalRefund).
	Refund RefundWork
	// Retry governs transient failures of phase work.
	Retry RetryPolicy
	// Clock and Jitter are injected so that tests are exact.
	Clock  func() time.Time
	Jitter func() float64 // in [0,1)
	Logger *slog.Logger
	// Sealer encrypts shop credentials at rest.
	Sealer Sealer
	// Observer is told of transitions, for metrics.
	Observer Observer
	// Shops reads connected shops' currencies (nil: not read; the
	// catalog phase reads a missing one itself). See shop_currency.go.
	Shops ShopReader
	// Sandbox provisions sandbox shops for connections made without a
	// token: the built-in sandbox's, or on PostgreSQL the shared sandbox
	// process's, or NoSandbox (refused); nil: such a connection has none.
	Sandbox SandboxShops
	// Seats takes seats off a shop's offer before a box-office sale
	// commits (see CreateOrder); nil: box-office sales do not call the
	// shop (the rebalancing save that follows lowers it).
	Seats ShopSeats
	// Webhooks sends outbound webhook deliveries (nil: they are queued
	// but not sent); WebhookRetryScale scales their retry schedule (0: 1);
	// WebhookWorkers bounds the sends in flight (default 64); URLGuard
	// checks endpoint URLs (see webhook_endpoints.go).
	// Leases, when set, makes this engine one node of several sharing
	// Store: queues are claimed by lease (lease.go, dispatch_lease.go)
	// instead of kept in memory; Lease tunes them.
	Leases            LeaseStore
	Lease             LeaseOptions
	Webhooks          WebhookSender
	WebhookRetryScale float64
	WebhookWorkers    int
	URLGuard          URLGuard
	// Notifier carries committed transitions to the other nodes sharing
	// Store, and theirs to this engine's broker (see announce.go); nil
	// with one node. NodeID names this node in the announcements
	// (default: random).
	Notifier Notifier
	NodeID   string
	// Locks are the named locks that hold across the nodes sharing Store
	// (the storage.DB; see locks.go). Nil: locks of this process only,
	// right for a store no other process writes.
	Locks Locks
}

// DefaultMaxPending is the default bound on unfinished operations
// (Config.MaxPending, serve's --max-pending). What waits is an id in the
// dispatcher, so memory is not what limits it (web.BenchmarkHeapAtMaxPending
// measured a whole server's heap at 26.5 MiB with 100,000 pending saves,
// about 240 bytes each); the wait is: a client whose save is accepted at
// the bound waits for the backlog ahead of it, about ten seconds at the
// 9,500 saves/s a backlog was seen to drain at. Recovery at start reads every unfinished operation whole,
// which is a further reason to keep the bound moderate.
const DefaultMaxPending = 100_000

// Engine runs operations. Every transition is committed before it is
// published; operations of one queue (an event and its occurrences) run
// strictly in creation order; different queues run concurrently on a bounded
// pool of workers.
type Engine struct {
	store   Store
	sealer  Sealer
	shops   ShopReader
	sandbox SandboxShops
	seats   ShopSeats
	keys    keyCache
	aliases aliasCounter
	refs    refCache
	obs     Observer
	broker  *Broker
	ann     *announcer
	work    map[string]Work
	refund  RefundWork
	retry   RetryPolicy
	now     func() time.Time
	jitter  func() float64
	log     *slog.Logger
	shared  bool // Config.SharedStore
	locks   Locks
	// On a shared store that reads many at once (manyReader): the API
	// keys and operations read by concurrent callers, coalesced.
	keyReads *readGroup[[32]byte, *APIKey]
	opReads  *readGroup[uint64, *Operation]

	outbox   *outbox
	urlGuard URLGuard

	workers int
	// disp owns who runs which operation: queues, claims, cancels and
	// the bound on pending work.
	disp Dispatcher

	mu       sync.Mutex
	started  bool
	stopped  bool
	ctx      context.Context // cancelled by Stop's hard deadline
	cancel   context.CancelFunc
	soft     chan struct{} // closed when Stop begins: take no new operations
	halted   chan struct{} // closed when Stop has finished
	stopOnce sync.Once
	wg       sync.WaitGroup
	inFlight inFlight // attempts whose work is running, for Stop's log
	rebal    rebalances
	examine  int // Config.BulkExamine
}

// New builds an engine; call Start to run it.
func New(cfg Config) *Engine {
	e := &Engine{
		store:   cfg.Store,
		shared:  cfg.SharedStore,
		locks:   cfg.Locks,
		sealer:  cfg.Sealer,
		shops:   cfg.Shops,
		sandbox: cfg.Sandbox,
		seats:   cfg.Seats,
		broker:  newBroker(),
		ann:     newAnnouncer(cfg.Notifier, cfg.NodeID),
		work:    map[string]Work{},
		refund:  cfg.Refund,
		retry:   cfg.Retry,
		now:     cfg.Clock,
		jitter:  cfg.Jitter,
		log:     cfg.Logger,
		workers: cfg.Workers,
		disp:    newMemDispatcher(cfg.MaxPending),
		examine: cfg.BulkExamine,
		soft:    make(chan struct{}),
		halted:  make(chan struct{}),
	}
	if e.locks == nil {
		e.locks = NewLocalLocks()
	}
	if e.workers <= 0 {
		e.workers = 64
	}
	if e.retry.Attempts <= 0 {
		e.retry = DefaultRetry
	}
	if e.now == nil {
		e.now = func() time.Time { return time.Now().UTC() }
	}
	if e.jitter == nil {
		e.jitter = rand.Float64
	}
	if e.log == nil {
		e.log = slog.Default()
	}
	if e.obs = cfg.Observer; e.obs == nil {
		e.obs = nopObserver{}
	}
	if e.refund == nil {
		e.refund = LocalRefund{}
	}
	e.work[PhaseRecurrence] = RecurrenceWork{}
	e.work[PhaseTickets] = TicketsWork{}
	for name, w := range cfg.Work {
		e.work[name] = w
	}
	e.outbox = newOutbox(cfg.Webhooks, cfg.WebhookRetryScale, cfg.WebhookWorkers)
	e.urlGuard = cfg.URLGuard
	if m, ok := e.store.(manyReader); ok && e.shared {
		e.keyReads = newReadGroup(func(sums [][32]byte) ([]*APIKey, error) {
			hashes := make([][]byte, len(sums))
			for i := range sums {
				hashes[i] = sums[i][:]
			}
			return m.APIKeysByHash(hashes)
		})
		e.opReads = newReadGroup(m.OperationsByID)
	}
	if e.store != nil {
		e.store = kickingStore{Store: e.store, o: e.outbox}
	}
	if cfg.Leases != nil {
		d := newLeaseDispatcher(cfg.Leases, cfg.Lease, cfg.MaxPending, e.log)
		d.read = func(id uint64) (op *Operation, err error) {
			err = e.store.View(func(tx Tx) error {
				op, err = tx.Operation(id)
				return err
			})
			return op, err
		}
		d.cancel = e.cancelAsked
		d.answered = e.cancelAnswered
		d.notify = cfg.Notifier
		e.disp = d
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	return e
}

// Broker returns the engine's broker, for subscribers.
func (e *Engine) Broker() *Broker { return e.broker }

// SharedStore reports whether other processes write the store while this
// engine runs (Config.SharedStore).
func (e *Engine) SharedStore() bool { return e.shared }

// Store returns the engine's store.
func (e *Engine) Store() Store { return e.store }

// Now is the engine's clock.
func (e *Engine) Now() time.Time { return e.now() }

// Start recovers the operations that were pending or running when the store
// was last closed, in creation order, and starts the workers. The engine owns
// the context of its background work and ends it in Stop; a ctx cancelled
// before Start is done makes it fail without starting anything.
func (e *Engine) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	e.mu.Lock()
	if e.started {
		e.mu.Unlock()
		return errors.New("engine already started")
	}
	e.started = true
	e.mu.Unlock()

	if d, ok := e.disp.(*leaseDispatcher); ok {
		// The queues are in the store: this node claims its share.
		if err := d.start(); err != nil {
			return err
		}
	} else if err := e.resumeQueued(); err != nil {
		return err
	}
	e.startAnnouncing()
	for i := 0; i < e.workers; i++ {
		e.wg.Add(1)
		go e.worker()
	}
	if e.shops != nil {
		e.wg.Add(1)
		go e.fillShopCurrencies()
	}
	if e.outbox.sender != nil {
		e.wg.Add(1)
		go e.runOutbox()
	}
	return nil
}

// Stop stops taking operations, lets running phases reach a safe point, and
// after timeout cancels the rest; whatever did not finish resumes at the next
// Start. Every call returns once the engine has stopped.
func (e *Engine) Stop(timeout time.Duration) {
	e.stopOnce.Do(func() {
		e.mu.Lock()
		e.stopped = true
		e.mu.Unlock()
		close(e.soft)
		e.disp.Close()
		done := make(chan struct{})
		go func() { e.wg.Wait(); close(done) }()
		go e.logWaiting(done, timeout)
		select {
		case <-done:
		case <-time.After(timeout):
			e.log.Warn("engine stop: deadline passed, cancelling running phases", "timeout", timeout)
			e.cancel()
			<-done
		}
		e.cancel()
		if d, ok := e.disp.(*leaseDispatcher); ok {
			d.leave()
		}
		if e.ann.running.Load() {
			<-e.ann.done // the last announcements are sent
		}
		close(e.halted)
	})
	<-e.halted
}

// Leases reports the queues this node holds by lease and how many it took
// over from nodes whose lease expired (0, 0 in one process).
func (e *Engine) Leases() (held int, takeovers uint64) {
	if d, ok := e.disp.(*leaseDispatcher); ok {
		return d.leases()
	}
	return 0, 0
}

// Nodes is the number of nodes sharing the store, this one included, as of
// the last heartbeat (1 in one process).
func (e *Engine) Nodes() int {
	if d, ok := e.disp.(*leaseDispatcher); ok {
		return max(int(d.nodes.Load()), 1)
	}
	return 1
}

// Running reports whether the engine is started and not stopped.
func (e *Engine) Running() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.started && !e.stopped
}

// stopping reports whether Stop has begun.
func (e *Engine) stopping() bool {
	select {
	case <-e.soft:
		return true
	default:
		return false
	}
}

// Pending is the number of operations the engine holds unfinished: waiting
// in a queue or running (the count Config.MaxPending bounds).
func (e *Engine) Pending() int { return e.disp.Pending() }

// admit lets a client's command start an operation, or refuses it with
// ErrOverloaded when the engine already holds MaxPending unfinished ones.
// Commands call it before they store anything and call the returned
// function once their operation is queued (or was not created).
func (e *Engine) admit() (func(), error) { return e.disp.Admit() }

// resumeQueued queues the operations that were pending or running when the store
// was last closed, in creation order (one process: the queues are in
// memory).
func (e *Engine) resumeQueued() error {
	var active []*Operation
	if err := e.store.View(func(tx Tx) error {
		var err error
		active, err = tx.ActiveOperations()
		return err
	}); err != nil {
		return err
	}
	for _, op := range active {
		e.disp.Enqueue(op)
	}
	if len(active) > 0 {
		e.log.Info("resuming operations", "count", len(active))
	}
	return nil
}
