package testutil

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gows-dev/gows/internal/protocol"
)

// ReadTimeout bounds every read of a test client, so a missing message fails the test
// instead of hanging it.
const ReadTimeout = 10 * time.Second

// Client is a gorilla/websocket client speaking the gows protocol. It is used by one
// goroutine at a time.
type Client struct {
	t      testing.TB
	Conn   *websocket.Conn
	seq    atomic.Int64
	pushes []protocol.Response // pushes read while waiting for a response
}

// Dial connects to url, failing the test on error.
func Dial(t testing.TB, url string, header http.Header) *Client {
	t.Helper()
	c, err := DialErr(t, url, header)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	return c
}

// DialErr connects to url and returns the handshake error instead of failing.
func DialErr(t testing.TB, url string, header http.Header) (*Client, error) {
	ws, resp, err := websocket.DefaultDialer.Dial(url, header)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("%w (HTTP %d)", err, resp.StatusCode)
		}
		return nil, err
	}
	c := &Client{t: t, Conn: ws}
	t.Cleanup(func() { _ = ws.Close() }) // the test is over; errors do not matter
	return c, nil
}

// Login logs in as app/user and fails the test unless the answer is 200.
func (c *Client) Login(app uint32, user string) {
	c.t.Helper()
	r := c.Call(protocol.CmdLogin, protocol.LoginData{AppID: app, UserID: user})
	if r.Response.Code != protocol.OK {
		c.t.Fatalf("login %s: code %d %s", user, r.Response.Code, r.Response.CodeMsg)
	}
}

// Send writes a request and returns its seq.
func (c *Client) Send(cmd string, data any) string {
	c.t.Helper()
	seq := strconv.FormatInt(c.seq.Add(1), 10)
	b, err := protocol.EncodeRequest(seq, cmd, data)
	if err != nil {
		c.t.Fatal(err)
	}
	c.WriteRaw(b)
	return seq
}

// WriteRaw writes one text frame.
func (c *Client) WriteRaw(b []byte) {
	c.t.Helper()
	if err := c.Conn.WriteMessage(websocket.TextMessage, b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// Call sends a request and waits for its response, keeping pushes that arrive meanwhile.
func (c *Client) Call(cmd string, data any) protocol.Response {
	c.t.Helper()
	return c.Await(c.Send(cmd, data))
}

// Await reads until the response with seq arrives.
func (c *Client) Await(seq string) protocol.Response {
	c.t.Helper()
	for {
		r := c.Next()
		if r.Seq == seq && !isPush(r.Cmd) {
			return r
		}
		c.pushes = append(c.pushes, r)
	}
}

// NextResponse reads until a non-push message arrives.
func (c *Client) NextResponse() protocol.Response {
	c.t.Helper()
	for {
		r := c.Next()
		if !isPush(r.Cmd) {
			return r
		}
		c.pushes = append(c.pushes, r)
	}
}

// Push returns the next push of the given cmd (msg, enter, exit, kickout), from those
// already read or from the connection.
func (c *Client) Push(cmd string) protocol.Response {
	c.t.Helper()
	for i, p := range c.pushes {
		if p.Cmd == cmd {
			c.pushes = append(c.pushes[:i], c.pushes[i+1:]...)
			return p
		}
	}
	for {
		r := c.Next()
		if r.Cmd == cmd {
			return r
		}
		c.pushes = append(c.pushes, r)
	}
}

// Pending returns the pushes read so far while waiting for other messages.
func (c *Client) Pending() []protocol.Response { return c.pushes }

// Next reads one message.
func (c *Client) Next() protocol.Response {
	c.t.Helper()
	_ = c.Conn.SetReadDeadline(time.Now().Add(ReadTimeout)) // fails only on a closed conn; the read reports it
	typ, b, err := c.Conn.ReadMessage()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	if typ != websocket.TextMessage {
		c.t.Fatalf("got frame type %d, want text", typ)
	}
	r, err := protocol.DecodeResponse(b)
	if err != nil {
		c.t.Fatalf("decode %s: %v", b, err)
	}
	return r
}

// ReadClose reads until the connection closes and returns the close error (a
// *websocket.CloseError when the server sent a close frame).
func (c *Client) ReadClose() error {
	c.t.Helper()
	for {
		_ = c.Conn.SetReadDeadline(time.Now().Add(ReadTimeout)) // see Next
		if _, _, err := c.Conn.ReadMessage(); err != nil {
			return err
		}
	}
}

// Data decodes a response's data into v.
func Data[T any](t testing.TB, r protocol.Response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.Response.Data, &v); err != nil {
		t.Fatalf("decode data %s: %v", r.Response.Data, err)
	}
	return v
}

func isPush(cmd string) bool {
	switch cmd {
	case protocol.CmdMsg, protocol.CmdEnter, protocol.CmdExit, protocol.CmdKickout:
		return true
	}
	return false
}
