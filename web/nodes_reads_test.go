package web

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"eventops/engine"
	"eventops/web/client"
)

// The reads a shared store coalesces across concurrent requests (the API
// key at every request, an operation at every GET of one not finished:
// engine's readGroup) keep the cross-node guarantees, with other requests
// in flight on the node, so that a read is always on its way when the
// request that matters arrives.

// httpGet sends GET path with key to addr, from any goroutine, and returns
// the status and body.
func httpGet(hc *http.Client, addr, path, key string) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Token "+key)
	res, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, err
}

// A key revoked on node A is refused by node B at B's next request after
// the revoke committed, while B is busy authenticating that key for other
// requests: no request that began after the revoke returned is allowed,
// and every request sent afterwards one by one is 401. Another key goes on
// working on B.
func TestRevokedKeyIsRefusedByTheOtherNodeUnderLoad(t *testing.T) {
	t.Parallel()
	a, b := twoCrossNodes(t, nil)
	ctx := context.Background()
	c := a.event(a.keyA)
	a.waitTerminal(c.EventID, c.OpID)
	path := opPath(c.EventID, c.OpID) // a finished operation: the key's read is the request's only one
	k, plain, err := a.eng.CreateAPIKey(ctx, a.a.ID, "doomed", []engine.Scope{engine.ScopeRead})
	if err != nil {
		t.Fatal(err)
	}
	key := plain.Reveal()
	addr := b.listen()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: 20 * time.Second}
	defer hc.CloseIdleConnections()

	var revokedAt atomic.Pointer[time.Time]
	var allowed, late atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				began := time.Now()
				status, _, err := httpGet(hc, addr, path, key)
				switch {
				case err != nil:
					t.Error(err)
					return
				case status == http.StatusOK:
					allowed.Add(1)
					if r := revokedAt.Load(); r != nil && began.After(*r) {
						late.Add(1)
					}
				case status != http.StatusUnauthorized:
					t.Errorf("status %d", status)
					return
				}
			}
		}()
	}
	waitUntil(t, "node B to serve the key under load", func() bool { return allowed.Load() >= 200 })
	if _, err := a.eng.RevokeAPIKey(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	revokedAt.Store(&now)
	for i := range 50 {
		status, _, err := httpGet(hc, addr, path, key)
		if err != nil || status != http.StatusUnauthorized {
			t.Errorf("request %d to node B after the revoke on node A: %d %v, want 401", i+1, status, err)
			break
		}
	}
	time.Sleep(50 * time.Millisecond) // the load goes on past the revoke
	close(stop)
	wg.Wait()
	if n := late.Load(); n > 0 {
		t.Errorf("node B allowed %d requests that began after the revoke on node A had committed", n)
	}
	if status, _, err := httpGet(hc, addr, path, b.keyA); err != nil || status != http.StatusOK {
		t.Errorf("another key on node B: %d %v, want 200", status, err)
	}
}

// progressWork reports progress n times, every few milliseconds (each a
// committed transition), before the tickets work: an operation whose
// version moves for a while.
type progressWork struct {
	n     int
	every time.Duration
}

func (w progressWork) Run(ctx context.Context, r *engine.PhaseRun) error {
	for i := range w.n {
		r.Progress(i, w.n)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(w.every):
		}
	}
	return engine.TicketsWork{}.Run(ctx, r)
}

// A GET on node A never answers an older state of an operation than node B
// answered before the GET began, while the operation moves on B and other
// GETs of it keep node A's reads busy; nor does any client of A see the
// operation go backwards.
func TestGetIsNeverOlderThanTheOtherNodeAnswered(t *testing.T) {
	t.Parallel()
	a, b := twoCrossNodes(t, progressWork{n: 200, every: 5 * time.Millisecond})
	c := b.event(b.keyA)
	path := opPath(c.EventID, c.OpID)
	addrA, addrB := a.listen(), b.listen()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: 20 * time.Second}
	defer hc.CloseIdleConnections()
	version := func(addr string) (client.Operation, error) {
		status, body, err := httpGet(hc, addr, path, a.keyA)
		var op client.Operation
		if err == nil && status != http.StatusOK {
			t.Errorf("GET %s: %d %s", path, status, body)
		}
		if err == nil {
			err = json.Unmarshal(body, &op)
		}
		return op, err
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 { // A's other clients
		wg.Add(1)
		go func() {
			defer wg.Done()
			var last uint64
			for {
				select {
				case <-stop:
					return
				default:
				}
				op, err := version(addrA)
				if err != nil {
					t.Error(err)
					return
				}
				if op.Version < last {
					t.Errorf("a client of node A saw version %d after %d", op.Version, last)
				}
				last = op.Version
			}
		}()
	}
	moving := 0
	for {
		onB, err := version(addrB)
		if err != nil {
			t.Error(err)
			break
		}
		onA, err := version(addrA)
		if err != nil {
			t.Error(err)
			break
		}
		if onA.Version < onB.Version {
			t.Errorf("node A answered version %d after node B had answered %d", onA.Version, onB.Version)
		}
		if onB.Terminal() {
			break
		}
		moving++
	}
	close(stop)
	wg.Wait()
	if moving < 10 {
		t.Errorf("only %d comparisons while the operation moved", moving)
	}
	t.Logf("%d comparisons while the operation moved", moving)
}
