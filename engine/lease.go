package engine

import (
	"context"
	"errors"
	"time"
)

// Several nodes sharing one store (PostgreSQL) run operations under claims
// by lease (dispatch_lease.go). The store keeps one row per node, its
// heartbeat, and one row per queue with unfinished operations: the node that
// claimed it (owner) and the claim's epoch, which grows at every claim. A
// queue's lease lasts as long as its owner's heartbeat: a node renews every
// lease it holds with one write. A node whose heartbeat expired has lost
// them all; another node claims its queues (a takeover) and resumes their
// operations from the persisted phases, exactly as a restart does.
//
// Two rules keep a node that lost a lease (frozen, cut off) from acting on
// it:
//   - every commit a run makes carries its Fence (owner and epoch): the store
//     checks it in the committing transaction, holding the queue's row, and
//     refuses the commit with ErrFenced once another node claimed the queue;
//   - before an outside call (a shop, a webhook receiver) the work calls
//     CheckLease, which refuses once the lease's last renewal is older than
//     its length minus a safety margin by this process's monotonic clock,
//     however long the process was frozen.

// Fence names one claim of a queue: its owner node and epoch.
type Fence struct {
	Queue uint64
	Owner string
	Epoch int64
}

// ErrFenced is a commit refused because its queue was claimed by another
// node since: the claim it was made under is over.
var ErrFenced = errors.New("the queue's lease was taken over by another node")

// ErrLeaseExpired refuses an outside call made under a lease that may have
// expired: the work stops and the operation resumes wherever its queue is
// claimed next.
var ErrLeaseExpired = errors.New("lease expired: no outside call until it is renewed")

type fenceKey struct{}

// WithFence returns ctx carrying f: a Store.Update under it commits only
// while f is the queue's current claim.
func WithFence(ctx context.Context, f *Fence) context.Context {
	return context.WithValue(ctx, fenceKey{}, f)
}

// FenceOf returns the fence ctx carries, or nil.
func FenceOf(ctx context.Context) *Fence {
	f, _ := ctx.Value(fenceKey{}).(*Fence)
	return f
}

// leaseGuard answers whether a claim may still act outside the process.
type leaseGuard interface{ check() error }

type guardKey struct{}

func withGuard(ctx context.Context, g leaseGuard) context.Context {
	return context.WithValue(ctx, guardKey{}, g)
}

// CheckLease returns nil when ctx is not under a lease (one process) or its
// lease is fresh enough for an outside call, else ErrLeaseExpired. Callers
// make the call right after it returns nil.
func CheckLease(ctx context.Context) error {
	if g, ok := ctx.Value(guardKey{}).(leaseGuard); ok {
		return g.check()
	}
	return nil
}

// QueueClaim is a queue a node claimed: its fence, the head operation
// (0: none left) and whether it was taken over from a node whose lease
// expired.
type QueueClaim struct {
	Fence    Fence
	Head     uint64
	Takeover bool
}

// LeaseStore keeps nodes' heartbeats and queues' claims (storage implements
// it on PostgreSQL). Every time is the database's, so nodes' clocks need not
// agree.
type LeaseStore interface {
	// Heartbeat records that node owner lives for lease from now, creating
	// its row when join is true; false when it had expired (or is
	// unknown) and join is false: every claim it held may be taken.
	Heartbeat(ctx context.Context, owner string, lease time.Duration, join bool) (bool, error)
	// Leave ends node owner: its queues are free for others at once.
	Leave(ctx context.Context, owner string) error
	// ClaimQueues claims up to n queues that have unfinished operations,
	// whose not-before time has passed and that no live node holds, for
	// owner, with their heads.
	ClaimQueues(ctx context.Context, owner string, n int) ([]QueueClaim, error)
	// ClaimQueue claims one queue for owner if no live node holds it
	// (making its row if it has none); ok=false when another does. Its
	// Takeover says that a dead node held it.
	ClaimQueue(ctx context.Context, owner string, queue uint64) (c QueueClaim, ok bool, err error)
	// ClaimQueueNow is ClaimQueue for a cancel, which does not wait out a
	// queue's backoff (its run reads the request as soon as it is claimed).
	ClaimQueueNow(ctx context.Context, owner string, queue uint64) (c QueueClaim, ok bool, err error)
	// FinishQueue is called by claim f once its operation ended: it
	// returns the queue's oldest unfinished operation (the claim goes on
	// to it), or 0 once the queue, left without work, is let go.
	FinishQueue(ctx context.Context, f Fence) (uint64, error)
	// ReleaseQueue ends claim f: the queue's row goes when the queue has
	// no unfinished operation, else it is free to claim after wait.
	ReleaseQueue(ctx context.Context, f Fence, wait time.Duration) error
	// OwnedQueues lists the claims the store holds for owner.
	OwnedQueues(ctx context.Context, owner string) ([]Fence, error)
	// SweepQueues makes a row for every queue with unfinished operations
	// that has none (a node that died between a creation and its claim).
	SweepQueues(ctx context.Context) error
	// CountActive is the number of unfinished operations.
	CountActive(ctx context.Context) (int, error)
	// LiveNodes is the number of nodes whose heartbeat has not expired.
	LiveNodes(ctx context.Context) (int, error)
	// AskCancel records a cancel request for operation id on its queue's
	// row, for the owner to find at its next heartbeat.
	AskCancel(ctx context.Context, queue, id uint64) error
	// CancelAsks returns and clears the cancel requests of owner's queues.
	CancelAsks(ctx context.Context, owner string) ([]uint64, error)
}
