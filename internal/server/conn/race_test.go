//go:build linux

package conn

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gows-dev/gows/internal/protocol"
	"github.com/gows-dev/gows/internal/wsframe"
)

// countHandler counts opens and closes and keeps the open connections, for other
// goroutines to write to and close.
type countHandler struct {
	mu             sync.Mutex
	conns          map[*Conn]bool
	opens, closes  atomic.Int64
	closedTwice    atomic.Int64
	closedUnopened atomic.Int64
}

func (h *countHandler) Accept(*http.Request) error { return nil }
func (h *countHandler) OnOpen(c *Conn, _ *http.Request) {
	h.opens.Add(1)
	h.mu.Lock()
	h.conns[c] = true
	h.mu.Unlock()
}
func (h *countHandler) OnMessage(c *Conn, op wsframe.Opcode, p []byte) { _ = c.Send(Frame(op, p)) }
func (h *countHandler) OnClose(c *Conn, _ *CloseError) {
	h.closes.Add(1)
	h.mu.Lock()
	open, known := h.conns[c]
	if known && !open {
		h.closedTwice.Add(1)
	}
	if !known {
		h.closedUnopened.Add(1)
	}
	h.conns[c] = false
	h.mu.Unlock()
}

func (h *countHandler) snapshot() []*Conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*Conn
	for c, open := range h.conns {
		if open {
			out = append(out, c)
		}
	}
	return out
}

// Sends and closes from other goroutines race clients that send, reset or vanish, and a
// drain that finds connections in their handshake and in the middle of a write: every
// connection opened is closed exactly once, and the counts end at zero, never below.
func TestEngine_ConcurrentSendsClosesAndResetsBalance(t *testing.T) {
	h := &countHandler{conns: map[*Conn]bool{}}
	e, err := New(Config{Addr: "127.0.0.1:0", SendQueue: 8, DrainTimeout: 500 * time.Millisecond, WriteTimeout: 5 * time.Second}, h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	url := "ws://" + e.Addr().String()

	stop := make(chan struct{})
	var writers sync.WaitGroup
	var negative atomic.Int64
	big := Frame(wsframe.OpBinary, make([]byte, 32<<10))
	for w := range 3 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				for i, c := range h.snapshot() {
					switch (i + w) % 7 {
					case 0:
						c.Close(protocol.CloseGoingAway, "bye")
					default:
						_ = c.Send(big) // closed and slow connections refuse: that is the point
					}
				}
				if st := e.Stats(); st.Open < 0 || st.Handshaking < 0 {
					negative.Add(1)
				}
			}
		}()
	}
	small := func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) }
	for round := range 60 {
		c := dialRaw(t, url, small)
		c.write(clientFrame(true, wsframe.OpText, []byte("hello")))
		switch round % 3 {
		case 0: // reset: close with unread data
			if tc, ok := c.nc.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			_ = c.nc.Close()
		case 1: // a polite close
			c.write(clientFrame(true, wsframe.OpClose, wsframe.ClosePayload(1000, "")))
			_ = c.nc.Close()
		default: // stays, reading nothing, until the drain
		}
	}
	// One socket in its handshake for the drain to find.
	hs, err := net.Dial("tcp", e.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer hs.Close()
	eventually(t, 5*time.Second, func() error {
		if st := e.Stats(); st.Handshaking < 1 {
			return notYet("handshaking %d", st.Handshaking)
		}
		return nil
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	close(stop)
	writers.Wait()
	st := e.Stats()
	if st.Open != 0 || st.Handshaking != 0 || negative.Load() != 0 {
		t.Fatalf("open %d, handshaking %d after the drain; %d snapshots below zero", st.Open, st.Handshaking, negative.Load())
	}
	if h.opens.Load() != 60 || h.closes.Load() != 60 || h.closedTwice.Load() != 0 || h.closedUnopened.Load() != 0 {
		t.Fatalf("opens %d, closes %d, closed twice %d, closed unopened %d; want 60, 60, 0, 0",
			h.opens.Load(), h.closes.Load(), h.closedTwice.Load(), h.closedUnopened.Load())
	}
	if st.Upgraded != 60 || st.Closed != 60 {
		t.Fatalf("upgraded %d, closed %d; want 60 each", st.Upgraded, st.Closed)
	}
}
