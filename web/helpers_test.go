package web

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"
)

func readAll(t testing.TB, res *http.Response) []byte {
	t.Helper()
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func repeat(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// waitUntil polls cond until it holds, failing after 20 s: a wait on a
// condition, never a guess at how long something takes.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: not after 20 s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitHeld waits until n long-polls are held by the server.
func waitHeld(t testing.TB, f *fixture, n int64) {
	t.Helper()
	waitUntil(t, fmt.Sprintf("%d held long-polls", n), func() bool { return f.srv.heldPolls.Load() >= n })
}

// intIs reports whether an optional count of an answer is set to want.
func intIs(p *int, want int) bool { return p != nil && *p == want }
