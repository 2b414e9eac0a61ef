package outbound_test

import (
	"net/netip"
	"testing"

	"eventops/engine/outbound"
)

// NAT64 addresses are refused whatever IPv4 address they embed: a NAT64
// gateway would carry the send to it, loopback and private ones included
// (review finding); ordinary public addresses still pass.
func TestClassifyRefusesNAT64(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ addr, want string }{
		{"64:ff9b::7f00:1", "nat64"},    // 127.0.0.1 through the well-known prefix
		{"64:ff9b::a9fe:a9fe", "nat64"}, // 169.254.169.254
		{"64:ff9b::808:808", "nat64"},   // even a public one: the gateway decides
		{"64:ff9b:1::a00:1", "nat64"},   // local-use prefix
		{"64:ff9b:1:ffff::1", "nat64"},
		{"2606:4700::1111", ""},
		{"8.8.8.8", ""},
	} {
		if got := outbound.Classify(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("Classify(%s) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}
