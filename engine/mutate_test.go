package engine_test

import (
	"context"
	"testing"

	"eventops/engine"
)

// The commands that change a live event and start an operation on it
// (update, delete, refund) share one frame: each refuses an event that is
// not live for the company with a 404, stores nothing when refused, and
// otherwise starts its operation on the event.
func TestMutateEventFrame(t *testing.T) {
	t.Parallel()
	b := setup(t, engine.Config{})
	ctx := context.Background()
	other, err := b.eng.CreateCompany(ctx, "Other", nil)
	if err != nil {
		t.Fatal(err)
	}
	live, _ := b.createDate("Live", 5)
	gone, del := b.createDate("Gone", 6)
	b.wait(del.ID)
	if op, err := b.eng.DeleteEvent(ctx, b.company.ID, gone.ID); err != nil {
		t.Fatal(err)
	} else {
		b.wait(op.ID)
	}

	commands := []struct {
		name   string
		action engine.Action
		run    func(companyID, id uint64) (*engine.Operation, error)
	}{
		{"update", engine.ActionSave, func(c, id uint64) (*engine.Operation, error) {
			_, op, err := b.eng.UpdateEvent(ctx, c, id, engine.EventInput{Name: ptr("Renamed")})
			return op, err
		}},
		{"refund", engine.ActionRefund, func(c, id uint64) (*engine.Operation, error) { return b.eng.RefundEvent(ctx, c, id) }},
		{"delete", engine.ActionDelete, func(c, id uint64) (*engine.Operation, error) { return b.eng.DeleteEvent(ctx, c, id) }},
	}
	targets := []struct {
		name      string
		companyID uint64
		eventID   uint64
		refused   bool // with a 404
	}{
		{"unknown event", b.company.ID, 999_999, true},
		{"another company's event", other.ID, live.ID, true},
		{"deleted event", b.company.ID, gone.ID, true},
		{"live event", b.company.ID, live.ID, false},
	}
	countOps := func() int {
		ops, _, err := b.eng.Operations(engine.OperationQuery{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		return len(ops)
	}
	for _, cmd := range commands {
		for _, tg := range targets {
			t.Run(cmd.name+"/"+tg.name, func(t *testing.T) {
				before := countOps()
				op, err := cmd.run(tg.companyID, tg.eventID)
				if tg.refused {
					if got := errorKind(err); err == nil || got != engine.KindNotFound {
						t.Fatalf("err = %v (kind %v), want a 404", err, got)
					}
					if n := countOps(); n != before {
						t.Fatalf("%d operations after a refused %s, want %d", n, cmd.name, before)
					}
					return
				}
				if err != nil {
					t.Fatalf("%s: %v", cmd.name, err)
				}
				if op.Action != cmd.action || op.EventID != tg.eventID || op.CompanyID != tg.companyID {
					t.Fatalf("operation %+v, want a %s of event %d", op, cmd.action, tg.eventID)
				}
				if done := b.wait(op.ID); done.Status != engine.StatusCompleted {
					t.Fatalf("%s ended %s: %+v", cmd.name, done.Status, done.Error)
				}
			})
		}
	}
}
