package main

// Three real serve processes on one PostgreSQL database (issue 19, "Tests
// and CI"): the sandbox shop in its own process (one shop state for every
// node), a throwaway database of storage/pgtest, one sealing key file, and
// three nodes with their own --data folder and port. The harness is the
// soak's (soak_nodes_test.go) with cfg.nodes = 3.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"eventops/engine/shopify/sandbox"
	"eventops/storage/pgtest"
	"eventops/web/client"
)

// leasesHeld is the series of a node's /metrics that counts the operation
// queues it holds by lease: the node running an event's saves holds its
// queue. (operations_active is no such sign: a node counts there the
// operations created on it, and finished on it, whichever node ran them.)
const leasesHeld = "eventops_leases_held"

// newCluster starts the sandbox, three nodes on a fresh database and a
// company connected to the sandbox's shop, with a venue and ticket types.
func newCluster(t testing.TB, bin string, serveArgs ...string) *soak {
	t.Helper()
	pgtest.Server(t) // skips, saying why, without PostgreSQL
	s := newSoak(t, soakConfig{nodes: 3, restoreRate: 0, seed: uint64(time.Now().UnixNano()),
		serveArgs: append([]string{"--shop-reconcile-interval", "1h", "--lease", "5s"}, serveArgs...)})
	s.bin = bin
	s.startSandbox()
	s.connectCompany()
	s.startServer()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s.setUpCatalog(ctx)
	return s
}

// nodeAPI is a client of one node alone, bypassing the balancer.
func (s *soak) nodeAPI(n *soakNode) *apiClient {
	return &apiClient{t: s.t, base: n.url(), key: s.key, http: &http.Client{Timeout: 90 * time.Second}}
}

// runner waits until exactly one node holds a queue (the one event whose
// save runs) and returns it.
func (s *soak) runner(within time.Duration) *soakNode {
	s.t.Helper()
	var found *soakNode
	if !pollUntil(within, 20*time.Millisecond, func() bool {
		found = nil
		for _, n := range s.nodes {
			if !n.running() {
				continue
			}
			if v, _ := s.nodeMetric(n, leasesHeld); v > 0 {
				if found != nil {
					return false
				}
				found = n
			}
		}
		return found != nil
	}) {
		s.t.Fatalf("no single node held a queue within %v", within)
	}
	return found
}

// addFaults adds fault rules to the sandbox's shop.
func (s *soak) addFaults(ctx context.Context, rules ...sandbox.FaultRule) {
	s.t.Helper()
	if a, err := s.shopControl(ctx, http.MethodPost, "/faults", map[string]any{"rules": rules}); err != nil || a.status != http.StatusOK {
		s.t.Fatalf("faults: %v %+v", err, a)
	}
}

// calls is the shop's call log (productSet calls only with field set).
func (s *soak) calls(ctx context.Context, field string) []sandbox.Call {
	s.t.Helper()
	var out struct{ Calls []sandbox.Call }
	path := "/calls"
	if field != "" {
		path += "?operation=" + field
	}
	if err := s.sandboxGet(ctx, path, &out); err != nil {
		s.t.Fatal(err)
	}
	return out.Calls
}

// createDateEvent creates a date event through the balancer and returns
// its id and the operation of its save.
func (s *soak) createDateEvent(ctx context.Context, name string) (uint64, uint64) {
	s.t.Helper()
	start := time.Date(2027, 3, 1, 19, 0, 0, 0, time.UTC)
	body := client.EventInput{Name: name, Type: client.EventDate, VenueID: s.venue, StartsAt: start, EndsAt: start.Add(2 * time.Hour),
		RegistrationTypes: []client.RegistrationTypeInput{{Name: "General admission", TicketTypeID: s.ticketTypes[0],
			Price: client.MoneyInput{Amount: 2500, Currency: "USD"}, Quantity: ptr(20)}}}
	a, err := s.write(ctx, http.MethodPost, "/events", wrapped("event", body))
	if err != nil || a.status != http.StatusCreated {
		s.t.Fatalf("create: %v %+v", err, a)
	}
	return soakID(s.t, a.body), a.op
}

// productsTitled counts the shop's products titled name.
func (s *soak) productsTitled(ctx context.Context, name string) int {
	s.t.Helper()
	st, err := s.shopState(ctx)
	if err != nil {
		s.t.Fatal(err)
	}
	n := 0
	for _, p := range st.Products {
		if p.Title == name {
			n++
		}
	}
	return n
}

func TestMultiNode(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs three serve nodes, the sandbox and PostgreSQL as processes")
	}
	t.Parallel()
	pgtest.Server(t)
	bin := buildEventops(t)

	// An operation created on node A while node B runs its queue is run by
	// B, and a long-poll on node C sees it change live.
	t.Run("created on A, run by B, seen live on C", func(t *testing.T) {
		t.Parallel()
		s := newCluster(t, bin)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		id, op := s.createDateEvent(ctx, "Live across nodes")
		if o := s.waitOp(ctx, id, op); o == nil || o.Status != client.StatusCompleted {
			t.Fatalf("the create's save: %s", soakOpSummary(o))
		}

		// The next save of the event is held in its catalog phase: the
		// shop holds its productSet until the client gives up.
		s.addFaults(ctx, sandbox.FaultRule{Operation: "productSet", Fault: sandbox.FaultTimeout})
		time.Sleep(300 * time.Millisecond) // the create's completion is counted after the client may see it
		before := map[int]float64{}
		for _, n := range s.nodes {
			before[n.i], _ = s.nodeMetric(n, `eventops_operations_finished_total{action="save",status="completed"}`)
		}
		a, err := s.write(ctx, http.MethodPatch, "/events/"+strconv.FormatUint(id, 10), wrapped("event", map[string]any{"name": "Live across nodes, renamed"}))
		if err != nil || a.status >= 300 {
			t.Fatalf("first rename: %v %+v", err, a)
		}
		first := a.op
		b := s.runner(30 * time.Second)
		var nodeA, nodeC *soakNode
		for _, n := range s.nodes {
			switch {
			case n == b:
			case nodeA == nil:
				nodeA = n
			default:
				nodeC = n
			}
		}
		t.Logf("B = node %d runs operation %d; A = node %d, C = node %d", b.i, first, nodeA.i, nodeC.i)

		// Created on A while B runs the queue.
		res, body := s.nodeAPI(nodeA).do("PATCH", fmt.Sprintf("/api/v2/events/%d", id),
			`{"event":{"name":"Live across nodes, renamed twice"}}`, 200)
		second, err := strconv.ParseUint(res.Header.Get("X-Event-Operation-ID"), 10, 64)
		if err != nil {
			t.Fatalf("second rename: no operation id: %s", body)
		}
		url := opURL(evOp{ev: id, op: second})
		cAPI := s.nodeAPI(nodeC)
		res, body = cAPI.do("GET", url, "", 200)
		var o client.Operation
		if err := json.Unmarshal(body, &o); err != nil {
			t.Fatal(err)
		}
		if o.Status != client.StatusPending {
			t.Fatalf("operation %d is %s on C while B still runs %d, want pending behind it", second, o.Status, first)
		}
		// A long-poll on C, held while the operation is as C showed it
		// (If-None-Match), answers the change as it happens: B commits it,
		// C is told. 304 is the wait running out with no change seen.
		waited := time.Now()
		res, body, err = cAPI.request("GET", url+"?wait=60", "", "If-None-Match", res.Header.Get("ETag"))
		if err != nil {
			t.Fatal(err)
		}
		// At the end of its wait a long-poll reads the store once more: a
		// 200 then says nothing about being told.
		if took := time.Since(waited); res.StatusCode != http.StatusOK || took > 50*time.Second {
			t.Fatalf("the long-poll on C answered %d after %v of its 60 s: C was not told of B running operation %d (B holds it about 15 s)",
				res.StatusCode, took.Round(time.Millisecond), second)
		}
		if err := json.Unmarshal(body, &o); err != nil {
			t.Fatal(err)
		}
		t.Logf("C saw operation %d %s after %v", second, o.Status, time.Since(waited).Round(time.Millisecond))
		for !o.Terminal() {
			v := o.Version
			o = getJSON[client.Operation](cAPI, url+"?wait=60", 200)
			if !o.Terminal() && o.Version == v {
				t.Fatalf("the long-poll on C answered no change of operation %d (%s, version %d)", second, o.Status, v)
			}
		}
		if o.Status != client.StatusCompleted {
			t.Fatalf("operation %d on C: %s %+v", second, o.Status, o.Error)
		}
		// B ran both saves; A, where the second was created, ran none.
		for _, n := range s.nodes {
			after, _ := s.nodeMetric(n, `eventops_operations_finished_total{action="save",status="completed"}`)
			want := 0.0
			if n == b {
				want = 2
			}
			if got := after - before[n.i]; got != want {
				t.Errorf("node %d completed %v saves of the two, want %v (B = node %d runs the event's queue)", n.i, got, want, b.i)
			}
		}
		if ev := s.event(ctx, id); ev == nil || ev.Name != "Live across nodes, renamed twice" {
			t.Errorf("event after both saves: %+v", ev)
		}
	})

	// The node running a Shopify save in catalog dies with SIGKILL; another
	// node finishes the save, and the shop holds one product for it.
	t.Run("SIGKILL in catalog: another node finishes, no duplicate product", func(t *testing.T) {
		t.Parallel()
		s := newCluster(t, bin)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		// The productSet is applied and its answer lost; the client sends
		// it again, and the shop holds that one: the node dies with the
		// product made in the shop and not yet recorded.
		s.addFaults(ctx, sandbox.FaultRule{Operation: "productSet", Fault: sandbox.FaultApplyThenDrop},
			sandbox.FaultRule{Operation: "productSet", Fault: sandbox.FaultTimeout})
		const name = "Killed in catalog"
		id, op := s.createDateEvent(ctx, name)
		if !pollUntil(30*time.Second, 20*time.Millisecond, func() bool {
			for _, c := range s.calls(ctx, "productSet") {
				if c.Fault == sandbox.FaultApplyThenDrop {
					return true
				}
			}
			return false
		}) {
			t.Fatal("the shop saw no productSet")
		}
		if got := s.productsTitled(ctx, name); got != 1 {
			t.Fatalf("%d products in the shop after the dropped answer, want 1", got)
		}
		victim := s.runner(10 * time.Second)
		time.Sleep(300 * time.Millisecond) // its resent productSet is held
		s.killNode(victim)
		killed := time.Now()
		t.Logf("killed node %d, which ran operation %d in catalog", victim.i, op)

		o := s.waitOp(ctx, id, op)
		if o == nil || o.Status != client.StatusCompleted {
			t.Fatalf("the save after its node died: %s", soakOpSummary(o))
		}
		t.Logf("operation %d completed %v after the kill", op, time.Since(killed).Round(time.Millisecond))
		if victim.running() {
			t.Fatal("the killed node is running again")
		}
		if got := s.productsTitled(ctx, name); got != 1 {
			t.Errorf("%d products titled %q in the shop, want 1", got, name)
		}
		ev := s.event(ctx, id)
		st, _ := s.shopState(ctx)
		found := false
		for _, p := range st.Products {
			if p.Title == name && ev != nil && slices.Equal(ev.ShopifyProductIDs, []string{p.ID}) {
				found = true
			}
		}
		if !found {
			t.Errorf("the event's products %v are not the shop's one product titled %q", ev.ShopifyProductIDs, name)
		}
	})

	// A node frozen with SIGSTOP past its lease cannot commit, nor call the
	// shop, once SIGCONT wakes it: its successor's state stands.
	t.Run("SIGSTOP past the lease: no commit, no shop call after SIGCONT", func(t *testing.T) {
		t.Parallel()
		s := newCluster(t, bin)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		s.addFaults(ctx, sandbox.FaultRule{Operation: "productSet", Fault: sandbox.FaultTimeout})
		const name = "Frozen in catalog"
		id, op := s.createDateEvent(ctx, name)
		frozen := s.runner(30 * time.Second)
		if !pollUntil(30*time.Second, 20*time.Millisecond, func() bool {
			o := getJSON[client.Operation](s.nodeAPI(frozen), opURL(evOp{ev: id, op: op}), 200)
			p := o.Phase("catalog")
			return p != nil && p.Status == client.StatusRunning
		}) {
			t.Fatal("the save never reached its catalog phase")
		}
		time.Sleep(300 * time.Millisecond) // its productSet is held by the shop
		if err := frozen.proc.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		stopped := true
		defer func() {
			if stopped {
				frozen.proc.cmd.Process.Signal(syscall.SIGCONT)
			}
		}()
		t.Logf("froze node %d, which runs operation %d in catalog", frozen.i, op)

		// A successor finishes the save (through the balancer, which no
		// longer sends anything to the frozen node).
		o := s.waitOp(ctx, id, op)
		if o == nil || o.Status != client.StatusCompleted {
			t.Fatalf("the save while its node is frozen: %s", soakOpSummary(o))
		}
		var others []*soakNode
		for _, n := range s.nodes {
			if n != frozen {
				others = append(others, n)
			}
		}
		stored := s.storedOperation(op)
		if stored.Status != "completed" {
			t.Fatalf("operation %d is %s in the database once the API answered it completed", op, stored.Status)
		}
		var want []byte
		if !pollUntil(15*time.Second, 100*time.Millisecond, func() bool {
			_, want = s.nodeAPI(others[0]).do("GET", opURL(evOp{ev: id, op: op}), "", 200)
			return strings.Contains(string(want), `"status":"completed"`)
		}) {
			t.Fatalf("node %d answers operation %d as %s", others[0].i, op, want)
		}

		frozen.proc.cmd.Process.Signal(syscall.SIGCONT)
		stopped = false
		resumed := time.Now()
		// Awake again: it answers, and had time to act on what it held.
		if !pollUntil(30*time.Second, 50*time.Millisecond, func() bool {
			res, err := s.hc.Get(frozen.url() + "/healthz")
			if err == nil {
				res.Body.Close()
			}
			return err == nil && res.StatusCode == http.StatusOK
		}) {
			t.Fatal("the frozen node does not answer after SIGCONT")
		}
		time.Sleep(5 * time.Second)
		// The shop logs a call when it answers, with the time it arrived:
		// the frozen node's held call arrived before SIGCONT.
		for _, c := range s.calls(ctx, "") {
			if c.Time.After(resumed) {
				t.Errorf("a shop call after SIGCONT (%v after it): %s %s (fault %q)", c.Time.Sub(resumed).Round(time.Millisecond), c.Operation, c.RequestID, c.Fault)
			}
		}
		// The successor's state stands in the database...
		if got := s.storedOperation(op); got.Status != stored.Status || got.Version != stored.Version ||
			!got.UpdatedAt.Equal(stored.UpdatedAt) {
			t.Errorf("operation %d in the database after SIGCONT: %s version %d (updated %v); the successor left %s version %d (updated %v)",
				op, got.Status, got.Version, got.UpdatedAt, stored.Status, stored.Version, stored.UpdatedAt)
		}
		// ...and every node, the woken one too, answers it (their
		// operation caches are told by cross-node notifications).
		for _, n := range s.nodes {
			var got []byte
			if !pollUntil(15*time.Second, 100*time.Millisecond, func() bool {
				_, got = s.nodeAPI(n).do("GET", opURL(evOp{ev: id, op: op}), "", 200)
				return string(got) == string(want)
			}) {
				t.Errorf("node %d (the frozen one: node %d) answers operation %d as\n%s\nthe successor left:\n%s", n.i, frozen.i, op, got, want)
			}
		}
		if got := s.productsTitled(ctx, name); got != 1 {
			t.Errorf("%d products titled %q in the shop, want 1", got, name)
		}
	})

	// The API rate limit is one budget per key across the nodes.
	t.Run("the rate limit holds across nodes", func(t *testing.T) {
		t.Parallel()
		const limit = 30
		s := newCluster(t, bin, "--rate-limit", strconv.Itoa(limit))
		// A fixed window of a minute may begin mid-burst: start the burst
		// early in one.
		if sec := time.Now().Second(); sec > 45 {
			time.Sleep(time.Duration(61-sec) * time.Second)
		}
		var mu sync.Mutex
		ok, limited := 0, map[int]int{}
		var wg sync.WaitGroup
		for i := range 4 * limit {
			n := s.nodes[i%len(s.nodes)]
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, _, err := s.nodeAPI(n).request("GET", "/api/v2/venues", "")
				if err != nil {
					t.Errorf("node %d: %v", n.i, err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				switch res.StatusCode {
				case http.StatusOK:
					ok++
				case http.StatusTooManyRequests:
					limited[n.i]++
				default:
					t.Errorf("node %d answered %d", n.i, res.StatusCode)
				}
			}()
		}
		wg.Wait()
		t.Logf("%d of %d requests over 3 nodes answered 200, refused per node %v (limit %d a minute)", ok, 4*limit, limited, limit)
		if ok > limit {
			t.Errorf("%d requests answered within a minute for a limit of %d per key", ok, limit)
		}
		if ok == 0 {
			t.Error("no request answered")
		}
	})
}
