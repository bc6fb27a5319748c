package server

import (
	"net/netip"
	"slices"
	"testing"
)

// trusted_proxies entries are compared with unmapped peer addresses, so an IPv4 range
// written in IPv4-mapped IPv6 form means the IPv4 range.
func TestConfig_TrustedProxiesAreUnmapped(t *testing.T) {
	c := Default()
	c.TrustedProxies = []string{"::ffff:10.0.0.0/104", "::ffff:192.0.2.1", "10.1.2.3/8", "2001:db8::/32"}
	got, err := c.trustedProxies()
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.1/32"),
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32"),
	}
	if !slices.Equal(got, want) {
		t.Fatalf("trusted proxies %v, want %v", got, want)
	}
}
