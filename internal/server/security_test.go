package server_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gows-dev/gows/internal/protocol"
	"github.com/gows-dev/gows/internal/server"
	"github.com/gows-dev/gows/internal/server/auth"
	"github.com/gows-dev/gows/internal/server/conn"
	"github.com/gows-dev/gows/internal/testcert"
	"github.com/gows-dev/gows/internal/testutil"
)

const testSecret = "test-secret-0123456789"

func token(t *testing.T, user string, app uint32, ttl time.Duration) string {
	t.Helper()
	return tokenExp(t, user, app, time.Now().Add(ttl))
}

// tokenExp mints a token for app/user that expires at exp (which may be past).
func tokenExp(t *testing.T, user string, app uint32, exp time.Time) string {
	t.Helper()
	tok, err := auth.MintHMAC([]byte(testSecret), auth.MintOptions{UserID: user, AppID: app, TTL: time.Hour, Now: exp.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func closeCode(t *testing.T, c *testutil.Client) int {
	t.Helper()
	var ce *websocket.CloseError
	if err := c.ReadClose(); !errors.As(err, &ce) {
		t.Fatalf("connection ended without a close frame: %v", err)
	}
	return ce.Code
}

func TestSecurity_LoginTokens(t *testing.T) {
	srv := testutil.StartServer(t, func(c *server.Config) { c.AuthSecret = testSecret })
	cases := []struct {
		name  string
		token string
		user  string
		code  protocol.Code
	}{
		{"no token", "", "u1", protocol.Unauthorized},
		{"garbage", "not.a.jwt", "u1", protocol.Unauthorized},
		{"other user's token", token(t, "u2", 101, time.Hour), "u1", protocol.Unauthorized},
		{"other app's token", token(t, "u1", 102, time.Hour), "u1", protocol.Unauthorized},
		{"expired", mustMint(t, auth.MintOptions{UserID: "u1", TTL: time.Minute, Now: time.Now().Add(-time.Hour)}), "u1", protocol.Unauthorized},
		{"valid", token(t, "u1", 101, time.Hour), "u1", protocol.OK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := testutil.Dial(t, srv.WSURL, nil)
			r := c.Call(protocol.CmdLogin, protocol.LoginData{AppID: 101, UserID: tc.user, ServiceToken: tc.token})
			if r.Response.Code != tc.code {
				t.Fatalf("code %d %q, want %d", r.Response.Code, r.Response.CodeMsg, tc.code)
			}
			if tc.code != protocol.OK {
				// Not logged in: commands that need a login are refused.
				if r := c.Call(protocol.CmdHeartbeat, nil); r.Response.Code != protocol.NotLoggedIn {
					t.Fatalf("heartbeat after a refused login: %+v", r)
				}
			}
		})
	}
	t.Run("repeated failures close the connection", func(t *testing.T) {
		c := testutil.Dial(t, srv.WSURL, nil)
		var seqs []string
		for range 3 {
			seqs = append(seqs, c.Send(protocol.CmdLogin, protocol.LoginData{AppID: 101, UserID: "u1", ServiceToken: "bad"}))
		}
		// Every refusal is answered, the last one too, before the close.
		for _, seq := range seqs {
			if r := c.Await(seq); r.Response.Code != protocol.Unauthorized {
				t.Fatalf("login %s answered %+v", seq, r)
			}
		}
		if code := closeCode(t, c); code != int(protocol.CloseAuthFailed) {
			t.Fatalf("close %d, want 4004", code)
		}
	})
	t.Run("repeated failed refreshes close a logged-in connection", func(t *testing.T) {
		c := testutil.Dial(t, srv.WSURL, nil)
		if r := c.Call(protocol.CmdLogin, protocol.LoginData{AppID: 101, UserID: "u9", ServiceToken: token(t, "u9", 101, time.Hour)}); r.Response.Code != protocol.OK {
			t.Fatalf("login %+v", r)
		}
		for i := range 3 {
			if r := c.Call(protocol.CmdRefresh, protocol.RefreshData{ServiceToken: token(t, "someone-else", 101, time.Hour)}); r.Response.Code != protocol.Unauthorized {
				t.Fatalf("refresh %d answered %+v", i+1, r)
			}
		}
		if code := closeCode(t, c); code != int(protocol.CloseAuthFailed) {
			t.Fatalf("close %d, want 4004", code)
		}
	})
}

func mustMint(t *testing.T, o auth.MintOptions) string {
	t.Helper()
	tok, err := auth.MintHMAC([]byte(testSecret), o)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// With auth_issuer and auth_audience set, a login or refresh token must carry that iss
// and name that audience: tokens the same secret signs for other services are refused.
func TestSecurity_LoginTokenIssuerAndAudience(t *testing.T) {
	const iss, aud = "https://id.example", "gows"
	srv := testutil.StartServer(t, func(c *server.Config) {
		c.AuthSecret, c.AuthIssuer, c.AuthAudience = testSecret, iss, aud
	})
	mint := func(user, iss, aud string) string {
		return mustMint(t, auth.MintOptions{UserID: user, AppID: 101, TTL: time.Hour, Issuer: iss, Audience: aud})
	}
	cases := []struct {
		name  string
		token string
		code  protocol.Code
	}{
		{"right issuer and audience", mint("u1", iss, aud), protocol.OK},
		{"wrong issuer", mint("u1", "https://other.example", aud), protocol.Unauthorized},
		{"no issuer", mint("u1", "", aud), protocol.Unauthorized},
		{"wrong audience", mint("u1", iss, "billing"), protocol.Unauthorized},
		{"no audience", mint("u1", iss, ""), protocol.Unauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := testutil.Dial(t, srv.WSURL, nil)
			if r := c.Call(protocol.CmdLogin, protocol.LoginData{AppID: 101, UserID: "u1", ServiceToken: tc.token}); r.Response.Code != tc.code {
				t.Fatalf("login: code %d %q, want %d", r.Response.Code, r.Response.CodeMsg, tc.code)
			}
		})
	}
	t.Run("refresh", func(t *testing.T) {
		c := testutil.Dial(t, srv.WSURL, nil)
		if r := c.Call(protocol.CmdLogin, protocol.LoginData{AppID: 101, UserID: "u2", ServiceToken: mint("u2", iss, aud)}); r.Response.Code != protocol.OK {
			t.Fatalf("login: %+v", r)
		}
		for _, bad := range []string{mint("u2", "https://other.example", aud), mint("u2", iss, "billing")} {
			if r := c.Call(protocol.CmdRefresh, protocol.RefreshData{ServiceToken: bad}); r.Response.Code != protocol.Unauthorized {
				t.Fatalf("refresh with another service's token: %+v", r)
			}
		}
		if r := c.Call(protocol.CmdRefresh, protocol.RefreshData{ServiceToken: mint("u2", iss, aud)}); r.Response.Code != protocol.OK {
			t.Fatalf("refresh: %+v", r)
		}
	})
}

// A key that cannot verify login tokens safely stops the node at its start, with a
// message naming the file; as do issuer and audience settings with nothing to check them.
func TestSecurity_AuthSettingsRefusedAtStart(t *testing.T) {
	dir := t.TempDir()
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&weak.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	weakFile := filepath.Join(dir, "weak.pub.pem")
	if err := os.WriteFile(weakFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		set  func(*server.Config)
		want []string
	}{
		{"1024-bit RSA key", func(c *server.Config) { c.AuthPublicKey = weakFile }, []string{weakFile, "1024 bits", "2048"}},
		{"issuer in open mode", func(c *server.Config) { c.AuthIssuer = "https://id.example" }, []string{"auth_issuer", "auth_secret"}},
		{"audience in open mode", func(c *server.Config) { c.AuthAudience = "gows" }, []string{"auth_audience", "auth_secret"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := server.Default()
			tc.set(&cfg)
			err := server.Check(cfg)
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Fatalf("Check: %v; want an error mentioning %q", err, w)
				}
			}
		})
	}
}

func TestSecurity_TokenExpiryAndRefresh(t *testing.T) {
	srv := testutil.StartServer(t, func(c *server.Config) { c.AuthSecret = testSecret })
	// A token past its exp but within the clock-skew leeway logs in, and the session
	// lasts until the token would be refused, not a moment less.
	t.Run("expires without refresh", func(t *testing.T) {
		t.Parallel()
		c := testutil.Dial(t, srv.WSURL, nil)
		// exp + leeway is 3-4 s away: time enough for the login to arrive on a busy machine.
		exp := time.Now().Add(4*time.Second - auth.Leeway).Truncate(time.Second)
		if r := c.Call(protocol.CmdLogin, protocol.LoginData{AppID: 101, UserID: "short", ServiceToken: tokenExp(t, "short", 101, exp)}); r.Response.Code != 200 {
			t.Fatal(r)
		}
		if code := closeCode(t, c); code != int(protocol.CloseTokenExpired) {
			t.Fatalf("close %d, want 4005", code)
		}
		if end := exp.Add(auth.Leeway); time.Now().Before(end) {
			t.Fatalf("closed %v before the token's exp + leeway", time.Until(end))
		}
	})
	t.Run("refresh keeps the session", func(t *testing.T) {
		t.Parallel()
		c := testutil.Dial(t, srv.WSURL, nil)
		first := time.Now()
		if r := c.Call(protocol.CmdLogin, protocol.LoginData{AppID: 101, UserID: "long", ServiceToken: tokenExp(t, "long", 101, first.Add(4*time.Second-auth.Leeway))}); r.Response.Code != 200 {
			t.Fatal(r)
		}
		if r := c.Call(protocol.CmdRefresh, protocol.RefreshData{ServiceToken: "bad"}); r.Response.Code != protocol.Unauthorized {
			t.Fatalf("refresh with a bad token: %+v", r)
		}
		if r := c.Call(protocol.CmdRefresh, protocol.RefreshData{ServiceToken: token(t, "long", 101, time.Hour)}); r.Response.Code != 200 {
			t.Fatalf("refresh: %+v", r)
		}
		// Keep talking (at a polite pace) until well past the first token's expiry: the
		// session survives.
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for time.Since(first) < 5500*time.Millisecond {
			if r := c.Call(protocol.CmdHeartbeat, nil); r.Response.Code != 200 {
				t.Fatalf("heartbeat: %+v", r)
			}
			<-tick.C
		}
	})
}

func TestSecurity_AdminRoutes(t *testing.T) {
	srv := testutil.StartServer(t, func(c *server.Config) { c.AdminToken = "admin-s3cret" })
	cases := []struct {
		name, path, auth string
		status           int
		says             string // in the body
	}{
		{"list without token", "/user/list?appId=101", "", 401, "admin token required"},
		{"list with wrong token", "/user/list?appId=101", "Bearer nope", 401, "admin token not accepted"},
		{"list with another scheme", "/user/list?appId=101", "Basic YWRtaW46eA==", 401, "admin token required"},
		{"list with token", "/user/list?appId=101", "Bearer admin-s3cret", 200, ""},
		{"state without token", "/system/state", "", 401, ""},
		{"metrics without token", "/metrics", "", 401, ""},
		{"metrics with token", "/metrics", "Bearer admin-s3cret", 200, ""},
		{"pprof without token", "/debug/pprof/", "", 401, ""},
		{"healthz is public", "/healthz", "", 200, ""},
		{"readyz is public", "/readyz", "", 200, ""},
		{"chat page is public", "/", "", 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, srv.HTTPURL+tc.path, nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.says) {
				t.Fatalf("HTTP %d %s, want %d saying %q", resp.StatusCode, body, tc.status, tc.says)
			}
			// RFC 9110: a 401 names the scheme that would be accepted.
			if got := resp.Header.Get("WWW-Authenticate"); (resp.StatusCode == http.StatusUnauthorized) != strings.HasPrefix(got, "Bearer") {
				t.Fatalf("HTTP %d with WWW-Authenticate %q", resp.StatusCode, got)
			}
		})
	}
}

// Without an admin token, a request that a proxy on this machine forwarded (nginx in front
// of the node, as deploy/nginx/gows.conf sets it up) comes from loopback but not from this
// machine: it is refused unless trusted proxies forwarded it for a loopback client.
func TestSecurity_AdminRoutesBehindAProxy(t *testing.T) {
	untrusted := testutil.StartServer(t)
	trusted := testutil.StartServer(t, func(c *server.Config) { c.TrustedProxies = []string{"127.0.0.1/32"} })
	lan := testutil.StartServer(t, func(c *server.Config) { c.TrustedProxies = []string{"127.0.0.1/32", "10.0.0.0/8"} })
	cases := []struct {
		name    string
		srv     *testutil.Server
		headers http.Header
		status  int
	}{
		{"direct from loopback", untrusted, nil, 200},
		{"forwarded, proxy not trusted", untrusted, http.Header{"X-Forwarded-For": {"203.0.113.9"}}, 403},
		{"forwarded for loopback, proxy not trusted", untrusted, http.Header{"X-Forwarded-For": {"127.0.0.1"}}, 403},
		{"X-Real-IP, proxy not trusted", untrusted, http.Header{"X-Real-IP": {"203.0.113.9"}}, 403},
		{"Forwarded, proxy not trusted", untrusted, http.Header{"Forwarded": {"for=203.0.113.9"}}, 403},
		// A proxy that adds its own X-Forwarded-For line (HAProxy's option forwardfor)
		// after the client's empty one.
		{"empty header line before the proxy's, proxy not trusted", untrusted, http.Header{"X-Forwarded-For": {"", "203.0.113.9"}}, 403},
		{"forwarded by a trusted proxy for a remote client", trusted, http.Header{"X-Forwarded-For": {"203.0.113.9"}}, 403},
		{"forged loopback before a remote hop", trusted, http.Header{"X-Forwarded-For": {"127.0.0.1, 203.0.113.9"}}, 403},
		// A proxy that sets only X-Real-IP passes the client's X-Forwarded-For on.
		{"forged X-Forwarded-For, proxy sets X-Real-IP", trusted, http.Header{"X-Forwarded-For": {"::1"}, "X-Real-IP": {"203.0.113.9"}}, 403},
		{"malformed X-Forwarded-For, proxy sets X-Real-IP", trusted, http.Header{"X-Forwarded-For": {"not-an-address"}, "X-Real-IP": {"203.0.113.9"}}, 403},
		{"trusted proxy names the client in Forwarded only", trusted, http.Header{"Forwarded": {"for=203.0.113.9"}}, 403},
		{"trusted proxy names no client", trusted, http.Header{"X-Forwarded-Host": {"gows.example"}}, 403},
		{"client inside a trusted range", lan, http.Header{"X-Forwarded-For": {"10.1.2.3"}}, 403},
		{"forwarded by a trusted proxy for a loopback client", trusted, http.Header{"X-Forwarded-For": {"127.0.0.1"}, "X-Real-IP": {"127.0.0.1"}}, 200},
		{"Forwarded by a trusted proxy for a loopback client", trusted, http.Header{"Forwarded": {`for="[::1]:4711";proto=http`}}, 200},
		{"direct from loopback, proxies trusted", trusted, nil, 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, tc.srv.HTTPURL+"/system/state", nil)
			for k, vs := range tc.headers {
				for _, v := range vs {
					req.Header.Add(k, v)
				}
			}
			wantAdminStatus(t, req, tc.status)
		})
	}
}

// Without an admin token, a web page the node's own user is browsing must not reach the
// admin routes through the browser: neither a cross-site request (a form posted to
// 127.0.0.1:8080) nor a page whose host name was rebound to 127.0.0.1 (DNS rebinding).
func TestSecurity_AdminRoutesRefuseWebPages(t *testing.T) {
	srv := testutil.StartServer(t, func(c *server.Config) { c.Cluster.AdvertiseHost = "gows-1.internal" })
	port := srv.HTTPURL[strings.LastIndex(srv.HTTPURL, ":")+1:]
	self, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, host, origin, site string
		status                   int
	}{
		// What bench asks every node of a cluster for: its advertised address, by default
		// the machine's host name for a wildcard listen address.
		{"by the machine's host name", strings.ToUpper(self) + ":" + port, "", "", 200},
		{"by the advertised host", "gows-1.internal.:" + port, "", "", 200},
		{"a tool (no browser headers)", "", "", "", 200},
		{"typed in the address bar", "", "", "none", 200},
		{"the node's own page", "", "http://127.0.0.1:" + port, "same-origin", 200},
		{"by the name localhost", "localhost:" + port, "", "", 200},
		{"by an ipv6 literal", "[::1]:" + port, "", "", 200},
		{"cross-site request", "", "https://evil.example", "cross-site", 403},
		{"cross-site request from an old browser", "", "https://evil.example", "", 403},
		{"same-site request from another port", "", "http://127.0.0.1:1", "same-site", 403},
		{"sandboxed page", "", "null", "cross-site", 403},
		{"DNS rebinding", "evil.example:" + port, "http://evil.example:" + port, "same-origin", 403},
		{"DNS rebinding, no origin", "evil.example:" + port, "", "", 403},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, srv.HTTPURL+"/system/state", nil)
			if tc.host != "" {
				req.Host = tc.host
			}
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			if tc.site != "" {
				req.Header.Set("Sec-Fetch-Site", tc.site)
			}
			wantAdminStatus(t, req, tc.status)
		})
	}
}

// wantAdminStatus sends req to a token-less admin route and fails unless it is answered
// with status, a 403 saying how to configure a token.
func wantAdminStatus(t *testing.T, req *http.Request, status int) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != status {
		t.Fatalf("HTTP %d (%s), want %d", resp.StatusCode, body, status)
	}
	if status == 403 && !strings.Contains(string(body), "admin-token") {
		t.Fatalf("403 without saying how to configure a token: %s", body)
	}
}

func TestSecurity_RateLimit(t *testing.T) {
	srv := testutil.StartServer(t, func(c *server.Config) { c.MessageRate = 5; c.MessageBurst = 10 })
	good := testutil.Dial(t, srv.WSURL, nil)
	good.Login(101, "good")
	bad := testutil.Dial(t, srv.WSURL, nil)
	bad.Login(101, "bad")
	limited := false
	// Flood without waiting: some answers say "rate limit", then the connection closes.
	for i := 0; i < 500; i++ {
		if err := bad.Conn.WriteMessage(websocket.TextMessage, []byte(`{"seq":"x","cmd":"ping"}`)); err != nil {
			break // closed by the server
		}
	}
	for {
		_ = bad.Conn.SetReadDeadline(time.Now().Add(testutil.ReadTimeout))
		_, b, err := bad.Conn.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != int(protocol.CloseRateLimited) {
				t.Fatalf("ended with %v, want close 4006", err)
			}
			break
		}
		if strings.Contains(string(b), "rate limit") {
			limited = true
		}
	}
	if !limited {
		t.Fatal("no rate-limit answer before the close")
	}
	// One line for the abuser, not one for each message of its flood queued before the close.
	if n := strings.Count(srv.Logs.String(), "closing connection for sustained rate abuse"); n != 1 {
		t.Fatalf("the close was logged %d times, want once", n)
	}
	wellBehaved(t, srv, good)
	if !strings.Contains(httpGet(t, srv.HTTPURL+"/metrics"), "gows_rate_limited_total") {
		t.Fatal("rate limiting is not in the metrics")
	}
}

func TestHostile_TenThousandInvalidJSON(t *testing.T) {
	srv := testutil.StartServer(t)
	good := testutil.Dial(t, srv.WSURL, nil)
	good.Login(101, "good")
	before := getState(t, srv).RSSBytes
	bad := testutil.Dial(t, srv.WSURL, nil)
	sent := 0
	for ; sent < 10000; sent++ {
		if err := bad.Conn.WriteMessage(websocket.TextMessage, []byte(`{"seq":"1","cmd":`)); err != nil {
			break
		}
	}
	// The first messages get 1001 answers; the flood exceeds the rate limit and the
	// connection is closed.
	answered := 0
	for {
		_ = bad.Conn.SetReadDeadline(time.Now().Add(testutil.ReadTimeout))
		_, b, err := bad.Conn.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != int(protocol.CloseRateLimited) {
				t.Fatalf("ended with %v after %d sent, want close 4006", err, sent)
			}
			break
		}
		if strings.Contains(string(b), `"code":1001`) {
			answered++
		}
	}
	if answered == 0 {
		t.Fatal("invalid JSON was never answered with 1001")
	}
	if st := getState(t, srv); st.RSSBytes > before+rssCeiling {
		t.Fatalf("RSS grew from %d to %d", before, st.RSSBytes)
	}
	wellBehaved(t, srv, good)
}

func TestSecurity_EchoEndpoint(t *testing.T) {
	off := testutil.StartServer(t)
	if _, err := testutil.DialErr(t, strings.Replace(off.WSURL, "/acc", "/echo", 1), nil); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("echo endpoint is on by default: %v", err)
	}
	// The endpoint needs no login and has no rate limit: an operator is told it is on.
	const warning = `level=WARN msg="raw echo endpoint on`
	if strings.Contains(off.Logs.String(), warning) {
		t.Errorf("echo endpoint off, yet the log warns it is on:\n%s", off.Logs)
	}
	srv := testutil.StartServer(t, func(c *server.Config) { c.EchoPath = "/echo" })
	if logs := srv.Logs.String(); !strings.Contains(logs, warning) || !strings.Contains(logs, "echo_path=/echo") {
		t.Errorf("echo endpoint on, no warning naming it in the log:\n%s", logs)
	}
	c := testutil.Dial(t, strings.Replace(srv.WSURL, "/acc", "/echo", 1), nil)
	for _, m := range []struct {
		typ  int
		data string
	}{{websocket.TextMessage, "hello"}, {websocket.BinaryMessage, "\x00\x01\x02"}} {
		if err := c.Conn.WriteMessage(m.typ, []byte(m.data)); err != nil {
			t.Fatal(err)
		}
		typ, b, err := c.Conn.ReadMessage()
		if err != nil || typ != m.typ || string(b) != m.data {
			t.Fatalf("echo: %d %q %v", typ, b, err)
		}
	}
}

func TestSecurity_PerIPCap(t *testing.T) {
	srv := testutil.StartServer(t, func(c *server.Config) { c.MaxConnsPerIP = 2 })
	testutil.Dial(t, srv.WSURL, nil)
	testutil.Dial(t, srv.WSURL, nil)
	if _, err := testutil.DialErr(t, srv.WSURL, nil); err == nil || !strings.Contains(err.Error(), "HTTP 429") {
		t.Fatalf("third connection from one address: %v, want HTTP 429", err)
	}
	if n := metric(t, srv, `gows_handshake_failures_total{reason="per_ip_limit"}`); n != "1" {
		t.Fatalf(`gows_handshake_failures_total{reason="per_ip_limit"} %q, want 1`, n)
	}
}

func TestSecurity_TLS(t *testing.T) {
	certFile, keyFile := testcert.Files(t)
	srv := testutil.StartServer(t, func(c *server.Config) { c.TLSCert, c.TLSKey = certFile, keyFile })
	tlsCfg := &tls.Config{InsecureSkipVerify: true}
	d := websocket.Dialer{TLSClientConfig: tlsCfg}
	ws, _, err := d.Dial(strings.Replace(srv.WSURL, "ws://", "wss://", 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"seq":"1","cmd":"ping"}`)); err != nil {
		t.Fatal(err)
	}
	if _, b, err := ws.ReadMessage(); err != nil || !strings.Contains(string(b), "pong") {
		t.Fatalf("ping over wss: %s %v", b, err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	resp, err := hc.Get(strings.Replace(srv.HTTPURL, "http://", "https://", 1) + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("https healthz: %d", resp.StatusCode)
	}
}

// TestSecurity_ClusterMutualTLS: nodes with certificates from the shared CA talk gRPC over
// mutual TLS (a push crosses them); a node whose certificate that CA did not sign cannot
// reach them.
func TestSecurity_ClusterMutualTLS(t *testing.T) {
	r := testutil.StartRedis(t)
	cert, key := testcert.Files(t) // self-signed: its own CA
	node := func(id, cert, key, ca string) func(*server.Config) {
		return func(c *server.Config) {
			c.NodeID = id
			c.Cluster.Redis = r.URL()
			c.Cluster.TLSCert, c.Cluster.TLSKey, c.Cluster.TLSCA = cert, key, ca
		}
	}
	a := testutil.StartServer(t, node("node-a", cert, key, cert))
	b := testutil.StartServer(t, node("node-b", cert, key, cert))
	otherCert, otherKey := testcert.Files(t)
	stranger := testutil.StartServer(t, node("node-x", otherCert, otherKey, otherCert))

	u := testutil.Dial(t, a.WSURL, nil)
	u.Login(101, "u1")
	send := func(srv *testutil.Server) int {
		code, _ := pushForm(t, srv, "/user/sendMessage", url.Values{"appId": {"101"}, "userId": {"u1"}, "message": {"over tls"}}, 0)
		return code
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if code := send(b); code != http.StatusOK {
			return fmt.Errorf("push through node-b: HTTP %d", code)
		}
		return nil
	})
	if m := testutil.Data[protocol.Message](t, u.Push(protocol.CmdMsg)); m.Msg != "over tls" {
		t.Fatalf("u1 got %+v", m)
	}
	// The stranger sees u1 on node-a in Redis but cannot open a connection to it.
	if code := send(stranger); code != http.StatusServiceUnavailable {
		t.Fatalf("push through a node with another CA: HTTP %d, want 503", code)
	}
}

// ClientAddr is the address per-IP limits count and logs show: the nearest untrusted hop.
func TestSecurity_ClientAddr(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8")}
	proxy := netip.MustParseAddrPort("127.0.0.1:4000")
	stranger := netip.MustParseAddrPort("198.51.100.1:4000")
	cases := []struct {
		name    string
		peer    netip.AddrPort
		headers http.Header
		want    string
	}{
		{"direct", stranger, nil, "198.51.100.1:4000"},
		{"headers of an untrusted peer ignored", stranger, http.Header{"X-Forwarded-For": {"203.0.113.7"}, "X-Real-IP": {"203.0.113.8"}}, "198.51.100.1:4000"},
		{"nearest untrusted hop", proxy, http.Header{"X-Forwarded-For": {"203.0.113.6, 203.0.113.7, 10.0.0.2"}}, "203.0.113.7:0"},
		{"hops over several lines", proxy, http.Header{"X-Forwarded-For": {"203.0.113.6", "203.0.113.7, 10.0.0.2"}}, "203.0.113.7:0"},
		{"ipv4-mapped hop", proxy, http.Header{"X-Forwarded-For": {"::ffff:203.0.113.7"}}, "203.0.113.7:0"},
		{"hop with a port", proxy, http.Header{"X-Forwarded-For": {"203.0.113.7:4711"}}, "203.0.113.7:0"},
		{"ipv6 hop with a port", proxy, http.Header{"X-Forwarded-For": {"[2001:db8::7]:4711"}}, "[2001:db8::7]:0"},
		{"X-Real-IP without X-Forwarded-For", proxy, http.Header{"X-Real-IP": {"203.0.113.7"}}, "203.0.113.7:0"},
		{"client inside a trusted range", proxy, http.Header{"X-Forwarded-For": {"10.1.2.3"}}, "10.1.2.3:0"},
		{"client inside a trusted range, X-Real-IP forged", proxy, http.Header{"X-Forwarded-For": {"10.1.2.3"}, "X-Real-IP": {"203.0.113.8"}}, "10.1.2.3:0"},
		{"garbage beyond the nearest untrusted hop", proxy, http.Header{"X-Forwarded-For": {"", "nonsense, 203.0.113.7"}}, "203.0.113.7:0"},
		{"malformed hop", proxy, http.Header{"X-Forwarded-For": {"nonsense"}}, "127.0.0.1:4000"},
		{"no header", proxy, nil, "127.0.0.1:4000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/ws", nil)
			for k, vs := range tc.headers {
				for _, v := range vs {
					r.Header.Add(k, v)
				}
			}
			if got := conn.ClientAddr(r, tc.peer, proxies).String(); got != tc.want {
				t.Fatalf("ClientAddr = %s, want %s", got, tc.want)
			}
		})
	}
}
