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
			c, _, err := websocket.DefaultDialer.Dial(url+"/x", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.WriteMessage(websocket.TextMessage, []byte("hi")); err != nil {
				t.Fatal(err)
			}
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
