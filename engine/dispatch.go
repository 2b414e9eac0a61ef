package engine

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Dispatcher owns who runs which operation. Operations of one queue (an
// event and its occurrences) are created in order (LockQueues), run strictly
// in creation order, one at a time (Claim, Finish); different queues run
// concurrently. It counts what the engine holds for the bound on pending
// work (Admit, Config.MaxPending) and routes cancel requests either to the
// run that holds an operation or, when none does, to a direct write that
// no run can race (Cancel).
//
// Two implementations: memDispatcher keeps everything in memory under one
// lock (a FIFO of ids per queue, the claims of running operations, the
// creation gates of queues), for one process; leaseDispatcher
// (dispatch_lease.go) keeps the queues in a store shared by several nodes
// and claims them by lease.
type Dispatcher interface {
	// Admit reserves room for one operation a client's command is about
	// to create, or fails with ErrOverloaded when the bound is reached;
	// release ends the reservation once the operation is enqueued (or was
	// not created).
	Admit() (release func(), err error)
	// LockQueues serialises the creation of operations on the queues, so
	// that ids in a queue are in the order they are enqueued; it also
	// waits for a Reserve of any of them. Unlock once enqueued.
	LockQueues(queues ...uint64) (unlock func())
	// Reserve takes the creation lock of a queue no one else can know yet
	// (a new event's, from inside the commit that creates it), never
	// blocking; a later LockQueues of it waits until release.
	Reserve(queue uint64) (release func())
	// Enqueue hands over an operation whose creation is durable.
	Enqueue(op *Operation)
	// Claim blocks until the head of a queue may run and returns it, or
	// ok=false once closed.
	Claim() (c *Claim, ok bool)
	// Finish ends a claim whose operation is terminal: the next one of
	// its queue may run.
	Finish(c *Claim)
	// Defer ends a claim whose operation did not finish (the engine is
	// stopping, or the store failed): it stays the head of its queue and
	// may be claimed again after wait.
	Defer(c *Claim, wait time.Duration)
	// Cancel delivers a cancel request for operation id of queue. While a
	// run of this process holds the operation, the request goes to it
	// (Claim.Deliver), and Cancel returns the run's answer. Otherwise
	// write records it, with no claim possible meanwhile; behind tells it
	// whether the operation waits behind another of its queue and so may
	// end at once. write returns the operation as written.
	Cancel(ctx context.Context, queue, id uint64, write func(ctx context.Context, behind bool) (*Operation, error)) (*Operation, error)
	// Pending is the number of operations queued or running.
	Pending() int
	// Close wakes every Claim with ok=false; nothing is claimed after.
	Close()
}

// Claim is a run's hold on the head of a queue. Implementations make one
// with NewClaim, hand a cancel request to its run with Deliver, and End it
// when Finish or Defer releases it.
type Claim struct {
	Queue, ID uint64
	// Op is the operation as enqueued when this process created it and
	// nothing changed it since (sparing a read); nil: read it.
	Op *Operation
	// Tries counts earlier claims of the same head that were deferred.
	Tries int

	cancels  chan CancelRequest // requests to the run
	released chan struct{}      // closed when the claim ends

	// Under a lease (dispatch_lease.go): the claim's fence, closed when
	// its lease is lost, and the dispatcher's freshness check.
	fence    *Fence
	lost     chan struct{}
	lostOnce sync.Once
	guard    leaseGuard
}

// Lost is closed once the claim's lease is lost (never in one process):
// the run stops without writing, and the queue runs wherever it is claimed
// next.
func (c *Claim) Lost() <-chan struct{} { return c.lost }

func (c *Claim) markLost() {
	if c.lost != nil {
		c.lostOnce.Do(func() { close(c.lost) })
	}
}

func (c *Claim) isLost() bool {
	select {
	case <-c.lost:
		return true
	default:
		return false
	}
}

// check is the claim's lease guard (CheckLease).
func (c *Claim) check() error {
	if c.isLost() {
		return ErrLeaseExpired
	}
	if c.guard != nil {
		return c.guard.check()
	}
	return nil
}

// under returns ctx carrying the claim's fence and lease guard, if it has
// a lease.
func (c *Claim) under(ctx context.Context) context.Context {
	if c.fence == nil {
		return ctx
	}
	return withGuard(WithFence(ctx, c.fence), c)
}

// NewClaim is a claim on operation id, the head of queue (op: the
// operation whole, or nil for the run to read it; tries: earlier claims of
// the same head that were deferred).
func NewClaim(queue, id uint64, op *Operation, tries int) *Claim {
	return &Claim{Queue: queue, ID: id, Op: op, Tries: tries,
		cancels: make(chan CancelRequest), released: make(chan struct{})}
}

// CancelRequest is a cancel request delivered to the run holding the
// operation.
type CancelRequest struct {
	// Ctx is the requester's: the run records the request's idempotency
	// key (WithIdempotency) in the commit that records the request.
	Ctx context.Context
	// Reply takes the operation once the request is durable, or the error
	// that kept it from being recorded (a storage failure, or what the
	// request's idempotency key found: a replay, a key reused), as the
	// direct write of a cancel would return it.
	Reply chan<- CancelReply
}

// CancelReply is a run's answer to a CancelRequest: Op, or Err.
type CancelReply struct {
	Op  *Operation
	Err error
}

// Cancels delivers cancel requests to the run.
func (c *Claim) Cancels() <-chan CancelRequest { return c.cancels }

// Deliver hands a cancel request to the claim's run and waits for its
// answer: the operation with the request recorded, or an error if the run
// could not record it. ok=false means the claim ended before its run took
// the request (look again: the operation may be terminal, or unclaimed).
func (c *Claim) Deliver(ctx context.Context) (op *Operation, ok bool, err error) {
	reply := make(chan CancelReply, 1)
	select {
	case c.cancels <- CancelRequest{Ctx: ctx, Reply: reply}:
		got := <-reply
		return got.Op, true, got.Err
	case <-c.released:
		return nil, false, nil
	case <-ctx.Done():
		return nil, true, ctx.Err()
	}
}

// End releases the claim: a Deliver waiting for its run returns ok=false.
// Call it once.
func (c *Claim) End() { close(c.released) }

// keptCap bounds the operations kept whole for the workers: enough to spare
// the read for every operation a busy engine takes soon after creating it,
// a few MiB at most; beyond it only ids wait.
const keptCap = 1024

// memDispatcher is the in-process Dispatcher; everything below is guarded
// by mu.
type memDispatcher struct {
	mu         sync.Mutex
	cond       *sync.Cond
	maxPending int
	queues     map[uint64][]uint64   // queue id → operation ids, head first
	runnable   []uint64              // queue ids whose head may be claimed
	tries      map[uint64]int        // queue id → deferred claims of its head
	held       int                   // operations queued or running
	admitting  int                   // admissions not yet enqueued
	kept       map[uint64]*Operation // operations enqueued whole (≤ keptCap)
	stale      map[uint64]bool       // canceled before Enqueue: read, not kept
	claims     map[uint64]*Claim     // operation id → claim of its run
	gates      queueGates
	// fences are the operations a cancel is writing directly (closed when
	// the write ended); a queue whose head is fenced is parked rather
	// than claimed, and runnable again when the fence lifts.
	fences map[uint64]chan struct{}
	parked map[uint64]bool
	closed bool
	// drop, when someone waits for held to fall (waitPending), is closed
	// at the next fall.
	drop chan struct{}
}

func newMemDispatcher(maxPending int) *memDispatcher {
	d := &memDispatcher{
		maxPending: max(maxPending, 0),
		queues:     map[uint64][]uint64{},
		tries:      map[uint64]int{},
		kept:       map[uint64]*Operation{},
		stale:      map[uint64]bool{},
		claims:     map[uint64]*Claim{},
		gates:      queueGates{gates: map[uint64]chan struct{}{}},
		fences:     map[uint64]chan struct{}{},
		parked:     map[uint64]bool{},
	}
	d.cond = sync.NewCond(&d.mu)
	return d
}

// Admit counts admissions in flight beside what is held, which keeps
// concurrent commands from overshooting the bound between their check and
// their enqueue.
func (d *memDispatcher) Admit() (func(), error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.maxPending > 0 && d.held+d.admitting >= d.maxPending {
		return nil, ErrOverloaded
	}
	d.admitting++
	return func() {
		d.mu.Lock()
		d.admitting--
		d.mu.Unlock()
	}, nil
}

// queueGates are the creation locks of queues within one process
// (Dispatcher.LockQueues and Reserve): a gate per locked queue, closed
// when it is unlocked.
type queueGates struct {
	mu    sync.Mutex
	gates map[uint64]chan struct{}
}

// lock takes the gates in ascending order, so that two callers never wait
// on each other.
func (g *queueGates) lock(queues ...uint64) func() {
	queues = slices.Clone(queues)
	slices.Sort(queues)
	queues = slices.Compact(queues)
	var releases []func()
	for _, q := range queues {
		g.mu.Lock()
		for {
			gate, ok := g.gates[q]
			if !ok {
				break
			}
			g.mu.Unlock()
			<-gate
			g.mu.Lock()
		}
		gate := make(chan struct{})
		g.gates[q] = gate
		g.mu.Unlock()
		releases = append(releases, g.opener(q, gate))
	}
	return func() {
		for i := len(releases) - 1; i >= 0; i-- {
			releases[i]()
		}
	}
}

// reserve may replace another reserve's gate of the same id: a commit that
// ran again can allocate an id a rolled-back run allocated before.
func (g *queueGates) reserve(queue uint64) func() {
	gate := make(chan struct{})
	g.mu.Lock()
	if g.gates == nil {
		g.gates = map[uint64]chan struct{}{}
	}
	g.gates[queue] = gate
	g.mu.Unlock()
	return g.opener(queue, gate)
}

func (g *queueGates) opener(queue uint64, gate chan struct{}) func() {
	return func() {
		g.mu.Lock()
		if g.gates[queue] == gate {
			delete(g.gates, queue)
		}
		g.mu.Unlock()
		close(gate)
	}
}

func (d *memDispatcher) LockQueues(queues ...uint64) func() { return d.gates.lock(queues...) }

func (d *memDispatcher) Reserve(queue uint64) func() { return d.gates.reserve(queue) }

// Enqueue appends op to its queue; callers enqueue in id order (LockQueues).
func (d *memDispatcher) Enqueue(op *Operation) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stale[op.ID] {
		delete(d.stale, op.ID) // canceled before: the store has it
	} else if len(d.kept) < keptCap {
		d.kept[op.ID] = op
	}
	d.push(op.QueueID, op.ID)
}

// push queues an id; recovery at start pushes what the store holds.
func (d *memDispatcher) push(queue, id uint64) {
	q := d.queues[queue]
	d.queues[queue] = append(q, id)
	d.held++
	if len(q) == 0 {
		d.runnable = append(d.runnable, queue)
		d.cond.Signal()
	}
}

func (d *memDispatcher) Claim() (*Claim, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var queue, id uint64
	for {
		for len(d.runnable) == 0 && !d.closed {
			d.cond.Wait()
		}
		if d.closed {
			return nil, false
		}
		queue = d.runnable[0]
		d.runnable = d.runnable[1:]
		id = d.queues[queue][0]
		if _, fenced := d.fences[id]; !fenced {
			break
		}
		d.parked[queue] = true
	}
	c := NewClaim(queue, id, d.kept[id], d.tries[queue])
	delete(d.kept, id)
	d.claims[id] = c
	return c, true
}

func (d *memDispatcher) Finish(c *Claim) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.release(c)
	delete(d.tries, c.Queue)
	q := d.queues[c.Queue][1:]
	d.fall()
	if len(q) == 0 {
		delete(d.queues, c.Queue)
		return
	}
	d.queues[c.Queue] = q
	if !d.closed {
		d.runnable = append(d.runnable, c.Queue)
		d.cond.Signal()
	}
}

func (d *memDispatcher) Defer(c *Claim, wait time.Duration) {
	d.mu.Lock()
	d.release(c)
	d.tries[c.Queue] = c.Tries + 1
	d.mu.Unlock()
	time.AfterFunc(wait, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if !d.closed {
			d.runnable = append(d.runnable, c.Queue)
			d.cond.Signal()
		}
	})
}

func (d *memDispatcher) release(c *Claim) {
	delete(d.claims, c.ID)
	c.End()
}

// Cancel fences the operation while write runs, without the lock: no run
// can claim it meanwhile, and commits that share write's (a create
// reserving its queue, say) are not held up. The dispatcher changes only
// once the write is durable, so a failed write leaves everything as it was.
func (d *memDispatcher) Cancel(ctx context.Context, queue, id uint64, write func(ctx context.Context, behind bool) (*Operation, error)) (*Operation, error) {
	for {
		d.mu.Lock()
		if f := d.fences[id]; f != nil { // another cancel is writing it
			d.mu.Unlock()
			select {
			case <-f:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if c := d.claims[id]; c != nil {
			d.mu.Unlock()
			op, ok, err := c.Deliver(ctx)
			if ok {
				return op, err
			}
			// The run ended before it took the request: look again
			// (write finds a terminal operation a conflict).
			continue
		}
		behind := slices.Index(d.queues[queue], id) > 0
		fence := make(chan struct{})
		d.fences[id] = fence
		d.mu.Unlock()

		op, err := write(ctx, behind)

		d.mu.Lock()
		delete(d.fences, id)
		close(fence)
		if err == nil {
			d.canceled(queue, id, behind)
		}
		if d.parked[queue] {
			delete(d.parked, queue)
			if len(d.queues[queue]) > 0 && !d.closed {
				d.runnable = append(d.runnable, queue)
				d.cond.Signal()
			}
		}
		d.mu.Unlock()
		return op, err
	}
}

// canceled applies a durable direct cancel of operation id. The next claim
// must read the request, not a copy from before it; an operation not
// enqueued yet is marked so that Enqueue keeps none. One that waited
// behind another was ended by the write and leaves its queue (it may have
// become the head meanwhile: its queue is parked then, not claimed).
func (d *memDispatcher) canceled(queue, id uint64, behind bool) {
	q := d.queues[queue]
	pos := slices.Index(q, id)
	if _, ok := d.kept[id]; ok {
		delete(d.kept, id)
	} else if pos < 0 {
		d.stale[id] = true
	}
	if !behind || pos < 0 {
		return
	}
	if len(q) == 1 {
		delete(d.queues, queue)
	} else {
		d.queues[queue] = append(q[:pos:pos], q[pos+1:]...)
	}
	d.fall()
	if pos == 0 {
		// It was the head, runnable or parked: the queue is runnable
		// once, with its next head, if it has one.
		d.runnable = slices.DeleteFunc(d.runnable, func(x uint64) bool { return x == queue })
		delete(d.parked, queue)
		if len(q) > 1 && !d.closed {
			d.runnable = append(d.runnable, queue)
			d.cond.Signal()
		}
	}
}

// fall counts one operation fewer held and wakes waitPending.
func (d *memDispatcher) fall() {
	d.held--
	if d.drop != nil {
		close(d.drop)
		d.drop = nil
	}
}

// waitPending blocks until at most n operations are held, or ctx ends.
func (d *memDispatcher) waitPending(ctx context.Context, n int) error {
	for {
		d.mu.Lock()
		if d.held <= n {
			d.mu.Unlock()
			return nil
		}
		if d.drop == nil {
			d.drop = make(chan struct{})
		}
		drop := d.drop
		d.mu.Unlock()
		select {
		case <-drop:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (d *memDispatcher) Pending() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.held
}

func (d *memDispatcher) Close() {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.cond.Broadcast()
}
