package metrics

import (
	"strings"
	"testing"
	"time"

	"eventops/engine"
)

func TestMetricsNilIsSafeAndRegistriesArePrivate(t *testing.T) {
	t.Parallel()
	var m *Metrics
	m.OperationStarted(engine.ActionSave)
	m.OperationFinished(engine.ActionSave, engine.StatusCompleted, time.Second)
	m.PhaseFinished("tickets", engine.StatusCompleted, time.Second)
	m.PhaseRetried("tickets", engine.CodeShopifyUnavailable)
	m.OperationsPruned(1)
	m.Shopify().CallDone("x", "ok", 1)
	m.Shopify().Throttled()
	m.WebsocketDropped()
	m.WatchWebsocketClients(func() int { return 1 })
	m.WatchStorage(nil)
	if err := m.SeedActive(nil); err != nil {
		t.Fatal(err)
	}
	// Two installations in one process each have their own series.
	a, b := New(), New()
	a.OperationsPruned(5)
	mfs, err := b.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "eventops_operations_pruned_total" && mf.GetMetric()[0].GetCounter().GetValue() != 0 {
			t.Fatal("metrics leak between registries")
		}
	}
}

func TestLabelCapBoundsCardinality(t *testing.T) {
	t.Parallel()
	l := newLabelCap(3)
	for _, v := range []string{"A", "B", "C"} {
		if got := l.value(v); got != v {
			t.Fatalf("value(%q) = %q", v, got)
		}
	}
	for _, v := range []string{"D", "", "with space", strings.Repeat("x", 65), "1starts_with_digit"} {
		if got := l.value(v); got != "other" {
			t.Fatalf("value(%q) = %q, want other", v, got)
		}
	}
	if got := l.value("B"); got != "B" {
		t.Fatalf("a known value became %q", got)
	}
	if phaseLabel("catalog") != "catalog" || phaseLabel("2026-12-05 · VIP") != "other" {
		t.Fatal("phase labels are not bounded to the catalog")
	}
}

// Seats sold beyond a capacity are counted, and Metrics is the engine's
// OversoldObserver.
func TestShopOversoldIsCounted(t *testing.T) {
	t.Parallel()
	var nilM *Metrics
	nilM.ShopOversold(1)
	m := New()
	var o engine.Observer = m
	oo, ok := o.(engine.OversoldObserver)
	if !ok {
		t.Fatal("Metrics is not an engine.OversoldObserver")
	}
	oo.ShopOversold(3)
	oo.ShopOversold(2)
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "eventops_shop_oversold_seats_total" {
			if got := mf.GetMetric()[0].GetCounter().GetValue(); got != 5 {
				t.Errorf("oversold seats = %v, want 5", got)
			}
			return
		}
	}
	t.Error("no eventops_shop_oversold_seats_total series")
}
