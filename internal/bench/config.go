package bench

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// CloseMode says how bench ends its connections.
type CloseMode string

// Close modes.
const (
	// CloseRST closes every socket with SO_LINGER 0: the kernel sends RST and keeps no
	// TIME_WAIT entry, so a re-run is not blocked by a million of them.
	CloseRST CloseMode = "rst"
	// CloseGraceful sends a close frame (1000), waits for the server's close frame and
	// closes the socket normally.
	CloseGraceful CloseMode = "graceful"
)

// Config configures a bench run. Default returns a usable one apart from URLs; zero
// values mean what each field's comment says.
type Config struct {
	// URLs are the WebSocket endpoints (ws://host:port/path), one per server node.
	// Connection i goes to URLs[i % len(URLs)].
	URLs []string `json:"urls"`
	// Conns is the number of connections to open.
	Conns int `json:"conns"`
	// SourceIPs are the local addresses connections bind to before connecting. Empty
	// means: for loopback targets, as many 127.0.0.x addresses (from 127.0.0.2) as the
	// connection count needs; for other targets, no bind (the kernel chooses).
	SourceIPs []netip.Addr `json:"source_ips"`
	// RatePerSecond paces new connections (token bucket, summed over workers); 0 means
	// no pacing.
	RatePerSecond float64 `json:"rate_per_second"`
	// Login sends a login (distinct userIds UserPrefix+N, AppID) after the upgrade and
	// counts a connection as established only when it is answered with 200.
	Login bool `json:"login"`
	// AppID is the app the connections log in to.
	AppID uint32 `json:"app_id"`
	// UserPrefix starts every userId; connection N logs in as UserPrefix+N.
	UserPrefix string `json:"user_prefix"`
	// AuthSecret, for servers that verify login tokens with an HMAC secret (auth_secret),
	// signs an HS256 token for each login (sub: its userId, appId: AppID, valid for
	// 24 hours). Empty sends none. It reaches worker processes on their stdin, as part of
	// their task, and is never part of a report.
	AuthSecret string `json:"auth_secret,omitempty"`
	// Hold is how long the connections are held after the last one is established, and
	// at least until the echo phase (EchoConns) is over.
	Hold time.Duration `json:"hold"`
	// HeartbeatInterval is how often each held connection sends a heartbeat (a WebSocket
	// ping frame without Login). 0 disables heartbeats.
	HeartbeatInterval time.Duration `json:"heartbeat_interval"`
	// EchoConns is the number of sampled connections that measure ping round trips at
	// the start of the hold; 0 disables the echo phase.
	EchoConns int `json:"echo_conns"`
	// EchoRounds is the number of sequential round trips per sampled connection.
	EchoRounds int `json:"echo_rounds"`
	// Broadcast asks the servers to sendMessageAll once during the hold (the first
	// server when /system/nodes shows a cluster, else each of ServerURLs) and measures
	// the delivery to every held connection. It needs Login.
	Broadcast bool `json:"broadcast"`
	// ServerURLs are HTTP API base URLs (http://host:port) whose /system/state (and
	// /system/nodes, when the server has it) is read before the ramp and at the peak.
	ServerURLs []string `json:"server_urls"`
	// ServerToken is sent as a bearer token to the HTTP API; empty sends none.
	ServerToken string `json:"-"`
	// Workers is the number of processes that hold the connections; 0 means as many as
	// the per-process file limit requires. With 1 the connections are held in this
	// process; more need WorkerCommand.
	Workers int `json:"workers"`
	// LoopsPerWorker is the number of epoll loops in each worker; 0 means the CPU count
	// divided by the worker count, at least 1.
	LoopsPerWorker int `json:"loops_per_worker"`
	// WorkerCommand is the argv that starts a worker process (for gows: the executable
	// and "bench", "worker"); the worker reads its task from stdin (see RunWorker).
	WorkerCommand []string `json:"-"`
	// MaxFailures is how many failed connections are tolerated; Run returns
	// ErrTooManyFailures past it.
	MaxFailures int `json:"max_failures"`
	// Close is how connections are closed at the end.
	Close CloseMode `json:"close"`
	// Duration caps the whole run; when it passes, bench closes everything and reports
	// what it got. 0 means no cap: the run ends after the ramp (each attempt bounded by
	// ConnectTimeout and LoginTimeout) and the hold.
	Duration time.Duration `json:"duration"`
	// ConnectTimeout bounds the TCP connect plus the WebSocket upgrade of one connection.
	ConnectTimeout time.Duration `json:"connect_timeout"`
	// LoginTimeout bounds the answer to a login (and to each echo round trip).
	LoginTimeout time.Duration `json:"login_timeout"`
	// CloseTimeout bounds the graceful close handshake.
	CloseTimeout time.Duration `json:"close_timeout"`
	// PortsPerSourceIP is how many connections one source address can hold to one
	// target; 0 means the size of the kernel's ip_local_port_range less 1/16.
	PortsPerSourceIP int `json:"ports_per_source_ip"`
	// FileLimit is the per-process open-file limit workers are sized by; 0 means this
	// process's RLIMIT_NOFILE.
	FileLimit int `json:"file_limit"`
	// Origin, when set, is sent as the Origin header of every upgrade.
	Origin string `json:"origin"`
	// Progress receives the progress display; nil shows none.
	Progress io.Writer `json:"-"`
	// ProgressLive rewrites one status line in place (for a terminal); otherwise a plain
	// line is written every ProgressEvery.
	ProgressLive bool `json:"-"`
	// ProgressEvery is how often progress is shown.
	ProgressEvery time.Duration `json:"-"`
	// SampleEvery is how often the timeline gets a sample. Workers report progress at
	// their start, at the end of their ramp and four times per SampleEvery.
	SampleEvery time.Duration `json:"sample_every"`
	// Logger receives warnings and lifecycle logs; nil discards them.
	Logger *slog.Logger `json:"-"`
}

// tokenTTL is how long the login tokens bench signs with AuthSecret stay valid: longer
// than any run, so that no session is closed for an expired token mid-run.
const tokenTTL = 24 * time.Hour

// Default returns the defaults: 1,000 connections at 5,000 per second, login to app
// 101, a 10 s hold with heartbeats every 30 s, RST close.
func Default() Config {
	return Config{
		Conns:             1000,
		RatePerSecond:     5000,
		AppID:             101,
		UserPrefix:        "u",
		Hold:              10 * time.Second,
		HeartbeatInterval: 30 * time.Second,
		EchoRounds:        10,
		Close:             CloseRST,
		ConnectTimeout:    10 * time.Second,
		LoginTimeout:      10 * time.Second,
		CloseTimeout:      5 * time.Second,
		ProgressEvery:     time.Second,
		SampleEvery:       time.Second,
	}
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	if len(c.URLs) == 0 {
		return errors.New("at least one url is required")
	}
	for _, u := range c.URLs {
		if _, err := parseTarget(u); err != nil {
			return err
		}
	}
	if len(c.URLs) > 255 {
		return errors.New("at most 255 urls")
	}
	for _, s := range c.ServerURLs {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("server url: want http://host:port, got %q", s)
		}
	}
	if err := c.validateSigns(); err != nil {
		return err
	}
	switch {
	case c.Conns < 1:
		return fmt.Errorf("conns must be at least 1, got %d", c.Conns)
	case c.Conns > 1<<31-1:
		return fmt.Errorf("conns must be below 2^31, got %d", c.Conns)
	case c.RatePerSecond < 0 || math.IsNaN(c.RatePerSecond) || math.IsInf(c.RatePerSecond, 0):
		return fmt.Errorf("rate must be a finite number, not negative (0 means unpaced), got %v", c.RatePerSecond)
	case c.EchoRounds > 255:
		return fmt.Errorf("echo-rounds must be 0..255, got %d", c.EchoRounds)
	case c.EchoConns > c.Conns:
		return fmt.Errorf("echo (%d) must not exceed conns (%d): it samples that many of the connections", c.EchoConns, c.Conns)
	case c.EchoConns > 0 && c.EchoRounds == 0:
		return errors.New("echo needs at least one round")
	case c.SampleEvery <= 0:
		return errors.New("sample interval must be positive")
	case c.Progress != nil && c.ProgressEvery <= 0:
		return errors.New("progress interval must be positive")
	case c.Close != CloseRST && c.Close != CloseGraceful:
		return fmt.Errorf("close: want rst or graceful, got %q", c.Close)
	case c.Broadcast && !c.Login:
		return errors.New("broadcast needs login (pushes go to logged-in users)")
	case c.Broadcast && len(c.ServerURLs) == 0:
		return errors.New("broadcast needs a server url to call sendMessageAll")
	case c.Login && c.AppID == 0:
		return errors.New("login needs an app id")
	case c.Login && (c.UserPrefix == "" || len(c.UserPrefix) > 40):
		return errors.New("login needs a user prefix of 1 to 40 bytes")
	case c.AuthSecret != "" && !c.Login:
		return errors.New("auth secret signs login tokens: it needs login")
	case c.AuthSecret != "" && len(c.AuthSecret) < 16:
		return errors.New("auth secret must be at least 16 bytes, as the server's")
	case c.Workers > c.Conns:
		return fmt.Errorf("workers (%d) must not exceed conns (%d): a worker holds at least one connection", c.Workers, c.Conns)
	case c.Workers > 1 && len(c.WorkerCommand) == 0:
		return errors.New("several workers need a worker command")
	}
	for _, ip := range c.SourceIPs {
		if !ip.IsValid() || !ip.Is4() && !ip.Is6() {
			return fmt.Errorf("bad source ip %v", ip)
		}
	}
	return nil
}

// validateSigns reports the first count or duration below its least value, by the name of
// the gows bench flag that sets it (or of the field, for those no flag sets).
func (c Config) validateSigns() error {
	for _, f := range []struct {
		name string
		v    int
	}{{"workers", c.Workers}, {"loops", c.LoopsPerWorker}, {"max-failures", c.MaxFailures},
		{"echo", c.EchoConns}, {"echo-rounds", c.EchoRounds}, {"FileLimit", c.FileLimit}, {"PortsPerSourceIP", c.PortsPerSourceIP}} {
		if f.v < 0 {
			return fmt.Errorf("%s must not be negative, got %d", f.name, f.v)
		}
	}
	for _, f := range []struct {
		name     string
		v        time.Duration
		positive bool // else 0 is allowed
	}{{"hold", c.Hold, false}, {"heartbeat", c.HeartbeatInterval, false}, {"duration", c.Duration, false},
		{"connect-timeout", c.ConnectTimeout, true}, {"login-timeout", c.LoginTimeout, true}, {"CloseTimeout", c.CloseTimeout, true}} {
		switch {
		case f.positive && f.v <= 0:
			return fmt.Errorf("%s must be positive, got %s", f.name, f.v)
		case f.v < 0:
			return fmt.Errorf("%s must not be negative, got %s", f.name, f.v)
		}
	}
	return nil
}

// maxSourceIPs bounds what ParseSourceIPs expands, so a typo cannot allocate millions.
const maxSourceIPs = 1 << 16

// ParseSourceIPs parses a comma-separated list of addresses and inclusive ranges, e.g.
// "127.0.0.2-127.0.0.40,127.0.1.1". Duplicates are an error.
func ParseSourceIPs(s string) ([]netip.Addr, error) {
	var out []netip.Addr
	seen := map[netip.Addr]bool{}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		first, err := netip.ParseAddr(strings.TrimSpace(lo))
		if err != nil {
			return nil, notAnAddress(lo)
		}
		last := first
		if isRange {
			if last, err = netip.ParseAddr(strings.TrimSpace(hi)); err != nil {
				return nil, notAnAddress(hi)
			}
			if first.Is4() != last.Is4() || last.Less(first) {
				return nil, fmt.Errorf("source ips: bad range %q", part)
			}
		}
		for a := first; ; a = a.Next() {
			if seen[a] {
				return nil, fmt.Errorf("source ips: %v given twice", a)
			}
			seen[a] = true
			out = append(out, a)
			if len(out) > maxSourceIPs {
				return nil, fmt.Errorf("source ips: more than %d addresses", maxSourceIPs)
			}
			if a == last {
				break
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("source ips: empty list")
	}
	return out, nil
}

func notAnAddress(s string) error {
	return fmt.Errorf("source ips: %q is not an IP address (want a list of addresses and ranges, such as 127.0.0.2-127.0.0.40,127.0.1.1)", strings.TrimSpace(s))
}

// target is one WebSocket endpoint, resolved.
type target struct {
	URL  string         `json:"url"`
	Addr netip.AddrPort `json:"addr"`
	Host string         `json:"host"` // Host header
	Path string         `json:"path"` // request target, with query
}

// parseTarget checks a ws:// URL. The host must be an IP address or resolvable later by
// resolveTargets.
func parseTarget(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("url %q: %w", raw, err)
	}
	if u.Scheme != "ws" {
		return nil, fmt.Errorf("url %q: only ws:// is supported", raw)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("url %q: no host", raw)
	}
	return u, nil
}
