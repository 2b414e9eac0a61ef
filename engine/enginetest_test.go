package engine_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"
	_ "time/tzdata" // venue zones must not depend on the host's zoneinfo

	"eventops/engine"
	"eventops/storage"
	"eventops/storage/storetest"
)

// Tests of the engine on a real bbolt file. They live in package engine_test
// because storage imports engine.

// safety bounds every wait of a test; reaching it is a failure, never a
// synchronisation.
const safety = 30 * time.Second

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// fastRetry keeps transient-failure tests quick.
var fastRetry = engine.RetryPolicy{Base: time.Millisecond, Max: 2 * time.Millisecond, Attempts: 5}

// bundle is one test's engine on one fresh data file, with a company, a
// venue in America/Chicago and a ticket type to create events with.
type bundle struct {
	t    testing.TB
	path string
	cfg  engine.Config
	db   *storage.DB
	eng  *engine.Engine

	company    *engine.Company
	venue      *engine.Venue
	ticketType *engine.TicketType
}

// setup opens a fresh data file, starts an engine on it with cfg (Store is
// filled in; quiet logger and fast retries unless set) and seeds a company.
// The engine is stopped, the file consistency-checked and closed when the
// test ends.
func setup(t testing.TB, cfg engine.Config) *bundle {
	t.Helper()
	b := &bundle{t: t, path: filepath.Join(t.TempDir(), "eventops.db"), cfg: cfg}
	b.open(cfg, true)
	t.Cleanup(b.shutdown)
	b.seed(nil)
	return b
}

// open opens the data file and builds an engine on it, started when start.
func (b *bundle) open(cfg engine.Config, start bool) {
	b.t.Helper()
	db, err := storetest.Open(b.t, b.path, storage.Options{})
	if err != nil {
		b.t.Fatalf("open store: %v", err)
	}
	b.db = db
	cfg.Store = db
	if storetest.Postgres() && cfg.Leases == nil {
		// On PostgreSQL the engine runs as a node would: claims by lease.
		cfg.Leases = db
	}
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	if cfg.Retry.Attempts == 0 {
		cfg.Retry = fastRetry
	}
	b.eng = engine.New(cfg)
	if start {
		if err := b.eng.Start(context.Background()); err != nil {
			b.t.Fatalf("start engine: %v", err)
		}
	}
}

// shutdown stops the engine, then checks and closes the file.
func (b *bundle) shutdown() {
	b.t.Helper()
	if b.eng != nil {
		stopWithin(b.t, b.eng, safety)
		b.eng = nil
	}
	b.closeStore()
}

// stopWithin stops e with the given deadline for running phases and fails
// the test, instead of hanging it, when Stop does not return.
func stopWithin(t testing.TB, e *engine.Engine, deadline time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		e.Stop(deadline)
		close(done)
	}()
	timer := time.NewTimer(deadline + 10*time.Second)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		t.Errorf("engine.Stop(%v) has not returned %v after its deadline", deadline, 10*time.Second)
	}
}

func (b *bundle) closeStore() {
	b.t.Helper()
	if b.db == nil {
		return
	}
	if err := b.db.Check(); err != nil {
		b.t.Errorf("check: %v", err)
	}
	if err := b.db.Close(); err != nil {
		b.t.Errorf("close: %v", err)
	}
	b.db = nil
}

// crashStore closes the file under whatever is running, as a crash would
// leave it: no consistency check first (reopen checks the file it finds).
func (b *bundle) crashStore() {
	b.t.Helper()
	if err := b.db.Close(); err != nil {
		b.t.Errorf("close: %v", err)
	}
	b.db = nil
}

// reopen opens the file left by a crash, checks it while nothing writes,
// and starts an engine with cfg on it.
func (b *bundle) reopen(cfg engine.Config) {
	b.t.Helper()
	b.open(cfg, false)
	if err := b.db.Check(); err != nil {
		b.t.Errorf("check after the crash: %v", err)
	}
	if err := b.eng.Start(context.Background()); err != nil {
		b.t.Fatalf("start engine: %v", err)
	}
}

// restart stops the engine cleanly, reopens the file and starts a new engine
// with cfg.
func (b *bundle) restart(cfg engine.Config) {
	b.t.Helper()
	b.shutdown()
	b.open(cfg, true)
}

// seed creates the company (connected to a sandbox shop when shop is set),
// a venue in America/Chicago and a ticket type.
func (b *bundle) seed(shop *engine.ShopInput) {
	b.t.Helper()
	ctx := context.Background()
	c, err := b.eng.CreateCompany(ctx, "Blue Note", shop)
	if err != nil {
		b.t.Fatalf("create company: %v", err)
	}
	v, err := b.eng.CreateVenue(ctx, c.ID, engine.VenueInput{Name: "Blue Room", TimeZone: "America/Chicago"})
	if err != nil {
		b.t.Fatalf("create venue: %v", err)
	}
	tt, err := b.eng.CreateTicketType(ctx, c.ID, engine.TicketTypeInput{Name: "General admission"})
	if err != nil {
		b.t.Fatalf("create ticket type: %v", err)
	}
	b.company, b.venue, b.ticketType = c, v, tt
}

func ptr[T any](v T) *T { return &v }

// dateInput is a date event at 19:00–23:00 Chicago time on day (2026-12-n),
// with two registration types.
func (b *bundle) dateInput(name string, day int) engine.EventInput {
	start := time.Date(2026, 12, day, 19, 0, 0, 0, chicago(b.t))
	return engine.EventInput{
		Name:     ptr(name),
		Type:     ptr(engine.EventDate),
		VenueID:  ptr(b.venue.ID),
		StartsAt: ptr(start),
		EndsAt:   ptr(start.Add(4 * time.Hour)),
		Capacity: engine.Nullable[int]{Set: true, Value: ptr(200)},
		RegistrationTypes: &[]engine.RegistrationTypeInput{
			{Name: "General admission", TicketTypeID: b.ticketType.ID, Price: engine.MoneyInput{Amount: ptr[int64](2500), Currency: "USD"}, Quantity: ptr(150)},
			{Name: "VIP", TicketTypeID: b.ticketType.ID, Price: engine.MoneyInput{Amount: ptr[int64](9000), Currency: "USD"}, Quantity: ptr(50)},
		},
	}
}

// recurringInput is a recurring event whose first occurrence starts at
// first (19:00–22:00 local), with rule r.
func (b *bundle) recurringInput(name string, first time.Time, r engine.Recurrence) engine.EventInput {
	in := b.dateInput(name, 1)
	in.Type = ptr(engine.EventRecurring)
	in.StartsAt, in.EndsAt = ptr(first), ptr(first.Add(3*time.Hour))
	in.Recurrence = engine.Nullable[engine.Recurrence]{Set: true, Value: &r}
	return in
}

func (b *bundle) createEvent(in engine.EventInput) (*engine.Event, *engine.Operation) {
	b.t.Helper()
	ev, op, err := b.eng.CreateEvent(context.Background(), b.company.ID, in)
	if err != nil {
		b.t.Fatalf("create event: %v", err)
	}
	return ev, op
}

func (b *bundle) createDate(name string, day int) (*engine.Event, *engine.Operation) {
	b.t.Helper()
	return b.createEvent(b.dateInput(name, day))
}

// rename PATCHes an event's name, starting a save operation.
func (b *bundle) rename(id uint64, name string) *engine.Operation {
	b.t.Helper()
	_, op, err := b.eng.UpdateEvent(context.Background(), b.company.ID, id, engine.EventInput{Name: ptr(name)})
	if err != nil {
		b.t.Fatalf("update event %d: %v", id, err)
	}
	return op
}

// wait blocks until operation id is terminal and returns it.
func (b *bundle) wait(id uint64) *engine.Operation {
	b.t.Helper()
	return waitTerminal(b.t, b.eng, id)
}

func waitTerminal(t testing.TB, e *engine.Engine, id uint64) *engine.Operation {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), safety)
	defer cancel()
	var version uint64
	for {
		op, err := e.Wait(ctx, 0, id, version, safety)
		if err != nil {
			t.Fatalf("wait for operation %d: %v", id, err)
		}
		if op.Status.Terminal() {
			return op
		}
		if ctx.Err() != nil {
			t.Fatalf("operation %d still %s after %v", id, op.Status, safety)
		}
		version = op.Version
	}
}

// stored reads an operation straight from the store.
func (b *bundle) stored(id uint64) *engine.Operation {
	b.t.Helper()
	var op *engine.Operation
	if err := b.db.View(func(tx engine.Tx) error {
		var err error
		op, err = tx.Operation(id)
		return err
	}); err != nil {
		b.t.Fatalf("read operation %d: %v", id, err)
	}
	if op == nil {
		b.t.Fatalf("operation %d is not stored", id)
	}
	return op
}

func (b *bundle) view(fn func(tx engine.Tx) error) {
	b.t.Helper()
	if err := b.db.View(fn); err != nil {
		b.t.Fatalf("view: %v", err)
	}
}

// phaseNamed is the top-level phase called name.
func phaseNamed(t testing.TB, op *engine.Operation, name string) *engine.Phase {
	t.Helper()
	for _, p := range op.Phases {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("operation %d has no phase %q", op.ID, name)
	return nil
}

var chicagoOnce = sync.OnceValues(func() (*time.Location, error) { return time.LoadLocation("America/Chicago") })

func chicago(t testing.TB) *time.Location {
	loc, err := chicagoOnce()
	if err != nil {
		t.Fatalf("load zone: %v", err)
	}
	return loc
}

// workFunc adapts a function to engine.Work.
type workFunc func(ctx context.Context, r *engine.PhaseRun) error

func (f workFunc) Run(ctx context.Context, r *engine.PhaseRun) error { return f(ctx, r) }

// refundFunc adapts a function to engine.RefundWork.
type refundFunc func(ctx context.Context, r *engine.PhaseRun) error

func (f refundFunc) Refund(ctx context.Context, r *engine.PhaseRun) error { return f(ctx, r) }

// gate holds phase work: every attempt announces itself on entered, then
// waits for release (closed to let all through) or for its context.
type gate struct {
	entered chan *engine.PhaseRun
	release chan struct{}
	once    sync.Once
}

func newGate() *gate {
	return &gate{entered: make(chan *engine.PhaseRun, 1024), release: make(chan struct{})}
}

func (g *gate) open() { g.once.Do(func() { close(g.release) }) }

// hold waits at the gate; it returns the context's error when the attempt
// is cut off.
func (g *gate) hold(ctx context.Context, r *engine.PhaseRun) error {
	g.entered <- r
	select {
	case <-g.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// wrap holds inner behind the gate (inner nil: succeed without effect).
func (g *gate) wrap(inner engine.Work) engine.Work {
	return workFunc(func(ctx context.Context, r *engine.PhaseRun) error {
		if err := g.hold(ctx, r); err != nil {
			return err
		}
		if inner == nil {
			return nil
		}
		return inner.Run(ctx, r)
	})
}

// await returns the next n attempts to reach the gate.
func (g *gate) await(t testing.TB, n int) []*engine.PhaseRun {
	t.Helper()
	out := make([]*engine.PhaseRun, 0, n)
	timer := time.NewTimer(safety)
	defer timer.Stop()
	for len(out) < n {
		select {
		case r := <-g.entered:
			out = append(out, r)
		case <-timer.C:
			t.Fatalf("%d of %d phase attempts reached the gate", len(out), n)
		}
	}
	return out
}

// effectScope names the store records in which counted phase work records
// how many times its effect was committed.
const effectScope = "test:phase-effect"

// counted wraps inner so that its completion also commits an increment of a
// per-phase counter, in the same transaction: the committed count is how
// many times the phase's work took effect.
func counted(inner engine.Work) engine.Work {
	return workFunc(func(ctx context.Context, r *engine.PhaseRun) error {
		if inner != nil {
			if err := inner.Run(ctx, r); err != nil {
				return err
			}
		}
		key := fmt.Sprint(r.Phase.ID)
		now := r.Now()
		r.Stage(func(tx engine.Tx) error {
			rec, err := tx.Idempotency(effectScope, key)
			if err != nil {
				return err
			}
			if rec == nil {
				rec = &engine.IdempotencyRecord{Scope: effectScope, Key: key, CreatedAt: now}
			}
			rec.ResourceID++
			return tx.PutIdempotency(rec)
		})
		return nil
	})
}

// effects is how many times phase id's counted work took effect.
func (b *bundle) effects(phaseID uint64) uint64 {
	b.t.Helper()
	var n uint64
	b.view(func(tx engine.Tx) error {
		rec, err := tx.Idempotency(effectScope, fmt.Sprint(phaseID))
		if rec != nil {
			n = rec.ResourceID
		}
		return err
	})
	return n
}

// collector records every snapshot published by the broker.
type collector struct {
	sub  *engine.Subscription
	done chan struct{}
	mu   sync.Mutex
	ops  []*engine.Operation
	// check, when set, runs on every snapshot as it arrives.
	check func(op *engine.Operation)
}

func collect(e *engine.Engine, check func(op *engine.Operation)) *collector {
	c := &collector{sub: e.Broker().Subscribe(1 << 16), done: make(chan struct{}), check: check}
	go func() {
		defer close(c.done)
		for op := range c.sub.C {
			if c.check != nil {
				c.check(op)
			}
			c.mu.Lock()
			c.ops = append(c.ops, op)
			c.mu.Unlock()
		}
	}()
	return c
}

// stop ends the subscription and returns everything it saw.
func (c *collector) stop(t testing.TB) []*engine.Operation {
	t.Helper()
	dropped := c.sub.Dropped()
	c.sub.Close()
	<-c.done
	if dropped {
		t.Fatalf("the subscription was dropped for being slow")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ops
}

// of returns the snapshots of operation id, in publication order.
func of(ops []*engine.Operation, id uint64) []*engine.Operation {
	var out []*engine.Operation
	for _, op := range ops {
		if op.ID == id {
			out = append(out, op)
		}
	}
	return out
}

// subscribeUntil reads sub until a snapshot satisfies pred and returns it.
func subscribeUntil(t testing.TB, sub *engine.Subscription, pred func(op *engine.Operation) bool) *engine.Operation {
	t.Helper()
	timer := time.NewTimer(safety)
	defer timer.Stop()
	for {
		select {
		case op, ok := <-sub.C:
			if !ok {
				t.Fatalf("subscription closed (dropped: %v)", sub.Dropped())
			}
			if pred(op) {
				return op
			}
		case <-timer.C:
			t.Fatalf("no published state matched within %v", safety)
		}
	}
}

func errorKind(err error) engine.Kind { return engine.ErrorKind(err) }

func isConflict(err error) bool {
	var e *engine.Error
	return errors.As(err, &e) && e.Kind == engine.KindConflict
}
