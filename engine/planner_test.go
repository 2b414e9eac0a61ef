package engine

import (
	"slices"
	"strings"
	"testing"
)

// planString renders a plan as "name<-dep+dep" in order, e.g.
// "recurrence, tickets<-recurrence".
func planString(ps []*Phase) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.Name
		if len(p.DependsOn) > 0 {
			parts[i] += "<-" + strings.Join(p.DependsOn, "+")
		}
	}
	return strings.Join(parts, ", ")
}

// TestPlan covers every row of DESIGN §4.1, for date and recurring events.
func TestPlan(t *testing.T) {
	t.Parallel()
	date := &Event{ID: 1, Type: EventDate}
	recurring := &Event{ID: 2, Type: EventRecurring, Recurrence: &Recurrence{Frequency: FrequencyWeekly, Count: 3}}
	occurrence := &Event{ID: 3, Type: EventDate, ParentID: 2}

	tests := []struct {
		name          string
		action        Action
		shopify       bool
		ev            *Event
		inventoryOnly bool
		want          string
	}{
		{"save, no Shopify, date", ActionSave, false, date, false,
			"tickets"},
		{"save, no Shopify, recurring", ActionSave, false, recurring, false,
			"recurrence, tickets<-recurrence"},
		{"save, no Shopify, occurrence", ActionSave, false, occurrence, false,
			"tickets"},
		{"save, Shopify, date", ActionSave, true, date, false,
			"tickets, catalog<-tickets, inventory<-catalog, metafields<-catalog, delivery<-catalog, publish<-inventory+metafields+delivery"},
		{"save, Shopify, recurring", ActionSave, true, recurring, false,
			"recurrence, tickets<-recurrence, catalog<-tickets, inventory<-catalog, metafields<-catalog, delivery<-catalog, publish<-inventory+metafields+delivery"},
		{"save after a sale, Shopify, date", ActionSave, true, date, true,
			"inventory"},
		{"save after a sale, Shopify, occurrence", ActionSave, true, occurrence, true,
			"inventory"},
		{"delete, no Shopify, date", ActionDelete, false, date, false,
			"tickets"},
		{"delete, no Shopify, recurring", ActionDelete, false, recurring, false,
			"tickets, recurrence<-tickets"},
		{"delete, Shopify, date", ActionDelete, true, date, false,
			"publish, catalog<-publish, tickets<-catalog"},
		{"delete, Shopify, recurring", ActionDelete, true, recurring, false,
			"publish, catalog<-publish, tickets<-catalog, recurrence<-tickets"},
		{"refund, no Shopify", ActionRefund, false, date, false, ""},
		{"refund, Shopify, recurring", ActionRefund, true, recurring, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ps := Plan(tt.action, tt.shopify, tt.ev, tt.inventoryOnly)
			if got := planString(ps); got != tt.want {
				t.Fatalf("plan = %q\nwant   %q", got, tt.want)
			}
			for _, p := range ps {
				if p.Status != StatusPending || p.Progress != nil || p.Error != nil || p.StartedAt != nil || p.Attempts != 0 {
					t.Errorf("phase %s is not a fresh pending phase: %+v", p.Name, *p)
				}
				if p.Phases == nil || len(p.Phases) != 0 {
					t.Errorf("phase %s children = %v, want an empty (non-nil) list", p.Name, p.Phases)
				}
				if p.ID != 0 {
					t.Errorf("phase %s has id %d before the store assigns one", p.Name, p.ID)
				}
			}
		})
	}
}

// Every dependency names an earlier phase of the same plan, so the order the
// API shows is a valid execution order and roll-up can tell what is blocked.
func TestPlanDependenciesPointBackwards(t *testing.T) {
	t.Parallel()
	for _, action := range Actions {
		for _, shopify := range []bool{false, true} {
			for _, typ := range []EventType{EventDate, EventRecurring} {
				for _, inv := range []bool{false, true} {
					ps := Plan(action, shopify, &Event{Type: typ}, inv)
					seen := map[string]bool{}
					for _, p := range ps {
						for _, d := range p.DependsOn {
							if !seen[d] {
								t.Errorf("%s shopify=%v %s inventoryOnly=%v: %s depends on %s, which is not planned before it",
									action, shopify, typ, inv, p.Name, d)
							}
						}
						if seen[p.Name] {
							t.Errorf("%s: phase %s planned twice", action, p.Name)
						}
						seen[p.Name] = true
					}
				}
			}
		}
	}
}

// The plans are fresh values: changing one operation's phases never changes
// the next plan.
func TestPlanReturnsFreshPhases(t *testing.T) {
	t.Parallel()
	ev := &Event{Type: EventRecurring}
	a := Plan(ActionSave, true, ev, false)
	a[1].DependsOn[0] = "mutated"
	a[0].Status = StatusFailed
	b := Plan(ActionSave, true, ev, false)
	if b[1].DependsOn[0] != PhaseRecurrence || b[0].Status != StatusPending {
		t.Fatalf("a second plan saw the first plan's changes: %s", planString(b))
	}
	if !slices.Equal(ShopifyPhases, []string{PhaseCatalog, PhaseInventory, PhaseMetafields, PhaseDelivery, PhasePublish}) {
		t.Fatalf("ShopifyPhases = %v", ShopifyPhases)
	}
}
