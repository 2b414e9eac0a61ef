package dash

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"eventops/engine"
)

// benchClients watch one operation page in BenchmarkDashboardFanout.
const benchClients = 1000

// tickedWork reports one unit of progress per tick: one persisted
// transition each, published to the broker.
type tickedWork struct {
	ticks chan struct{}
	total int
}

func (w *tickedWork) Run(ctx context.Context, r *engine.PhaseRun) error {
	for i := 1; ; i++ {
		select {
		case _, ok := <-w.ticks:
			if !ok {
				r.Progress(w.total, w.total)
				return nil
			}
			r.Progress(i, w.total)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// BenchmarkDashboardFanout: 1,000 websocket clients watch one operation
// page while its phase reports progress, one transition per iteration, at
// most benchWindow transitions in flight (not yet at every client). It
// reports the time from a transition's publication (it is persisted before)
// to its fragment reaching every client (p50-ms, p99-ms), the same per
// delivery, fragments delivered per second, and the CPU time the process
// (server and clients alike) spent per fragment. Each fragment is rendered
// once and framed once for all clients. The clients run in the same process
// and on the same cores as the server: on a machine shared with other work
// the rates follow the neighbours (the load average is logged), while
// cpu-µs/fragment does not.
func BenchmarkDashboardFanout(b *testing.B) {
	const benchWindow = 2
	work := &tickedWork{ticks: make(chan struct{}), total: 1 << 30}
	f := setupDash(b, dashListen(), dashWork(engine.PhaseTickets, work),
		dashOpts(func(o *Options) { o.SendQueue = 256 }))
	_, op := f.createEvent("Benchmark Night")
	running := f.waitOp(op.ID, func(o *engine.Operation) bool { return o.Status == engine.StatusRunning })
	admin := f.admin()

	// Publication times, from a subscriber of our own.
	var pubMu sync.Mutex
	pubAt := map[uint64]time.Time{}
	progressAt := map[int]uint64{} // units reported → the version that carried them
	measuring := atomic.Bool{}
	sub := f.eng.Broker().Subscribe(1 << 16)
	defer sub.Close()
	go func() {
		for o := range sub.C {
			now := time.Now()
			if o.ID != op.ID || !measuring.Load() {
				continue
			}
			pubMu.Lock()
			pubAt[o.Version] = now
			if p := o.Phases[0].Progress; p != nil {
				progressAt[p.Completed] = o.Version
			}
			pubMu.Unlock()
		}
	}()

	// The clients: each records when it saw which version.
	type seen struct {
		version uint64
		at      time.Time
	}
	maxVersion := running.Version + uint64(b.N) + 64
	reached := make([]atomic.Int32, maxVersion+1)
	logs := make([][]seen, benchClients)
	var wg sync.WaitGroup
	header := http.Header{}
	header.Set("Origin", f.base)
	header.Set("Cookie", sessionCookie+"="+admin.cookies[sessionCookie])
	u := "ws" + strings.TrimPrefix(f.base, "http") + "/ws?page=" + url.QueryEscape(opPage(op.ID))
	conns := make([]*websocket.Conn, benchClients)
	for i := range conns {
		d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 32 << 10}
		conn, _, err := d.Dial(u, header)
		if err != nil {
			b.Fatalf("client %d: %v", i, err)
		}
		conns[i] = conn
		wg.Add(1)
		go func(i int, conn *websocket.Conn) {
			defer wg.Done()
			var last uint64
			buf := make([]byte, 64<<10)
			for {
				// Read into one buffer: the clients share the machine with
				// the server, so they should cost as little as they can.
				_, r, err := conn.NextReader()
				if err != nil {
					return
				}
				n, err := io.ReadFull(r, buf)
				if err != io.ErrUnexpectedEOF && err != io.EOF {
					return
				}
				now := time.Now()
				v := versionOf(buf[:n])
				if v <= last {
					continue
				}
				if v <= maxVersion {
					for x := last + 1; x <= v; x++ {
						reached[x].Add(1)
					}
				}
				last = v
				logs[i] = append(logs[i], seen{v, now})
			}
		}(i, conn)
	}
	// Every client has the current state before the clock starts.
	waitReached := func(v uint64) {
		for reached[v].Load() < benchClients {
			time.Sleep(50 * time.Microsecond)
		}
	}
	waitReached(running.Version)
	if n := f.dash.hub.connected(); n != benchClients {
		b.Fatalf("%d clients connected", n)
	}

	measuring.Store(true)
	versionOfTick := func(units int) uint64 {
		for {
			pubMu.Lock()
			v, ok := progressAt[units]
			if !ok { // folded into a later transition by the engine
				for u, w := range progressAt {
					if u >= units && (!ok || w < v) {
						v, ok = w, true
					}
				}
			}
			pubMu.Unlock()
			if ok {
				return v
			}
			time.Sleep(50 * time.Microsecond)
		}
	}
	b.ResetTimer()
	cpu0 := processCPU()
	start := time.Now()
	for i := 1; i <= b.N; i++ {
		work.ticks <- struct{}{}
		if i > benchWindow {
			waitReached(versionOfTick(i - benchWindow))
		}
	}
	waitReached(versionOfTick(b.N))
	elapsed := time.Since(start)
	cpu := processCPU() - cpu0
	b.StopTimer()
	measuring.Store(false)

	// Latencies from the clients' logs.
	pubMu.Lock()
	defer pubMu.Unlock()
	var perDelivery []time.Duration
	toAll := map[uint64]time.Duration{}
	deliveries := 0
	for _, l := range logs {
		var last uint64
		for _, s := range l {
			for v := last + 1; v <= s.version; v++ {
				t0, ok := pubAt[v]
				if !ok {
					continue
				}
				d := s.at.Sub(t0)
				perDelivery = append(perDelivery, d)
				toAll[v] = max(toAll[v], d)
			}
			if _, ok := pubAt[s.version]; ok {
				deliveries++
			}
			last = s.version
		}
	}
	all := make([]time.Duration, 0, len(toAll))
	for _, d := range toAll {
		all = append(all, d)
	}
	b.ReportMetric(ms(percentile(all, 50)), "p50-ms")
	b.ReportMetric(ms(percentile(all, 99)), "p99-ms")
	b.ReportMetric(ms(percentile(perDelivery, 50)), "delivery-p50-ms")
	b.ReportMetric(ms(percentile(perDelivery, 99)), "delivery-p99-ms")
	b.ReportMetric(float64(deliveries)/elapsed.Seconds(), "fragments/s")
	b.ReportMetric(float64(len(toAll))/elapsed.Seconds(), "transitions/s")
	// CPU time of the whole process (server and clients) per fragment: on a
	// machine shared with other work, the rate above depends on the
	// neighbours; this does not.
	b.ReportMetric(float64(cpu.Microseconds())/float64(max(deliveries, 1)), "cpu-µs/fragment")

	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		b.Logf("load average while measuring: %s", strings.TrimSpace(string(load)))
	}

	close(work.ticks)
	f.dash.CloseSockets()
	for _, c := range conns {
		c.Close()
	}
	wg.Wait()
}

// processCPU is the user and system time the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// versionOf reads the operation version a pushed fragment carries.
func versionOf(msg []byte) uint64 {
	const marker = `data-version="`
	i := bytes.Index(msg, []byte(marker))
	if i < 0 {
		return 0
	}
	rest := msg[i+len(marker):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return 0
	}
	v, _ := strconv.ParseUint(string(rest[:j]), 10, 64)
	return v
}

func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[min(max(i-1, 0), len(s)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkDashboardTransitionBytes: the bytes pushed per transition to a
// page watching a save of a 120-occurrence recurring event (catalog and
// inventory split into one child per occurrence, a third of them retried
// once), one save per iteration, over a real websocket. It reports the mean
// and the largest transition (the contract: under 20 KB whatever the
// operation's size), the first frame (the whole page's live parts, pushed
// on connect) and the page itself once the save completed.
func BenchmarkDashboardTransitionBytes(b *testing.B) {
	var frames, total, largest, first, page int
	for range b.N {
		f, fr, p, _ := transitionBytes(b, 120, "")
		first, page = f, len(p)
		for _, n := range fr {
			total += n
			largest = max(largest, n)
		}
		frames += len(fr)
	}
	b.ReportMetric(float64(total)/float64(max(frames, 1)), "B/transition")
	b.ReportMetric(float64(largest), "max-B/transition")
	b.ReportMetric(float64(frames)/float64(b.N), "transitions/save")
	b.ReportMetric(float64(first), "first-frame-B")
	b.ReportMetric(float64(page), "page-B")
}
