package auth

import (
	"crypto/subtle"
	"net"
	"net/http"
	"strings"
)

// AdminGuard protects the admin HTTP routes (push, lists, state, kick, nodes, metrics,
// pprof). With a token configured, requests need "Authorization: Bearer <token>" (compared
// in constant time). Without one, only clients on this machine are served, so a fresh
// install is not an open push relay. It is immutable and safe for concurrent use.
type AdminGuard struct {
	token []byte
	local func(*http.Request) bool
}

// NewAdminGuard returns a guard for token. With token "", local decides which requests
// come from this machine (nil: those whose peer is a loopback address).
func NewAdminGuard(token string, local func(*http.Request) bool) *AdminGuard {
	if local == nil {
		local = func(r *http.Request) bool { return IsLoopback(r.RemoteAddr) }
	}
	g := &AdminGuard{local: local}
	if token != "" {
		g.token = []byte(token)
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
	if subtle.ConstantTimeCompare([]byte(got), g.token) != 1 {
		return Decision{Status: http.StatusUnauthorized, Msg: "admin token not accepted: it is not the server's --admin-token (GOWS_ADMIN_TOKEN)"}
	}
	return Decision{}
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

// IsLoopback reports whether a RemoteAddr ("ip:port") is a loopback address.
func IsLoopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
