// Package auth decides who may connect and what they may do: the WebSocket Origin policy
// (cross-site WebSocket hijacking protection) and, when configured, login tokens and the
// admin token.
package auth

import (
	"fmt"
	"net"
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
			if err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") {
				return nil, fmt.Errorf("allowed origin %q: want scheme://host[:port]", a)
			}
			p.exact[u.Scheme+"://"+u.Host] = true
		default:
			if strings.ContainsAny(a, "/*") {
				return nil, fmt.Errorf("allowed origin %q: want a host name, *.domain or scheme://host[:port]", a)
			}
			p.hosts[a] = true
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
	if p.exact[u.Scheme+"://"+u.Host] || p.hosts[oh] {
		return true
	}
	for _, s := range p.suffixes {
		if strings.HasSuffix(oh, s) {
			return true
		}
	}
	return false
}

// hostname strips the port from a Host header value.
func hostname(hostport string) string {
	hostport = strings.ToLower(hostport)
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return strings.Trim(h, "[]")
	}
	return strings.Trim(hostport, "[]")
}
