package tui

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/gows-dev/gows/internal/protocol"
	"github.com/gows-dev/gows/internal/trust"
)

// Config configures a chat session. The zero value is not usable: start from Default.
type Config struct {
	// URL is the server's WebSocket endpoint, ws:// or wss://, e.g. ws://127.0.0.1:8089/acc.
	URL string
	// UserID is the user to log in as.
	UserID string
	// AppID is the application to log in to; must not be 0.
	AppID uint32
	// Room is joined after every login (so it survives reconnects); "" means no room:
	// plain lines go to everyone in the app.
	Room string
	// Token is sent as the login's serviceToken; "" for servers in open mode.
	Token string
	// CACert, when not "", is a PEM file of CA certificates trusted for a wss:// URL
	// besides the system's: a private CA, or the certificate of a node serving TLS itself
	// with a self-signed one.
	CACert string
	// NoTUI selects line mode even when the input is a terminal.
	NoTUI bool
	// HeartbeatInterval is the time between heartbeats. It must stay well below the
	// server's heartbeat timeout (6 minutes by default). A connection on which the server
	// says nothing for two intervals and 3 seconds more is given up on.
	HeartbeatInterval time.Duration
	// DialTimeout bounds one connection attempt: the TCP dial, the WebSocket handshake and
	// the answer to the login.
	DialTimeout time.Duration
	// MinBackoff is the wait before the first reconnect attempt; each failed attempt doubles
	// it, up to MaxBackoff. A connection that logged in resets it.
	MinBackoff time.Duration
	// MaxBackoff caps the wait between reconnect attempts.
	MaxBackoff time.Duration
	// FlushTimeout bounds how long line mode waits, after its input ends, for the answers to
	// the commands it sent.
	FlushTimeout time.Duration
}

// Default returns a Config with the default timings and no server, user or app.
func Default() Config {
	return Config{
		HeartbeatInterval: 30 * time.Second,
		DialTimeout:       10 * time.Second,
		MinBackoff:        500 * time.Millisecond,
		MaxBackoff:        30 * time.Second,
		FlushTimeout:      5 * time.Second,
	}
}

// Validate reports the first invalid setting.
func (c Config) Validate() error {
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return fmt.Errorf("url: want ws://host:port/path or wss://..., got %q", c.URL)
	}
	if !protocol.ValidUserID(c.UserID) {
		return fmt.Errorf("user: want 1 to %d characters, none of them a control character, got %q", protocol.MaxUserIDLen, c.UserID)
	}
	if c.AppID == 0 {
		return errors.New("app id: must not be 0")
	}
	if c.CACert != "" {
		if _, err := c.rootCAs(); err != nil {
			return err
		}
	}
	if c.Room != "" && !protocol.ValidRoom(c.Room) {
		return fmt.Errorf("room: want 1 to %d characters, none of them a control character, got %q", protocol.MaxRoomLen, c.Room)
	}
	for _, d := range []struct {
		name string
		val  time.Duration
	}{
		{"heartbeat interval", c.HeartbeatInterval}, {"dial timeout", c.DialTimeout},
		{"min backoff", c.MinBackoff}, {"max backoff", c.MaxBackoff}, {"flush timeout", c.FlushTimeout},
	} {
		if d.val <= 0 {
			return fmt.Errorf("%s: must be positive, got %s", d.name, d.val)
		}
	}
	if c.MaxBackoff < c.MinBackoff {
		return fmt.Errorf("max backoff: must not be below min backoff %s, got %s", c.MinBackoff, c.MaxBackoff)
	}
	return nil
}

// serverName is the server as shown to the user: the URL's host, never its path or query
// (which may carry credentials).
func (c Config) serverName() string {
	u, err := url.Parse(c.URL)
	if err != nil {
		return "?"
	}
	return u.Host
}

// rootCAs returns the system's certificates and those in CACert, nil when CACert is "".
func (c Config) rootCAs() (*x509.CertPool, error) {
	if c.CACert == "" {
		return nil, nil
	}
	roots, err := trust.Roots(c.CACert)
	if err != nil {
		return nil, fmt.Errorf("cacert: %w", err)
	}
	return roots, nil
}
