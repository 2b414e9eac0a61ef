package engine_test

import (
	"context"
	"testing"
	"time"

	"eventops/engine"
)

// Cancel: a pending operation queued behind another ends at once; a
// running one ends at its next safe point; a terminal one is a conflict.
func TestCancel(t *testing.T) {
	t.Parallel()

	t.Run("pending behind another ends at once and never runs", func(t *testing.T) {
		t.Parallel()
		g := newGate()
		b := setup(t, engine.Config{Work: map[string]engine.Work{engine.PhaseTickets: g.wrap(engine.TicketsWork{})}})
		ev, op1 := b.createDate("Busy", 5)
		g.await(t, 1)
		op2 := b.rename(ev.ID, "Busier")
		got, err := b.eng.CancelOperation(context.Background(), b.company.ID, op2.ID)
		if err != nil {
			t.Fatalf("cancel: %v", err)
		}
		checkCanceled(t, got)
		checkCanceled(t, b.stored(op2.ID))
		if p := got.Phases[0]; p.Status != engine.StatusPending || p.StartedAt != nil {
			t.Errorf("phase of the canceled pending operation = %s, want pending", p.Status)
		}
		g.open()
		if done := b.wait(op1.ID); done.Status != engine.StatusCompleted {
			t.Fatalf("operation ahead = %s, want completed", done.Status)
		}
		op3 := b.rename(ev.ID, "Busiest")
		if done := b.wait(op3.ID); done.Status != engine.StatusCompleted {
			t.Fatalf("operation after = %s, want completed", done.Status)
		}
		for _, r := range drain(g.entered) {
			if r.Op.ID == op2.ID {
				t.Errorf("the canceled operation ran")
			}
		}
		if _, err := b.eng.CancelOperation(context.Background(), b.company.ID, op2.ID); !isConflict(err) {
			t.Errorf("cancel of a canceled operation: %v, want conflict", err)
		}
	})

	t.Run("pending at the head of its queue ends when a worker reaches it", func(t *testing.T) {
		t.Parallel()
		g := newGate()
		b := setup(t, engine.Config{Workers: 1, Work: map[string]engine.Work{engine.PhaseTickets: g.wrap(engine.TicketsWork{})}})
		_, busy := b.createDate("Busy", 5)
		g.await(t, 1) // the only worker is held
		_, op := b.createDate("Waiting", 6)
		got, err := b.eng.CancelOperation(context.Background(), b.company.ID, op.ID)
		if err != nil {
			t.Fatalf("cancel: %v", err)
		}
		if got.Status.Terminal() || !got.CancelAsked {
			t.Errorf("cancel answered %s cancel_requested=%v, want a durable request on a pending operation", got.Status, got.CancelAsked)
		}
		g.open()
		b.wait(busy.ID)
		done := b.wait(op.ID)
		checkCanceled(t, done)
		for _, r := range drain(g.entered) {
			if r.Op.ID == op.ID {
				t.Errorf("the canceled operation ran")
			}
		}
	})

	t.Run("running ends at the next safe point", func(t *testing.T) {
		t.Parallel()
		g := newGate()
		b := setup(t, engine.Config{Work: map[string]engine.Work{engine.PhaseTickets: g.wrap(engine.TicketsWork{})}})
		ev, op := b.createDate("Running", 5)
		g.await(t, 1)
		got, err := b.eng.CancelOperation(context.Background(), b.company.ID, op.ID)
		if err != nil {
			t.Fatalf("cancel: %v", err)
		}
		if !got.CancelAsked {
			t.Errorf("cancel answer does not carry the request: %+v", got)
		}
		done := b.wait(op.ID)
		checkCanceled(t, done)
		p := done.Phases[0]
		if p.Status != engine.StatusFailed || p.Error == nil || p.Error.Code != engine.CodeOperationCanceled {
			t.Errorf("running phase after cancel = %s %+v, want failed %s", p.Status, p.Error, engine.CodeOperationCanceled)
		}
		if s := b.structure(ev.ID); s != nil {
			t.Errorf("the canceled phase's staged writes were committed")
		}
		if _, err := b.eng.CancelOperation(context.Background(), b.company.ID, op.ID); !isConflict(err) {
			t.Errorf("cancel of a terminal operation: %v, want conflict", err)
		}
	})

	t.Run("refund in flight", func(t *testing.T) {
		t.Parallel()
		g := newGate()
		b := setup(t, engine.Config{Refund: refundFunc(func(ctx context.Context, r *engine.PhaseRun) error {
			if err := g.hold(ctx, r); err != nil {
				return err
			}
			return engine.LocalRefund{}.Refund(ctx, r)
		})})
		ev, _ := b.createDate("Refund", 5)
		op, err := b.eng.RefundEvent(context.Background(), b.company.ID, ev.ID)
		if err != nil {
			t.Fatal(err)
		}
		g.await(t, 1)
		if _, err := b.eng.CancelOperation(context.Background(), b.company.ID, op.ID); err != nil {
			t.Fatalf("cancel: %v", err)
		}
		checkCanceled(t, b.wait(op.ID))
	})

	t.Run("a completion racing the cancel leaves one terminal state", func(t *testing.T) {
		t.Parallel()
		// Work that ignores its context (as TicketsWork does) finishes
		// after the cancel was accepted; the operation may end either
		// way, but a terminal state must never change again.
		release := make(chan struct{})
		entered := make(chan struct{}, 1)
		b := setup(t, engine.Config{Work: map[string]engine.Work{engine.PhaseTickets: workFunc(func(ctx context.Context, r *engine.PhaseRun) error {
			entered <- struct{}{}
			<-release
			return engine.TicketsWork{}.Run(ctx, r)
		})}})
		c := collect(b.eng, nil)
		_, op := b.createDate("Racing", 5)
		<-entered
		if _, err := b.eng.CancelOperation(context.Background(), b.company.ID, op.ID); err != nil {
			t.Fatalf("cancel: %v", err)
		}
		close(release)
		b.wait(op.ID)
		stopWithin(t, b.eng, safety)
		seen := of(c.stop(t), op.ID)
		final := b.stored(op.ID)
		var terminal []*engine.Operation
		for _, s := range seen {
			if s.Status.Terminal() {
				terminal = append(terminal, s)
			}
		}
		if len(terminal) != 1 {
			var states []string
			for _, s := range terminal {
				states = append(states, string(s.Status)+"/"+codeOf(s))
			}
			t.Fatalf("%d terminal states published (%v), want exactly one", len(terminal), states)
		}
		if terminal[0].Version != final.Version || terminal[0].Status != final.Status {
			t.Errorf("published terminal v%d %s, stored v%d %s", terminal[0].Version, terminal[0].Status, final.Version, final.Status)
		}
	})
}

func codeOf(op *engine.Operation) string {
	if op.Error == nil {
		return "-"
	}
	return string(op.Error.Code)
}

func checkCanceled(t *testing.T, op *engine.Operation) {
	t.Helper()
	if op.Status != engine.StatusFailed || op.Error == nil || op.Error.Code != engine.CodeOperationCanceled {
		t.Fatalf("operation %d = %s error %+v, want failed %s", op.ID, op.Status, op.Error, engine.CodeOperationCanceled)
	}
	if op.Error.Phase != nil || op.Error.PhaseID != nil {
		t.Errorf("cancel error names phase %v/%v, want null", op.Error.Phase, op.Error.PhaseID)
	}
	if op.FinishedAt == nil {
		t.Errorf("canceled operation has no finished_at")
	}
}

func drain[T any](c chan T) []T {
	var out []T
	for {
		select {
		case v := <-c:
			out = append(out, v)
		default:
			return out
		}
	}
}

// Retry: a failed operation is retried as a new operation of the same
// action; anything else is a conflict.
func TestRetry(t *testing.T) {
	t.Parallel()
	// The first run of every operation fails; retries succeed.
	failFirst := workFunc(func(ctx context.Context, r *engine.PhaseRun) error {
		if r.Op.RetryOf == 0 {
			return engine.Errorf(engine.CodeTicketsStructureEmpty, "first run fails")
		}
		return engine.TicketsWork{}.Run(ctx, r)
	})

	t.Run("save", func(t *testing.T) {
		t.Parallel()
		b := setup(t, engine.Config{Work: map[string]engine.Work{engine.PhaseTickets: failFirst}})
		ev, op := b.createDate("Retry me", 5)
		if failed := b.wait(op.ID); failed.Status != engine.StatusFailed {
			t.Fatalf("first run = %s, want failed", failed.Status)
		}
		retry, err := b.eng.RetryOperation(context.Background(), b.company.ID, op.ID)
		if err != nil {
			t.Fatalf("retry: %v", err)
		}
		if retry.ID == op.ID || retry.Action != engine.ActionSave || retry.RetryOf != op.ID || retry.EventID != ev.ID {
			t.Fatalf("retry = id %d action %s retry_of %d, want a new save of event %d retrying %d", retry.ID, retry.Action, retry.RetryOf, ev.ID, op.ID)
		}
		if done := b.wait(retry.ID); done.Status != engine.StatusCompleted {
			t.Fatalf("retry = %s %+v, want completed", done.Status, done.Error)
		}
		if old := b.stored(op.ID); old.Status != engine.StatusFailed {
			t.Errorf("the retried operation was reopened: %s", old.Status)
		}
		if _, err := b.eng.RetryOperation(context.Background(), b.company.ID, retry.ID); !isConflict(err) {
			t.Errorf("retry of a completed operation: %v, want conflict", err)
		}
		// The original knows its retry; the retry has none.
		if ids, err := b.eng.RetriesOf(b.stored(op.ID)); err != nil || len(ids) != 1 || ids[0] != retry.ID {
			t.Errorf("retries of %d = %v, %v; want [%d]", op.ID, ids, err, retry.ID)
		}
		if ids, err := b.eng.RetriesOf(b.stored(retry.ID)); err != nil || len(ids) != 0 {
			t.Errorf("retries of the retry %d = %v, %v; want none", retry.ID, ids, err)
		}
	})

	t.Run("delete", func(t *testing.T) {
		t.Parallel()
		b := setup(t, engine.Config{Work: map[string]engine.Work{engine.PhaseTickets: failFirst}})
		ev, save := b.createDate("Delete me", 5)
		b.wait(save.ID)
		del := b.delete(ev.ID)
		if failed := b.wait(del.ID); failed.Status != engine.StatusFailed {
			t.Fatalf("delete = %s, want failed", failed.Status)
		}
		if _, err := b.eng.RetryOperation(context.Background(), b.company.ID, save.ID); !isConflict(err) {
			t.Errorf("retry of a save of a deleted event: %v, want conflict", err)
		}
		retry, err := b.eng.RetryOperation(context.Background(), b.company.ID, del.ID)
		if err != nil {
			t.Fatalf("retry delete: %v", err)
		}
		if retry.Action != engine.ActionDelete || retry.ID == del.ID {
			t.Fatalf("retry = %s %d, want a new delete", retry.Action, retry.ID)
		}
		if done := b.wait(retry.ID); done.Status != engine.StatusCompleted {
			t.Fatalf("retried delete = %s %+v, want completed", done.Status, done.Error)
		}
	})

	t.Run("running or pending", func(t *testing.T) {
		t.Parallel()
		g := newGate()
		b := setup(t, engine.Config{Work: map[string]engine.Work{engine.PhaseTickets: g.wrap(nil)}})
		ev, running := b.createDate("Busy", 5)
		g.await(t, 1)
		pending := b.rename(ev.ID, "Queued")
		for _, id := range []uint64{running.ID, pending.ID} {
			if _, err := b.eng.RetryOperation(context.Background(), b.company.ID, id); !isConflict(err) {
				t.Errorf("retry of a non-failed operation %d: %v, want conflict", id, err)
			}
		}
		g.open()
		b.wait(pending.ID)
	})
}

// A cancel written directly (no run holds the operation) shares commits
// with creates that reserve their new event's queue inside theirs: neither
// may wait for the other. Cancels of operations queued behind a held one
// race creates until every call has returned.
func TestCancelBesideCreates(t *testing.T) {
	t.Parallel()
	g := newGate()
	b := setup(t, engine.Config{Work: map[string]engine.Work{engine.PhaseTickets: g.wrap(engine.TicketsWork{})}})
	t.Cleanup(g.open)
	ev, _ := b.createDate("Held", 5)
	g.await(t, 1)
	const rounds, creates = 20, 8
	done := make(chan error, rounds*(creates+1))
	for range rounds {
		op := b.rename(ev.ID, "Behind")
		go func() {
			_, err := b.eng.CancelOperation(context.Background(), b.company.ID, op.ID)
			done <- err
		}()
		for i := range creates {
			go func() {
				_, _, err := b.eng.CreateEvent(context.Background(), b.company.ID, b.dateInput("Beside", 6+i))
				done <- err
			}()
		}
	}
	timer := time.NewTimer(safety)
	defer timer.Stop()
	for n := 0; n < rounds*(creates+1); n++ {
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("call: %v", err)
			}
		case <-timer.C:
			t.Fatalf("%d of %d cancels and creates returned: they wait on each other", n, rounds*(creates+1))
		}
	}
}
