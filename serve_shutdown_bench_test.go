package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"syscall"
	"testing"
	"time"

	"eventops/engine/shopify/sandbox"
)

var demoKeyRe = regexp.MustCompile(`API key\s+(\S+)`)

// BenchmarkStopAfterShopTraffic: the real binary with its built-in
// sandbox; saves of the demo company (connected to the sandbox shop) are
// in flight, some of their calls answered 503 (so retried) when SIGTERM
// arrives. It reports the time from the signal to the process's exit
// (stop-ms). EVENTOPS_BENCH_BIN runs a prebuilt binary instead (to measure
// another build); EVENTOPS_BENCH_SAVES sets the saves (default 8).
func BenchmarkStopAfterShopTraffic(b *testing.B) {
	bin := os.Getenv("EVENTOPS_BENCH_BIN")
	if bin == "" {
		bin = buildEventops(b)
	}
	saves := 8
	if v := os.Getenv("EVENTOPS_BENCH_SAVES"); v != "" {
		if _, err := fmt.Sscan(v, &saves); err != nil {
			b.Fatalf("EVENTOPS_BENCH_SAVES: %v", err)
		}
	}
	var total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		p := startServe(b, bin, b.TempDir(), "--sandbox-control")
		m := demoKeyRe.FindStringSubmatch(p.stdout.String())
		if m == nil {
			b.Fatalf("no demo API key printed:\n%s", p.stdout.String())
		}
		api := p.client(m[1])
		venue, tt := api.venueAndTicketType()
		for n := 0; n < saves; n++ {
			api.createEvent(dateEvent(venue, tt))
		}
		body, _ := json.Marshal(map[string]any{"rules": []sandbox.FaultRule{{Operation: "*", Fault: sandbox.FaultHTTP503, Times: 4 * saves}}})
		resp, err := http.Post("http://"+p.addr+sandbox.Prefix+"demo/faults", "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("add fault: %s", resp.Status)
		}
		b.StartTimer()
		start := time.Now()
		p.signal(syscall.SIGTERM)
		if code := p.wait(2 * time.Minute); code != 0 {
			b.Fatalf("exit code %d:\n%s", code, p.stderr.String())
		}
		total += time.Since(start)
		if f := os.Getenv("EVENTOPS_BENCH_LOG"); f != "" { // the server's log, to see what a stop waited for
			_ = os.WriteFile(fmt.Sprintf("%s.%d", f, i), []byte(p.stderr.String()), 0o600)
		}
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "stop-ms")
}
