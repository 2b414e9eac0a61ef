package main

// The crash-and-fault soak (issue 7, `task soak`): the real binary, the
// sandbox shop in its own process with faults switched on, the server
// killed with SIGKILL several times while an integration drives it, and
// then an audit of everything that was acknowledged.
//
// It is a test of package main rather than a program of its own because
// the top level of the repository is fixed (DESIGN §1): a test can build
// the binary, run processes and open the data file with storage.Open
// afterwards, and `go test` gives it a deadline. It is skipped unless
// EVENTOPS_SOAK=1:
//
//	EVENTOPS_SOAK=1 go test -run '^TestSoak$' -timeout 30m -v .
//
// Tuning (environment): EVENTOPS_SOAK_EVENTS (top-level events, default
// 60), EVENTOPS_SOAK_KILLS (default 5), EVENTOPS_SOAK_BUYERS (concurrent
// shop buyers, default 4; soak_buyers_test.go), EVENTOPS_SOAK_PARALLEL (events
// driven at once, default 12), EVENTOPS_SOAK_RESTORE_RATE (the sandbox
// shop's cost bucket, points per second, default 300), EVENTOPS_SOAK_SEED
// (the random seed; printed), EVENTOPS_SOAK_KEEP=1 keeps the temporary
// folder (data files and logs; it is always kept when the soak fails).
//
// EVENTOPS_SOAK_NODES=3 runs three serve nodes on one PostgreSQL database
// instead of one node on bbolt: the database of EVENTOPS_DATABASE_URL (an
// empty one), or else a fresh database of storage/pgtest's throwaway
// cluster. A load balancer of the test's own stands in front of the nodes
// (soak_nodes_test.go), and each SIGKILL hits a random node, which starts
// again a moment later while the others take over its queues.
//
// The integration talks to the API through web/client only: every write
// carries an Idempotency-Key, and a write whose answer was lost
// (connection refused or reset while the server was being killed, a 5xx,
// a 409 for a key still in flight) is sent again with the same key and the
// same body until it is answered, however many restarts that takes (a
// client whose retry policy outlasts them, s.writer). Reads and operation
// waits go through a client of its own (s.api), so that retried writes
// and retried reads are counted apart.
//
// Its files: soak_test.go (configuration and the test), soak_procs_test.go
// (the processes), soak_api_test.go (talking to the API and the shop),
// soak_work_test.go (the workload, faults and kills),
// soak_buyers_test.go (the shop's buyers and what they show) and
// soak_audit_test.go (the audit and the report).
//
// What it checks once everything has settled (faults cleared, every
// webhook delivered, every operation terminal):
//   - every operation the API acknowledged (X-Event-Operation-ID) exists
//     and is terminal; none failed with OPERATION_INTERRUPTED;
//   - no duplicates: one event per acknowledged create, one box-office
//     order per acknowledged sale, one eventops order per shop order, and
//     no operation that no request started (engine-started inventory-only
//     saves aside);
//   - nothing lost: every acknowledged event, order and operation, and
//     every shop order of a live event, is there;
//   - the shop holds exactly the products of the live events (one per
//     date event or occurrence, one per registration type with
//     split_products) and none of the deleted ones;
//   - (reported, not asserted: converge) each mirrored variant's inventory
//     at the app's fulfillment location equals what eventops reports the
//     shop offers (the API's shop_available), which equals the allocation
//     of what is sold (engine.Allocate: never more than is left,
//     static/docs/shopify.md "What the shop offers"), and how long after
//     the last sale it took; the offers still different after 2 minutes
//     are logged;
//   - with the buyers (soak_buyers_test.go): nothing oversold, no shop
//     order unrecorded, and every event refund gave the buyers their money
//     back;
//   - the server stops cleanly on SIGTERM and the data file passes bbolt's
//     consistency check with no operation left active.
//
//   - every operation that completed or failed was delivered at least
//     once to the company's webhook endpoint, a local receiver that
//     verifies each signature (soak_webhooks_test.go).
//
// It prints one summary line,
//
//	soak: acknowledged=N completed=N failed=N (CODE=n ...) duplicates=N lost=N webhooks_missing=0 webhook_duplicates=N oversold=0 unrecorded=0 refund_mismatch=0 converge=DURATION
//
// and a line of details, and fails on any loss, duplicate, interrupted or
// unfinished operation, mismatch between the shop's products and the API,
// oversold seat, unrecorded shop order or refund that moved other money.

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"
)

type soakConfig struct {
	events      int
	kills       int
	buyers      int
	parallel    int
	restoreRate float64
	seed        uint64
	keep        bool

	// nodes > 0 runs that many serve nodes on one PostgreSQL database
	// (dbURL, or a fresh database of storage/pgtest) behind a load
	// balancer (soak_nodes_test.go); 0 is one node on bbolt.
	nodes     int
	dbURL     string
	serveArgs []string // more serve flags, after the soak's own
}

func soakConfigFromEnv(t *testing.T) soakConfig {
	t.Helper()
	cfg := soakConfig{events: 60, kills: 5, buyers: 4, parallel: 12, restoreRate: 300, seed: uint64(time.Now().UnixNano())}
	num := func(name string, dst *int) {
		if v := os.Getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				t.Fatalf("%s=%q: want a whole number", name, v)
			}
			*dst = n
		}
	}
	num("EVENTOPS_SOAK_EVENTS", &cfg.events)
	num("EVENTOPS_SOAK_KILLS", &cfg.kills)
	num("EVENTOPS_SOAK_BUYERS", &cfg.buyers)
	num("EVENTOPS_SOAK_PARALLEL", &cfg.parallel)
	num("EVENTOPS_SOAK_NODES", &cfg.nodes)
	if cfg.nodes == 1 {
		cfg.nodes = 0 // one node: the default soak, on bbolt
	}
	cfg.dbURL = os.Getenv("EVENTOPS_DATABASE_URL")
	cfg.parallel = max(cfg.parallel, 1)
	if v := os.Getenv("EVENTOPS_SOAK_RESTORE_RATE"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 {
			t.Fatalf("EVENTOPS_SOAK_RESTORE_RATE=%q", v)
		}
		cfg.restoreRate = f
	}
	if v := os.Getenv("EVENTOPS_SOAK_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("EVENTOPS_SOAK_SEED=%q", v)
		}
		cfg.seed = n
	}
	cfg.keep = os.Getenv("EVENTOPS_SOAK_KEEP") == "1"
	return cfg
}

func TestSoak(t *testing.T) {
	if os.Getenv("EVENTOPS_SOAK") != "1" {
		t.Skip("the crash-and-fault soak runs only with EVENTOPS_SOAK=1 (task soak); it takes minutes")
	}
	s := newSoak(t, soakConfigFromEnv(t))
	ctx, cancel := context.WithTimeout(context.Background(), s.budget())
	defer cancel()
	started := time.Now()

	s.build()
	s.startHookReceiver()
	s.startSandbox()
	s.connectCompany()
	s.startServer()
	s.createHookEndpoint(ctx)
	s.setUpCatalog(ctx)

	t.Logf("soak: seed=%d events=%d kills=%d buyers=%d parallel=%d restore_rate=%v nodes=%d dir=%s",
		s.cfg.seed, s.cfg.events, s.cfg.kills, s.cfg.buyers, s.cfg.parallel, s.cfg.restoreRate, max(s.cfg.nodes, 1), s.dir)
	s.drive(ctx)
	s.settle(ctx)
	var shop shopCounts
	s.awaitConvergence(ctx, &shop)
	r := s.audit(ctx)
	s.shopAudit(ctx, &r, &shop)
	r.shop = shop
	s.stopServer()
	s.checkDataFile(&r)
	s.stopSandbox()
	r.duration = time.Since(started)
	s.report(r)
}
