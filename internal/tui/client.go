package tui

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gows-dev/gows/internal/protocol"
)

const (
	// sendQueue is the outbound queue of one connection, in requests. A person typing
	// never fills it; Send fails with ErrQueueFull rather than block the UI.
	sendQueue = 64
	// maxRequestBytes is the largest request Send accepts: the server's default
	// max_message_bytes. The server closes the connection for good (1009) on a larger
	// one, which would end the session over one long message (a long paste, or text that
	// JSON escapes to several times its length, such as "<").
	maxRequestBytes = 64 << 10
	// readLimit is the largest frame accepted from the server.
	readLimit = 1 << 20
	// writeTimeout bounds every write to the socket.
	writeTimeout = 10 * time.Second
	// closeTimeout bounds the polite close frame sent when the session ends.
	closeTimeout = time.Second
	// answerSlack is what a connection may stay silent beyond two heartbeats before it is
	// considered dead (see readTimeout): time for a slow answer, or a busy machine.
	answerSlack = 3 * time.Second
)

// errSilent is why a connection was given up on when the server had said nothing for
// readTimeout: a server stopped, a network path gone dead without a reset.
var errSilent = errors.New("no answer from the server")

// Client is a Conn over a gorilla WebSocket. Run connects, logs in, sends heartbeats and
// reconnects with backoff until its context ends or the server ends the session for good
// (kickout, refused login, a handshake refused for good before the first login). Send and
// Events are safe for concurrent use; Run must be called exactly once.
type Client struct {
	cfg    Config
	dialer websocket.Dialer
	events chan Event // Run is the only sender and closes it when it returns
	seq    atomic.Uint64

	mu  sync.Mutex  // guards out
	out chan []byte // the logged-in connection's outbound queue; nil while not logged in
}

// NewClient returns a Client for cfg, which must be valid.
func NewClient(cfg Config) *Client {
	c := &Client{
		cfg:    cfg,
		dialer: websocket.Dialer{HandshakeTimeout: cfg.DialTimeout},
		events: make(chan Event),
	}
	if roots, err := cfg.rootCAs(); err == nil && roots != nil { // Validate read it already
		c.dialer.TLSClientConfig = &tls.Config{RootCAs: roots}
	}
	return c
}

// Events returns the channel of state changes and incoming frames. It is closed when Run
// returns.
func (c *Client) Events() <-chan Event { return c.events }

// Send queues a request on the current connection.
func (c *Client) Send(cmd string, data any) (string, error) {
	seq := c.nextSeq()
	b, err := protocol.EncodeRequest(seq, cmd, data)
	if err != nil {
		return "", fmt.Errorf("encode %s: %w", cmd, err)
	}
	if len(b) > maxRequestBytes {
		return "", fmt.Errorf("%w: %d bytes encoded, the server takes %d", ErrTooLong, len(b), maxRequestBytes)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.out == nil {
		return "", ErrNotConnected
	}
	select {
	case c.out <- b:
		return seq, nil
	default:
		return "", ErrQueueFull
	}
}

// nextSeq returns a fresh request seq in the seed's style: unix milliseconds and a counter.
func (c *Client) nextSeq() string {
	return strconv.FormatInt(time.Now().UnixMilli(), 10) + "-" + strconv.FormatUint(c.seq.Add(1), 10)
}

func (c *Client) setOut(out chan []byte) {
	c.mu.Lock()
	c.out = out
	c.mu.Unlock()
}

// Run connects and keeps the session alive until ctx is done (it then returns nil) or the
// server ends it for good (it returns a *CloseError, a *LoginError, or a *HandshakeError
// with a 4xx status received before the first login). It closes Events before returning.
func (c *Client) Run(ctx context.Context) error {
	defer close(c.events)
	backoff := c.cfg.MinBackoff
	everLoggedIn := false
	for {
		if !c.emit(ctx, StatusEvent{State: StateConnecting}) {
			return nil
		}
		loggedIn, err := c.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		everLoggedIn = everLoggedIn || loggedIn
		if endsSession(err, everLoggedIn) {
			c.emit(ctx, StatusEvent{State: StateDisconnected, Err: err})
			return err
		}
		if loggedIn {
			backoff = c.cfg.MinBackoff
		}
		if !c.waitRetry(ctx, jitter(backoff), err) {
			return nil
		}
		backoff = min(2*backoff, c.cfg.MaxBackoff)
	}
}

// jitter spreads reconnects of many clients over [d/2, d).
func jitter(d time.Duration) time.Duration {
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + rand.N(half)
}

// waitRetry waits d before the next attempt, reporting the time left about once a second.
// It returns false when ctx ends first.
func (c *Client) waitRetry(ctx context.Context, d time.Duration, cause error) bool {
	deadline := time.Now().Add(d)
	timer := time.NewTimer(d)
	defer timer.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	if !c.emit(ctx, StatusEvent{State: StateReconnecting, RetryIn: d, Err: cause}) {
		return false
	}
	for {
		select {
		case <-ctx.Done():
			return false
		case <-timer.C:
			return true
		case <-tick.C:
			if !c.emit(ctx, StatusEvent{State: StateReconnecting, RetryIn: time.Until(deadline), Err: cause}) {
				return false
			}
		}
	}
}

// emit delivers ev unless ctx ends first.
func (c *Client) emit(ctx context.Context, ev Event) bool {
	select {
	case c.events <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}

// session runs one connection: dial, log in, then serve reads, writes and heartbeats until
// the connection fails or ctx ends. loggedIn reports whether the login succeeded.
func (c *Client) session(ctx context.Context) (loggedIn bool, err error) {
	dctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	ws, resp, err := c.dialer.DialContext(dctx, c.cfg.URL, nil)
	cancel()
	if err != nil {
		if errors.Is(err, websocket.ErrBadHandshake) && resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			err = refusal(resp)
		}
		return false, fmt.Errorf("connect: %w", err)
	}
	defer func() {
		_ = ws.Close() // best effort: the session is over either way
	}()
	ws.SetReadLimit(readLimit)
	if err := c.login(ws); err != nil {
		return false, err
	}

	out := make(chan []byte, sendQueue)
	c.setOut(out)
	defer c.setOut(nil)
	if !c.emit(ctx, StatusEvent{State: StateConnected}) {
		return true, nil
	}

	sctx, stop := context.WithCancel(ctx)
	defer stop()
	readErr := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Go(func() { readErr <- c.readLoop(sctx, ws) })
	err = c.writeLoop(ctx, ws, out, readErr)
	stop()
	_ = ws.Close() // unblocks the read loop; a second Close in the defer is harmless
	wg.Wait()
	return true, err
}

// refusalMsgLen caps the server's message kept from a refused handshake's body.
const refusalMsgLen = 200

// refusal describes a handshake the server answered with resp instead of switching
// protocols. gorilla keeps up to 1 KiB of the body for this; its first line is the
// message (gows answers with one line of plain text).
func refusal(resp *http.Response) *HandshakeError {
	he := &HandshakeError{Status: resp.StatusCode}
	if resp.Body == nil {
		return he
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10)) // an in-memory copy: reading it cannot fail
	line, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n")
	line = strings.ToValidUTF8(clean(strings.TrimSpace(line)), "\uFFFD")
	if len(line) > refusalMsgLen {
		line = strings.ToValidUTF8(line[:refusalMsgLen], "") + "…"
	}
	he.Msg = line
	return he
}

// login sends the login request and waits for its answer.
func (c *Client) login(ws *websocket.Conn) error {
	seq := c.nextSeq()
	b, err := protocol.EncodeRequest(seq, protocol.CmdLogin, protocol.LoginData{
		ServiceToken: c.cfg.Token, AppID: c.cfg.AppID, UserID: c.cfg.UserID,
	})
	if err != nil {
		return fmt.Errorf("encode login: %w", err)
	}
	deadline := time.Now().Add(c.cfg.DialTimeout)
	if err := ws.SetWriteDeadline(deadline); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	if err := ws.WriteMessage(websocket.TextMessage, b); err != nil {
		return fmt.Errorf("login: %w", closeCause(err))
	}
	if err := ws.SetReadDeadline(deadline); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	for {
		_, b, err := ws.ReadMessage()
		if err != nil {
			return fmt.Errorf("login: %w", closeCause(err))
		}
		r, err := protocol.DecodeResponse(b)
		if err != nil || r.Cmd != protocol.CmdLogin || r.Seq != seq {
			continue // not the answer; nothing else is expected before it
		}
		if r.Response.Code != protocol.OK {
			return &LoginError{Code: r.Response.Code, Msg: r.Response.CodeMsg}
		}
		return nil
	}
}

// readTimeout is how long the connection may stay silent before it is considered dead:
// the server answers every heartbeat, so silence for two heartbeats (and answerSlack, for
// a slow answer) means it is gone. (docs/chat.md says so.)
func (c *Client) readTimeout() time.Duration {
	return 2*c.cfg.HeartbeatInterval + answerSlack
}

// readLoop turns incoming frames into FrameEvents until the connection fails or closes.
// Successful heartbeat answers are dropped: they only keep the session alive. Once ctx
// ends it reads on, showing nothing, until the server's close frame (see leave) or the
// closing of the socket ends the connection.
func (c *Client) readLoop(ctx context.Context, ws *websocket.Conn) error {
	timeout := c.readTimeout()
	for {
		if err := ws.SetReadDeadline(time.Now().Add(timeout)); err != nil {
			return err
		}
		_, b, err := ws.ReadMessage()
		if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
			// gorilla hides the deadline error behind its own net.Error.
			return fmt.Errorf("%w for %s", errSilent, timeout)
		}
		if err != nil {
			return closeCause(err)
		}
		if ctx.Err() != nil {
			continue
		}
		r, err := protocol.DecodeResponse(b)
		if err != nil {
			continue // not an envelope: nothing to show, and the session is still fine
		}
		if r.Cmd == protocol.CmdHeartbeat && r.Response.Code == protocol.OK {
			continue
		}
		c.emit(ctx, FrameEvent{Frame: r}) // not delivered when ctx ends first: nobody is listening
	}
}

// writeLoop writes queued requests and heartbeats until ctx ends (it then writes what is
// still queued and a close frame), a write fails, or the read loop reports an error.
func (c *Client) writeLoop(ctx context.Context, ws *websocket.Conn, out <-chan []byte, readErr <-chan error) error {
	hb := time.NewTicker(c.cfg.HeartbeatInterval)
	defer hb.Stop()
	write := func(b []byte) error {
		if err := ws.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
			return err
		}
		return ws.WriteMessage(websocket.TextMessage, b)
	}
	for {
		select {
		case <-ctx.Done():
			leave(ws, out, readErr)
			return nil
		case err := <-readErr:
			return err
		case b := <-out:
			if err := write(b); err != nil {
				return fmt.Errorf("write: %w", err)
			}
		case <-hb.C:
			b, err := protocol.EncodeRequest(c.nextSeq(), protocol.CmdHeartbeat, protocol.HeartbeatData{UserID: c.cfg.UserID})
			if err != nil {
				return fmt.Errorf("encode heartbeat: %w", err)
			}
			if err := write(b); err != nil {
				return fmt.Errorf("write heartbeat: %w", err)
			}
		}
	}
}

// leave ends a session the client is leaving, within closeTimeout. It writes the requests
// Send accepted, so that a line sent just before quitting reaches the server (the front
// end has stopped, so nothing more is queued), then a close frame, and waits for the
// server's close frame, which ends the read loop. Closing the socket before that, with
// the server's frames unread, would make the kernel reset the connection, and a reset
// discards what the server has not read yet: the requests just written.
func leave(ws *websocket.Conn, out <-chan []byte, readErr <-chan error) {
	deadline := time.Now().Add(closeTimeout)
	for len(out) > 0 {
		if ws.SetWriteDeadline(deadline) != nil || ws.WriteMessage(websocket.TextMessage, <-out) != nil {
			return // the connection failed: nothing more can be written
		}
	}
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
	if ws.WriteControl(websocket.CloseMessage, msg, deadline) != nil {
		return // best effort: we are leaving anyway
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case <-readErr:
	case <-timer.C:
	}
}

// closeCause turns gorilla's close error into a *CloseError; other errors pass through.
func closeCause(err error) error {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return &CloseError{Code: protocol.CloseCode(ce.Code), Reason: ce.Text}
	}
	return err
}
