package tui

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gows-dev/gows/internal/protocol"
)

// Conn is what the chat logic needs of a connection: a way to send requests and a stream
// of events. Client implements it over a WebSocket; tests use a fake.
type Conn interface {
	// Send queues a request without blocking and returns its seq, which the matching
	// Response carries. It fails with ErrNotConnected while not logged in.
	Send(cmd string, data any) (seq string, err error)
	// Events delivers state changes and incoming frames in order. It is closed when the
	// connection stops for good.
	Events() <-chan Event
}

// Event is something a Conn reports: a StatusEvent or a FrameEvent.
type Event interface{ isEvent() }

// State is a connection's state as shown on the status line.
type State int

// Connection states.
const (
	// StateConnecting: dialling and logging in.
	StateConnecting State = iota
	// StateConnected: logged in; Send works.
	StateConnected
	// StateReconnecting: the connection dropped; the next attempt starts after RetryIn.
	StateReconnecting
	// StateDisconnected: stopped for good (kicked out, refused login); no more attempts.
	StateDisconnected
)

// String returns the state as shown on the status line.
func (s State) String() string {
	switch s {
	case StateConnecting:
		return "connecting"
	case StateConnected:
		return "connected"
	case StateReconnecting:
		return "reconnecting"
	case StateDisconnected:
		return "disconnected"
	}
	return fmt.Sprintf("state %d", int(s))
}

// StatusEvent reports the connection's state. While reconnecting it repeats about once a
// second with the time left, so a display can count down.
type StatusEvent struct {
	State State
	// RetryIn is the time left before the next attempt (StateReconnecting only).
	RetryIn time.Duration
	// Err is why the last connection ended or failed (StateReconnecting and
	// StateDisconnected); nil otherwise.
	Err error
}

// FrameEvent carries a response or push from the server.
type FrameEvent struct {
	Frame protocol.Response
}

func (StatusEvent) isEvent() {}
func (FrameEvent) isEvent()  {}

// ErrNotConnected is returned by Send while the connection is not logged in.
var ErrNotConnected = errors.New("not connected")

// ErrTooLong is returned by Send when the request is larger than the server accepts.
var ErrTooLong = errors.New("message too long")

// ErrQueueFull is returned by Send when the outbound queue is full.
var ErrQueueFull = errors.New("send queue full")

// CloseError is a connection closed by the server with a WebSocket close code.
type CloseError struct {
	Code   protocol.CloseCode
	Reason string
}

// Error says why the server closed the connection, with the close code.
func (e *CloseError) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("closed: %s (%d)", e.Reason, e.Code)
	}
	return fmt.Sprintf("closed: %s (%d)", e.Code.Text(), e.Code)
}

// LoginError is a login the server refused.
type LoginError struct {
	Code protocol.Code
	Msg  string
}

// Error says why the login was refused, with the result code.
func (e *LoginError) Error() string {
	msg := e.Msg
	if msg == "" {
		msg = e.Code.Text()
	}
	return fmt.Sprintf("login refused: %s (%d)", msg, e.Code)
}

// HandshakeError is a WebSocket handshake the server (or a proxy in front of it) answered
// with an HTTP status instead of switching protocols.
type HandshakeError struct {
	Status int    // the HTTP status code, e.g. 404
	Msg    string // the first line of the response body, cleaned; "" when there was none
}

// Error says that the handshake was refused, with the status and the server's message.
func (e *HandshakeError) Error() string {
	s := fmt.Sprintf("handshake refused: %d %s", e.Status, http.StatusText(e.Status))
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	return s
}

// permanent reports whether retrying the same request cannot help: a client error (4xx)
// other than 408 Request Timeout and 429 Too Many Requests, e.g. 404 for a wrong path, or
// 401 and 403 from a proxy that wants credentials.
func (e *HandshakeError) permanent() bool {
	return e.Status >= 400 && e.Status < 500 &&
		e.Status != http.StatusRequestTimeout && e.Status != http.StatusTooManyRequests
}

// endsSession reports whether err ends the session for good: a terminal error, or a
// handshake refused for good before any login. Once a login has worked the URL is right,
// so a refusal after it (a proxy answering 404 while the server restarts) is retried.
func endsSession(err error, everLoggedIn bool) bool {
	if terminal(err) {
		return true
	}
	var he *HandshakeError
	return !everLoggedIn && errors.As(err, &he) && he.permanent()
}

// terminal reports whether err ends the session for good: a close code that forbids an
// automatic reconnect, or a login refused for reasons a retry cannot fix.
func terminal(err error) bool {
	var ce *CloseError
	if errors.As(err, &ce) {
		return ce.Code.Terminal()
	}
	var le *LoginError
	if errors.As(err, &le) {
		switch le.Code {
		case protocol.ParameterIllegal, protocol.UnauthorizedUserID, protocol.Unauthorized:
			return true
		}
	}
	return false
}
