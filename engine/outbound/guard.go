// Package outbound sends eventops' outbound webhooks over HTTP: Standard
// Webhooks signatures, a bounded answer, no redirects, and a dialer that
// refuses loopback, private, link-local and metadata addresses at every
// connection (unless private addresses are allowed, for development). It
// implements engine.WebhookSender and engine.URLGuard; the engine decides
// what is sent and when.
package outbound

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Resolver resolves a host name (net.DefaultResolver; tests inject one).
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// ErrRefusedAddress is the error of a URL or connection refused because of
// where it leads.
var ErrRefusedAddress = errors.New("address refused")

var (
	sharedSpace = netip.MustParsePrefix("100.64.0.0/10") // carrier-grade NAT
	thisNetwork = netip.MustParsePrefix("0.0.0.0/8")
	// NAT64 prefixes embed an IPv4 address that a NAT64 gateway reaches
	// for us, private or loopback ones included: refused whole, since the
	// gateway decides where they lead.
	nat64 = []netip.Prefix{
		netip.MustParsePrefix("64:ff9b::/96"),   // well-known (RFC 6052)
		netip.MustParsePrefix("64:ff9b:1::/48"), // local-use (RFC 8215)
	}
	metadata = []netip.Addr{
		netip.MustParseAddr("169.254.169.254"), // AWS, GCP, Azure, OpenStack
		netip.MustParseAddr("fd00:ec2::254"),   // AWS over IPv6
		netip.MustParseAddr("100.100.100.200"), // Alibaba Cloud
	}
)

// Classify names why an address may not receive webhooks ("loopback",
// "private", "link-local", "metadata", ...), or "" when it may.
func Classify(a netip.Addr) string {
	a = a.Unmap()
	for _, m := range metadata {
		if a == m {
			return "metadata"
		}
	}
	switch {
	case !a.IsValid():
		return "invalid"
	case a.IsLoopback():
		return "loopback"
	case a.IsPrivate() || sharedSpace.Contains(a):
		return "private"
	case a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast():
		return "link-local"
	case a.IsUnspecified() || thisNetwork.Contains(a):
		return "unspecified"
	case a.IsMulticast() || a.IsInterfaceLocalMulticast():
		return "multicast"
	}
	for _, p := range nat64 {
		if p.Contains(a) {
			return "nat64"
		}
	}
	return ""
}

// lookupTimeout bounds the resolution of a URL being checked.
const lookupTimeout = 5 * time.Second

// Guard checks endpoint URLs and connections.
type Guard struct {
	AllowPrivate bool
	Resolver     Resolver // nil: net.DefaultResolver
}

func (g *Guard) resolver() Resolver {
	if g.Resolver != nil {
		return g.Resolver
	}
	return net.DefaultResolver
}

// CheckURL refuses a URL that is not https or whose host resolves to a
// refused address (AllowPrivate lifts both rules).
func (g *Guard) CheckURL(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return errors.New("is not an absolute URL")
	}
	if g.AllowPrivate {
		return nil
	}
	if u.Scheme != "https" {
		return errors.New("must use https")
	}
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	addrs, err := g.lookup(ctx, u.Hostname())
	if err != nil {
		return err
	}
	for _, a := range addrs {
		if why := Classify(a); why != "" {
			return fmt.Errorf("resolves to a %s address (%s): %w", why, a, ErrRefusedAddress)
		}
	}
	return nil
}

// lookup resolves host (an IP literal resolves to itself).
func (g *Guard) lookup(ctx context.Context, host string) ([]netip.Addr, error) {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, nil
	}
	addrs, err := g.resolver().LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, fmt.Errorf("does not resolve: %w", err)
	}
	if len(addrs) == 0 {
		return nil, errors.New("does not resolve")
	}
	return addrs, nil
}

// control is the dialer's last word on the address a connection is about
// to reach, after resolution: DNS may have changed since the URL was
// checked, or answer differently now.
func (g *Guard) control(network, address string, _ syscall.RawConn) error {
	if g.AllowPrivate {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("connect %s: %w", address, ErrRefusedAddress)
	}
	if why := Classify(ap.Addr()); why != "" {
		return fmt.Errorf("connect to a %s address (%s): %w", why, ap.Addr(), ErrRefusedAddress)
	}
	return nil
}

// dialContext resolves with the guard's resolver and dials the addresses in
// turn; Control refuses a forbidden one before any packet leaves.
func (g *Guard) dialContext(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		addrs, err := g.lookup(ctx, host)
		if err != nil {
			return nil, fmt.Errorf("%s %w", host, err)
		}
		var first error
		for _, a := range addrs {
			c, err := d.DialContext(ctx, network, net.JoinHostPort(a.Unmap().String(), port))
			if err == nil {
				return c, nil
			}
			if first == nil {
				first = err
			}
		}
		return nil, first
	}
}
