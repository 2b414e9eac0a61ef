package web

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"eventops/engine"
)

// tickWork reports progress once per tick (a transition each), and
// finishes when ticks is closed.
type tickWork struct{ ticks chan struct{} }

func (w *tickWork) Run(ctx context.Context, r *engine.PhaseRun) error {
	const total = 1 << 30
	for i := 1; ; i++ {
		select {
		case _, ok := <-w.ticks:
			if !ok {
				r.Progress(total, total)
				return nil
			}
			r.Progress(i, total)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// BenchmarkCrossNodeLag: an operation runs on node B, reporting progress
// one transition per iteration (at most two not yet at every client);
// 100 websocket clients of node A watch its page. It reports the time from
// a transition's publication on B (just after its commit) to its fragment
// reaching a client on A (p50-ms, p99-ms per delivery) and to reaching all
// of them (all-p99-ms). The path is B's NOTIFY, A's listener, A's store read,
// A's broker, A's dashboard hub, the websocket. Both nodes, PostgreSQL and
// the clients share the machine: the load average is logged.
func BenchmarkCrossNodeLag(b *testing.B) {
	const viewers, window = 100, 2
	work := &tickWork{ticks: make(chan struct{})}
	nodeA, nodeB := twoCrossNodes(b, work)
	pubMu := sync.Mutex{}
	pubAt := map[uint64]time.Time{}
	progressAt := map[int]uint64{} // units reported → the version carrying them
	sub := nodeB.eng.Broker().Subscribe(1 << 16)
	defer sub.Close()
	c := nodeB.event(nodeB.keyA)
	go func() {
		for o := range sub.C {
			now := time.Now()
			if o.ID != c.OpID {
				continue
			}
			pubMu.Lock()
			pubAt[o.Version] = now
			if len(o.Phases) > 0 && o.Phases[0].Progress != nil {
				progressAt[o.Phases[0].Progress.Completed] = o.Version
			}
			pubMu.Unlock()
		}
	}()
	var start uint64
	waitUntil(b, "the save running on B", func() bool {
		op, err := nodeB.eng.Operation(0, c.OpID)
		if err == nil && op.Status == engine.StatusRunning {
			start = op.Version
		}
		return start > 0
	})

	type seen struct {
		version uint64
		at      time.Time
	}
	maxVersion := start + uint64(b.N) + 64
	reached := make([]atomic.Int32, maxVersion+1)
	logs := make([][]seen, viewers)
	viewer := nodeA.signInStaff("viewer@example.com", engine.RoleViewer)
	header := http.Header{}
	header.Set("Origin", viewer.base)
	header.Set("Cookie", viewer.cookieHeader())
	u := "ws" + strings.TrimPrefix(viewer.base, "http") + "/ws?page=" + url.QueryEscape(fmt.Sprintf("/operations/%d", c.OpID))
	var wg sync.WaitGroup
	conns := make([]*websocket.Conn, viewers)
	for i := range conns {
		d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 32 << 10}
		conn, _, err := d.Dial(u, header)
		if err != nil {
			b.Fatalf("viewer %d: %v", i, err)
		}
		conns[i] = conn
		wg.Add(1)
		go func(i int, conn *websocket.Conn) {
			defer wg.Done()
			var last uint64
			buf := make([]byte, 256<<10)
			for {
				_, r, err := conn.NextReader()
				if err != nil {
					return
				}
				n, err := io.ReadFull(r, buf)
				if err != io.ErrUnexpectedEOF && err != io.EOF {
					return
				}
				now := time.Now()
				v := frameVersion(buf[:n])
				if v <= last {
					continue
				}
				for x := last + 1; x <= min(v, maxVersion); x++ {
					reached[x].Add(1)
				}
				last = v
				logs[i] = append(logs[i], seen{v, now})
			}
		}(i, conn)
	}
	waitReached := func(v uint64) {
		deadline := time.Now().Add(30 * time.Second)
		for reached[v].Load() < viewers {
			if time.Now().After(deadline) {
				b.Fatalf("version %d reached %d of %d viewers in 30 s", v, reached[v].Load(), viewers)
			}
			time.Sleep(50 * time.Microsecond)
		}
	}
	versionOfTick := func(units int) uint64 {
		for {
			pubMu.Lock()
			v, ok := progressAt[units]
			if !ok { // folded into a later transition
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
	waitReached(start)

	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		work.ticks <- struct{}{}
		if i > window {
			waitReached(versionOfTick(i - window))
		}
	}
	last := versionOfTick(b.N)
	waitReached(last)
	b.StopTimer()
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		b.Logf("load average while measuring: %s", strings.TrimSpace(string(load)))
	}
	close(work.ticks)
	for _, conn := range conns {
		conn.Close()
	}
	wg.Wait()

	pubMu.Lock()
	defer pubMu.Unlock()
	var each []time.Duration
	toAll := map[uint64]time.Duration{}
	for _, l := range logs {
		var prev uint64
		for _, s := range l {
			for v := prev + 1; v <= s.version; v++ {
				t0, ok := pubAt[v]
				if !ok || v <= start || v > last {
					continue
				}
				d := s.at.Sub(t0)
				each = append(each, d)
				if d > toAll[v] {
					toAll[v] = d
				}
			}
			prev = s.version
		}
	}
	var all []time.Duration
	for _, d := range toAll {
		all = append(all, d)
	}
	if len(each) == 0 {
		b.Fatal("no delivery measured")
	}
	b.ReportMetric(ms(percentileOf(each, 50)), "p50-ms")
	b.ReportMetric(ms(percentileOf(each, 99)), "p99-ms")
	b.ReportMetric(ms(percentileOf(all, 99)), "all-p99-ms")
	b.ReportMetric(0, "ns/op")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func percentileOf(ds []time.Duration, p int) time.Duration {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	i := (len(ds)*p + 99) / 100
	return ds[max(min(i, len(ds))-1, 0)]
}

// frameVersion is the operation version a pushed fragment carries.
func frameVersion(msg []byte) uint64 {
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
