//go:build linux

package conn

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/gows-dev/gows/internal/protocol"
	"github.com/gows-dev/gows/internal/wsframe"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// echoHandler echoes every message and records closes.
type echoHandler struct {
	mu     sync.Mutex
	closes []*CloseError
	closed chan *CloseError
}

func (h *echoHandler) Accept(r *http.Request) error {
	if r.URL.Path != "/echo" {
		return &wsframe.HandshakeError{Status: http.StatusNotFound, Msg: "no such endpoint"}
	}
	return nil
}
func (h *echoHandler) OnOpen(c *Conn, r *http.Request) {}
func (h *echoHandler) OnMessage(c *Conn, op wsframe.Opcode, p []byte) {
	_ = c.Send(Frame(op, p))
}
func (h *echoHandler) OnClose(c *Conn, why *CloseError) {
	h.mu.Lock()
	h.closes = append(h.closes, why)
	h.mu.Unlock()
	if h.closed != nil {
		h.closed <- why
	}
}

func startEngine(t *testing.T, cfg Config, h Handler) (*Engine, string) {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	e, err := New(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	return e, "ws://" + e.Addr().String()
}

func TestEngine_EchoesTextAndBinary(t *testing.T) {
	_, url := startEngine(t, Config{}, &echoHandler{})
	c, _, err := websocket.DefaultDialer.Dial(url+"/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i, size := range []int{0, 1, 125, 126, 65535, 65536 - 100} {
		msg := strings.Repeat(fmt.Sprint(i), size)
		typ := websocket.TextMessage
		if i%2 == 1 {
			typ = websocket.BinaryMessage
		}
		if err := c.WriteMessage(typ, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		gt, got, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if gt != typ || string(got) != msg {
			t.Fatalf("size %d: got type %d len %d", size, gt, len(got))
		}
	}
}

// Permessage-deflate is never negotiated: a client offering it (as browsers always do)
// gets an answer without Sec-WebSocket-Extensions and keeps sending uncompressed frames;
// a compressed frame (RSV1 set) would be a protocol error.
func TestEngine_DoesNotNegotiateCompression(t *testing.T) {
	_, url := startEngine(t, Config{}, &echoHandler{})
	d := websocket.Dialer{EnableCompression: true}
	c, resp, err := d.Dial(url+"/echo", nil) // offers permessage-deflate
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ext := resp.Header.Values("Sec-WebSocket-Extensions"); len(ext) != 0 {
		t.Fatalf("the server answered Sec-WebSocket-Extensions %q", ext)
	}
	msg := strings.Repeat("compressible ", 100)
	if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	if _, got, err := c.ReadMessage(); err != nil || string(got) != msg {
		t.Fatalf("echo: %d bytes, %v", len(got), err)
	}
}

func TestEngine_OversizeClosesWith1009(t *testing.T) {
	h := &echoHandler{closed: make(chan *CloseError, 1)}
	_, url := startEngine(t, Config{MaxMessageBytes: 1024}, h)
	c, _, err := websocket.DefaultDialer.Dial(url+"/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.WriteMessage(websocket.TextMessage, make([]byte, 2000)); err != nil {
		t.Fatal(err)
	}
	_, _, err = c.ReadMessage()
	if !websocket.IsCloseError(err, 1009) {
		t.Fatalf("want close 1009, got %v", err)
	}
	why := <-h.closed
	if why.Code != protocol.CloseMessageTooBig {
		t.Fatalf("server recorded %v", why)
	}
}

func TestEngine_WrongPathIs404(t *testing.T) {
	_, url := startEngine(t, Config{}, &echoHandler{})
	_, resp, err := websocket.DefaultDialer.Dial(url+"/nope", nil)
	if err == nil || resp == nil || resp.StatusCode != 404 {
		t.Fatalf("want 404, got %v %v", resp, err)
	}
}

func TestEngine_DrainSendsGoingAway(t *testing.T) {
	h := &echoHandler{}
	e, err := New(Config{Addr: "127.0.0.1:0"}, h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	var conns []*websocket.Conn
	for range 20 {
		c, _, err := websocket.DefaultDialer.Dial("ws://"+e.Addr().String()+"/echo", nil)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	cancel()
	for _, c := range conns {
		_, _, err := c.ReadMessage()
		if !websocket.IsCloseError(err, 1001) {
			t.Errorf("want 1001, got %v", err)
		}
		c.Close()
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("engine did not stop")
	}
	if got := e.Stats().Open; got != 0 {
		t.Fatalf("open after drain: %d", got)
	}
}
