package shopify_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
)

// gate lets a matching call reach the shop and then holds its answer
// until released or the caller gives up: the shop applied the call, the
// caller never learned it (a crash in the middle of catalog).
type gate struct {
	next    http.RoundTripper
	armed   atomic.Bool
	match   func(body string) bool
	held    chan struct{} // closed when a call is held
	release chan struct{}
	once    sync.Once
	// unsent holds the matching call without sending it: the shop never
	// sees it (a crash between our commit and the send).
	unsent bool
}

func (g *gate) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body == nil || !g.armed.Load() {
		return g.next.RoundTrip(req)
	}
	raw, _ := io.ReadAll(req.Body)
	req.Body.Close()
	req.Body = io.NopCloser(bytes.NewReader(raw))
	if !g.match(string(raw)) {
		return g.next.RoundTrip(req)
	}
	if !g.unsent {
		resp, err := g.next.RoundTrip(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	g.once.Do(func() { close(g.held) })
	select {
	case <-g.release:
	case <-req.Context().Done():
	}
	return nil, fmt.Errorf("connection lost")
}

// answerRewriter replaces the answers of matching calls.
type answerRewriter struct {
	next    http.RoundTripper
	mu      sync.Mutex
	rewrite func(body string, n int) (answer string, ok bool)
	seen    int
}

func (a *answerRewriter) RoundTrip(req *http.Request) (*http.Response, error) {
	raw, _ := io.ReadAll(req.Body)
	req.Body.Close()
	req.Body = io.NopCloser(bytes.NewReader(raw))
	a.mu.Lock()
	fn := a.rewrite
	var answer string
	ok := false
	if fn != nil {
		a.seen++
		answer, ok = fn(string(raw), a.seen)
	}
	a.mu.Unlock()
	if !ok {
		return a.next.RoundTrip(req)
	}
	// The shop never sees the call: the answer is made up here.
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(answer)), ContentLength: int64(len(answer)), Request: req}, nil
}
