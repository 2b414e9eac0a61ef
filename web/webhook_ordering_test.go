package web

import (
	"encoding/json"
	"slices"
	"testing"

	"eventops/engine/outbound"
	"eventops/web/client"
)

// applyDocumented is the receiver rule of webhooks.md ("Ordering"): skip a
// webhook-id already seen, drop a delivery whose version is lower than the
// one applied for its resource, apply the rest (an equal version is the
// same state: applying it again changes nothing). It returns the types
// applied, in arrival order.
func applyDocumented(t *testing.T, got []received) []string {
	t.Helper()
	seen := map[string]bool{}
	applied := map[uint64]uint64{} // operation id -> version applied
	var out []string
	for _, r := range got {
		id := r.header.Get("webhook-id")
		if seen[id] {
			continue
		}
		seen[id] = true
		var ev client.WebhookEvent
		if err := json.Unmarshal(r.body, &ev); err != nil {
			t.Fatal(err)
		}
		op, err := ev.Operation()
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := applied[op.ID]; ok && ev.Version < v {
			continue
		}
		applied[op.ID] = ev.Version
		out = append(out, ev.Type)
	}
	return out
}

// The last phase's operation.phase_completed and the operation.completed
// come from one commit and carry the same version; a receiver following the
// documented rule applies both (review finding: the rule used to say "drop
// a delivery whose version is not higher", which drops whichever came
// second, often operation.completed).
func TestWebhookReceiverRuleKeepsOperationCompleted(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t)
	f := setup(t, withHooks(&outbound.Guard{AllowPrivate: true}, rcv))
	f.createEndpoint(f.keyA, rcv.srv.URL+"/hooks", "operation.phase_completed", "operation.completed")
	ev := f.event(f.keyA)
	op := f.waitTerminal(ev.EventID, ev.OpID)
	last := op.Phases[len(op.Phases)-1].ID
	waitUntil(t, "the last phase's and the operation's deliveries", func() bool {
		n := 0
		for _, r := range rcv.requests() {
			var e client.WebhookEvent
			if json.Unmarshal(r.body, &e) == nil && (e.Type == "operation.completed" || (e.Phase != nil && e.Phase.ID == last)) {
				n++
			}
		}
		return n == 2
	})
	got := rcv.requests()
	versions := map[string]uint64{}
	for _, r := range got {
		var e client.WebhookEvent
		if err := json.Unmarshal(r.body, &e); err != nil {
			t.Fatal(err)
		}
		if e.Type == "operation.completed" || (e.Phase != nil && e.Phase.ID == last) {
			versions[e.Type] = e.Version
		}
	}
	if len(versions) != 2 || versions["operation.completed"] != versions["operation.phase_completed"] {
		t.Fatalf("the last phase's event and the operation's end carry versions %v, want one version", versions)
	}
	applied := applyDocumented(t, got)
	if !slices.Contains(applied, "operation.completed") {
		t.Fatalf("a receiver following the documented rule applied %v: operation.completed dropped", applied)
	}
}
