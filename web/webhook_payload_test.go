package web

import (
	"encoding/json"
	"testing"
	"time"

	"eventops/engine"
	"eventops/web/client"
)

// A big operation's webhook body carries its top-level phases only, says
// so, and links the operation in the API; a small one is sent whole.
func TestWebhookPayloadCutsABigPhaseTree(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 5, 19, 0, 0, 0, time.UTC)
	op := func(children int) *engine.Operation {
		var kids []*engine.Phase
		for i := range children {
			kids = append(kids, &engine.Phase{ID: uint64(100 + i), Name: "occurrence", Status: engine.StatusCompleted, Phases: []*engine.Phase{}})
		}
		return &engine.Operation{ID: 9, EventID: 4, Action: engine.ActionSave, Status: engine.StatusCompleted, Version: 12,
			CreatedAt: now, UpdatedAt: now, Phases: []*engine.Phase{
				{ID: 10, Name: "recurrence", Status: engine.StatusCompleted, Phases: kids},
				{ID: 11, Name: "tickets", Status: engine.StatusCompleted, Phases: []*engine.Phase{}},
			}}
	}
	msg := func(o *engine.Operation) client.WebhookEvent {
		d := &engine.Delivery{ID: 3, Type: engine.EventOperationCompleted, OperationID: o.ID, CreatedAt: now}
		body, err := WebhookPayload("https://ops.example", &engine.WebhookMessage{Delivery: d, Operation: o})
		if err != nil {
			t.Fatal(err)
		}
		var ev client.WebhookEvent
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Fatal(err)
		}
		return ev
	}

	big := msg(op(MaxWebhookPhases + 50))
	data, err := big.Operation()
	if err != nil {
		t.Fatal(err)
	}
	if !data.PhasesTruncated || len(data.Phases) != 2 || len(data.Phases[0].Phases) != 0 || big.Version != 12 || data.Version != 12 ||
		big.Links["operation"] != "https://ops.example/api/v2/events/4/operations/9" {
		t.Fatalf("big operation: truncated %v, %d top phases, %d children, version %d, links %v",
			data.PhasesTruncated, len(data.Phases), len(data.Phases[0].Phases), big.Version, big.Links)
	}
	small := msg(op(3))
	if data, _ := small.Operation(); data.PhasesTruncated || len(data.Phases[0].Phases) != 3 {
		t.Fatalf("small operation cut: %+v", data)
	}
}
