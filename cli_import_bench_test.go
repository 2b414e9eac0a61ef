//go:build unix

package main

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"eventops/web"
	"eventops/web/client"
)

// BenchmarkImport measures `eventops import` end to end: a generated file
// of 10,000 date events against a real server in this process (rate limit
// off), for a company without Shopify (plain) and one connected to an
// unthrottled in-memory sandbox shop (shop), each row done when its
// operation's tickets phase is completed (tickets) or when the operation is
// (all), with 8 (the default) and 32 rows in progress at once. It reports
// rows/s; the CPU time the process (server, client and, for shop, the
// sandbox) spent per row, which other load on the machine does not inflate
// the way it does wall-clock figures; and the live heap before and after
// (after a full GC, so it is what the process keeps, not what it churned
// through; the import's own memory is garbage by then, the sandbox's shop
// state is not).
//
//	go test -run '^$' -bench BenchmarkImport -benchtime 1x .
//	go test -run '^$' -bench 'BenchmarkImport/plain/wait=tickets' -benchtime 1x .
func BenchmarkImport(b *testing.B) {
	const rows = 10_000
	// A shop company's prices are in its shop's currency (USD): its file
	// has no GBP rows.
	files := map[string]string{}
	for company, usdOnly := range map[string]bool{"plain": false, "shop": true} {
		files[company] = filepath.Join(b.TempDir(), company+".csv")
		if err := os.WriteFile(files[company], generateCSV(rows, usdOnly), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	for _, company := range []string{"plain", "shop"} {
		file := files[company]
		for _, wait := range []string{"tickets", "all"} {
			for _, conc := range []string{"8", "32"} {
				b.Run(company+"/wait="+wait+"/c="+conc, func(b *testing.B) {
					for b.Loop() {
						b.StopTimer()
						s := startAPI(b, web.Config{RateLimit: 0}, company == "shop")
						before := liveHeap()
						b.StartTimer()
						cpu0, started := cpuTime(), time.Now()
						r := s.importCtx(context.Background(), "--wait", wait, "--concurrency", conc, "--progress", "none", file)
						took, cpu := time.Since(started), cpuTime()-cpu0
						b.StopTimer()
						if r.err != nil {
							b.Fatalf("import: %v\n%s", r.err, r.stdout)
						}
						if c := summaryCount(b, r, "created"); c != rows {
							b.Fatalf("created %d, want %d", c, rows)
						}
						after := liveHeap()
						evs, err := s.api.AllEvents(context.Background(), client.EventListOptions{})
						if err != nil || len(evs) != rows {
							b.Fatalf("%d events, %v", len(evs), err)
						}
						b.ReportMetric(float64(rows)/took.Seconds(), "rows/s")
						b.ReportMetric(took.Seconds(), "s/10k-rows")
						b.ReportMetric(float64(cpu.Microseconds())/1000/rows, "cpu-ms/row")
						b.ReportMetric(float64(before)/(1<<20), "heap-before-MiB")
						b.ReportMetric(float64(after)/(1<<20), "heap-after-MiB")
						if testing.Verbose() {
							b.Log(strings.TrimSpace(r.stdout))
						}
						b.StartTimer()
					}
				})
			}
		}
	}
}

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// cpuTime is the user and system CPU time of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
