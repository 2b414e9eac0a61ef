package dash

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"eventops/engine"
	"eventops/views"
)

// occurrenceWork stands in for a Shopify phase that works per occurrence,
// as the real catalog and inventory do: it splits into one child per
// occurrence (once go is closed, so that a page can be watching first),
// and every third child fails once with a 503 before it succeeds. The
// sizes measured depend on the phase tree the engine builds and the pages
// the dashboard pushes, not on what the Shopify side does.
type occurrenceWork struct {
	name string
	go_  chan struct{}
	mu   sync.Mutex
	seen map[uint64]bool
}

func (w *occurrenceWork) Expand(ctx context.Context, r *engine.PhaseRun) ([]*engine.Phase, error) {
	select {
	case <-w.go_:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	var kids []*engine.Phase
	err := r.View(func(tx engine.Tx) error {
		occ, err := tx.ChildEvents(r.Op.EventID)
		for _, o := range occ {
			kids = append(kids, &engine.Phase{Name: w.name, Subject: o.ID})
		}
		return err
	})
	return kids, err
}

func (w *occurrenceWork) Run(ctx context.Context, r *engine.PhaseRun) error {
	r.Progress(0, 1)
	if r.Phase.Subject%3 == 0 && r.Attempt == 1 {
		return engine.Transientf(engine.CodeShopifyUnavailable, "the shop answered 503 Service Unavailable")
	}
	r.Progress(1, 1)
	return nil
}

// transitionBytes runs a save of a recurring event of n occurrences while
// one page watches it over a real websocket, and returns the size of the
// page's first (full) frame and of every frame after it, one per pushed
// transition, and how many frames after the first one rendered the whole
// page rather than what changed. query is added to the page's address
// ("?phases=all": every phase shown).
func transitionBytes(tb testing.TB, n int, query string, extra ...dashOption) (first int, frames []int, page string, fulls int) {
	tb.Helper()
	gate := make(chan struct{})
	cat := &occurrenceWork{name: engine.PhaseCatalog, go_: gate}
	inv := &occurrenceWork{name: engine.PhaseInventory, go_: gate}
	done := standIn(func(ctx context.Context, r *engine.PhaseRun) error { r.Progress(1, 1); return nil })
	f := setupDash(tb, append([]dashOption{dashListen(), dashWorkers(4), dashWork(engine.PhaseCatalog, cat), dashWork(engine.PhaseInventory, inv),
		dashWork(engine.PhaseMetafields, done), dashWork(engine.PhaseDelivery, done), dashWork(engine.PhasePublish, done),
		dashOpts(func(o *Options) { o.SendQueue = 4096 })}, extra...)...)
	ctx := context.Background()
	shop, err := f.eng.CreateCompany(ctx, "Blue Note Presents", &engine.ShopInput{Sandbox: true, Domain: "blue-note"})
	if err != nil {
		tb.Fatal(err)
	}
	venue, err := f.eng.CreateVenue(ctx, shop.ID, engine.VenueInput{Name: "Blue Room", TimeZone: "America/Chicago"})
	if err != nil {
		tb.Fatal(err)
	}
	tt, err := f.eng.CreateTicketType(ctx, shop.ID, engine.TicketTypeInput{Name: "General admission"})
	if err != nil {
		tb.Fatal(err)
	}
	name, start := "Friday Jazz Night", time.Date(2026, 12, 4, 19, 0, 0, 0, time.UTC)
	end, capacity, qty := start.Add(4*time.Hour), 200, 150
	_, op, err := f.eng.CreateEvent(ctx, shop.ID, engine.EventInput{
		Name: &name, Type: ptrTo(engine.EventRecurring), VenueID: &venue.ID, StartsAt: &start, EndsAt: &end,
		Capacity:   engine.Nullable[int]{Set: true, Value: &capacity},
		Recurrence: engine.Nullable[engine.Recurrence]{Set: true, Value: &engine.Recurrence{Frequency: engine.FrequencyDaily, Count: n}},
		RegistrationTypes: &[]engine.RegistrationTypeInput{{Name: "General admission", TicketTypeID: tt.ID,
			Price: engine.MoneyInput{Amount: ptrTo(int64(2500)), Currency: "USD"}, Quantity: &qty}},
	})
	if err != nil {
		tb.Fatal(err)
	}

	admin := f.admin()
	header := http.Header{}
	header.Set("Origin", f.base)
	header.Set("Cookie", sessionCookie+"="+admin.cookies[sessionCookie])
	u := "ws" + strings.TrimPrefix(f.base, "http") + "/ws?page=" + url.QueryEscape(opPage(op.ID)+query)
	conn, _, err := websocket.DefaultDialer.Dial(u, header)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	_, msg, err := conn.ReadMessage()
	if err != nil {
		tb.Fatal(err)
	}
	first = len(msg)
	close(gate)
	final := f.waitOp(op.ID, func(o *engine.Operation) bool { return o.Status.Terminal() })
	if final.Status != engine.StatusCompleted {
		tb.Fatalf("the save ended %s: %+v", final.Status, final.Error)
	}
	for {
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, msg, err := conn.ReadMessage()
		if err != nil {
			tb.Fatalf("reading pushes: %v", err)
		}
		frames = append(frames, len(msg))
		if len(frames) > 1 && strings.Contains(string(msg), `id="`+views.IDOpTree+`"`) {
			fulls++ // the whole page again, not what changed
		}
		if versionOf(msg) == final.Version {
			break
		}
	}
	page = admin.get(opPage(op.ID)+query).expect(tb, http.StatusOK).Body
	// The full list is one link away.
	all := admin.get(opPage(op.ID)+"?phases=all").expect(tb, http.StatusOK).Body
	if got := strings.Count(all, `class="ph-node st-completed"`); got < 2*n {
		tb.Fatalf("?phases=all shows %d completed phases, want at least %d", got, 2*n)
	}
	return first, frames, page, fulls
}

// A 120-occurrence save pushes each transition in under 20 KB, whatever
// the operation's size: the page gets what changed, not the whole tree.
func TestDashboardTransitionBytes(t *testing.T) {
	t.Parallel()
	first, frames, page, _ := transitionBytes(t, 120, "")
	largest, total := 0, 0
	for _, n := range frames {
		largest = max(largest, n)
		total += n
	}
	t.Logf("120 occurrences: page %d B, first frame %d B; %d transitions pushed, %d B in all, largest %d B",
		len(page), first, len(frames), total, largest)
	if largest >= 20<<10 {
		t.Fatalf("a transition pushed %d bytes (limit 20 KB); frames %v", largest, frames)
	}
	if len(frames) < 10 {
		t.Fatalf("only %d transitions pushed: the page did not follow the save", len(frames))
	}
	// The long lists (catalog, inventory) render collapsed: completed, they
	// are a count, in the tree and in the timeline.
	if strings.Count(page, "120 children: 120 completed") != 4 || strings.Contains(page, "<details open") {
		t.Fatalf("the completed save's page does not collapse its long lists:\n%s", page)
	}
}

// With every phase shown (?phases=all) the page gets what changed too, not
// the whole page on every transition: a frame carries the phases that
// changed (many at once when a batch of children ends together), never the
// whole tree again.
func TestDashboardTransitionBytesAllPhases(t *testing.T) {
	t.Parallel()
	first, frames, page, fulls := transitionBytes(t, 120, "?phases=all")
	total := 0
	for _, n := range frames {
		total += n
	}
	t.Logf("120 occurrences, every phase: page %d B, first frame %d B; %d transitions pushed, %d B in all, %d whole pages",
		len(page), first, len(frames), total, fulls)
	if len(frames) < 10 {
		t.Fatalf("only %d transitions pushed: the page did not follow the save", len(frames))
	}
	if fulls > 0 || total > len(frames)*len(page)/2 {
		t.Fatalf("%d of %d transitions pushed the whole page; %d B in all (page %d B): frames %v", fulls, len(frames), total, len(page), frames)
	}
}

// A big operation's JSON (a download, not shown inline) is not built for
// each transition pushed: that marshalling was most of a push's cost.
func TestDashboardBigOperationJSONNotBuiltPerPush(t *testing.T) {
	t.Parallel()
	var big atomic.Int64
	count := func(op *engine.Operation) any {
		n := 0
		var walk func([]*engine.Phase)
		walk = func(ps []*engine.Phase) {
			for _, p := range ps {
				n++
				walk(p.Phases)
			}
		}
		walk(op.Phases)
		if n > 200 {
			big.Add(1)
		}
		return op
	}
	_, frames, page, _ := transitionBytes(t, 120, "", dashOpJSON(count))
	if !strings.Contains(page, "download the JSON") {
		t.Fatalf("the big operation's page does not offer its JSON as a download:\n%s", page)
	}
	if n := big.Load(); n != 0 {
		t.Fatalf("the JSON of a 120-occurrence operation was built %d times for %d pushes and its page", n, len(frames))
	}
}
