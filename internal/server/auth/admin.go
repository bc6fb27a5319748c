package auth

import (
	"crypto/subtle"
	"net"
	"net/http"
	"strings"
)

// AdminGuard protects the admin HTTP routes (push, lists, state, kick, nodes, metrics,
// pprof). With a token configured, requests need "Authorization: Bearer <token>" (compared
// in constant time). Without one, only loopback clients are served, so a fresh install is
// not an open push relay. It is immutable and safe for concurrent use.
type AdminGuard struct {
	token []byte
}

// NewAdminGuard returns a guard for token ("" means loopback-only).
func NewAdminGuard(token string) *AdminGuard {
	if token == "" {
		return &AdminGuard{}
	}
	return &AdminGuard{token: []byte(token)}
}

// Decision is the outcome of Check: the HTTP status to answer (0 to proceed) and why.
type Decision struct {
	Status int
	Msg    string
}

// Check decides whether r may use an admin route.
func (g *AdminGuard) Check(r *http.Request) Decision {
	if g.token == nil {
		if IsLoopback(r.RemoteAddr) {
			return Decision{}
		}
		return Decision{Status: http.StatusForbidden,
			Msg: "admin routes answer only loopback clients; set --admin-token (GOWS_ADMIN_TOKEN) and send Authorization: Bearer <token> to use them remotely"}
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), g.token) != 1 {
		return Decision{Status: http.StatusUnauthorized, Msg: "admin token required: send Authorization: Bearer <token>"}
	}
	return Decision{}
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
