package engine

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// heldReads is a readGroup's fetch whose reads each take the value the
// "database" holds when they are sent, then wait until the test lets them
// answer: a read on its way, frozen.
type heldReads struct {
	value   atomic.Int64
	sent    chan []string // each read's keys, as it is sent
	release chan struct{} // one answer per receive
}

func newHeldReads() *heldReads {
	return &heldReads{sent: make(chan []string, 16), release: make(chan struct{})}
}

func (h *heldReads) fetch(keys []string) ([]int64, error) {
	v := h.value.Load() // the snapshot: what was committed when the read was sent
	h.sent <- slices.Clone(keys)
	<-h.release
	out := make([]int64, len(keys))
	for i := range out {
		out[i] = v
	}
	return out, nil
}

// joined waits until n callers wait for the read that is not sent yet.
func joined(t *testing.T, g *readGroup[string, int64], keys int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		g.mu.Lock()
		n := 0
		if g.next != nil {
			n = len(g.next.keys)
		}
		g.mu.Unlock()
		if n >= keys {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d keys joined the next read, want %d", n, keys)
		}
		time.Sleep(time.Millisecond)
	}
}

// callersJoined waits until n callers have joined g's next read.
func callersJoined(t *testing.T, g *readGroup[string, int64], n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		g.mu.Lock()
		got := 0
		if g.next != nil {
			got = g.next.callers
		}
		g.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d callers joined the next read, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// A call that arrives while a read of its key is on its way is not answered
// by that read, which may predate a commit the caller has seen: it joins
// the next read, sent once the one on its way returns.
func TestReadGroupNeverAnswersFromAReadSentBeforeTheCall(t *testing.T) {
	t.Parallel()
	h := newHeldReads()
	h.value.Store(1)
	g := newReadGroup(h.fetch)
	first, second := make(chan int64, 1), make(chan int64, 1)
	go func() { v, _ := g.get("k"); first <- v }()
	if keys := <-h.sent; !slices.Equal(keys, []string{"k"}) {
		t.Fatalf("first read sent %q", keys)
	}
	h.value.Store(2) // a commit, after the first read was sent
	go func() { v, _ := g.get("k"); second <- v }()
	joined(t, g, 1)
	h.release <- struct{}{}
	if v := <-first; v != 1 {
		t.Fatalf("first call: %d", v)
	}
	if keys := <-h.sent; !slices.Equal(keys, []string{"k"}) {
		t.Fatalf("second read sent %q", keys)
	}
	h.release <- struct{}{}
	if v := <-second; v != 2 {
		t.Fatalf("a call made after the commit was answered %d, the state before it", v)
	}
}

// Callers that arrive while a read is on its way share the next read, one
// statement for all of their keys, each key asked once; a lone caller's
// read is sent at once.
func TestReadGroupCallersShareTheNextRead(t *testing.T) {
	t.Parallel()
	h := newHeldReads()
	g := newReadGroup(h.fetch)
	done := make(chan struct{})
	go func() { g.get("lone"); close(done) }()
	if keys := <-h.sent; !slices.Equal(keys, []string{"lone"}) {
		t.Fatalf("lone read sent %q", keys)
	}
	h.value.Store(7)
	var wg sync.WaitGroup
	var wrong atomic.Int64
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if v, err := g.get([]string{"a", "b"}[i%2]); v != 7 || err != nil {
				wrong.Add(1)
			}
		}()
	}
	callersJoined(t, g, 10)
	h.release <- struct{}{}
	<-done
	keys := <-h.sent
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"a", "b"}) {
		t.Fatalf("the next read asked %q, want a and b once each", keys)
	}
	h.release <- struct{}{}
	wg.Wait()
	if wrong.Load() > 0 {
		t.Fatalf("%d callers were answered wrongly", wrong.Load())
	}
	select {
	case keys := <-h.sent:
		t.Fatalf("a third read was sent: %q", keys)
	default:
	}
}

// A failed read, or one that panicked, answers every caller that joined it
// with its error, and the group goes on reading.
func TestReadGroupAnswersEveryCallerAFailure(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	g := newReadGroup(func(keys []string) ([]int64, error) {
		switch calls.Add(1) {
		case 1:
			return nil, errors.New("database away")
		case 2:
			panic("bad row")
		case 3:
			return []int64{}, nil // one value short
		}
		return make([]int64, len(keys)), nil
	})
	if _, err := g.get("k"); err == nil || err.Error() != "database away" {
		t.Fatalf("first read: %v", err)
	}
	if _, err := g.get("k"); err == nil || !strings.Contains(err.Error(), "bad row") {
		t.Fatalf("panicking read: %v", err)
	}
	if _, err := g.get("k"); err == nil {
		t.Fatal("a read answering too few values: no error")
	}
	if v, err := g.get("k"); err != nil || v != 0 {
		t.Fatalf("the read after: %d %v", v, err)
	}
}
