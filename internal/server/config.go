package server

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/gows-dev/gows/internal/server/cluster"
)

// Config is the whole configuration of `gows serve`. The command line fills it from
// defaults, a YAML file, GOWS_* environment variables and flags; Default gives the
// embedded single-node defaults. Durations are Go durations ("6m", "500ms").
type Config struct {
	// NodeID names this node in logs, /system/state and the cluster; "" means
	// hostname-pid.
	NodeID string `mapstructure:"node_id"`
	// HTTPAddr serves the HTTP API, the chat page, metrics and health checks.
	HTTPAddr string `mapstructure:"http_addr"`
	// WSAddr serves WebSocket clients on WSPath.
	WSAddr string `mapstructure:"ws_addr"`
	// WSPath is the WebSocket endpoint's path.
	WSPath string `mapstructure:"ws_path"`
	// GRPCAddr serves the cluster's node service (used when Redis is configured).
	GRPCAddr string `mapstructure:"grpc_addr"`
	// PublicWSURL is the WebSocket URL the chat page connects to; "" derives it from the
	// page's own host and WSAddr's port, or the page's own port when a proxy forwarded
	// the page (docs/api.md, the chat page).
	PublicWSURL string `mapstructure:"public_ws_url"`
	// AllowedOrigins lists browser origins accepted besides the request's own host:
	// exact origins ("https://chat.example.com") or host patterns ("*.example.com").
	// Clients that send no Origin header (non-browsers) are always accepted.
	AllowedOrigins []string `mapstructure:"allowed_origins"`
	// AllowedAppIDs restricts logins to these app ids; empty allows any.
	AllowedAppIDs []uint32 `mapstructure:"allowed_app_ids"`
	// MaxConns caps WebSocket connections on this node; 0 means the file limit minus a
	// reserve. Past it, handshakes get HTTP 503.
	MaxConns int `mapstructure:"max_conns"`
	// MaxMessageBytes is the largest inbound message; larger ones close with 1009.
	MaxMessageBytes int `mapstructure:"max_message_bytes"`
	// SendQueue is the per-connection outbound queue, in messages; a client whose queue
	// is full is disconnected as a slow consumer (close 1013).
	SendQueue int `mapstructure:"send_queue"`
	// LoginTimeout closes (4002) connections that do not log in within it.
	LoginTimeout time.Duration `mapstructure:"login_timeout"`
	// HeartbeatTimeout closes (4003) connections that send nothing (heartbeat, any
	// message, ping or pong frame) within it.
	HeartbeatTimeout time.Duration `mapstructure:"heartbeat_timeout"`
	// HandshakeTimeout bounds the WebSocket upgrade request (slowloris protection).
	HandshakeTimeout time.Duration `mapstructure:"handshake_timeout"`
	// WriteTimeout drops a connection whose queued output makes no progress within it.
	WriteTimeout time.Duration `mapstructure:"write_timeout"`
	// RequestTimeout bounds the work of one HTTP API request (a cluster-wide push waits
	// for every node's answer within it).
	RequestTimeout time.Duration `mapstructure:"request_timeout"`
	// DrainTimeout bounds graceful shutdown after SIGINT/SIGTERM.
	DrainTimeout time.Duration `mapstructure:"drain_timeout"`
	// DrainDelay is how long a stopping node goes on serving as before, with /readyz
	// answering 503, before it stops accepting and closes its connections: time for load
	// balancers that poll /readyz to take it out of rotation. 0: no delay.
	DrainDelay time.Duration `mapstructure:"drain_delay"`
	// MaxConnsPerUser is the most connections one user (appId+userId) may have logged in
	// at once, across the cluster; DuplicateLogin decides what a login past it does. 1
	// (the default): one connection per user. 0 means no limit.
	MaxConnsPerUser int `mapstructure:"max_conns_per_user"`
	// DuplicateLogin decides what a login that would give its user more than
	// MaxConnsPerUser connections does: "kick" (the user's oldest connection gets a
	// kickout push and is closed with 4001) or "reject" (the new login is refused with
	// code 1009).
	DuplicateLogin string `mapstructure:"duplicate_login"`
	// PresenceLimit bounds enter/exit notices: they are sent only in apps (on login and
	// logout) and rooms (on join and leave) with at most this many online users (an
	// app's counted across the cluster before its notices go to other nodes). 0
	// disables the notices.
	PresenceLimit int `mapstructure:"presence_limit"`
	// DedupWindow is how long a pushed msgId is remembered: a repeat within it is
	// acknowledged but not delivered again.
	DedupWindow time.Duration `mapstructure:"dedup_window"`
	// Workers is the number of goroutines that execute WebSocket commands; 0 means
	// 8 x GOMAXPROCS.
	Workers int `mapstructure:"workers"`
	// ReusePort lets several processes share WSAddr and HTTPAddr (SO_REUSEPORT).
	ReusePort bool `mapstructure:"reuseport"`
	// PprofPublic serves /debug/pprof to non-loopback clients too.
	PprofPublic bool `mapstructure:"pprof_public"`
	// AuthSecret, when set, makes login require a serviceToken: a JWT signed with this
	// HMAC secret (HS256/384/512, at least 16 bytes) whose sub is the userId. Empty with
	// no AuthPublicKey: open mode, any userId is trusted (development only).
	AuthSecret string `mapstructure:"auth_secret"`
	// AuthPublicKey is a PEM file with the public key (or a certificate) that verifies
	// login tokens instead of AuthSecret: RSA of 2048+ bits (RS256/384/512), ECDSA on
	// P-256, P-384 or P-521 (ES256, ES384, ES512 respectively) or Ed25519 (EdDSA).
	AuthPublicKey string `mapstructure:"auth_public_key"`
	// AuthIssuer, when set, is the iss claim every login token must carry; empty: iss is
	// not checked. Needs AuthSecret or AuthPublicKey.
	AuthIssuer string `mapstructure:"auth_issuer"`
	// AuthAudience, when set, must be one of the login token's aud claim; empty: aud is
	// not checked. Needs AuthSecret or AuthPublicKey.
	AuthAudience string `mapstructure:"auth_audience"`
	// MaxLoginFailures closes (4004) a connection after this many failed logins or refreshes in a row.
	MaxLoginFailures int `mapstructure:"max_login_failures"`
	// AdminToken protects the admin HTTP routes (push, lists, state, kick, nodes, metrics,
	// pprof): requests need "Authorization: Bearer <token>". Empty: those routes answer
	// only clients on this machine (loopback and not forwarded by an untrusted proxy).
	AdminToken string `mapstructure:"admin_token"`
	// TLSCert and TLSKey are PEM files; with both set, the WebSocket endpoint serves
	// wss:// and the HTTP side https://.
	TLSCert string `mapstructure:"tls_cert"`
	TLSKey  string `mapstructure:"tls_key"`
	// MaxConnsPerIP caps WebSocket connections per client address (HTTP 429 past it);
	// 0 means no cap.
	MaxConnsPerIP int `mapstructure:"max_conns_per_ip"`
	// MaxRooms caps the rooms one connection may be in (a join past it is answered
	// 1009), and so the memory one client can make the node spend on memberships;
	// 0 means no cap.
	MaxRooms int `mapstructure:"max_rooms"`
	// TrustedProxies are proxies (addresses or CIDRs) whose X-Forwarded-For/X-Real-IP
	// headers name the real client, for per-IP limits and logs.
	TrustedProxies []string `mapstructure:"trusted_proxies"`
	// MessageRate is each connection's sustained inbound allowance in messages per second,
	// MessageBurst its bucket. Excess messages get code 1009; a connection whose refused
	// messages outnumber its accepted ones by more than MessageBurst (a flood, or a steady
	// pace above twice the rate) is closed (4006). 0 disables the limit.
	MessageRate  int `mapstructure:"message_rate"`
	MessageBurst int `mapstructure:"message_burst"`
	// EchoPath, when set, serves a raw echo endpoint on the WebSocket port (for
	// conformance suites such as Autobahn and proxy checks). Off by default.
	EchoPath string `mapstructure:"echo_path"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `mapstructure:"log_level"`
	// LogFormat is text or json.
	LogFormat string `mapstructure:"log_format"`
	// Cluster joins this node to a cluster through Redis; its zero value (no Redis)
	// keeps the node on its own.
	Cluster ClusterConfig `mapstructure:"cluster"`
}

// ClusterConfig configures cluster mode: presence and the node registry in Redis, and the
// gRPC node service between nodes (on GRPCAddr). With neither Redis nor RedisAddrs set
// the node runs alone with everything in memory.
type ClusterConfig struct {
	// Redis is the URL of one Redis server (redis://[:password@]host:port/db, or
	// rediss:// for TLS); "" uses RedisAddrs, or no cluster when both are empty.
	Redis string `mapstructure:"redis"`
	// RedisAddrs are host:port seeds: Sentinels when RedisMaster is set, else the nodes
	// of a Redis Cluster (two or more) or one Redis server.
	RedisAddrs []string `mapstructure:"redis_addrs"`
	// RedisMaster is the Sentinel master name; needs RedisAddrs.
	RedisMaster string `mapstructure:"redis_master"`
	// RedisPassword authenticates to the RedisAddrs servers (a Redis URL carries its
	// own).
	RedisPassword string `mapstructure:"redis_password"`
	// RedisPrefix starts every key this cluster writes, so clusters can share a Redis.
	RedisPrefix string `mapstructure:"redis_prefix"`
	// RedisTimeout is the deadline of every Redis call; after a failed call,
	// cluster-wide operations fail at once until Redis answers again.
	RedisTimeout time.Duration `mapstructure:"redis_timeout"`
	// NodeTTL is the node's lease in the registry, renewed every NodeTTL/3. A node that
	// stops renewing is taken for dead after NodeTTL; its users leave the lists within
	// 2 x NodeTTL.
	NodeTTL time.Duration `mapstructure:"node_ttl"`
	// Token is the shared secret every gRPC call between nodes must carry; "" means
	// none (trusted network only).
	Token string `mapstructure:"token"`
	// RPCTimeout is the deadline of every gRPC call to another node (a push to a user
	// there, a broadcast, a kick).
	RPCTimeout time.Duration `mapstructure:"rpc_timeout"`
	// AdvertiseHost is the host other nodes use to reach this node's gRPC and HTTP
	// ports; "" means the listen address's host, or the machine's host name when that
	// is a wildcard.
	AdvertiseHost string `mapstructure:"advertise_host"`
	// TLSCert, TLSKey and TLSCA (PEM files) make gRPC between nodes mutual TLS: each
	// node serves and dials with its certificate and accepts only peers whose
	// certificate TLSCA signed. All empty: plain gRPC (a private network, with Token).
	TLSCert string `mapstructure:"tls_cert"`
	TLSKey  string `mapstructure:"tls_key"`
	TLSCA   string `mapstructure:"tls_ca"`
}

// Enabled reports whether cluster mode is configured.
func (c ClusterConfig) Enabled() bool { return c.Redis != "" || len(c.RedisAddrs) > 0 }

// Validate reports the first invalid cluster setting, naming its key.
func (c ClusterConfig) Validate() error {
	if err := checkToken(c.Token); err != nil {
		return fmt.Errorf("cluster.token: %w", err)
	}
	if c.Redis != "" {
		if len(c.RedisAddrs) > 0 {
			return errors.New("cluster.redis_addrs: give either cluster.redis (a URL) or cluster.redis_addrs, not both")
		}
		u, err := url.Parse(c.Redis)
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			return fmt.Errorf("cluster.redis: want redis://host:port/db or rediss://..., got %q", redactURL(c.Redis))
		}
	}
	for _, a := range c.RedisAddrs {
		if err := checkAddr(a); err != nil {
			return fmt.Errorf("cluster.redis_addrs: %w", err)
		}
	}
	if c.RedisMaster != "" && len(c.RedisAddrs) == 0 {
		return errors.New("cluster.redis_master: needs the Sentinel addresses in cluster.redis_addrs")
	}
	if c.RedisPrefix == "" || strings.ContainsAny(c.RedisPrefix, "{} ") {
		return fmt.Errorf("cluster.redis_prefix: want a non-empty prefix without braces or spaces, got %q", c.RedisPrefix)
	}
	for _, d := range []struct {
		key string
		val time.Duration
	}{
		{"cluster.redis_timeout", c.RedisTimeout}, {"cluster.node_ttl", c.NodeTTL}, {"cluster.rpc_timeout", c.RPCTimeout},
	} {
		if d.val <= 0 {
			return fmt.Errorf("%s: must be positive, got %s", d.key, d.val)
		}
	}
	if c.NodeTTL < 300*time.Millisecond {
		return fmt.Errorf("cluster.node_ttl: must be at least 300ms, got %s", c.NodeTTL)
	}
	if c.RedisTimeout >= c.NodeTTL/3 {
		return fmt.Errorf("cluster.redis_timeout: must be shorter than a third of cluster.node_ttl (%s), got %s", c.NodeTTL/3, c.RedisTimeout)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") || (c.TLSCert == "") != (c.TLSCA == "") {
		return errors.New("cluster.tls_cert, cluster.tls_key and cluster.tls_ca: set all three (mutual TLS between nodes) or none")
	}
	if c.AdvertiseHost != "" && net.ParseIP(c.AdvertiseHost) == nil && !validHostname(c.AdvertiseHost) {
		return fmt.Errorf("cluster.advertise_host: not a host name or IP address: %q", c.AdvertiseHost)
	}
	return nil
}

// redactURL hides a URL's password for error messages.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// Default returns the embedded single-node defaults.
func Default() Config {
	return Config{
		HTTPAddr:         ":8080",
		WSAddr:           ":8089",
		WSPath:           "/acc",
		GRPCAddr:         ":9001",
		MaxMessageBytes:  64 << 10,
		SendQueue:        256,
		LoginTimeout:     60 * time.Second,
		HeartbeatTimeout: 6 * time.Minute,
		HandshakeTimeout: 10 * time.Second,
		WriteTimeout:     10 * time.Second,
		DrainTimeout:     10 * time.Second,
		RequestTimeout:   5 * time.Second,
		MaxConnsPerUser:  1,
		DuplicateLogin:   "kick",
		MaxLoginFailures: 3,
		MessageRate:      50,
		MessageBurst:     100,
		MaxRooms:         1000,
		PresenceLimit:    200,
		DedupWindow:      5 * time.Minute,
		LogLevel:         "info",
		LogFormat:        "text",
		Cluster: ClusterConfig{
			RedisPrefix:  "gows",
			RedisTimeout: 500 * time.Millisecond,
			NodeTTL:      15 * time.Second,
			RPCTimeout:   2 * time.Second,
		},
	}
}

// Validate reports the first invalid setting, naming its configuration key.
func (c Config) Validate() error {
	for _, a := range []struct{ key, val string }{
		{"http_addr", c.HTTPAddr}, {"ws_addr", c.WSAddr}, {"grpc_addr", c.GRPCAddr},
	} {
		if err := checkAddr(a.val); err != nil {
			return fmt.Errorf("%s: %w", a.key, err)
		}
	}
	if err := checkPath(c.WSPath); err != nil {
		return fmt.Errorf("ws_path: %w", err)
	}
	if c.PublicWSURL != "" {
		u, err := url.Parse(c.PublicWSURL)
		if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
			return fmt.Errorf("public_ws_url: want ws://host[:port]/path or wss://..., got %q", c.PublicWSURL)
		}
	}
	for _, o := range c.AllowedOrigins {
		if o == "" {
			return errors.New("allowed_origins: empty entry")
		}
	}
	if c.DrainDelay < 0 {
		return fmt.Errorf("drain_delay: must not be negative, got %s", c.DrainDelay)
	}
	for _, d := range []struct {
		key string
		val time.Duration
	}{
		{"login_timeout", c.LoginTimeout}, {"heartbeat_timeout", c.HeartbeatTimeout},
		{"handshake_timeout", c.HandshakeTimeout}, {"write_timeout", c.WriteTimeout},
		{"drain_timeout", c.DrainTimeout}, {"dedup_window", c.DedupWindow},
		{"request_timeout", c.RequestTimeout},
	} {
		if d.val <= 0 {
			return fmt.Errorf("%s: must be positive, got %s", d.key, d.val)
		}
	}
	for _, n := range []struct {
		key string
		val int
	}{
		{"max_conns", c.MaxConns}, {"presence_limit", c.PresenceLimit}, {"workers", c.Workers},
		{"max_conns_per_ip", c.MaxConnsPerIP}, {"message_rate", c.MessageRate}, {"message_burst", c.MessageBurst},
		{"max_login_failures", c.MaxLoginFailures}, {"max_rooms", c.MaxRooms},
		{"max_conns_per_user", c.MaxConnsPerUser},
	} {
		if n.val < 0 {
			return fmt.Errorf("%s: must not be negative, got %d", n.key, n.val)
		}
	}
	if err := checkToken(c.AdminToken); err != nil {
		return fmt.Errorf("admin_token: %w", err)
	}
	if c.AuthSecret != "" && c.AuthPublicKey != "" {
		return errors.New("auth_secret and auth_public_key: set one, not both")
	}
	if c.AuthSecret != "" && len(c.AuthSecret) < 16 {
		return errors.New("auth_secret: must be at least 16 bytes")
	}
	if (c.AuthIssuer != "" || c.AuthAudience != "") && c.AuthSecret == "" && c.AuthPublicKey == "" {
		return errors.New("auth_issuer and auth_audience: need auth_secret or auth_public_key (open mode checks no token)")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("tls_cert and tls_key: set both or neither")
	}
	if _, err := c.trustedProxies(); err != nil {
		return err
	}
	if c.EchoPath != "" {
		if err := checkPath(c.EchoPath); err != nil {
			return fmt.Errorf("echo_path: %w", err)
		}
		if c.EchoPath == c.WSPath {
			return fmt.Errorf("echo_path: must differ from ws_path, got %q", c.EchoPath)
		}
	}
	if c.MaxMessageBytes < 128 {
		return fmt.Errorf("max_message_bytes: must be at least 128, got %d", c.MaxMessageBytes)
	}
	if c.MaxLoginFailures > math.MaxUint16 {
		return fmt.Errorf("max_login_failures: must be at most %d, got %d", math.MaxUint16, c.MaxLoginFailures)
	}
	if c.SendQueue < 1 {
		return fmt.Errorf("send_queue: must be at least 1, got %d", c.SendQueue)
	}
	switch c.DuplicateLogin {
	case "kick", "reject":
	default:
		return fmt.Errorf("duplicate_login: want kick or reject, got %q", c.DuplicateLogin)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log_level: want debug, info, warn or error, got %q", c.LogLevel)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return fmt.Errorf("log_format: want text or json, got %q", c.LogFormat)
	}
	if c.NodeID != "" && !cluster.ValidNodeID(c.NodeID) {
		return fmt.Errorf("node_id: want 1..128 characters without spaces, '|', '{' or '}', got %q", c.NodeID)
	}
	return c.Cluster.Validate()
}

// checkToken refuses a shared token that could never match what a client sends: HTTP and
// gRPC headers lose white space at either end and cannot carry control characters.
func checkToken(tok string) error {
	if strings.TrimSpace(tok) != tok {
		return errors.New("must not start or end with white space")
	}
	if strings.ContainsFunc(tok, unicode.IsControl) {
		return errors.New("must not contain control characters")
	}
	return nil
}

func checkAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want host:port, got %q", addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("bad port in %q", addr)
	}
	if host != "" && net.ParseIP(host) == nil && !validHostname(host) {
		return fmt.Errorf("bad host in %q", addr)
	}
	return nil
}

func validHostname(h string) bool {
	if len(h) > 253 {
		return false
	}
	for _, r := range h {
		if !(r == '-' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// trustedProxies parses TrustedProxies (addresses or CIDRs).
func (c Config) trustedProxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, p := range c.TrustedProxies {
		if pf, err := netip.ParsePrefix(p); err == nil {
			if pf.Addr().Is4In6() && pf.Bits() >= 96 { // ::ffff:10.0.0.0/104 is 10.0.0.0/8: peers are unmapped
				pf = netip.PrefixFrom(pf.Addr().Unmap(), pf.Bits()-96)
			}
			out = append(out, pf.Masked())
			continue
		}
		a, err := netip.ParseAddr(p)
		if err != nil {
			return nil, fmt.Errorf("trusted_proxies: want an address or CIDR, got %q", p)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// checkPath accepts an endpoint's URL path: it starts with / and holds no query, fragment,
// white space or control character, which no request's path could match.
func checkPath(p string) error {
	if p == "" || p[0] != '/' {
		return fmt.Errorf("must start with /, got %q", p)
	}
	if i := strings.IndexFunc(p, func(r rune) bool { return r == '?' || r == '#' || unicode.IsSpace(r) || unicode.IsControl(r) }); i >= 0 {
		return fmt.Errorf("must be a path without a query, a fragment or white space, got %q", p)
	}
	return nil
}
