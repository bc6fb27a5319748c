//go:build linux

package conn

import (
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gows-dev/gows/internal/protocol"
	"github.com/gows-dev/gows/internal/wsframe"
)

// closeThenHandler starts the close handshake on the first message and then calls after,
// as a worker does when a queued login (token expiry, ClearDeadline) or logout (login
// deadline) runs after the connection began closing.
type closeThenHandler struct {
	echoHandler
	after func(c *Conn)
}

func (h *closeThenHandler) Accept(*http.Request) error { return nil }
func (h *closeThenHandler) OnMessage(c *Conn, _ wsframe.Opcode, _ []byte) {
	c.Close(protocol.CloseRateLimited, "bye")
	h.after(c)
}

// A closing connection whose peer never answers the close frame is dropped after
// CloseTimeout, whatever deadline the handler sets or clears afterwards.
func TestConn_CloseTimeoutSurvivesLaterDeadlineChanges(t *testing.T) {
	cases := []struct {
		name  string
		after func(c *Conn)
	}{
		{"later deadline", func(c *Conn) { c.SetDeadline(time.Now().Add(time.Hour), protocol.CloseTokenExpired) }},
		{"cleared deadline", func(c *Conn) { c.ClearDeadline() }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := &closeThenHandler{echoHandler: echoHandler{closed: make(chan *CloseError, 1)}, after: tc.after}
			_, url := startEngine(t, Config{CloseTimeout: 100 * time.Millisecond}, h)
			dialAndSay(t, websocket.DefaultDialer, url+"/x", "hi")
			// The client reads nothing, so it never answers the close frame.
			select {
			case why := <-h.closed:
				if why.Code != protocol.CloseRateLimited || why.Remote {
					t.Fatalf("closed with %v, want our %d", why, protocol.CloseRateLimited)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("connection still open 5s after a close with a 100ms close timeout")
			}
		})
	}
}

// dialAndSay connects to url, sends msg and closes the client when the test ends.
func dialAndSay(t *testing.T, d *websocket.Dialer, url, msg string) *websocket.Conn {
	t.Helper()
	c, _, err := d.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() }) // the test is over; the server may have closed it already
	if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	return c
}
