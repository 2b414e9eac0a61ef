package engine_test

import (
	"testing"

	"eventops/engine"
)

// An operation's started_at is never later than any of its phases'
// (DESIGN §4): the local work's start is committed with its completion, and
// the operation takes its start from the phase, not from that commit.
// Checked on every published transition of date and recurring saves and
// of a delete, without Shopify.
func TestOperationStartsWithItsFirstPhase(t *testing.T) {
	t.Parallel()
	b := setup(t, engine.Config{})
	c := collect(b.eng, nil)
	var ids []uint64
	for i := range 3 {
		_, op := b.createDate("Jazz Night", 5+i)
		ids = append(ids, op.ID)
	}
	ev, op := b.createEvent(b.recurringInput("Weekly", startAt(chicago(t), 2026, 10, 23), weekly(4)))
	ids = append(ids, op.ID)
	for _, id := range ids {
		if done := b.wait(id); done.Status != engine.StatusCompleted {
			t.Fatalf("operation %d = %s %+v", id, done.Status, done.Error)
		}
	}
	del := b.delete(ev.ID)
	b.wait(del.ID)
	ids = append(ids, del.ID)
	seen := c.stop(t)
	for _, id := range ids {
		snaps := of(seen, id)
		if len(snaps) < 2 {
			t.Fatalf("operation %d: %d transitions published", id, len(snaps))
		}
		for _, o := range snaps {
			o.WalkPhases(func(p *engine.Phase) {
				if p.StartedAt != nil && (o.StartedAt == nil || o.StartedAt.After(*p.StartedAt)) {
					t.Errorf("operation %d version %d: started_at %v, phase %s started_at %v: the operation started after its phase",
						o.ID, o.Version, o.StartedAt, p.Name, p.StartedAt)
				}
			})
		}
	}
}
