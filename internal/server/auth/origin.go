// Package auth decides who may connect and what they may do: the WebSocket Origin policy
// (cross-site WebSocket hijacking protection) and, when configured, login tokens and the
// admin token.
package auth

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// OriginPolicy decides which browser origins may open WebSocket connections. A request
// without an Origin header (a non-browser client) is always allowed; a browser is allowed
// when its origin's host name equals the host name the request was sent to (the port may
// differ: the chat page is served from the HTTP port), or when the origin matches an entry
// of the allow list. It is immutable and safe for concurrent use.
type OriginPolicy struct {
	any      bool
	exact    map[string]bool // normalised "scheme://host[:port]"
	hosts    map[string]bool // bare host names
	suffixes []string        // ".example.com" for "*.example.com"
}

// NewOriginPolicy builds a policy from allow-list entries: "*" (any origin), an exact
// origin ("https://chat.example.com:8443"), a host name ("chat.example.com", any scheme and
// port) or a wildcard ("*.example.com", any subdomain, not the apex).
func NewOriginPolicy(allowed []string) (*OriginPolicy, error) {
	p := &OriginPolicy{exact: map[string]bool{}, hosts: map[string]bool{}}
	for _, a := range allowed {
		a = strings.ToLower(strings.TrimSpace(a))
		switch {
		case a == "":
			return nil, fmt.Errorf("allowed origin: empty entry")
		case a == "*":
			p.any = true
		case strings.HasPrefix(a, "*."):
			if len(a) < 3 || strings.ContainsAny(a[2:], "*/:") {
				return nil, fmt.Errorf("allowed origin %q: want *.domain", a)
			}
			p.suffixes = append(p.suffixes, a[1:])
		case strings.Contains(a, "://"):
			u, err := url.Parse(a)
			if err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
				return nil, fmt.Errorf("allowed origin %q: want scheme://host[:port]", a)
			}
			p.exact[originKey(u)] = true
		default:
			h := strings.Trim(a, "[]") // an IPv6 address, as Allow compares it
			if strings.ContainsAny(a, "/*") {
				return nil, fmt.Errorf("allowed origin %q: want a host name, *.domain or scheme://host[:port]", a)
			}
			if _, err := netip.ParseAddr(h); err != nil && strings.Contains(h, ":") {
				return nil, fmt.Errorf("allowed origin %q: a host name matches any port; for one port write scheme://host:port", a)
			}
			p.hosts[h] = true
		}
	}
	return p, nil
}

// Allow reports whether a handshake with the given Origin header, sent to the given Host
// header, may proceed.
func (p *OriginPolicy) Allow(origin, host string) bool {
	if origin == "" || p.any {
		return true
	}
	u, err := url.Parse(strings.ToLower(origin))
	if err != nil || u.Host == "" {
		return false // "null" origins (sandboxed frames, file://) and garbage
	}
	oh := u.Hostname()
	if oh != "" && oh == hostname(host) {
		return true
	}
	if p.exact[originKey(u)] || p.hosts[oh] {
		return true
	}
	for _, s := range p.suffixes {
		if strings.HasSuffix(oh, s) {
			return true
		}
	}
	return false
}

// originKey is an origin as a browser writes it, "scheme://host[:port]" without the
// scheme's default port: an allow-list entry "https://chat.example.com:443" matches the
// Origin "https://chat.example.com" that browsers send for it.
func originKey(u *url.URL) string {
	host := u.Host
	switch port := u.Port(); {
	case port == "443" && (u.Scheme == "https" || u.Scheme == "wss"),
		port == "80" && (u.Scheme == "http" || u.Scheme == "ws"):
		host = strings.TrimSuffix(host, ":"+port)
	}
	return u.Scheme + "://" + host
}

// hostname strips the port from a Host header value.
func hostname(hostport string) string {
	hostport = strings.ToLower(hostport)
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return strings.Trim(h, "[]")
	}
	return strings.Trim(hostport, "[]")
}
