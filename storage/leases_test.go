package storage

import (
	"context"
	"testing"
	"time"

	"eventops/engine"
	"eventops/storage/pgtest"
)

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
	if err := db.Update(ctx, func(tx engine.Tx) error {
		for _, op := range ops {
			if err := tx.PutOperation(op); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
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
