package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"eventops/engine"
)

// DESIGN §4 through the runner: inventory fails while metafields and
// delivery still run; the operation stays running until they finish, then
// fails with inventory as its root cause, and publish never starts.
func TestFailureLetsIndependentSiblingsFinish(t *testing.T) {
	t.Parallel()
	siblings := newGate()
	published := make(chan uint64, 1)
	b := setup(t, engine.Config{Work: map[string]engine.Work{
		engine.PhaseCatalog: workFunc(func(ctx context.Context, r *engine.PhaseRun) error { return nil }),
		engine.PhaseInventory: workFunc(func(ctx context.Context, r *engine.PhaseRun) error {
			return engine.Errorf(engine.CodeInventoryValueRejected, "quantity refused")
		}),
		engine.PhaseMetafields: siblings.wrap(nil),
		engine.PhaseDelivery:   siblings.wrap(nil),
		engine.PhasePublish: workFunc(func(ctx context.Context, r *engine.PhaseRun) error {
			published <- r.Phase.ID
			return nil
		}),
	}})
	b.seed(&engine.ShopInput{Sandbox: true, Domain: "blue-note"})
	sub := b.eng.Broker().Subscribe(1024)
	defer sub.Close()
	_, op := b.createDate("Gala", 5)

	siblings.await(t, 2)
	mid := subscribeUntil(t, sub, func(o *engine.Operation) bool {
		return o.ID == op.ID && phaseNamed(t, o, engine.PhaseInventory).Status == engine.StatusFailed
	})
	if mid.Status != engine.StatusRunning || mid.Error != nil || mid.FinishedAt != nil {
		t.Fatalf("with inventory failed and siblings running: status %s error %+v, want running without error", mid.Status, mid.Error)
	}
	for _, name := range []string{engine.PhaseMetafields, engine.PhaseDelivery} {
		if p := phaseNamed(t, mid, name); p.Status != engine.StatusRunning || p.Progress != nil {
			t.Errorf("%s = %s progress %v, want running with null progress (units unknown)", name, p.Status, p.Progress)
		}
	}
	siblings.open()

	done := b.wait(op.ID)
	if done.Status != engine.StatusFailed {
		t.Fatalf("status = %s, want failed", done.Status)
	}
	inv := phaseNamed(t, done, engine.PhaseInventory)
	e := done.Error
	if e == nil || e.Code != engine.CodeInventoryValueRejected || e.Phase == nil || *e.Phase != engine.PhaseInventory ||
		e.PhaseID == nil || *e.PhaseID != inv.ID || e.Message != "quantity refused" {
		t.Fatalf("error = %+v, want inventory's own code, name and id (%d)", e, inv.ID)
	}
	for _, name := range []string{engine.PhaseTickets, engine.PhaseCatalog, engine.PhaseMetafields, engine.PhaseDelivery} {
		if s := phaseNamed(t, done, name).Status; s != engine.StatusCompleted {
			t.Errorf("%s = %s, want completed", name, s)
		}
	}
	if p := phaseNamed(t, done, engine.PhasePublish); p.Status != engine.StatusPending || p.StartedAt != nil {
		t.Errorf("publish = %s, want pending (it depends on the failed inventory)", p.Status)
	}
	if want := (engine.Progress{Percent: 66, Completed: 4, Total: 6}); done.Progress == nil || *done.Progress != want {
		t.Errorf("progress = %v, want %+v", done.Progress, want)
	}
	select {
	case id := <-published:
		t.Errorf("publish (phase %d) ran after a phase it depends on failed", id)
	default:
	}
}

// A leaf that knows its unit count is 0 but is still running is not done:
// DESIGN §4 gives a total of 0 100 % only once done.
func TestZeroUnitsIsNotDoneWhileRunning(t *testing.T) {
	t.Parallel()
	g := newGate()
	b := setup(t, engine.Config{Work: map[string]engine.Work{
		engine.PhaseTickets: workFunc(func(ctx context.Context, r *engine.PhaseRun) error {
			r.Progress(0, 0)
			return g.hold(ctx, r)
		}),
	}})
	sub := b.eng.Broker().Subscribe(1024)
	defer sub.Close()
	_, op := b.createDate("Empty", 5)
	running := subscribeUntil(t, sub, func(o *engine.Operation) bool {
		return o.ID == op.ID && o.Phases[0].Progress != nil
	})
	g.open()
	if p := running.Phases[0]; p.Status != engine.StatusRunning || p.Progress.Percent != 0 {
		t.Errorf("running leaf with 0 units: status %s progress %+v, want running at 0 %%", p.Status, *p.Progress)
	}
	done := b.wait(op.ID)
	if p := done.Phases[0].Progress; p == nil || *p != (engine.Progress{Percent: 100}) {
		t.Errorf("completed leaf with 0 units: progress %v, want 100 %% of 0", p)
	}
}

// A refund is a leaf: never reported running, progress null until it ends,
// then orders refunded of all.
func TestRefundNeverReportedRunning(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		fail     error
		status   engine.Status
		progress *engine.Progress
		code     engine.Code
	}{
		{"completed", nil, engine.StatusCompleted, &engine.Progress{Percent: 100, Completed: 2, Total: 2}, ""},
		{"failed", engine.Errorf(engine.CodeRefundRejected, "the card network refused"), engine.StatusFailed, nil, engine.CodeRefundRejected},
		// A wrapped error keeps its code (it was REFUND_REJECTED).
		{"failed, wrapped", fmt.Errorf("refund shop order 5: %w", engine.Errorf(engine.CodeShopifyAuthRejected, "token revoked")),
			engine.StatusFailed, nil, engine.CodeShopifyAuthRejected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := newGate()
			b := setup(t, engine.Config{Refund: refundFunc(func(ctx context.Context, r *engine.PhaseRun) error {
				if err := g.hold(ctx, r); err != nil {
					return err
				}
				if tt.fail != nil {
					return tt.fail
				}
				return engine.LocalRefund{}.Refund(ctx, r)
			})})
			ev, save := b.createDate("Rained out", 5)
			b.wait(save.ID)
			for _, q := range []int{2, 3} {
				if _, _, err := b.eng.CreateOrder(context.Background(), b.company.ID, ev.ID,
					engine.OrderInput{RegistrationTypeID: ev.RegistrationTypes[0].ID, Quantity: q}); err != nil {
					t.Fatalf("order: %v", err)
				}
			}
			c := collect(b.eng, nil)
			op, err := b.eng.RefundEvent(context.Background(), b.company.ID, ev.ID)
			if err != nil {
				t.Fatalf("refund: %v", err)
			}
			g.await(t, 1)
			if mid := b.stored(op.ID); mid.Status != engine.StatusPending || mid.Progress != nil || mid.StartedAt != nil {
				t.Errorf("refund in flight = %s progress %v started %v, want pending with null progress", mid.Status, mid.Progress, mid.StartedAt)
			}
			g.open()
			done := b.wait(op.ID)
			stopWithin(t, b.eng, safety)
			seen := of(c.stop(t), op.ID)
			if len(seen) < 2 {
				t.Fatalf("%d states of the refund published, want at least created and finished", len(seen))
			}
			for _, s := range seen {
				if s.Status == engine.StatusRunning {
					t.Errorf("refund published as running (version %d)", s.Version)
				}
				if !s.Status.Terminal() && s.Progress != nil {
					t.Errorf("non-terminal refund published with progress %+v", *s.Progress)
				}
				if len(s.Phases) != 0 {
					t.Errorf("refund published with phases %v", s.Phases)
				}
			}
			if done.Status != tt.status {
				t.Fatalf("status = %s, want %s", done.Status, tt.status)
			}
			checkProgress(t, done.Progress, tt.progress)
			if tt.code == "" {
				if done.Error != nil {
					t.Errorf("error = %+v, want null", done.Error)
				}
			} else if done.Error == nil || done.Error.Code != tt.code || done.Error.Phase != nil || done.Error.PhaseID != nil {
				t.Errorf("error = %+v, want %s with null phase and phase_id", done.Error, tt.code)
			}
			if done.StartedAt == nil || done.FinishedAt == nil {
				t.Errorf("started_at %v finished_at %v, want both set", done.StartedAt, done.FinishedAt)
			}
			var paid int
			b.view(func(tx engine.Tx) error {
				orders, err := tx.Orders(ev.ID)
				for _, o := range orders {
					if o.Status == engine.OrderPaid {
						paid++
					}
				}
				return err
			})
			if want := map[bool]int{false: 0, true: 2}[tt.fail != nil]; paid != want {
				t.Errorf("%d orders still paid, want %d", paid, want)
			}
		})
	}
}

func checkProgress(t *testing.T, got, want *engine.Progress) {
	t.Helper()
	switch {
	case want == nil && got != nil:
		t.Errorf("progress = %+v, want null", *got)
	case want != nil && (got == nil || *got != *want):
		t.Errorf("progress = %v, want %+v", got, *want)
	}
}

// Phase failures: transient ones are retried with backoff (attempts rising,
// last_error visible), permanent ones fail at once with their own code, and a
// panic is recorded, not fatal.
func TestPhaseFailures(t *testing.T) {
	t.Parallel()
	stale := engine.Transientf(engine.CodeInventoryStale, "a sale raced the write")
	tests := []struct {
		name      string
		work      func(ctx context.Context, r *engine.PhaseRun) error
		status    engine.Status
		code      engine.Code // operation error code
		attempts  int
		lastError engine.Code
		// holdRetry holds the second attempt until the test has seen the
		// first failure published (the phase visibly retrying).
		holdRetry bool
	}{
		{"transient twice, then success", func(ctx context.Context, r *engine.PhaseRun) error {
			if r.Attempt <= 2 {
				return stale
			}
			return engine.TicketsWork{}.Run(ctx, r)
		}, engine.StatusCompleted, "", 3, engine.CodeInventoryStale, true},
		{"transient until attempts run out", func(ctx context.Context, r *engine.PhaseRun) error {
			return stale
		}, engine.StatusFailed, engine.CodeInventoryStale, fastRetry.Attempts, engine.CodeInventoryStale, false},
		{"permanent fails at once", func(ctx context.Context, r *engine.PhaseRun) error {
			return engine.Errorf(engine.CodeTicketsStructureEmpty, "nothing to sell")
		}, engine.StatusFailed, engine.CodeTicketsStructureEmpty, 1, "", false},
		{"panic becomes a failure", func(ctx context.Context, r *engine.PhaseRun) error {
			panic("boom")
		}, engine.StatusFailed, engine.CodeOperationWorkPanicked, 1, "", false},
		{"uncoded errors are retried, then fail as work failed", func(ctx context.Context, r *engine.PhaseRun) error {
			return errors.New("connection reset")
		}, engine.StatusFailed, engine.CodeOperationWorkFailed, fastRetry.Attempts, engine.CodeOperationWorkFailed, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := newGate()
			b := setup(t, engine.Config{Work: map[string]engine.Work{engine.PhaseTickets: workFunc(func(ctx context.Context, r *engine.PhaseRun) error {
				if tt.holdRetry && r.Attempt == 2 {
					if err := g.hold(ctx, r); err != nil {
						return err
					}
				}
				return tt.work(ctx, r)
			})}})
			sub := b.eng.Broker().Subscribe(1024)
			defer sub.Close()
			_, op := b.createDate("Flaky", 5)
			if tt.holdRetry {
				// Retrying is visible while it happens.
				retrying := subscribeUntil(t, sub, func(o *engine.Operation) bool {
					return o.ID == op.ID && o.Phases[0].LastError != nil
				})
				if q := retrying.Phases[0]; q.Status != engine.StatusRunning || q.Attempts != 2 || q.LastError.Code != tt.lastError || retrying.Status != engine.StatusRunning {
					t.Errorf("while retrying: operation %s, phase %s attempts %d last_error %+v; want running, running, 2, %s",
						retrying.Status, q.Status, q.Attempts, q.LastError, tt.lastError)
				}
				g.open()
			}
			done := b.wait(op.ID)

			if done.Status != tt.status {
				t.Fatalf("status = %s (error %+v), want %s", done.Status, done.Error, tt.status)
			}
			p := done.Phases[0]
			if p.Attempts != tt.attempts {
				t.Errorf("attempts = %d, want %d", p.Attempts, tt.attempts)
			}
			if tt.lastError == "" {
				if p.LastError != nil {
					t.Errorf("last_error = %+v, want null", p.LastError)
				}
			} else if p.LastError == nil || p.LastError.Code != tt.lastError || p.LastError.PhaseID == nil || *p.LastError.PhaseID != p.ID {
				t.Errorf("last_error = %+v, want %s of phase %d", p.LastError, tt.lastError, p.ID)
			}
			if tt.code == "" {
				if done.Error != nil || p.Error != nil {
					t.Errorf("error = %+v / phase %+v, want null", done.Error, p.Error)
				}
			} else {
				e := done.Error
				if e == nil || e.Code != tt.code || e.Phase == nil || *e.Phase != p.Name || e.PhaseID == nil || *e.PhaseID != p.ID {
					t.Errorf("error = %+v, want %s from phase %s/%d", e, tt.code, p.Name, p.ID)
				}
				if p.Error == nil || p.Error.Code != tt.code {
					t.Errorf("phase error = %+v, want %s", p.Error, tt.code)
				}
			}
			// A panic keeps its stack with the failure, down to the
			// frame that panicked; other failures have none.
			wantStack := tt.code == engine.CodeOperationWorkPanicked
			for _, e := range []*engine.OpError{done.Error, p.Error} {
				if e == nil {
					continue
				}
				if got := strings.Contains(e.Stack, "TestPhaseFailures"); got != wantStack || (!wantStack && e.Stack != "") {
					t.Errorf("error %s keeps stack %q; want one naming the panicking work: %v", e.Code, e.Stack, wantStack)
				}
			}
		})
	}
}

// expandingWork splits its phase into one child per occurrence of the
// event (DESIGN §4: Shopify phases of a recurring event have one child per
// occurrence) and runs run for each child.
type expandingWork struct {
	run func(ctx context.Context, r *engine.PhaseRun) error
}

func (w expandingWork) Expand(ctx context.Context, r *engine.PhaseRun) ([]*engine.Phase, error) {
	var kids []*engine.Phase
	err := r.View(func(tx engine.Tx) error {
		children, err := tx.ChildEvents(r.Op.EventID)
		for _, c := range children {
			kids = append(kids, &engine.Phase{Name: r.Phase.Name + " " + c.StartsAt.Format("2006-01-02"), Subject: c.ID})
		}
		return err
	})
	return kids, err
}

func (w expandingWork) Run(ctx context.Context, r *engine.PhaseRun) error { return w.run(ctx, r) }

// A phase tree through the runner: catalog becomes an aggregate of one child
// per occurrence; a child's failure waits for its running sibling, then
// fails catalog and the operation with that child as the root cause, and
// the phases after catalog never start.
func TestNestedPhasesThroughTheRunner(t *testing.T) {
	t.Parallel()
	g := newGate()
	var failSubject atomic.Uint64
	var holdSubject atomic.Uint64
	ok := workFunc(func(ctx context.Context, r *engine.PhaseRun) error { return nil })
	b := setup(t, engine.Config{Work: map[string]engine.Work{
		engine.PhaseCatalog: expandingWork{run: func(ctx context.Context, r *engine.PhaseRun) error {
			switch r.Phase.Subject {
			case failSubject.Load():
				return engine.Errorf(engine.CodeCatalogUpsertRejected, "title too long")
			case holdSubject.Load():
				return g.hold(ctx, r)
			}
			return nil
		}},
		engine.PhaseInventory: ok, engine.PhaseMetafields: ok, engine.PhaseDelivery: ok, engine.PhasePublish: ok,
	}})
	b.seed(&engine.ShopInput{Sandbox: true, Domain: "blue-note"})
	// The occurrences exist before the Shopify save that expands over them.
	in := b.recurringInput("Weekly", startAt(chicago(t), 2026, 10, 23), weekly(3))
	// The first save's catalog expands over the occurrences its own
	// recurrence phase created; a second save then fails on a known one.
	ev, op := b.createEvent(in)
	sub := b.eng.Broker().Subscribe(4096)
	defer sub.Close()
	if first := b.wait(op.ID); first.Status != engine.StatusCompleted {
		t.Errorf("first save = %s %+v, want completed (every catalog child succeeds)", first.Status, first.Error)
	}
	occ := b.children(ev.ID)
	if len(occ) != 3 {
		t.Fatalf("%d occurrences, want 3", len(occ))
	}
	failSubject.Store(occ[1].ID)
	holdSubject.Store(occ[2].ID)
	op2 := b.rename(ev.ID, "Weekly, renamed")

	g.await(t, 1)
	mid := subscribeUntil(t, sub, func(o *engine.Operation) bool {
		if o.ID != op2.ID {
			return false
		}
		cat := phaseNamed(t, o, engine.PhaseCatalog)
		return len(cat.Phases) == 3 && cat.Phases[1].Status == engine.StatusFailed
	})
	cat := phaseNamed(t, mid, engine.PhaseCatalog)
	if mid.Status != engine.StatusRunning || cat.Status != engine.StatusRunning || mid.Error != nil {
		t.Errorf("child failed while a sibling runs: operation %s, catalog %s, error %+v; want running, running, null", mid.Status, cat.Status, mid.Error)
	}
	for i, c := range cat.Phases {
		if c.ID <= op2.ID || c.Subject != occ[i].ID || !c.Leaf() {
			t.Errorf("child %d = id %d subject %d, want a leaf with a fresh id on occurrence %d", i, c.ID, c.Subject, occ[i].ID)
		}
	}
	g.open()

	done := b.wait(op2.ID)
	cat = phaseNamed(t, done, engine.PhaseCatalog)
	failed := cat.Phases[1]
	if done.Status != engine.StatusFailed || cat.Status != engine.StatusFailed {
		t.Fatalf("operation %s, catalog %s; want both failed", done.Status, cat.Status)
	}
	for _, e := range []*engine.OpError{done.Error, cat.Error} {
		if e == nil || e.Code != engine.CodeCatalogUpsertRejected || e.PhaseID == nil || *e.PhaseID != failed.ID || *e.Phase != failed.Name {
			t.Errorf("error = %+v, want the failed child (%s, %d) with its own code", e, failed.Name, failed.ID)
		}
	}
	if s := cat.Phases[2].Status; s != engine.StatusCompleted {
		t.Errorf("the held sibling = %s, want completed (it ran to the end)", s)
	}
	// recurrence, tickets, 2 of 3 catalog children done of 2+3+4 leaves;
	// percent weighs shares: 2/7 + (2/3)·(1/7) = 8/21.
	if want := (engine.Progress{Percent: 38, Completed: 4, Total: 9}); done.Progress == nil || *done.Progress != want {
		t.Errorf("progress = %v, want %+v", done.Progress, want)
	}
	if want := (engine.Progress{Percent: 66, Completed: 2, Total: 3}); cat.Progress == nil || *cat.Progress != want {
		t.Errorf("catalog progress = %v, want %+v", cat.Progress, want)
	}
	for _, name := range []string{engine.PhaseInventory, engine.PhaseMetafields, engine.PhaseDelivery, engine.PhasePublish} {
		if p := phaseNamed(t, done, name); p.Status != engine.StatusPending {
			t.Errorf("%s = %s, want pending behind the failed catalog", name, p.Status)
		}
	}
}

// flakyExpander fails its first splits with a transient error.
type flakyExpander struct {
	expandingWork
	fails *atomic.Int32
}

func (w flakyExpander) Expand(ctx context.Context, r *engine.PhaseRun) ([]*engine.Phase, error) {
	if w.fails.Add(-1) >= 0 {
		return nil, engine.Transientf(engine.CodeShopifyUnavailable, "shop busy")
	}
	return w.expandingWork.Expand(ctx, r)
}

// Splitting a phase into children is part of its attempt: a transient
// failure of the split is retried like the work's own, and the phase ends
// as the aggregate of its children, every one of which ran once.
func TestSplitRetriesTransientFailures(t *testing.T) {
	t.Parallel()
	var fails atomic.Int32
	fails.Store(2)
	var runs sync.Map
	ok := workFunc(func(ctx context.Context, r *engine.PhaseRun) error { return nil })
	b := setup(t, engine.Config{Work: map[string]engine.Work{
		engine.PhaseCatalog: flakyExpander{expandingWork{run: func(ctx context.Context, r *engine.PhaseRun) error {
			n, _ := runs.LoadOrStore(r.Phase.Subject, new(atomic.Int32))
			n.(*atomic.Int32).Add(1)
			return nil
		}}, &fails},
		engine.PhaseInventory: ok, engine.PhaseMetafields: ok, engine.PhaseDelivery: ok, engine.PhasePublish: ok,
	}})
	b.seed(&engine.ShopInput{Sandbox: true, Domain: "blue-note"})
	ev, op := b.createEvent(b.recurringInput("Weekly", startAt(chicago(t), 2026, 10, 23), weekly(3)))
	done := b.wait(op.ID)
	if done.Status != engine.StatusCompleted {
		t.Fatalf("operation = %s %+v, want completed after the split was retried", done.Status, done.Error)
	}
	cat := phaseNamed(t, done, engine.PhaseCatalog)
	occ := b.children(ev.ID)
	if len(cat.Phases) != len(occ) || len(occ) != 3 {
		t.Fatalf("catalog has %d children for %d occurrences, want 3 and 3", len(cat.Phases), len(occ))
	}
	for i, c := range cat.Phases {
		n, _ := runs.Load(occ[i].ID)
		if c.Status != engine.StatusCompleted || c.Subject != occ[i].ID || n == nil || n.(*atomic.Int32).Load() != 1 {
			t.Errorf("child %d = %s on %d, want completed on occurrence %d, run once", i, c.Status, c.Subject, occ[i].ID)
		}
	}
	if n, _ := runs.Load(uint64(0)); n != nil {
		t.Errorf("catalog itself ran %d times, want never (it split)", n.(*atomic.Int32).Load())
	}
}

// A staged write that refuses with an error of its own fails the phase with
// OPERATION_WORK_FAILED: the operation ends instead of being run again into
// the same refusal, and the event's queue moves on.
func TestStagedWriteRefusalFailsThePhase(t *testing.T) {
	t.Parallel()
	b := setup(t, engine.Config{Work: map[string]engine.Work{engine.PhaseTickets: workFunc(func(ctx context.Context, r *engine.PhaseRun) error {
		r.Stage(func(tx engine.Tx) error { return errors.New("ticket structure is corrupt") })
		return nil
	})}})
	ev, op := b.createDate("Refused", 3)
	done := b.wait(op.ID)
	if done.Status != engine.StatusFailed || done.Error == nil || done.Error.Code != engine.CodeOperationWorkFailed {
		t.Fatalf("operation = %s %+v, want failed with OPERATION_WORK_FAILED", done.Status, done.Error)
	}
	if done.Phases[0].Attempts != 1 {
		t.Errorf("tickets ran %d times, want once", done.Phases[0].Attempts)
	}
	// The queue is not blocked: the next save of the event runs.
	if next := b.wait(b.rename(ev.ID, "Refused again").ID); !next.Status.Terminal() {
		t.Errorf("the next operation of the event is %s", next.Status)
	}
}
