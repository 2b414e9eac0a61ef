package storage

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"eventops/engine"
	"eventops/storage/pgtest"
)

// putOperations stores ops in one update.
func putOperations(t *testing.T, db *DB, ops ...*engine.Operation) {
	t.Helper()
	if err := db.Update(context.Background(), func(tx engine.Tx) error {
		for _, op := range ops {
			if err := tx.PutOperation(op); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// The queues of unfinished operations are claimed by one live node at a
// time, head first; a released queue with work is claimable again; the
// installation's unfinished operations are counted by action.
func TestPostgresQueueClaims(t *testing.T) {
	t.Parallel()
	db := openPG(t, pgtest.Database(t))
	ctx := context.Background()
	now := time.Now().UTC()
	ops := []*engine.Operation{
		{ID: 10, QueueID: 1, CompanyID: 1, EventID: 1, Action: engine.ActionSave, Status: engine.StatusPending, CreatedAt: now},
		{ID: 12, QueueID: 1, CompanyID: 1, EventID: 1, Action: engine.ActionSave, Status: engine.StatusPending, CreatedAt: now},
		{ID: 20, QueueID: 2, CompanyID: 1, EventID: 2, Action: engine.ActionRefund, Status: engine.StatusRunning, CreatedAt: now},
		{ID: 5, QueueID: 3, CompanyID: 1, EventID: 3, Action: engine.ActionDelete, Status: engine.StatusCompleted, CreatedAt: now, FinishedAt: &now},
	}
	putOperations(t, db, ops...)
	counts, err := db.ActiveByAction(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counts[engine.ActionSave] != 2 || counts[engine.ActionRefund] != 1 || counts[engine.ActionDelete] != 0 {
		t.Errorf("active by action = %v, want save 2, refund 1, delete 0", counts)
	}
	for _, owner := range []string{"a", "b"} {
		if _, err := db.Heartbeat(ctx, owner, time.Minute, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.SweepQueues(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := db.ClaimQueues(ctx, "a", 10)
	if err != nil {
		t.Fatal(err)
	}
	heads := map[uint64]uint64{}
	for _, c := range got {
		heads[c.Fence.Queue] = c.Head
	}
	if len(got) != 2 || heads[1] != 10 || heads[2] != 20 {
		t.Fatalf("node a claimed %+v, want queues 1 (head 10) and 2 (head 20)", got)
	}
	if more, err := db.ClaimQueues(ctx, "b", 10); err != nil || len(more) != 0 {
		t.Fatalf("node b claimed %+v, %v while node a lives, want nothing", more, err)
	}
	var q1 engine.Fence
	for _, c := range got {
		if c.Fence.Queue == 1 {
			q1 = c.Fence
		}
	}
	if err := db.ReleaseQueue(ctx, q1, 0); err != nil {
		t.Fatal(err)
	}
	again, err := db.ClaimQueues(ctx, "b", 10)
	if err != nil || len(again) != 1 || again[0].Fence.Queue != 1 || again[0].Head != 10 || again[0].Takeover ||
		again[0].Fence.Epoch != q1.Epoch+1 {
		t.Fatalf("after node a let queue 1 go, node b claimed %+v, %v", again, err)
	}

	// Node b dies (its heartbeat ends at once): a claim of its queue by a
	// new operation's node is a takeover; of a free queue, not.
	if _, err := db.Heartbeat(ctx, "b", time.Millisecond, true); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if c, ok, err := db.ClaimQueue(ctx, "a", 1); err != nil || !ok || !c.Takeover || c.Head != 10 {
		t.Fatalf("node a's claim of dead node b's queue: %+v, %v, %v; want a takeover", c, ok, err)
	}
	if c, ok, err := db.ClaimQueue(ctx, "a", 9); err != nil || !ok || c.Takeover {
		t.Fatalf("node a's claim of a queue without a row: %+v, %v, %v; want a claim, not a takeover", c, ok, err)
	}
}

// A queue let go with a backoff (its head failed and waits to be retried)
// is not claimed before the backoff ends, not even by the claim a new
// operation on it makes; a finished claim hands over its queue's next head,
// or deletes the queue's row when no work is left.
func TestPostgresQueueBackoffAndFinish(t *testing.T) {
	t.Parallel()
	db := openPG(t, pgtest.Database(t))
	ctx := context.Background()
	now := time.Now().UTC()
	put := func(ops ...*engine.Operation) { t.Helper(); putOperations(t, db, ops...) }
	op := func(id, queue uint64, st engine.Status) *engine.Operation {
		return &engine.Operation{ID: id, QueueID: queue, CompanyID: 1, EventID: queue, Action: engine.ActionSave, Status: st, CreatedAt: now}
	}
	put(op(10, 1, engine.StatusPending), op(11, 1, engine.StatusPending))
	if _, err := db.Heartbeat(ctx, "a", time.Minute, true); err != nil {
		t.Fatal(err)
	}
	c, ok, err := db.ClaimQueue(ctx, "a", 1)
	if err != nil || !ok || c.Head != 10 {
		t.Fatalf("claim: %+v, %v, %v; want queue 1 with head 10", c, ok, err)
	}
	if err := db.ReleaseQueue(ctx, c.Fence, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := db.ClaimQueue(ctx, "a", 1); err != nil || ok {
		t.Errorf("a new operation's claim during the backoff: ok=%v, %v; want refused", ok, err)
	}
	if got, err := db.ClaimQueues(ctx, "a", 10); err != nil || len(got) != 0 {
		t.Errorf("free claims during the backoff: %+v, %v; want none", got, err)
	}
	// A cancel does not wait it out: its run reads the request at once.
	if c, ok, err := db.ClaimQueueNow(ctx, "a", 1); err != nil || !ok || c.Head != 10 {
		t.Errorf("a cancel's claim during the backoff: %+v, %v, %v; want queue 1 with head 10", c, ok, err)
	}

	put(op(20, 2, engine.StatusPending), op(21, 2, engine.StatusPending))
	c2, ok, err := db.ClaimQueue(ctx, "a", 2)
	if err != nil || !ok || c2.Head != 20 {
		t.Fatalf("claim queue 2: %+v, %v, %v", c2, ok, err)
	}
	put(op(20, 2, engine.StatusCompleted))
	if head, err := db.FinishQueue(ctx, c2.Fence); err != nil || head != 21 {
		t.Fatalf("finish with work left: head %d, %v; want 21", head, err)
	}
	put(op(21, 2, engine.StatusCompleted))
	if head, err := db.FinishQueue(ctx, c2.Fence); err != nil || head != 0 {
		t.Fatalf("finish without work: head %d, %v; want 0", head, err)
	}
	owned, err := db.OwnedQueues(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range owned {
		if f.Queue == 2 {
			t.Errorf("queue 2 still held after its last operation finished: %+v", owned)
		}
	}
	// A new operation on it: its claim makes the row again.
	put(op(22, 2, engine.StatusPending))
	if c, ok, err := db.ClaimQueue(ctx, "a", 2); err != nil || !ok || c.Head != 22 {
		t.Errorf("claim after finish: %+v, %v, %v; want head 22", c, ok, err)
	}
}

// A claim never waits for a queue's row that another transaction holds: a
// node's writer commits under its fences holding its queues' rows FOR
// SHARE, in one statement for several queues, so a claim of several queues
// waiting there could close a cycle with it (a deadlock, and a stalled
// writer). A row so held is not claimed now; a free one is, once let go.
func TestPostgresClaimsNeverWaitForAHeldRow(t *testing.T) {
	t.Parallel()
	url := pgtest.Database(t)
	db := openPG(t, url)
	ctx := context.Background()
	now := time.Now().UTC()
	for _, q := range []uint64{5, 9} {
		putOperations(t, db, &engine.Operation{ID: q * 10, QueueID: q, CompanyID: 1, EventID: q,
			Action: engine.ActionSave, Status: engine.StatusPending, CreatedAt: now})
	}
	for _, owner := range []string{"a", "b"} {
		if _, err := db.Heartbeat(ctx, owner, time.Minute, true); err != nil {
			t.Fatal(err)
		}
	}
	c, ok, err := db.ClaimQueue(ctx, "a", 9)
	if err != nil || !ok {
		t.Fatalf("claim: %v, %v", ok, err)
	}
	if err := db.ReleaseQueue(ctx, c.Fence, 0); err != nil { // free, its row kept (work left)
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `select 1 from queues where queue_id = 9 for share`); err != nil {
		t.Fatal(err)
	}
	quick, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	results := make(chan error, 2)
	for _, q := range []uint64{9, 5} {
		go func() {
			c, ok, err := db.ClaimQueue(quick, "b", q)
			switch {
			case err != nil:
				results <- fmt.Errorf("claim of queue %d: %w (it waited for the held row)", q, err)
			case q == 9 && ok:
				results <- fmt.Errorf("claim of held queue 9 = %+v, want not claimed now", c)
			case q == 5 && !ok:
				results <- fmt.Errorf("claim of queue 5 refused, want claimed")
			default:
				results <- nil
			}
		}()
	}
	for range 2 {
		if err := <-results; err != nil {
			t.Error(err)
		}
	}
	tx.Rollback(ctx)
	if _, ok, err := db.ClaimQueue(ctx, "b", 9); err != nil || !ok {
		t.Errorf("claim once the row is let go: %v, %v; want claimed", ok, err)
	}
}
