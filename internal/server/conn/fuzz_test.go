//go:build linux

package conn

import (
	"log/slog"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gows-dev/gows/internal/netpoll"
	"github.com/gows-dev/gows/internal/wsframe"
)

// fuzzHandler accepts every handshake and counts what it is given.
type fuzzHandler struct{ msgs, opens, closes int }

func (h *fuzzHandler) Accept(*http.Request) error                     { return nil }
func (h *fuzzHandler) OnOpen(*Conn, *http.Request)                    { h.opens++ }
func (h *fuzzHandler) OnMessage(c *Conn, op wsframe.Opcode, p []byte) { h.msgs++ }
func (h *fuzzHandler) OnClose(*Conn, *CloseError)                     { h.closes++ }

// handshakingConn builds an engine (at most 10 connections, 4 KiB messages) with one
// loop that is not running, and one connection in its handshake on one end of a socket
// pair; the caller drives the loop and closes peer, the other end.
func handshakingConn(t *testing.T, h Handler) (l *loop, c *Conn, peer int) {
	e := &Engine{cfg: Config{MaxConns: 10, MaxMessageBytes: 4096}.withDefaults(), h: h, perIP: map[netip.Addr]int32{}, base: time.Now(), log: slog.New(slog.DiscardHandler)}
	e.cfg.MaxMessageBytes = 4096
	e.table.init(1 << 16)
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Skip(err)
	}
	poll, err := netpoll.New()
	if err != nil {
		t.Skip(err)
	}
	t.Cleanup(func() { poll.Close() })
	l = &loop{e: e, poll: poll, buf: make([]byte, readBufSize)}
	e.loops = []*loop{l}
	c = &Conn{e: e, lp: l, fd: int32(fds[0]), id: 1}
	e.table.set(fds[0], c)
	l.add(c)
	e.stats.handshaking.Add(1)
	return l, c, fds[1]
}

// A client that resets its connection right after its upgrade request makes the 101
// answer's write fail: the connection was never open, so it must leave the open and
// handshaking counts as they were, and the handler hears of neither an open nor a close.
func TestUpgrade_AnswerWriteFailsOnAGoneClient(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  []byte
	}{
		{"accepted", wsframe.AppendClientRequest(nil, "x", "/acc", "dGhlIHNhbXBsZSBub25jZQ==", "")},
		{"refused", []byte("GET /acc HTTP/1.1\r\nHost: x\r\n\r\n")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &fuzzHandler{}
			l, c, peer := handshakingConn(t, h)
			if err := unix.Close(peer); err != nil {
				t.Fatal(err)
			}
			if _, done := l.consume(c, tc.req); !done && c.state.Load() != stClosed {
				t.Fatalf("consume went on after a failed write (state %d)", c.state.Load())
			}
			if c.state.Load() != stClosed {
				l.closeConn(c, nil)
			}
			if st := l.e.Stats(); st.Open != 0 || st.Handshaking != 0 || st.Closed != 0 || h.opens != 0 || h.closes != 0 {
				t.Fatalf("open %d, handshaking %d, closed %d, handler opens %d closes %d; want all 0",
					st.Open, st.Handshaking, st.Closed, h.opens, h.closes)
			}
			if n := len(l.e.perIP); n != 0 {
				t.Fatalf("%d per-IP counts left", n)
			}
		})
	}
}

// FuzzConsume feeds arbitrary bytes, in two pieces, through the engine's read path (the
// handshake parser, then the frame decoder, limits, UTF-8 and close handling) on a real
// socket pair. It must never panic, and a connection the engine closed stays closed.
func FuzzConsume(f *testing.F) {
	req := wsframe.AppendClientRequest(nil, "x", "/acc", "dGhlIHNhbXBsZSBub25jZQ==", "")
	mask := [4]byte{1, 2, 3, 4}
	f.Add(req, 0)
	f.Add(append(append([]byte(nil), req...), wsframe.AppendFrame(nil, true, wsframe.OpText, []byte("hello"), &mask)...), len(req)+3)
	f.Add(append(append([]byte(nil), req...), wsframe.AppendFrame(nil, false, wsframe.OpText, []byte("he"), &mask)...), 5)
	f.Add(append(append([]byte(nil), req...), 0x88, 0x82, 1, 2, 3, 4, 0x03, 0xea), 0)
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"), 3)
	f.Fuzz(func(t *testing.T, data []byte, split int) {
		h := &fuzzHandler{}
		l, c, peer := handshakingConn(t, h)
		defer unix.Close(peer)
		if split < 0 || split > len(data) {
			split = len(data) / 2
		}
		for _, part := range [][]byte{data[:split], data[split:]} {
			if c.state.Load() == stClosed {
				break
			}
			in := part
			if len(c.in) > 0 {
				c.in = append(c.in, part...)
				in = c.in
			}
			used, done := l.consume(c, in)
			if done {
				break
			}
			if used > len(in) {
				t.Fatalf("consumed %d of %d bytes", used, len(in))
			}
			c.in = append([]byte(nil), in[used:]...)
		}
		if c.state.Load() != stClosed {
			l.closeConn(c, nil)
		}
		if h.closes > h.opens || h.opens > 1 {
			t.Fatalf("opens %d closes %d", h.opens, h.closes)
		}
		if st := l.e.Stats(); st.Open != 0 || st.Handshaking != 0 || len(l.e.perIP) != 0 {
			t.Fatalf("after the close: open %d, handshaking %d, %d per-IP counts", st.Open, st.Handshaking, len(l.e.perIP))
		}
	})
}
