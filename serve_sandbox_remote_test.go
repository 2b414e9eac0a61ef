package main

import (
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"eventops/engine"
	"eventops/engine/shopify/sandbox"
)

func TestParseSandboxURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"http://127.0.0.1:8081":                     "http://127.0.0.1:8081",
		"http://127.0.0.1:8081/":                    "http://127.0.0.1:8081",
		"http://127.0.0.1:8081/sandbox/shopify/":    "http://127.0.0.1:8081",
		"https://sb.internal/shops/sandbox/shopify": "https://sb.internal/shops",
	} {
		if got, err := parseSandboxURL(in); err != nil || got != want {
			t.Errorf("%q: %q %v, want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "127.0.0.1:8081", "ftp://127.0.0.1", "http://", "http://h/?x=1"} {
		if got, err := parseSandboxURL(bad); err == nil {
			t.Errorf("%q accepted as %q", bad, got)
		}
	}
}

// The sandbox process's refusals reach the one connecting a company as
// what to do: a sandbox without --control, one that cannot be reached
// (503, typed: nothing was stored, try again), a bad shop name.
func TestRemoteSandboxRefusals(t *testing.T) {
	t.Parallel()
	serve := func(control bool) string {
		sb, err := sandbox.New(sandbox.Options{Control: control})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sb.Close() })
		srv := httptest.NewServer(sb.Handler())
		t.Cleanup(srv.Close)
		return srv.URL
	}

	r := newRemoteSandbox(serve(true))
	in, err := r.ProvisionShop("Acme Events", "JPY")
	if err != nil || !in.Sandbox || in.Domain != "acme-events" || in.Currency != "JPY" || in.AccessToken == "" || in.WebhookSecret == "" {
		t.Fatalf("provisioned: %+v %v", in, err)
	}
	if _, err := r.ProvisionShop("x", "XXX"); err == nil || !strings.Contains(err.Error(), "422") {
		t.Errorf("a bad currency: %v", err)
	}

	if _, err := newRemoteSandbox(serve(false)).ProvisionShop("acme", ""); err == nil || !strings.Contains(err.Error(), "--control") {
		t.Errorf("a sandbox without control: %v, want it to say --control", err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := "http://" + ln.Addr().String()
	ln.Close()
	down := newRemoteSandbox(gone)
	down.wait = time.Millisecond
	_, err = down.ProvisionShop("acme", "")
	if engine.ErrorKind(err) != engine.KindUnavailable || !strings.Contains(err.Error(), gone) {
		t.Errorf("an unreachable sandbox: %v (kind %v), want unavailable naming it", err, engine.ErrorKind(err))
	}
}
