package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"time"

	"github.com/gows-dev/gows/internal/protocol"
	"github.com/gows-dev/gows/internal/server/api"
	"github.com/gows-dev/gows/internal/server/auth"
	"github.com/gows-dev/gows/internal/server/conn"
	"github.com/gows-dev/gows/internal/server/hub"
	"github.com/gows-dev/gows/internal/wsframe"
)

// security holds the node's authentication and admission settings (docs/security.md).
type security struct {
	verifier *auth.Verifier // nil: open mode
	admin    *auth.AdminGuard
	tls      *tls.Config // nil: plain ws:// and http://
	// clusterServer and clusterClient secure gRPC between nodes (mutual TLS with
	// cluster.tls_ca); nil: plain gRPC.
	clusterServer, clusterClient *tls.Config
	maxFails                     int
}

func newSecurity(cfg Config, log *slog.Logger) (*security, error) {
	proxies, err := cfg.trustedProxies()
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname() // "" on error: the guard then knows the machine by localhost and addresses only
	sec := &security{admin: auth.NewAdminGuard(cfg.AdminToken, fromThisMachine(proxies), host, cfg.Cluster.AdvertiseHost),
		maxFails: cfg.MaxLoginFailures}
	expect := auth.Expect{Issuer: cfg.AuthIssuer, Audience: cfg.AuthAudience}
	switch {
	case cfg.AuthSecret != "":
		sec.verifier, err = auth.NewHMACVerifier([]byte(cfg.AuthSecret), expect)
	case cfg.AuthPublicKey != "":
		sec.verifier, err = auth.NewPublicKeyVerifier(cfg.AuthPublicKey, expect)
	default:
		log.Warn("open mode: logins are not authenticated, any userId is trusted; set auth_secret or auth_public_key in production")
	}
	if err != nil {
		return nil, err
	}
	if cfg.AdminToken == "" {
		log.Info("admin routes answer clients on this machine only; set admin_token to use them remotely")
	}
	if cfg.EchoPath != "" {
		log.Warn("raw echo endpoint on: it needs no login and has no rate limit; turn echo_path off where the WebSocket port is public", "echo_path", cfg.EchoPath)
	}
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("tls_cert/tls_key: %w", err)
		}
		sec.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if cc := cfg.Cluster; cc.TLSCA != "" {
		cert, err := tls.LoadX509KeyPair(cc.TLSCert, cc.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("cluster.tls_cert/cluster.tls_key: %w", err)
		}
		pem, err := os.ReadFile(cc.TLSCA)
		if err != nil {
			return nil, fmt.Errorf("cluster.tls_ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("cluster.tls_ca: no PEM certificate in %s", cc.TLSCA)
		}
		sec.clusterServer = &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool,
			ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
		sec.clusterClient = &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return sec, nil
}

// checkLogin verifies a login's token when authentication is configured. It returns the
// token's expiry (zero when none or in open mode), or the code and message to answer.
func (s *Server) checkLogin(sess *hub.Session, d protocol.LoginData) (time.Time, protocol.Code, string) {
	if s.sec.verifier == nil {
		return time.Time{}, protocol.OK, ""
	}
	claims, err := s.sec.verifier.Verify(d.ServiceToken, d.AppID, d.UserID)
	if err != nil {
		s.metrics.authFailures.Inc()
		c := sess.Conn().(*conn.Conn)
		s.log.Warn("login refused", "conn_id", c.ID(), "remote", conn.AddrString(c.RemoteAddr()), "user_id", d.UserID, "err", err, "failures", sess.LoginFailed())
		return time.Time{}, protocol.Unauthorized, err.Error()
	}
	sess.LoginSucceeded()
	return claims.Expires, protocol.OK, ""
}

// closeIfLoginsFailed closes a connection whose logins (or refreshes) failed
// max_login_failures times in a row (4004). It runs after the last refusal was
// answered, so the client reads why that one failed too.
func (s *Server) closeIfLoginsFailed(sess *hub.Session) {
	if s.sec.maxFails > 0 && sess.LoginFailures() >= s.sec.maxFails {
		sess.Conn().Close(protocol.CloseAuthFailed, protocol.CloseAuthFailed.Text())
	}
}

// expireAt arms the token expiry: the connection is closed (4005) at exp unless a
// refresh moves it.
func expireAt(c *conn.Conn, exp time.Time) {
	if !exp.IsZero() {
		c.SetDeadline(exp, protocol.CloseTokenExpired)
	}
}

// cmdRefresh replaces the session's token before it expires.
func (s *Server) cmdRefresh(ctx context.Context, sess *hub.Session, req protocol.Request) (protocol.Code, string, any) {
	if s.sec.verifier == nil {
		return protocol.OK, "", nil // open mode: nothing expires
	}
	var d protocol.RefreshData
	if err := protocol.DecodeData(req.Data, &d); err != nil {
		return protocol.ParameterIllegal, "refresh data: " + err.Error(), nil
	}
	exp, code, msg := s.checkLogin(sess, protocol.LoginData{ServiceToken: d.ServiceToken, AppID: sess.App(), UserID: sess.User()})
	if code != protocol.OK {
		return code, msg, nil
	}
	expireAt(sess.Conn().(*conn.Conn), exp)
	return protocol.OK, "", nil
}

// limit applies the per-connection inbound rate limit on the loop goroutine. An excess
// message is answered "rate limit exceeded" (1009); a connection whose refused messages
// outnumber its accepted ones by more than MessageBurst (a flood, or a steady pace above
// twice MessageRate) is closed (4006). Both happen on the connection's worker,
// after the answers to its earlier messages. The messages that arrive before the close
// is done are counted but neither answered nor logged: one line per abuser, not one per
// message of its flood.
func (s *Server) limit(c *conn.Conn) limitAction {
	ok, strikes := c.TakeToken()
	if ok {
		return notLimited
	}
	s.metrics.rateLimited.Inc()
	switch most := max(s.cfg.MessageBurst, 1); {
	case strikes == most+1:
		return limitClose
	case strikes > most+1:
		return limitDrop
	}
	return limitReply
}

// maxSeqProbe bounds the refused messages whose seq is read back for the answer: reading
// a big message would spend on an abuser what the limit is there to save.
const maxSeqProbe = 1024

// seqOf reads a request's seq, or "" when it cannot.
func seqOf(b []byte) string {
	if len(b) == 0 || len(b) > maxSeqProbe {
		return ""
	}
	r, err := protocol.Decode(b)
	if err != nil {
		var de *protocol.DecodeError
		if errors.As(err, &de) {
			return de.Seq
		}
		return ""
	}
	return r.Seq
}

// echo serves the raw echo endpoint: every message comes back with its opcode.
func (s *Server) echo(c *conn.Conn, op wsframe.Opcode, payload []byte) {
	_ = c.Send(conn.Frame(op, payload)) // a slow echo client is closed by the engine
}

// fromThisMachine reports whether a request comes from a client on this machine: its
// peer is a loopback address and it was not forwarded, or it was forwarded by a trusted
// proxy and every client address its forwarding headers name is a loopback address. A
// forwarded request from a proxy that is not trusted (nginx on this host without
// trusted_proxies) is not: the client behind it is unknown. Every address must be
// loopback, not just the one ClientAddr picks, because which header a proxy sets is not
// known: one that sets only X-Real-IP passes on the client's X-Forwarded-For, and one
// that appends to X-Forwarded-For passes on the client's X-Real-IP.
func fromThisMachine(proxies []netip.Prefix) func(*http.Request) bool {
	return func(r *http.Request) bool {
		peer, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil {
			return false
		}
		peer = netip.AddrPortFrom(peer.Addr().Unmap(), peer.Port())
		if !peer.Addr().IsLoopback() {
			return false
		}
		if !conn.Forwarded(r) {
			return true
		}
		if !conn.Trusted(proxies, peer.Addr()) {
			return false
		}
		clients, ok := conn.ForwardedClients(r)
		if !ok || len(clients) == 0 {
			return false // a proxy that names no client, or one that cannot be placed
		}
		for _, a := range clients {
			if !a.IsLoopback() {
				return false
			}
		}
		return true
	}
}

// adminOnly wraps an admin route with the admin guard.
func (s *Server) adminOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d := s.sec.admin.Check(r); d.Status != 0 {
			s.metrics.adminRefused.Inc()
			if d.Status == http.StatusUnauthorized { // RFC 9110: say which scheme would do
				w.Header().Set("WWW-Authenticate", `Bearer realm="gows admin"`)
			}
			api.WriteError(w, d.Status, protocol.Unauthorized, d.Msg)
			return
		}
		h.ServeHTTP(w, r)
	})
}
