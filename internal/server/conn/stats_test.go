//go:build linux

package conn

import (
	"net/http"
	"testing"

	"github.com/gorilla/websocket"
)

// FramesOut counts WebSocket frames: not the HTTP answers to handshakes, 101 or refusal.
func TestStats_FramesOutCountsFramesOnly(t *testing.T) {
	e, url := startEngine(t, Config{}, &echoHandler{})
	if _, resp, err := websocket.DefaultDialer.Dial(url+"/nope", nil); err == nil || resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("want 404, got %v %v", resp, err)
	}
	c, _, err := websocket.DefaultDialer.Dial(url+"/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, msg := range []string{"one", "two"} {
		if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		if _, got, err := c.ReadMessage(); err != nil || string(got) != msg {
			t.Fatalf("echo %q, %v", got, err)
		}
	}
	if st := e.Stats(); st.FramesOut != 2 {
		t.Fatalf("FramesOut %d after two echoed messages, want 2", st.FramesOut)
	}
}
