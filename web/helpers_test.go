package web

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"testing"
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
