package engine_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"eventops/engine"
	"eventops/storage"
	"eventops/storage/pgtest"
)

// Two engines on one PostgreSQL database are two nodes: these tests run
// whenever a PostgreSQL server is at hand (pgtest), whatever store the
// other tests use.

// notifyOwn asks node for the node's own store as its notifier.
var notifyOwn engine.Notifier = (*storage.DB)(nil)

// quickLease makes takeovers quick enough for a test.
var quickLease = engine.LeaseOptions{Length: time.Second, Heartbeat: 100 * time.Millisecond,
	Margin: 300 * time.Millisecond, Poll: 20 * time.Millisecond}

// cutOff is a node's lease store whose heartbeats can be cut off, as a
// network partition or a frozen process would: everything else reaches the
// database.
type cutOff struct {
	engine.LeaseStore
	off atomic.Bool
}

func (c *cutOff) Heartbeat(ctx context.Context, owner string, lease time.Duration, join bool) (bool, error) {
	if c.off.Load() {
		return false, errors.New("cut off")
	}
	return c.LeaseStore.Heartbeat(ctx, owner, lease, join)
}

// node opens a store on url and starts an engine on it with cfg, as a node
// (claims by lease through cut, if not nil); like gives the company, venue
// and ticket type, else they are made.
func node(t *testing.T, url string, cfg engine.Config, cut *cutOff, like *bundle) *bundle {
	t.Helper()
	db, err := storage.OpenPostgres(context.Background(), url, storage.Options{})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	b := &bundle{t: t, db: db, cfg: cfg}
	if cfg.Store == nil {
		cfg.Store = db
	} else if slow, ok := cfg.Store.(*slowStore); ok {
		slow.Store = db
	}
	cfg.Leases = db
	if cut != nil {
		cut.LeaseStore = db
		cfg.Leases = cut
	}
	if cfg.Lease == (engine.LeaseOptions{}) {
		cfg.Lease = quickLease
	}
	if cfg.Notifier != nil {
		cfg.Notifier = db // this node's own listener
	}
	cfg.Logger = quiet
	cfg.Retry = fastRetry
	b.eng = engine.New(cfg)
	if err := b.eng.Start(context.Background()); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(b.shutdown)
	if like == nil {
		b.seed(nil)
	} else {
		b.company, b.venue, b.ticketType = like.company, like.venue, like.ticketType
	}
	return b
}

// A node cut off from the database past its lease loses its queue to
// another node, which finishes the operation; the cut-off node's run, when
// it goes on, may not call outside (CheckLease) and cannot commit (fenced):
// the operation stays as its successor left it, its work done once.
func TestLeaseTakeoverFencesTheNodeThatLostIt(t *testing.T) {
	url := pgtest.Database(t)
	g := newGate()
	checked := make(chan error, 1)
	held := counted(workFunc(func(ctx context.Context, r *engine.PhaseRun) error {
		if err := g.hold(ctx, r); err != nil {
			return err
		}
		checked <- engine.CheckLease(ctx)
		return engine.TicketsWork{}.Run(ctx, r)
	}))
	cut := &cutOff{}
	a := node(t, url, engine.Config{Work: map[string]engine.Work{engine.PhaseTickets: held}}, cut, nil)
	_, op := a.createDate("Taken over", 5)
	g.await(t, 1) // node A runs it

	cut.off.Store(true)
	time.Sleep(quickLease.Length + 200*time.Millisecond) // A's lease ends in the database
	b := node(t, url, engine.Config{Work: map[string]engine.Work{engine.PhaseTickets: counted(engine.TicketsWork{})}}, nil, a)
	done := b.wait(op.ID)
	if done.Status != engine.StatusCompleted {
		t.Fatalf("operation = %s, want completed by node B", done.Status)
	}
	if _, takeovers := b.eng.Leases(); takeovers != 1 {
		t.Errorf("node B counts %d takeovers, want 1", takeovers)
	}

	g.open() // node A's run goes on
	select {
	case err := <-checked:
		if !errors.Is(err, engine.ErrLeaseExpired) {
			t.Errorf("CheckLease on the node that lost its lease = %v, want ErrLeaseExpired", err)
		}
	case <-time.After(safety):
		t.Fatal("node A's work never went on")
	}
	// A's completion is refused; give it time to try.
	deadline := time.Now().Add(safety)
	for {
		if held, _ := a.eng.Leases(); held == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("node A still holds the queue")
		}
		time.Sleep(10 * time.Millisecond)
	}
	after := b.stored(op.ID)
	if after.Version != done.Version || after.Status != engine.StatusCompleted {
		t.Errorf("after node A's late completion: version %d %s, want version %d completed (node B's)",
			after.Version, after.Status, done.Version)
	}
	if n := b.effects(done.Phases[0].ID); n != 1 {
		t.Errorf("tickets took effect %d times, want once", n)
	}
	cut.off.Store(false) // A learns it lost its lease and joins again
}

// A cancel asked on one node reaches the run on another, which records it
// and ends the operation canceled.
func TestLeaseCancelReachesTheRunOnAnotherNode(t *testing.T) {
	url := pgtest.Database(t)
	g := newGate()
	a := node(t, url, engine.Config{Work: map[string]engine.Work{engine.PhaseTickets: g.wrap(engine.TicketsWork{})}}, nil, nil)
	b := node(t, url, engine.Config{}, nil, a)
	_, op := a.createDate("Canceled from B", 5)
	g.await(t, 1)
	k := engine.IdempotencyKey{Scope: "1 POST cancel", Key: "cancel-1", RequestHash: []byte{1}}
	render := func(r engine.WriteResult) ([]byte, error) {
		return fmt.Appendf(nil, "operation %d cancel_requested=%v", r.Operation.ID, r.Operation.CancelAsked), nil
	}
	ctx := engine.WithIdempotency(context.Background(), k, render)
	got, err := b.eng.CancelOperation(ctx, b.company.ID, op.ID)
	if err != nil {
		t.Fatalf("cancel on node B: %v", err)
	}
	if !got.CancelAsked {
		t.Errorf("cancel answered cancel_requested=false, want the request recorded")
	}
	checkCanceled(t, a.wait(op.ID))
	// The client retries its request (on either node): the answer it got
	// (the API looks the key up before it calls the command).
	for _, n := range []*bundle{b, a} {
		err := n.eng.CheckIdempotency(ctx)
		replay, ok := engine.AsReplay(err)
		if want := fmt.Sprintf("operation %d cancel_requested=true", op.ID); !ok || string(replay.Answer) != want {
			t.Errorf("retried cancel: %v, %+v; want the first answer %q", err, replay, want)
		}
	}
}

// A node that stops lets its queues go at once: another node resumes them
// without waiting for the lease to end.
func TestLeaseStoppedNodeHandsOver(t *testing.T) {
	url := pgtest.Database(t)
	g := newGate()
	a := node(t, url, engine.Config{Work: map[string]engine.Work{engine.PhaseTickets: g.wrap(engine.TicketsWork{})}}, nil, nil)
	b := node(t, url, engine.Config{}, nil, a)
	_, op := a.createDate("Handed over", 5)
	g.await(t, 1)
	stopWithin(t, a.eng, 50*time.Millisecond) // the held phase is cut off
	a.eng = nil
	if done := b.wait(op.ID); done.Status != engine.StatusCompleted {
		t.Errorf("operation = %s, want completed by node B", done.Status)
	}
	if _, takeovers := b.eng.Leases(); takeovers != 0 {
		t.Errorf("node B counts %d takeovers, want 0 (the queue was let go)", takeovers)
	}
}

// With notifications, a cancel asked on another node is taken at once, not
// at the holder's next heartbeat.
func TestLeaseCancelWakesTheHolder(t *testing.T) {
	url := pgtest.Database(t)
	g := newGate()
	slow := engine.LeaseOptions{Length: 30 * time.Second, Heartbeat: 10 * time.Second, Poll: 20 * time.Millisecond}
	// Notifier set: each node gets its own store's (see node).
	a := node(t, url, engine.Config{Lease: slow, Notifier: notifyOwn, Work: map[string]engine.Work{engine.PhaseTickets: g.wrap(engine.TicketsWork{})}}, nil, nil)
	b := node(t, url, engine.Config{Lease: slow, Notifier: notifyOwn}, nil, a)
	_, op := a.createDate("Canceled from B", 5)
	g.await(t, 1)
	time.Sleep(300 * time.Millisecond) // both listeners listen
	asked := time.Now()
	if _, err := b.eng.CancelOperation(context.Background(), b.company.ID, op.ID); err != nil {
		t.Fatalf("cancel on node B: %v", err)
	}
	if took := time.Since(asked); took > 5*time.Second {
		t.Errorf("the cancel took %v, want well under the 10 s heartbeat", took)
	}
	checkCanceled(t, a.wait(op.ID))
}

// Two cancels at once of an operation claimed by this node but not yet
// taken by a worker record the request once, and the operation runs (and
// ends canceled) once: the claim is never handed out twice.
func TestLeaseTwoCancelsOfAClaimedHead(t *testing.T) {
	url := pgtest.Database(t)
	g := newGate()
	slow := &slowStore{}
	a := node(t, url, engine.Config{Store: slow, Workers: 1, Work: map[string]engine.Work{engine.PhaseTickets: g.wrap(engine.TicketsWork{})}}, nil, nil)
	_, busy := a.createDate("Busy", 5)
	g.await(t, 1) // the only worker is held
	_, op := a.createDate("Claimed, waiting for a worker", 6)
	slow.delay.Store(int64(200 * time.Millisecond)) // the two cancels' writes overlap
	start := make(chan struct{})
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			<-start
			_, err := a.eng.CancelOperation(context.Background(), a.company.ID, op.ID)
			errs <- err
		}()
	}
	close(start)
	for range 2 {
		if err := <-errs; err != nil && !isConflict(err) {
			t.Errorf("cancel: %v", err)
		}
	}
	slow.delay.Store(0)
	g.open()
	a.wait(busy.ID)
	checkCanceled(t, a.wait(op.ID))
	// The one worker reaches a later operation only after whatever else
	// was handed to it (a second copy of the claim, before the fix).
	_, later := a.createDate("Later", 7)
	a.wait(later.ID)
	for _, r := range drain(g.entered) {
		if r.Op.ID == op.ID {
			t.Errorf("the canceled operation ran its phase")
		}
	}
}

// slowStore makes every commit wait first while delay is set, so that
// writes which race in production overlap in a test.
type slowStore struct {
	engine.Store
	delay atomic.Int64
}

func (s *slowStore) Update(ctx context.Context, fn func(tx engine.Tx) error) error {
	if d := time.Duration(s.delay.Load()); d > 0 {
		time.Sleep(d)
	}
	return s.Store.Update(ctx, fn)
}
