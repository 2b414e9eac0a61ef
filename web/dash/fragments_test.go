package dash

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"eventops/engine"
	"eventops/views"
)

// Every kind of pushed message carries the swap that routes it, and the
// same markup as the page section it replaces.
func TestDashboardFragments(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	op := &engine.Operation{ID: 42, Action: engine.ActionSave, EventID: 7, CompanyID: 1, Status: engine.StatusRunning,
		Version: 5, CreatedAt: now, UpdatedAt: now, Phases: []*engine.Phase{{ID: 43, Name: "tickets", Status: engine.StatusRunning}}}
	names := views.Names{Companies: map[uint64]string{1: `<b>Acme</b>`}}
	row := views.Row{Op: op, Names: names}
	ov := views.OperationView{Op: op, JSON: `{"id": 42, "name": "<script>"}`}
	counts := views.Counts{Pending: 1, Running: 2, Completed: 3, Failed: 4, Window: "24 h"}
	overview := views.Overview{Failures: []*engine.Operation{{ID: 9, CompanyID: 1, Status: engine.StatusFailed,
		Error: &engine.OpError{Code: engine.CodeTicketsStructureEmpty, Message: "nothing <to> sell"}}}, Names: names}
	ev := &engine.EventView{Event: &engine.Event{ID: 7, Name: "x", Type: engine.EventDate}}
	capacity, offer := 10, 4
	oversold := &engine.EventView{Event: &engine.Event{ID: 8, Name: "y", Type: engine.EventDate},
		Structure: &engine.TicketStructure{EventID: 8, Capacity: &capacity, SoldAll: 12,
			Types:    []engine.TicketLimit{{RegistrationTypeID: 1, Sold: 12}},
			Products: []engine.Product{{Key: "e8", Title: "y", Variants: []engine.Variant{{RegistrationTypeID: 1, Title: "GA", ShopOffer: &offer}}}}}}

	cases := []struct {
		name   string
		push   views.Push
		prefix string
		want   []string
	}{
		{"operation", views.Push{Kind: views.PushOperation, Op: &ov},
			`<section id="op-summary" class="summary st-running" data-version="5" data-status="running" data-op="42" hx-swap-oob="true">`,
			[]string{`<section id="op-tree" class="tree" hx-swap-oob="true">`, `id="op-timeline"`, `id="op-json"`, `id="ph-43"`, `&lt;script&gt;`}},
		{"row", views.Push{Kind: views.PushRow, Row: &row},
			`<tr id="op-row-42" class="st-running" data-version="5" hx-swap-oob="true">`, []string{`&lt;b&gt;Acme&lt;/b&gt;`}},
		{"row at the top", views.Push{Kind: views.PushRowInsert, Row: &row},
			`<tbody hx-swap-oob="afterbegin:#op-rows"><tr id="op-row-42"`, nil},
		{"row before another", views.Push{Kind: views.PushRowInsert, Row: &row, Anchor: views.RowID(40)},
			`<tbody hx-swap-oob="beforebegin:#op-row-40"><tr id="op-row-42"`, nil},
		{"row at the end", views.Push{Kind: views.PushRowInsert, Row: &row, AtEnd: true},
			`<tbody hx-swap-oob="beforeend:#op-rows"><tr id="op-row-42"`, nil},
		{"row removed", views.Push{Kind: views.PushRowDelete, Row: &row}, `<tr id="op-row-42" hx-swap-oob="delete"></tr>`, nil},
		{"rows", views.Push{Kind: views.PushRows, RowsOf: &views.Rows{Rows: []views.Row{row}}},
			`<tbody id="op-rows" hx-swap-oob="true"><tr id="op-row-42"`, nil},
		{"counts", views.Push{Kind: views.PushCounts, Counts: &counts}, `<dl id="counts" class="counts" data-running="`,
			[]string{`hx-swap-oob="true">`, "<dd>2</dd>", "<dd>4</dd>"}},
		{"overview", views.Push{Kind: views.PushOverview, Overview: &overview}, `<div id="chart" class="chart" hx-swap-oob="true">`,
			[]string{`<table tabindex="0" id="failures" class="failures" hx-swap-oob="true">`, "TICKETS_STRUCTURE_EMPTY", "nothing &lt;to&gt; sell"}},
		{"event", views.Push{Kind: views.PushEvent, Event: &views.EventView{View: ev}}, `<section id="event-live" hx-swap-oob="true">`,
			[]string{"Not built yet"}},
		{"event oversold", views.Push{Kind: views.PushEvent, Event: &views.EventView{View: oversold}}, `<section id="event-live" hx-swap-oob="true">`,
			[]string{"Oversold by 2", "<th>Offered</th>", "<td>4</td>"}},
	}
	for _, tc := range cases {
		var buf bytes.Buffer
		if err := tc.push.Render(context.Background(), &buf); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got := buf.String()
		if !strings.HasPrefix(got, tc.prefix) {
			t.Fatalf("%s: starts\n%.300s\nwant\n%s", tc.name, got, tc.prefix)
		}
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Fatalf("%s: lacks %q\n%s", tc.name, w, got)
			}
		}
		if strings.Contains(got, "_csrf") || strings.Contains(got, "<script") || strings.Contains(got, " style=") {
			t.Fatalf("%s: a push carries a form token, a script or a style:\n%s", tc.name, got)
		}
	}
	// Frames are complete server frames: FIN, text, unmasked, the length.
	for _, n := range []int{0, 125, 126, 65535, 65536} {
		f := textFrame(make([]byte, n))
		if f[0] != 0x81 || f[1]&0x80 != 0 {
			t.Fatalf("frame of %d bytes starts % x", n, f[:2])
		}
		if hdr := len(f) - n; (n <= 125 && hdr != 2) || (n > 125 && n <= 65535 && hdr != 4) || (n > 65535 && hdr != 10) {
			t.Fatalf("frame of %d bytes has a %d-byte header", n, hdr)
		}
	}
}

func TestDashboardTally(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 26, 12, 30, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { x := now.Add(d); return &x }
	tl := newTally()
	tl.seenUntil = now.Add(time.Minute)
	op := func(id, v uint64, st engine.Status, created time.Duration, finished *time.Time) *engine.Operation {
		return &engine.Operation{ID: id, Version: v, Status: st, CreatedAt: now.Add(created), FinishedAt: finished}
	}
	tl.apply(op(1, 1, engine.StatusPending, 0, nil), now)
	tl.apply(op(2, 1, engine.StatusPending, 0, nil), now)
	tl.apply(op(1, 2, engine.StatusRunning, 0, nil), now)
	tl.apply(op(1, 2, engine.StatusRunning, 0, nil), now) // a repeat counts once
	tl.apply(op(2, 3, engine.StatusFailed, 0, at(0)), now)
	tl.apply(op(3, 1, engine.StatusPending, -2*time.Minute, nil), now)
	tl.apply(op(3, 4, engine.StatusCompleted, -2*time.Minute, at(-time.Minute)), now)
	tl.apply(op(3, 3, engine.StatusRunning, -2*time.Minute, nil), now) // stale: ignored
	c := tl.counts(now)
	if c.Pending != 0 || c.Running != 1 || c.Completed != 1 || c.Failed != 1 {
		t.Fatalf("counts %+v", c)
	}
	ch := tl.chart(now)
	if len(ch.Minutes) != 60 {
		t.Fatalf("%d minutes", len(ch.Minutes))
	}
	last, before := ch.Minutes[59], ch.Minutes[57]
	if last.Created != 2 || last.Failed != 1 || before.Created != 1 {
		t.Fatalf("chart: last %+v, two before %+v", last, before)
	}
	// A day later the finished ones have left the window.
	if c := tl.counts(now.Add(25 * time.Hour)); c.Completed != 0 || c.Failed != 0 || c.Running != 1 {
		t.Fatalf("a day later: %+v", c)
	}
}

// An operation another node runs may be published here first past its
// creation (its announcements batched, the store read later): it still
// counts as created, once, unless the seed already counted it.
func TestDashboardTallyCountsOperationsFirstSeenPastCreation(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 26, 12, 30, 0, 0, time.UTC)
	tl := newTally()
	tl.seenUntil = now.Add(time.Minute)
	tl.seen[9] = 2 // counted by the seed (created before it)
	tl.apply(&engine.Operation{ID: 7, Version: 3, Status: engine.StatusRunning, CreatedAt: now}, now)
	tl.apply(&engine.Operation{ID: 7, Version: 5, Status: engine.StatusCompleted, CreatedAt: now, FinishedAt: &now}, now)
	tl.apply(&engine.Operation{ID: 8, Version: 4, Status: engine.StatusFailed, CreatedAt: now, FinishedAt: &now}, now)
	tl.apply(&engine.Operation{ID: 9, Version: 3, Status: engine.StatusCompleted, CreatedAt: now, FinishedAt: &now}, now)
	if last := tl.chart(now).Minutes[59]; last.Created != 2 {
		t.Fatalf("created %d in the last minute, want 2 (7 and 8; 9 was counted by the seed)", last.Created)
	}
}
