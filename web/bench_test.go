package web

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"eventops/engine"
	"eventops/storage"
)

// BenchmarkOperationGet measures GET /api/v2/events/{id}/operations/{op}
// through the whole stack (authentication, rate limit off, the storage read,
// rendering) against a bare Fiber handler that returns a constant JSON body
// of the same size, both over a real 127.0.0.1 listener with 64 concurrent
// connections, in one run. It reports api_req/s, bare_req/s and their ratio
// (the target is at least 0.5; on PostgreSQL, issue 19 asks 0.3), and on
// PostgreSQL the store's round trips and reads per GET. The client shares
// the machine with both servers, so absolute figures are lower than wrk's;
// the ratio is the point.
//
//	go test ./web -run '^$' -bench OperationGet -benchtime 100000x
//
// Each sub-benchmark first stores that many other operations, so that the
// figures show whether the read cost grows with what is stored
// (EVENTOPS_BENCH_STORED="10000,1000000" to choose; the default is 10000 and
// 100000).
//
// The 64 connections send one API key, as one integration polling would;
// EVENTOPS_BENCH_KEYS=64 gives each connection a key of its own (on
// PostgreSQL, a coalesced key read then asks for several keys at once).
//
// EVENTOPS_BENCH_UNFINISHED=1 measures an operation held running instead
// of a finished one: on PostgreSQL every GET then reads its version too.
//
// With wrk, against a running server (go run . serve, the rate limit off):
//
//	wrk -t2 -c64 -d30s -H 'Authorization: Token KEY' \
//	    http://127.0.0.1:8080/api/v2/events/ID/operations/OP
func BenchmarkOperationGet(b *testing.B) {
	sizes := []int{10_000, 100_000}
	if env := os.Getenv("EVENTOPS_BENCH_STORED"); env != "" {
		sizes = nil
		for _, s := range strings.Split(env, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil {
				b.Fatalf("EVENTOPS_BENCH_STORED: %v", err)
			}
			sizes = append(sizes, n)
		}
	}
	unfinished := os.Getenv("EVENTOPS_BENCH_UNFINISHED") != ""
	for _, stored := range sizes {
		g := newGate(engine.TicketsWork{})
		f := setup(b, withWork(engine.PhaseTickets, g))
		c := f.event(f.keyA)
		if unfinished {
			waitStarted(b, g)
		} else {
			g.open()
			f.waitTerminal(c.EventID, c.OpID)
		}
		storeOperations(b, f, c.OpID, stored)
		path := opPath(c.EventID, c.OpID)
		body := f.do("GET", path, f.keyA, nil).expect(b, 200).Body
		auths := []string{"Token " + f.keyA}
		if env := os.Getenv("EVENTOPS_BENCH_KEYS"); env != "" {
			n, err := strconv.Atoi(env)
			if err != nil || n < 1 {
				b.Fatalf("EVENTOPS_BENCH_KEYS: %q", env)
			}
			for range n - 1 {
				_, plain, err := f.eng.CreateAPIKey(context.Background(), f.a.ID, "bench", []engine.Scope{engine.ScopeRead})
				if err != nil {
					b.Fatal(err)
				}
				auths = append(auths, "Token "+plain.Reveal())
			}
		}
		api := "http://" + f.listen() + path

		bare := fiber.New(fiber.Config{DisableStartupMessage: true})
		bare.Get("/op", func(c *fiber.Ctx) error {
			c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
			return c.Send(body)
		})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		go bare.Listener(ln)
		bareURL := "http://" + ln.Addr().String() + "/op"

		b.Run(fmt.Sprintf("stored=%d", stored), func(b *testing.B) {
			// Alternate the two in rounds, so that whatever else the
			// machine does weighs on both alike.
			const rounds = 10
			var apiTime, bareTime time.Duration
			var trips, reads uint64 // the store's, during the API's rounds
			for r := 0; r < rounds; r++ {
				n := b.N / rounds
				if r < b.N%rounds {
					n++
				}
				before := dbStats(b, f)
				apiTime += load(b, api, auths, n, len(body))
				after := dbStats(b, f)
				trips += after.RoundTrips - before.RoundTrips
				reads += after.Gets + after.Scans - before.Gets - before.Scans
				bareTime += load(b, bareURL, nil, n, len(body))
			}
			apiRate := float64(b.N) / apiTime.Seconds()
			bareRate := float64(b.N) / bareTime.Seconds()
			b.ReportMetric(apiRate, "api_req/s")
			b.ReportMetric(bareRate, "bare_req/s")
			b.ReportMetric(apiRate/bareRate, "ratio")
			b.ReportMetric(float64(len(body)), "body_bytes")
			if f.db.Postgres() {
				b.ReportMetric(float64(trips)/float64(b.N), "trips/GET")
				b.ReportMetric(float64(reads)/float64(b.N), "reads/GET")
			}
		})
		_ = bare.Shutdown()
		g.open()
	}
}

// dbStats is the store's counters (round trips and reads on PostgreSQL).
func dbStats(b *testing.B, f *fixture) storage.Stats {
	s, err := f.db.Stats()
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// load sends n GETs to url over 64 connections, connection w with
// auths[w % len(auths)] (none when empty), and returns the time taken.
func load(b *testing.B, url string, auths []string, n, size int) time.Duration {
	const conns = 64
	addr := strings.TrimPrefix(url, "http://")
	addr = addr[:strings.IndexByte(addr, '/')]
	client := &fasthttp.HostClient{Addr: addr, MaxConns: conns, ReadTimeout: 10 * time.Second}
	var wg sync.WaitGroup
	var failed sync.Once
	start := time.Now()
	for w := 0; w < conns; w++ {
		count := n / conns
		if w < n%conns {
			count++
		}
		wg.Add(1)
		go func(w, count int) {
			defer wg.Done()
			req, res := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(res)
			req.SetRequestURI(url)
			if len(auths) > 0 {
				req.Header.Set("Authorization", auths[w%len(auths)])
			}
			for i := 0; i < count; i++ {
				if err := client.Do(req, res); err != nil || res.StatusCode() != 200 || len(res.Body()) != size {
					failed.Do(func() { b.Errorf("GET %s: %v %d (%d bytes)", url, err, res.StatusCode(), len(res.Body())) })
					return
				}
			}
		}(w, count)
	}
	wg.Wait()
	return time.Since(start)
}

// storeOperations writes n completed operations of another event beside the
// one measured, in large transactions straight to the store.
func storeOperations(b *testing.B, f *fixture, like uint64, n int) {
	tmpl, err := f.eng.Operation(0, like)
	if err != nil {
		b.Fatal(err)
	}
	const batch = 5000
	for done := 0; done < n; done += batch {
		err := f.db.Update(context.Background(), func(tx engine.Tx) error {
			for i := done; i < min(done+batch, n); i++ {
				op := tmpl.Clone()
				var err error
				if op.ID, err = tx.NextID(engine.SeqOperation); err != nil {
					return err
				}
				op.EventID, op.QueueID = tmpl.EventID+1_000_000, tmpl.EventID+1_000_000
				if err := tx.PutOperation(op); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
