package engine

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// LeaseOptions tune claims by lease (see lease.go). The zero value is what
// production uses.
type LeaseOptions struct {
	// Length is how long a node's claims outlive its last heartbeat
	// (default 10 s): a takeover of a dead node's queues waits that long.
	Length time.Duration
	// Heartbeat is how often a node renews its lease (default Length/5).
	Heartbeat time.Duration
	// Margin is how long before the lease's end, counted from the start of
	// its last renewal, a run stops calling outside (default Length/4).
	Margin time.Duration
	// Poll is how often idle workers look for queues to claim when nothing
	// woke them (default 250 ms).
	Poll time.Duration
}

func (o LeaseOptions) withDefaults() LeaseOptions {
	if o.Length <= 0 {
		o.Length = 10 * time.Second
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = o.Length / 5
	}
	if o.Margin <= 0 {
		o.Margin = o.Length / 4
	}
	if o.Poll <= 0 {
		o.Poll = 250 * time.Millisecond
	}
	return o
}

// leaseDispatcher is the Dispatcher of a node sharing its store with
// others. The queues live in the store (idx_op_queue_active and the queues
// table); this node holds the ones it claimed, one claim at a time per queue
// (its head, oldest first), and keeps each while the queue has work: a
// finished head hands the queue to its next operation without a new claim.
type leaseDispatcher struct {
	ls   LeaseStore
	opt  LeaseOptions
	log  *slog.Logger
	read func(id uint64) (*Operation, error)
	// cancel cancels operation id on this node as a client's cancel would
	// (without its idempotency key): a cancel asked on another node.
	cancel func(ctx context.Context, id uint64) error
	// answered records, with ctx's idempotency key, the answer to a cancel
	// that another node's run recorded (op as read once it had).
	answered func(ctx context.Context, op *Operation) error

	base        time.Time    // origin of the monotonic readings below
	renewed     atomic.Int64 // ns after base at which the last good heartbeat was sent
	renewedWall atomic.Int64 // its wall time (Unix ns)

	// notify, when set, wakes other nodes at once: a cancel asked for
	// their queue, a queue let go with work left (see leaseChannel).
	notify Notifier

	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup
	wake chan struct{}

	mu         sync.Mutex
	cond       *sync.Cond
	owner      string // this node's incarnation: a new one after losing its lease
	maxPending int
	active     int // unfinished operations of the installation, last counted, plus admissions since
	admitting  int
	ready      []*Claim
	waiting    int                      // workers blocked in Claim
	held       map[uint64]*Claim        // queue → the claim of its head (ready or running)
	claims     map[uint64]*Claim        // operation id → claim
	writing    map[uint64]chan struct{} // operations a cancel is writing (fence)
	kept       map[uint64]*Operation
	tries      map[uint64]int
	closed     bool
	takeovers  atomic.Uint64
	nodes      atomic.Int64 // live nodes at the last heartbeat
	gates      queueGates
}

func newLeaseDispatcher(ls LeaseStore, opt LeaseOptions, maxPending int, log *slog.Logger) *leaseDispatcher {
	d := &leaseDispatcher{
		ls: ls, opt: opt.withDefaults(), log: log, maxPending: max(maxPending, 0),
		base: time.Now(), wake: make(chan struct{}, 1),
		held: map[uint64]*Claim{}, claims: map[uint64]*Claim{}, kept: map[uint64]*Operation{},
		writing: map[uint64]chan struct{}{},
		tries:   map[uint64]int{}, owner: newOwner(), gates: queueGates{gates: map[uint64]chan struct{}{}},
	}
	d.cond = sync.NewCond(&d.mu)
	d.ctx, d.stop = context.WithCancel(context.Background())
	return d
}

// start joins the node and starts the heartbeat and the claimer.
func (d *leaseDispatcher) start() error {
	t, wall := d.mono(), time.Now().UnixNano()
	if _, err := d.ls.Heartbeat(d.ctx, d.currentOwner(), d.opt.Length, true); err != nil {
		return err
	}
	d.renewedAt(t, wall)
	d.nodes.Store(1)
	if n, err := d.ls.LiveNodes(d.ctx); err == nil {
		d.nodes.Store(int64(n))
	}
	if err := d.ls.SweepQueues(d.ctx); err != nil {
		return err
	}
	if n, err := d.ls.CountActive(d.ctx); err == nil {
		d.mu.Lock()
		d.active = n
		d.mu.Unlock()
	}
	d.wg.Add(3)
	go d.heartbeats()
	go d.bookkeeping()
	go d.claimer()
	if d.notify != nil {
		d.wg.Add(1)
		go d.listen()
	}
	return nil
}

// poke wakes the claimer.
func (d *leaseDispatcher) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// claimer claims queues for the workers waiting in Claim.
func (d *leaseDispatcher) claimer() {
	defer d.wg.Done()
	tick := time.NewTicker(d.opt.Poll)
	defer tick.Stop()
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-tick.C:
		case <-d.wake:
		}
		for d.ctx.Err() == nil {
			d.mu.Lock()
			need, owner := d.waiting-len(d.ready), d.owner
			d.mu.Unlock()
			if need <= 0 || !d.fresh() {
				break
			}
			need = min(need, 32)
			got, err := d.ls.ClaimQueues(d.ctx, owner, need)
			if err != nil {
				if d.ctx.Err() == nil {
					d.log.Warn("claim queues", "err", err)
				}
				break
			}
			for _, qc := range got {
				d.take(qc)
			}
			if len(got) < need {
				break
			}
		}
	}
}

// take makes a claimed queue's head ready for a worker, or releases a
// queue whose work is done.
func (d *leaseDispatcher) take(qc QueueClaim) {
	if qc.Takeover {
		d.takeovers.Add(1)
		d.log.Info("took over a queue from a node whose lease expired", "queue", qc.Fence.Queue, "op", qc.Head)
	}
	if qc.Head == 0 {
		d.release(qc.Fence, 0)
		return
	}
	f := qc.Fence
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.owner != f.Owner || d.closed {
		return // lost meanwhile: the row is anyone's
	}
	d.ready = append(d.ready, d.newClaim(&f, qc.Head))
	d.cond.Signal()
}

// newClaim registers a claim of head under f; d.mu held.
func (d *leaseDispatcher) newClaim(f *Fence, head uint64) *Claim {
	c := NewClaim(f.Queue, head, d.kept[head], d.tries[f.Queue])
	delete(d.kept, head)
	c.fence = f
	c.lost = make(chan struct{})
	c.guard = d
	d.held[f.Queue] = c
	return c
}

// check is the lease guard of every claim of this dispatcher (see
// CheckLease); the claim's own loss is checked by Claim.check.
func (d *leaseDispatcher) check() error {
	if !d.fresh() {
		return ErrLeaseExpired
	}
	return nil
}

// release ends a claim in the store; a queue that still has work is free
// for any node, this one included.
func (d *leaseDispatcher) release(f Fence, wait time.Duration) {
	d.mu.Lock()
	d.forgetKept(f.Queue) // before another node may move them on
	d.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(d.ctx), 5*time.Second)
	defer cancel()
	if err := d.ls.ReleaseQueue(ctx, f, wait); err != nil {
		d.log.Warn("release queue", "queue", f.Queue, "err", err)
	}
	d.released(f.Queue)
}

// released follows the end of a claim in the store: a free worker may claim
// another queue, and a stopping node has the others take its queues at once.
func (d *leaseDispatcher) released(queue uint64) {
	d.mu.Lock()
	d.forgetKept(queue) // copies of what ended there, or that another node may move on
	d.mu.Unlock()
	d.poke()
	d.mu.Lock()
	closed := d.closed
	d.mu.Unlock()
	if closed {
		d.wakeNodes("work") // stopping: another node goes on at once
	}
}

func (d *leaseDispatcher) Admit() (func(), error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.maxPending > 0 && d.active+d.admitting >= d.maxPending {
		return nil, ErrOverloaded
	}
	d.admitting++
	return func() {
		d.mu.Lock()
		d.admitting--
		d.mu.Unlock()
	}, nil
}

// LockQueues serialises creations on a queue within this node, as in one
// process. Across nodes no lock is needed for order: operation ids come
// from one sequence row that every creating transaction reads and writes,
// so under SERIALIZABLE they are handed out in commit order, and a queue's
// head is its lowest unfinished id: no creation can slip in before one
// that committed first. What a creation checks, it checks inside its
// transaction, which SERIALIZABLE protects against other nodes' writes.
func (d *leaseDispatcher) LockQueues(queues ...uint64) func() { return d.gates.lock(queues...) }

func (d *leaseDispatcher) Reserve(queue uint64) func() { return d.gates.reserve(queue) }

// Enqueue claims the new operation's queue for this node when no live node
// holds it; otherwise its holder reaches it after the operations before it.
func (d *leaseDispatcher) Enqueue(op *Operation) {
	d.mu.Lock()
	d.active++
	if d.closed {
		d.mu.Unlock()
		return
	}
	if d.held[op.QueueID] != nil {
		if len(d.kept) < keptCap {
			d.kept[op.ID] = op
		}
		d.mu.Unlock()
		return
	}
	owner := d.owner
	d.mu.Unlock()
	qc, ok, err := d.ls.ClaimQueue(d.ctx, owner, op.QueueID)
	if err != nil || !ok {
		// Held elsewhere, or the store did not answer: the sweep makes
		// sure the queue has a row that some node claims.
		d.poke()
		return
	}
	if qc.Head == op.ID {
		d.mu.Lock()
		if len(d.kept) < keptCap {
			d.kept[op.ID] = op
		}
		d.mu.Unlock()
	}
	d.take(qc)
}

func (d *leaseDispatcher) Claim() (*Claim, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.waiting++
	d.poke()
	for len(d.ready) == 0 && !d.closed {
		d.cond.Wait()
	}
	d.waiting--
	if d.closed {
		return nil, false
	}
	c := d.ready[0]
	d.ready = d.ready[1:]
	d.claims[c.ID] = c
	return c, true
}

// Finish hands the queue to its next operation, or releases it.
func (d *leaseDispatcher) Finish(c *Claim) {
	d.mu.Lock()
	d.end(c)
	delete(d.tries, c.Queue)
	d.active = max(d.active-1, 0) // until the next count
	lost := c.isLost() || d.closed
	d.mu.Unlock()
	if lost {
		return
	}
	for {
		head, err := d.ls.FinishQueue(d.ctx, *c.fence)
		if err != nil {
			break
		}
		if head == 0 {
			d.released(c.Queue)
			return
		}
		d.mu.Lock()
		if w := d.writing[head]; w != nil {
			// A cancel is writing the next head: claim it once the
			// write is decided (it may end it).
			d.mu.Unlock()
			<-w
			continue
		}
		if d.owner == c.fence.Owner && !d.closed {
			d.ready = append(d.ready, d.newClaim(c.fence, head))
			d.cond.Signal()
			d.mu.Unlock()
			return
		}
		d.mu.Unlock()
		break
	}
	d.release(*c.fence, 0)
}

// Defer lets the queue go with a not-before time: any node may claim it
// after wait (this one included).
func (d *leaseDispatcher) Defer(c *Claim, wait time.Duration) {
	d.mu.Lock()
	d.end(c)
	d.tries[c.Queue] = c.Tries + 1
	d.forgetKept(c.Queue)
	lost := c.isLost()
	if d.closed {
		wait = 0 // stopping: another node may go on at once
	}
	d.mu.Unlock()
	if !lost {
		d.release(*c.fence, wait)
	}
}

// forgetKept drops the operations of queue kept whole (d.mu held): once
// this node lets the queue go, another may move them on, and a copy from
// before must never be run from.
func (d *leaseDispatcher) forgetKept(queue uint64) {
	for id, op := range d.kept {
		if op.QueueID == queue {
			delete(d.kept, id)
		}
	}
}

// end forgets a claim; d.mu held.
func (d *leaseDispatcher) end(c *Claim) {
	if d.claims[c.ID] == c { // a claim lost with its lease may have a successor here
		delete(d.claims, c.ID)
	}
	if d.held[c.Queue] == c {
		delete(d.held, c.Queue)
	}
	c.End()
}

func (d *leaseDispatcher) Pending() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.active
}

// leases is the number of queues this node holds and the number it took
// over from dead nodes.
func (d *leaseDispatcher) leases() (held int, takeovers uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.held), d.takeovers.Load()
}

func (d *leaseDispatcher) Close() {
	d.mu.Lock()
	d.closed = true
	for _, c := range d.ready { // never handed to a worker: let go at leave
		if d.held[c.Queue] == c {
			delete(d.held, c.Queue)
		}
		c.End()
	}
	d.ready = nil
	d.mu.Unlock()
	d.cond.Broadcast()
}

// leave frees this node's queues for the others at once and stops the
// heartbeat; called once the workers have stopped.
func (d *leaseDispatcher) leave() {
	d.stop()
	d.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.ls.Leave(ctx, d.currentOwner()); err != nil && !errors.Is(err, context.Canceled) {
		d.log.Warn("leave: the queues of this node wait for its lease to end", "err", err)
	} else if d.notify != nil {
		d.notify.Notify(ctx, leaseChannel, "work")
	}
}
