package web

import (
	"context"
	"strings"
	"testing"

	"eventops/engine"
	"eventops/web/client"
)

type panicking struct{}

func (panicking) Run(context.Context, *engine.PhaseRun) error { panic("tickets exploded") }

// TestPanicStackInOperationError: work that panics fails its operation with
// OPERATION_WORK_PANICKED, and the API answers the panic's stack with the
// error (of the operation and of the phase), down to the frame that
// panicked; the answer is checked against web/openapi.json like every other.
func TestPanicStackInOperationError(t *testing.T) {
	t.Parallel()
	f := setup(t, withWork(engine.PhaseTickets, panicking{}))
	c := f.event(f.keyA)
	f.waitTerminal(c.EventID, c.OpID)
	op := decode[client.Operation](t, f.do("GET", opPath(c.EventID, c.OpID), f.keyA, nil).expect(t, 200))
	if op.Status != "failed" || op.Error == nil || op.Error.Code != string(engine.CodeOperationWorkPanicked) {
		t.Fatalf("operation %s, error %+v; want failed with OPERATION_WORK_PANICKED", op.Status, op.Error)
	}
	for _, e := range []*client.OpError{op.Error, op.Phases[0].Error} {
		if e == nil || !strings.Contains(e.Stack, "web.panicking.Run") || !strings.Contains(e.Message, "tickets exploded") {
			t.Fatalf("error %+v: want the panic's message and a stack naming web.panicking.Run", e)
		}
	}
}
