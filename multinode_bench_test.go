package main

import (
	"context"
	"net/http"
	"sort"
	"testing"
	"time"

	"eventops/engine/shopify/sandbox"
	"eventops/web/client"
)

// BenchmarkNodeTakeover measures the takeover time after SIGKILL of a node
// (issue 19: the lease plus at most one heartbeat): three nodes on one
// database with the production lease (10 s, a heartbeat every 2 s); each
// round holds a Shopify save in its catalog phase on one node, kills that
// node, and times until another node's eventops_lease_takeovers_total
// counts the takeover. The killed node starts again between rounds.
//
//	go test -run '^$' -bench NodeTakeover -benchtime 3x .
func BenchmarkNodeTakeover(b *testing.B) {
	const lease = 10 * time.Second
	bin := buildEventops(b)
	s := newCluster(b, bin, "--lease", lease.String())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	takeovers := func(except *soakNode) float64 {
		sum := 0.0
		for _, n := range s.nodes {
			if n != except && n.running() {
				v, _ := s.nodeMetric(n, "eventops_lease_takeovers_total")
				sum += v
			}
		}
		return sum
	}
	var times []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.addFaults(ctx, sandbox.FaultRule{Operation: "productSet", Fault: sandbox.FaultTimeout})
		id, op := s.createDateEvent(ctx, "Takeover "+time.Now().Format(time.RFC3339Nano))
		victim := s.runner(30 * time.Second)
		time.Sleep(200 * time.Millisecond)
		before := takeovers(victim)
		s.killNode(victim)
		killed := time.Now()
		if !pollUntil(3*lease, 5*time.Millisecond, func() bool { return takeovers(victim) > before }) {
			b.Fatalf("no node took over within %v of the kill", 3*lease)
		}
		times = append(times, time.Since(killed))
		if o := s.waitOp(ctx, id, op); o == nil || o.Status != client.StatusCompleted {
			b.Fatalf("the save after the takeover: %s", soakOpSummary(o))
		}
		s.startNode(victim)
		if a, err := s.shopControl(ctx, http.MethodDelete, "/faults", nil); err != nil || a.status != http.StatusOK {
			b.Fatalf("clear faults: %v %+v", err, a)
		}
	}
	b.StopTimer()
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	var sum time.Duration
	for _, d := range times {
		sum += d
	}
	b.ReportMetric(float64(sum.Milliseconds())/float64(len(times)), "ms/takeover")
	b.ReportMetric(float64(times[len(times)-1].Milliseconds()), "max-ms")
	b.ReportMetric(float64((lease + lease/5).Milliseconds()), "target-ms")
	b.Logf("takeover after SIGKILL, lease %v, heartbeat %v: %v (target: at most %v)", lease, lease/5, times, lease+lease/5)
}
