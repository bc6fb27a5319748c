package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
)

// AdminGuard protects the admin HTTP routes (push, lists, state, kick, nodes, metrics,
// pprof). With a token configured, requests need "Authorization: Bearer <token>" (compared
// in constant time). Without one, only clients on this machine are served, so a fresh
// install is not an open push relay. It is immutable and safe for concurrent use.
type AdminGuard struct {
	token []byte // SHA-256 of the admin token, nil for none
	local func(*http.Request) bool
	hosts []string // this machine's own names, lower case
}

// NewAdminGuard returns a guard for token. With token "", local decides which requests
// come from this machine (nil: those whose peer is a loopback address), and hosts are
// the machine's own names (its host name, the address other nodes are given), which a
// request may be sent to as well as localhost and an IP address.
func NewAdminGuard(token string, local func(*http.Request) bool, hosts ...string) *AdminGuard {
	if local == nil {
		local = func(r *http.Request) bool { return isLoopback(r.RemoteAddr) }
	}
	g := &AdminGuard{local: local}
	for _, h := range hosts {
		if h != "" {
			g.hosts = append(g.hosts, strings.ToLower(strings.TrimSuffix(h, ".")))
		}
	}
	if token != "" {
		sum := sha256.Sum256([]byte(token))
		g.token = sum[:]
	}
	return g
}

// Decision is the outcome of Check: the HTTP status to answer (0 to proceed) and why.
type Decision struct {
	Status int
	Msg    string
}

// Check decides whether r may use an admin route.
func (g *AdminGuard) Check(r *http.Request) Decision {
	if g.token == nil {
		if g.fromWebPage(r) {
			return Decision{Status: http.StatusForbidden,
				Msg: "admin routes without a token refuse requests a browser sends for another web page (a cross-site request, or a host name that is not localhost nor an address); set --admin-token (GOWS_ADMIN_TOKEN) and send Authorization: Bearer <token> to use them from a browser"}
		}
		if g.local(r) {
			return Decision{}
		}
		return Decision{Status: http.StatusForbidden,
			Msg: "admin routes answer only clients on this machine (loopback, directly or through a trusted proxy); set --admin-token (GOWS_ADMIN_TOKEN) and send Authorization: Bearer <token> to use them remotely"}
	}
	got, ok := bearer(r.Header.Get("Authorization"))
	if !ok {
		return Decision{Status: http.StatusUnauthorized, Msg: "admin token required: send Authorization: Bearer <token>"}
	}
	// Comparing digests takes the same time whatever the token's length, which a
	// comparison of the tokens themselves would give away.
	if sum := sha256.Sum256([]byte(got)); subtle.ConstantTimeCompare(sum[:], g.token) != 1 {
		return Decision{Status: http.StatusUnauthorized, Msg: "admin token not accepted: it is not the server's --admin-token (GOWS_ADMIN_TOKEN)"}
	}
	return Decision{}
}

// fromWebPage reports whether r may have been sent by a browser for a web page that is
// not this node's: the browser says the request is cross-origin (Sec-Fetch-Site, or an
// Origin other than the request's own), or r was sent to a host name that is neither
// localhost, an address nor one of the machine's own names, which is what a page whose
// name an attacker rebinds to 127.0.0.1 (DNS rebinding) sends. A browser on this machine
// would otherwise lend any page it shows the loopback address that the token-less admin
// routes trust.
func (g *AdminGuard) fromWebPage(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return true
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(strings.ToLower(o))
		if err != nil || u.Host != strings.ToLower(r.Host) {
			return true
		}
	}
	host := hostname(r.Host)
	if _, err := netip.ParseAddr(host); err == nil || host == "" {
		return false
	}
	host = strings.TrimSuffix(host, ".")
	return host != "localhost" && !strings.HasSuffix(host, ".localhost") && !slices.Contains(g.hosts, host)
}

// bearer returns the credentials of an "Authorization: Bearer <token>" header; the
// scheme's name is case-insensitive (RFC 9110, section 11.1).
func bearer(h string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(token), true
}

// isLoopback reports whether a RemoteAddr ("ip:port") is a loopback address.
func isLoopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
