package engine

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// Hand-built phase trees for the roll-up rules of DESIGN §4. Leaves carry
// the state the runner gives them; aggregates start pending and get theirs
// from Rollup.

var rollupT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func rollupAt(sec int) *time.Time {
	t := rollupT0.Add(time.Duration(sec) * time.Second)
	return &t
}

// rLeaf is a leaf phase in status st. Running and finished leaves have a
// start time; finished ones an end time.
func rLeaf(id uint64, name string, st Status, deps ...string) *Phase {
	p := &Phase{ID: id, Name: name, Status: st, Phases: []*Phase{}, DependsOn: deps}
	if st != StatusPending {
		p.StartedAt = rollupAt(int(id))
		p.Attempts = 1
	}
	if st.Terminal() {
		p.FinishedAt = rollupAt(int(id) + 100)
	}
	if st == StatusCompleted {
		p.Progress = newProgress(1, 1)
	}
	return p
}

// rFailed is a leaf that failed with code; seq orders failures (smallest is
// the root cause).
func rFailed(id uint64, name string, seq uint64, code Code, deps ...string) *Phase {
	p := rLeaf(id, name, StatusFailed, deps...)
	n, pid := name, id
	p.Error = &OpError{Code: code, Message: string(code) + " happened", Phase: &n, PhaseID: &pid}
	p.FailSeq = seq
	return p
}

// rAgg is an aggregate phase of children; Rollup sets its state.
func rAgg(id uint64, name string, deps []string, children ...*Phase) *Phase {
	return &Phase{ID: id, Name: name, Status: StatusPending, Phases: children, DependsOn: deps}
}

func rOp(action Action, phases ...*Phase) *Operation {
	return &Operation{ID: 1, Action: action, EventID: 9, Status: StatusPending, CreatedAt: rollupT0, Phases: phases, Version: 1}
}

// rShopifySave is the save plan of a Shopify company for a date event with
// each leaf in the status given by name (pending when absent).
func rShopifySave(st map[string]Status, failures map[string]uint64) *Operation {
	mk := func(id uint64, name string, deps ...string) *Phase {
		if seq, ok := failures[name]; ok {
			return rFailed(id, name, seq, Code(name+"_FAILED"), deps...)
		}
		s := st[name]
		if s == "" {
			s = StatusPending
		}
		return rLeaf(id, name, s, deps...)
	}
	return rOp(ActionSave,
		mk(2, PhaseTickets),
		mk(3, PhaseCatalog, PhaseTickets),
		mk(4, PhaseInventory, PhaseCatalog),
		mk(5, PhaseMetafields, PhaseCatalog),
		mk(6, PhaseDelivery, PhaseCatalog),
		mk(7, PhasePublish, PhaseInventory, PhaseMetafields, PhaseDelivery),
	)
}

type wantError struct {
	code    Code
	phase   string // "" means null
	phaseID uint64 // 0 means null
}

type wantPhase struct {
	status   Status
	progress *Progress // nil: progress must be null
}

func TestRollup(t *testing.T) {
	t.Parallel()
	done, running, pending := StatusCompleted, StatusRunning, StatusPending

	tests := []struct {
		name     string
		op       func() *Operation
		status   Status
		progress *Progress // nil: null
		err      *wantError
		phases   map[uint64]wantPhase // checked phases, by id
		started  bool                 // operation started_at set
		finished bool                 // operation finished_at set
	}{
		{
			name: "all pending: pending with null progress",
			op: func() *Operation {
				return rOp(ActionSave, rLeaf(2, PhaseRecurrence, pending), rLeaf(3, PhaseTickets, pending, PhaseRecurrence))
			},
			status: StatusPending,
		},
		{
			name: "first leaf running: running, progress 0 of all leaves, leaf progress null until units known",
			op: func() *Operation {
				return rOp(ActionSave, rLeaf(2, PhaseRecurrence, running), rLeaf(3, PhaseTickets, pending, PhaseRecurrence))
			},
			status:   StatusRunning,
			progress: &Progress{Percent: 0, Completed: 0, Total: 2},
			phases:   map[uint64]wantPhase{2: {running, nil}, 3: {pending, nil}},
			started:  true,
		},
		{
			name: "all completed: completed 100%",
			op: func() *Operation {
				return rOp(ActionSave, rLeaf(2, PhaseRecurrence, done), rLeaf(3, PhaseTickets, done, PhaseRecurrence))
			},
			status:   StatusCompleted,
			progress: &Progress{Percent: 100, Completed: 2, Total: 2},
			started:  true,
			finished: true,
		},
		{
			name: "percent is floored: 2 of 3 is 66",
			op: func() *Operation {
				return rOp(ActionSave, rLeaf(2, "a", done), rLeaf(3, "b", done), rLeaf(4, "c", running))
			},
			status:   StatusRunning,
			progress: &Progress{Percent: 66, Completed: 2, Total: 3},
			started:  true,
		},
		{
			name: "nested: completed and total count leaves at every depth, percent weighs each phase's share",
			op: func() *Operation {
				return rOp(ActionSave,
					rLeaf(2, PhaseTickets, done),
					rAgg(3, PhaseCatalog, []string{PhaseTickets},
						rAgg(4, "occurrence 1", nil, rLeaf(5, "product a", done), rLeaf(6, "product b", done)),
						rAgg(7, "occurrence 2", nil, rLeaf(8, "product c", running), rLeaf(9, "product d", pending)),
						rAgg(10, "occurrence 3", nil, rLeaf(11, "product e", pending)),
					),
					rLeaf(12, PhasePublish, pending, PhaseCatalog),
				)
			},
			status: StatusRunning,
			// tickets' third and a third of catalog's third (one
			// occurrence of three): 4/9.
			progress: &Progress{Percent: 44, Completed: 3, Total: 7},
			phases: map[uint64]wantPhase{
				3:  {running, &Progress{Percent: 33, Completed: 2, Total: 5}},
				4:  {done, &Progress{Percent: 100, Completed: 2, Total: 2}},
				7:  {running, &Progress{Percent: 0, Completed: 0, Total: 2}},
				10: {pending, nil},
				12: {pending, nil},
			},
			started: true,
		},
		{
			name: "nested: a failed grandchild fails its aggregates once its siblings are done, root cause names the leaf",
			op: func() *Operation {
				return rOp(ActionSave,
					rLeaf(2, PhaseTickets, done),
					rAgg(3, PhaseCatalog, []string{PhaseTickets},
						rAgg(4, "occurrence 1", nil, rLeaf(5, "product a", done), rFailed(6, "product b", 1, CodeCatalogUpsertRejected)),
						rAgg(7, "occurrence 2", nil, rLeaf(8, "product c", done)),
					),
					rLeaf(9, PhasePublish, pending, PhaseCatalog),
				)
			},
			status: StatusFailed,
			// tickets' third, and of catalog's third: half of one
			// occurrence's half and all of the other's.
			progress: &Progress{Percent: 58, Completed: 3, Total: 5},
			err:      &wantError{CodeCatalogUpsertRejected, "product b", 6},
			phases: map[uint64]wantPhase{
				3: {StatusFailed, &Progress{Percent: 75, Completed: 2, Total: 3}},
				4: {StatusFailed, &Progress{Percent: 50, Completed: 1, Total: 2}},
				7: {done, &Progress{Percent: 100, Completed: 1, Total: 1}},
				9: {pending, nil},
			},
			started:  true,
			finished: true,
		},
		{
			name: "nested: a failed child while a sibling child still runs keeps the aggregate running",
			op: func() *Operation {
				return rOp(ActionSave,
					rLeaf(2, PhaseTickets, done),
					rAgg(3, PhaseCatalog, []string{PhaseTickets},
						rFailed(4, "product a", 1, CodeCatalogUpsertRejected),
						rLeaf(5, "product b", running),
					),
				)
			},
			status:   StatusRunning,
			progress: &Progress{Percent: 50, Completed: 1, Total: 3}, // tickets' half
			phases:   map[uint64]wantPhase{3: {running, &Progress{Percent: 0, Completed: 0, Total: 2}}},
			started:  true,
		},
		{
			name: "nested: a failed child with a sibling child not yet started keeps the aggregate running (it can still run)",
			op: func() *Operation {
				return rOp(ActionSave,
					rAgg(3, PhaseCatalog, nil,
						rFailed(4, "product a", 1, CodeCatalogUpsertRejected),
						rLeaf(5, "product b", pending),
					),
				)
			},
			status:   StatusRunning,
			progress: &Progress{Percent: 0, Completed: 0, Total: 2},
			phases:   map[uint64]wantPhase{3: {running, &Progress{Percent: 0, Completed: 0, Total: 2}}},
			started:  true,
		},
		{
			name: "Shopify save: inventory failed while metafields and delivery still run: running, no error yet",
			op: func() *Operation {
				return rShopifySave(map[string]Status{
					PhaseTickets: done, PhaseCatalog: done, PhaseMetafields: running, PhaseDelivery: running,
				}, map[string]uint64{PhaseInventory: 1})
			},
			status:   StatusRunning,
			progress: &Progress{Percent: 33, Completed: 2, Total: 6},
			phases:   map[uint64]wantPhase{7: {pending, nil}},
			started:  true,
		},
		{
			name: "Shopify save: one sibling done, one still running: still running",
			op: func() *Operation {
				return rShopifySave(map[string]Status{
					PhaseTickets: done, PhaseCatalog: done, PhaseMetafields: done, PhaseDelivery: running,
				}, map[string]uint64{PhaseInventory: 1})
			},
			status:   StatusRunning,
			progress: &Progress{Percent: 50, Completed: 3, Total: 6},
			started:  true,
		},
		{
			name: "Shopify save: siblings ran to the end: failed, publish left pending, root cause inventory",
			op: func() *Operation {
				return rShopifySave(map[string]Status{
					PhaseTickets: done, PhaseCatalog: done, PhaseMetafields: done, PhaseDelivery: done,
				}, map[string]uint64{PhaseInventory: 1})
			},
			status:   StatusFailed,
			progress: &Progress{Percent: 66, Completed: 4, Total: 6},
			err:      &wantError{"inventory_FAILED", PhaseInventory, 4},
			phases:   map[uint64]wantPhase{7: {pending, nil}, 5: {done, &Progress{Percent: 100, Completed: 1, Total: 1}}},
			started:  true,
			finished: true,
		},
		{
			name: "dependents of a failed phase stay pending and the operation fails at once",
			op: func() *Operation {
				return rShopifySave(map[string]Status{}, map[string]uint64{PhaseTickets: 1})
			},
			status:   StatusFailed,
			progress: &Progress{Percent: 0, Completed: 0, Total: 6},
			err:      &wantError{"tickets_FAILED", PhaseTickets, 2},
			phases: map[uint64]wantPhase{
				3: {pending, nil}, 4: {pending, nil}, 5: {pending, nil}, 6: {pending, nil}, 7: {pending, nil},
			},
			started:  true,
			finished: true,
		},
		{
			name: "a pending phase whose pending dependency can still run keeps the operation running",
			op: func() *Operation {
				return rOp(ActionSave,
					rFailed(2, "a", 1, "A_FAILED"),
					rLeaf(3, "b", pending),
					rLeaf(4, "c", pending, "b"),
				)
			},
			status:   StatusRunning,
			progress: &Progress{Percent: 0, Completed: 0, Total: 3},
			started:  true,
		},
		{
			name: "blocked transitively: a pending phase behind a pending phase behind a failed one cannot run",
			op: func() *Operation {
				return rOp(ActionSave,
					rLeaf(2, "a", done),
					rFailed(3, "b", 1, "B_FAILED", "a"),
					rLeaf(4, "c", pending, "b"),
					rLeaf(5, "d", pending, "c"),
				)
			},
			status:   StatusFailed,
			progress: &Progress{Percent: 25, Completed: 1, Total: 4},
			err:      &wantError{"B_FAILED", "b", 3},
			phases:   map[uint64]wantPhase{4: {pending, nil}, 5: {pending, nil}},
			started:  true,
			finished: true,
		},
		{
			name: "root cause is the failure recorded first, not the first in tree order",
			op: func() *Operation {
				return rShopifySave(map[string]Status{
					PhaseTickets: done, PhaseCatalog: done, PhaseDelivery: done,
				}, map[string]uint64{PhaseInventory: 2, PhaseMetafields: 1})
			},
			status:   StatusFailed,
			progress: &Progress{Percent: 50, Completed: 3, Total: 6},
			err:      &wantError{"metafields_FAILED", PhaseMetafields, 5},
			started:  true,
			finished: true,
		},
		{
			name: "root cause across depths: a nested leaf that failed first beats a top-level one",
			op: func() *Operation {
				return rOp(ActionSave,
					rAgg(2, PhaseCatalog, nil,
						rFailed(3, "product a", 1, CodeCatalogProductVanished),
						rLeaf(4, "product b", done),
					),
					rFailed(5, PhaseMetafields, 2, CodeMetafieldsValueRejected),
				)
			},
			status:   StatusFailed,
			progress: &Progress{Percent: 25, Completed: 1, Total: 3}, // half of catalog's half
			err:      &wantError{CodeCatalogProductVanished, "product a", 3},
			started:  true,
			finished: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			op := tt.op()
			now := rollupT0.Add(time.Hour)
			op.Rollup(now)
			if op.Status != tt.status {
				t.Errorf("status = %s, want %s", op.Status, tt.status)
			}
			checkProgress(t, "operation", op.Progress, tt.progress)
			checkOpError(t, op.Error, tt.err)
			for id, want := range tt.phases {
				p := op.FindPhase(id)
				if p == nil {
					t.Fatalf("phase %d missing", id)
				}
				if p.Status != want.status {
					t.Errorf("phase %d (%s) status = %s, want %s", id, p.Name, p.Status, want.status)
				}
				checkProgress(t, "phase "+p.Name, p.Progress, want.progress)
			}
			if got := op.StartedAt != nil; got != tt.started {
				t.Errorf("started_at set = %v, want %v", got, tt.started)
			}
			if got := op.FinishedAt != nil; got != tt.finished {
				t.Errorf("finished_at set = %v, want %v", got, tt.finished)
			}
			if tt.finished && !op.FinishedAt.Equal(now) {
				t.Errorf("finished_at = %v, want %v", op.FinishedAt, now)
			}
			// The JSON contract: progress and error are null, not absent.
			b, err := json.Marshal(op)
			if err != nil {
				t.Fatal(err)
			}
			var raw map[string]json.RawMessage
			if err := json.Unmarshal(b, &raw); err != nil {
				t.Fatal(err)
			}
			if tt.progress == nil && string(raw["progress"]) != "null" {
				t.Errorf("progress JSON = %s, want null", raw["progress"])
			}
			if tt.err == nil && string(raw["error"]) != "null" {
				t.Errorf("error JSON = %s, want null", raw["error"])
			}
		})
	}
}

func checkProgress(t *testing.T, what string, got, want *Progress) {
	t.Helper()
	switch {
	case want == nil && got != nil:
		t.Errorf("%s progress = %+v, want null", what, *got)
	case want != nil && got == nil:
		t.Errorf("%s progress = null, want %+v", what, *want)
	case want != nil && *got != *want:
		t.Errorf("%s progress = %+v, want %+v", what, *got, *want)
	}
}

func checkOpError(t *testing.T, got *OpError, want *wantError) {
	t.Helper()
	if want == nil {
		if got != nil {
			t.Errorf("error = %+v, want null", *got)
		}
		return
	}
	if got == nil {
		t.Fatalf("error = null, want code %s", want.code)
	}
	if got.Code != want.code {
		t.Errorf("error code = %s, want %s", got.Code, want.code)
	}
	if got.Message == "" {
		t.Errorf("error message is empty")
	}
	switch {
	case want.phase == "" && got.Phase != nil:
		t.Errorf("error phase = %q, want null", *got.Phase)
	case want.phase != "" && (got.Phase == nil || *got.Phase != want.phase):
		t.Errorf("error phase = %v, want %q", got.Phase, want.phase)
	}
	switch {
	case want.phaseID == 0 && got.PhaseID != nil:
		t.Errorf("error phase_id = %d, want null", *got.PhaseID)
	case want.phaseID != 0 && (got.PhaseID == nil || *got.PhaseID != want.phaseID):
		t.Errorf("error phase_id = %v, want %d", got.PhaseID, want.phaseID)
	}
}

// A sequence of roll-ups over one operation, as the runner makes them: the
// state moves only forward and, once terminal, never changes again.
func TestRollupTerminalNeverChanges(t *testing.T) {
	t.Parallel()
	op := rShopifySave(map[string]Status{PhaseTickets: StatusCompleted}, map[string]uint64{PhaseCatalog: 1})
	op.Rollup(rollupT0)
	if op.Status != StatusFailed {
		t.Fatalf("status = %s, want failed", op.Status)
	}
	before, _ := json.Marshal(op)
	// A late (buggy) write to a phase must not reopen the operation.
	op.FindPhase(4).Status = StatusRunning
	op.Rollup(rollupT0.Add(time.Minute))
	if op.Status != StatusFailed || !op.FinishedAt.Equal(rollupT0) {
		t.Fatalf("terminal operation changed: status %s finished %v", op.Status, op.FinishedAt)
	}
	op.FindPhase(4).Status = StatusPending
	after, _ := json.Marshal(op)
	if string(before) != string(after) {
		t.Fatalf("terminal operation changed:\n%s\n%s", before, after)
	}
}

// An aggregate phase takes its times from its children: started at the
// earliest child start, finished at the latest child finish once terminal.
func TestRollupAggregatePhaseTimes(t *testing.T) {
	t.Parallel()
	a, b := rLeaf(3, "product a", StatusCompleted), rLeaf(4, "product b", StatusRunning)
	op := rOp(ActionSave, rAgg(2, PhaseCatalog, nil, a, b))
	op.Rollup(rollupT0)
	cat := op.FindPhase(2)
	if cat.StartedAt == nil || !cat.StartedAt.Equal(*a.StartedAt) {
		t.Errorf("aggregate started_at = %v, want %v", cat.StartedAt, a.StartedAt)
	}
	if cat.FinishedAt != nil {
		t.Errorf("running aggregate finished_at = %v, want null", cat.FinishedAt)
	}
	b.Status, b.FinishedAt, b.Progress = StatusCompleted, rollupAt(500), newProgress(3, 3)
	op.Rollup(rollupT0.Add(time.Hour))
	if cat.Status != StatusCompleted || cat.FinishedAt == nil || !cat.FinishedAt.Equal(*b.FinishedAt) {
		t.Errorf("aggregate = %s finished %v, want completed at %v", cat.Status, cat.FinishedAt, b.FinishedAt)
	}
	if op.StartedAt == nil || !op.StartedAt.Equal(*a.StartedAt) {
		t.Errorf("operation started_at = %v, want its earliest phase's (%v)", op.StartedAt, a.StartedAt)
	}
}

// A refund is a leaf that the runner sets directly: roll-up never reports it
// running, whatever it carries.
func TestRollupLeavesRefundAlone(t *testing.T) {
	t.Parallel()
	op := &Operation{ID: 1, Action: ActionRefund, Status: StatusPending, Phases: []*Phase{}}
	op.Rollup(rollupT0)
	if op.Status != StatusPending || op.Progress != nil || op.StartedAt != nil {
		t.Fatalf("refund after roll-up = %s progress %v started %v, want pending, null, null", op.Status, op.Progress, op.StartedAt)
	}
	b, _ := json.Marshal(op)
	var raw map[string]json.RawMessage
	_ = json.Unmarshal(b, &raw)
	if string(raw["phases"]) != "[]" {
		t.Fatalf("refund phases JSON = %s, want []", raw["phases"])
	}
}

func TestProgressPercent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		done, total, percent int
	}{
		{0, 3, 0}, {1, 3, 33}, {2, 3, 66}, {3, 3, 100}, {199, 200, 99},
		{0, 0, 0}, // nothing to do is not done until the work says so
	}
	for _, tt := range tests {
		if got := newProgress(tt.done, tt.total); got.Percent != tt.percent || got.Completed != tt.done || got.Total != tt.total {
			t.Errorf("newProgress(%d, %d) = %+v, want percent %d", tt.done, tt.total, *got, tt.percent)
		}
	}
	for _, total := range []int{0, 1, 7} {
		if got := doneProgress(total); *got != (Progress{Percent: 100, Completed: total, Total: total}) {
			t.Errorf("doneProgress(%d) = %+v, want 100 %% of %d", total, *got, total)
		}
	}
}

// A recurring Shopify save as the runner drives it, transition by
// transition: phases start, split into one child per occurrence, retry and
// complete. completed/total count leaves (total grows with each split);
// percent never decreases and ends at 100.
func TestRollupPercentNeverDecreasesAsPhasesSplit(t *testing.T) {
	t.Parallel()
	op := rOp(ActionSave,
		rLeaf(2, PhaseRecurrence, StatusPending),
		rLeaf(3, PhaseTickets, StatusPending, PhaseRecurrence),
		rLeaf(4, PhaseCatalog, StatusPending, PhaseTickets),
		rLeaf(5, PhaseInventory, StatusPending, PhaseCatalog),
		rLeaf(6, PhaseMetafields, StatusPending, PhaseCatalog),
		rLeaf(7, PhaseDelivery, StatusPending, PhaseCatalog),
		rLeaf(8, PhasePublish, StatusPending, PhaseInventory, PhaseMetafields, PhaseDelivery),
	)
	nextID := uint64(100)
	const occurrences = 8
	at := 0
	set := func(id uint64, st Status) {
		p := op.FindPhase(id)
		p.Status = st
		if st == StatusRunning && p.StartedAt == nil {
			p.StartedAt = rollupAt(at)
		}
		if st == StatusCompleted {
			p.FinishedAt, p.Progress = rollupAt(at), doneProgress(1)
		}
	}
	split := func(id uint64) []uint64 {
		p := op.FindPhase(id)
		var ids []uint64
		for range occurrences {
			nextID++
			c := rLeaf(nextID, p.Name+" child", StatusRunning)
			c.StartedAt = rollupAt(at)
			p.Phases = append(p.Phases, c)
			ids = append(ids, nextID)
		}
		return ids
	}
	var percents []int
	var totals []int
	record := func(what string) {
		at++
		op.Rollup(rollupT0.Add(time.Duration(at) * time.Second))
		if op.Progress == nil {
			t.Fatalf("%s: progress null while running", what)
		}
		if n := len(percents); n > 0 && op.Progress.Percent < percents[n-1] {
			t.Errorf("%s: percent went from %d to %d (%+v)", what, percents[n-1], op.Progress.Percent, *op.Progress)
		}
		percents = append(percents, op.Progress.Percent)
		totals = append(totals, op.Progress.Total)
	}
	set(2, StatusRunning)
	record("recurrence starts")
	set(2, StatusCompleted)
	set(3, StatusRunning)
	record("recurrence done, tickets starts")
	set(3, StatusCompleted)
	set(4, StatusRunning)
	record("tickets done, catalog starts")
	kids := split(4)
	record("catalog splits")
	for i, k := range kids {
		if i == 3 { // a transient failure: the child retries, still running
			p := op.FindPhase(k)
			p.Attempts++
			p.LastError = &OpError{Code: CodeShopifyUnavailable, Message: "503"}
			record("a catalog child retries")
		}
		set(k, StatusCompleted)
		record("a catalog child completes")
	}
	for _, id := range []uint64{5, 6, 7} {
		set(id, StatusRunning)
	}
	record("inventory, metafields, delivery start")
	for _, id := range []uint64{5, 6, 7} {
		kids := split(id)
		record("a phase splits")
		for _, k := range kids[:occurrences/2] {
			set(k, StatusCompleted)
			record("a child completes")
		}
	}
	for _, id := range []uint64{5, 6, 7} {
		for _, k := range op.FindPhase(id).Phases[occurrences/2:] {
			set(k.ID, StatusCompleted)
			record("a child completes")
		}
	}
	set(8, StatusRunning)
	record("publish starts")
	for _, k := range split(8) {
		set(k, StatusCompleted)
		record("a publish child completes")
	}
	if op.Status != StatusCompleted || percents[len(percents)-1] != 100 {
		t.Fatalf("end: %s at %d %%, want completed at 100 %%", op.Status, percents[len(percents)-1])
	}
	if want := 2 + 5*occurrences; totals[len(totals)-1] != want {
		t.Errorf("total = %d leaves, want %d (recurrence, tickets and every child)", totals[len(totals)-1], want)
	}
	t.Logf("percents: %v", percents)
}

// Random trees driven in random orders: whatever splits, retries,
// completes or fails, percent never decreases, for the operation and for
// every aggregate phase.
func TestRollupPercentMonotonicRandom(t *testing.T) {
	t.Parallel()
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 7))
		n := 1 + rng.IntN(7)
		var top []*Phase
		id := uint64(1)
		for i := range n {
			id++
			top = append(top, rLeaf(id, fmt.Sprintf("p%d", i), StatusPending))
		}
		op := rOp(ActionSave, top...)
		last := map[uint64]int{}
		for step := 0; step < 200 && !op.Status.Terminal(); step++ {
			var open []*Phase // leaves that are not terminal
			op.WalkPhases(func(p *Phase) {
				if p.Leaf() && !p.Status.Terminal() {
					open = append(open, p)
				}
			})
			if len(open) == 0 {
				break
			}
			p := open[rng.IntN(len(open))]
			switch r := rng.IntN(10); {
			case p.Status == StatusPending:
				p.Status, p.StartedAt = StatusRunning, rollupAt(step)
			case r < 3: // split into children (at most two levels below the top)
				for range 1 + rng.IntN(5) {
					id++
					c := rLeaf(id, "child", StatusRunning)
					if rng.IntN(3) == 0 {
						c.Status, c.StartedAt = StatusPending, nil
					}
					p.Phases = append(p.Phases, c)
				}
			case r < 4:
				p.Attempts++
				p.LastError = &OpError{Code: CodeShopifyUnavailable, Message: "retrying"}
			case r < 5:
				p.Status, p.Error, p.FailSeq = StatusFailed, &OpError{Code: CodeShopifyUnavailable, Message: "x"}, op.nextFailSeq()
			default:
				p.Status, p.Progress = StatusCompleted, doneProgress(1)
			}
			op.Rollup(*rollupAt(step))
			check := func(nodeID uint64, what string, pr *Progress) {
				if pr == nil {
					return
				}
				if prev, ok := last[nodeID]; ok && pr.Percent < prev {
					t.Fatalf("seed %d step %d: %s percent %d → %d", seed, step, what, prev, pr.Percent)
				}
				last[nodeID] = pr.Percent
			}
			check(op.ID, "operation", op.Progress)
			op.WalkPhases(func(p *Phase) {
				if !p.Leaf() {
					check(p.ID, "phase", p.Progress)
				}
			})
		}
	}
}
