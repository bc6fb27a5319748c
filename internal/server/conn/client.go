package conn

import (
	"net/http"
	"net/netip"
	"strings"
)

// clientAddr is the address of the client behind a handshake (see ClientAddr).
func (e *Engine) clientAddr(r *http.Request, peer netip.AddrPort) netip.AddrPort {
	return ClientAddr(r, peer, e.cfg.TrustedProxies)
}

// ClientAddr is the address of the client behind r, which arrived from peer: peer itself,
// or, when peer is one of proxies, the nearest address in X-Forwarded-For that is not
// (the farthest one when all are: a client inside a trusted range), or X-Real-IP when
// there is no X-Forwarded-For. A chain malformed before that address is not trusted at
// all: peer. Addresses learnt from headers carry port 0.
func ClientAddr(r *http.Request, peer netip.AddrPort, proxies []netip.Prefix) netip.AddrPort {
	if !Trusted(proxies, peer.Addr()) {
		return peer
	}
	hops := forwardedFor(r)
	if len(hops) == 0 {
		if ip, ok := parseHop(r.Header.Get("X-Real-IP")); ok {
			return netip.AddrPortFrom(ip, 0)
		}
		return peer
	}
	for i := len(hops) - 1; ; i-- {
		ip, ok := parseHop(hops[i])
		if !ok {
			return peer
		}
		if i == 0 || !Trusted(proxies, ip) {
			return netip.AddrPortFrom(ip, 0)
		}
	}
}

// forwardedFor returns the hops of r's X-Forwarded-For chain, over all its lines, nearest
// last.
func forwardedFor(r *http.Request) []string {
	var hops []string
	for _, line := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(line, ",")...)
	}
	return hops
}

// ForwardedClients returns every client address r's forwarding headers name: each
// X-Forwarded-For hop, X-Real-IP and each for= of Forwarded (RFC 7239). It reports false
// when one of them is not an address (garbage, "unknown", an obfuscated identifier), so
// that a caller deciding from them can refuse a client it cannot place.
func ForwardedClients(r *http.Request) ([]netip.Addr, bool) {
	named := append(forwardedFor(r), r.Header.Values("X-Real-IP")...)
	for _, line := range r.Header.Values("Forwarded") {
		for pair := range strings.FieldsFuncSeq(line, func(c rune) bool { return c == ',' || c == ';' }) {
			if k, v, _ := strings.Cut(pair, "="); strings.EqualFold(strings.TrimSpace(k), "for") {
				named = append(named, strings.Trim(strings.TrimSpace(v), `"`))
			}
		}
	}
	addrs := make([]netip.Addr, 0, len(named))
	for _, s := range named {
		ip, ok := parseHop(s)
		if !ok {
			return nil, false
		}
		addrs = append(addrs, ip)
	}
	return addrs, true
}

// parseHop parses one address of a forwarding header: "ip", "ip:port", "[ipv6]" or
// "[ipv6]:port" (some proxies add the client's port), unmapped.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if ip, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")); err == nil {
		return ip.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

// ForwardHeaders are the headers a proxy adds to a request it forwards, as an HTTP field
// list (for Vary).
const ForwardHeaders = "X-Forwarded-For, X-Forwarded-Host, Forwarded, X-Real-IP"

// Forwarded reports whether a proxy forwarded r: it carries one of ForwardHeaders, even
// an empty one (a proxy may add its own line after the client's empty one).
func Forwarded(r *http.Request) bool {
	for k := range strings.SplitSeq(ForwardHeaders, ", ") {
		if len(r.Header.Values(k)) > 0 {
			return true
		}
	}
	return false
}

// Trusted reports whether ip is in one of proxies.
func Trusted(proxies []netip.Prefix, ip netip.Addr) bool {
	for _, p := range proxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// ipBucket is what MaxConnsPerIP counts a client address in: the address itself for
// IPv4, its /64 for IPv6, the block one subscriber or host is given (counting each IPv6
// address on its own would give one client 2^64 allowances).
func ipBucket(ip netip.Addr) netip.Addr {
	if ip.Is6() && !ip.Is4In6() {
		return netip.PrefixFrom(ip, 64).Masked().Addr()
	}
	return ip
}

// countIP reserves a connection slot for ip and reports whether it was under the cap.
func (e *Engine) countIP(ip netip.Addr) bool {
	if e.cfg.MaxConnsPerIP == 0 {
		return true
	}
	ip = ipBucket(ip)
	e.ipMu.Lock()
	defer e.ipMu.Unlock()
	if int(e.perIP[ip]) >= e.cfg.MaxConnsPerIP {
		return false
	}
	e.perIP[ip]++
	return true
}

// releaseIP frees a slot reserved by countIP.
func (e *Engine) releaseIP(ip netip.Addr) {
	if e.cfg.MaxConnsPerIP == 0 {
		return
	}
	e.ipMu.Lock()
	decrement(e.perIP, ipBucket(ip))
	e.ipMu.Unlock()
}

// decrement takes one from counts[k], dropping the entry at zero so that the map holds
// only addresses with connections. The map's lock (e.ipMu) must be held.
func decrement(counts map[netip.Addr]int32, k netip.Addr) {
	if n := counts[k] - 1; n > 0 {
		counts[k] = n
	} else {
		delete(counts, k)
	}
}

// AddrString formats a client address for people and presence: ip:port, or the IP alone
// when the port is not known (0: an address learnt from a proxy's header).
func AddrString(a netip.AddrPort) string {
	if a.Port() == 0 && a.Addr().IsValid() {
		return a.Addr().String()
	}
	return a.String()
}
