//go:build linux

package conn

import (
	"bytes"
	"fmt"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/gows-dev/gows/internal/netpoll"
	"github.com/gows-dev/gows/internal/wsframe"
)

// recordHandler keeps every message it is given.
type recordHandler struct {
	fuzzHandler
	got []string
}

func (h *recordHandler) OnMessage(_ *Conn, op wsframe.Opcode, p []byte) {
	h.got = append(h.got, fmt.Sprintf("%d:%s", op, p))
}

// The read path gives the same messages whatever the reads' boundaries: the handshake and
// a stream of frames (one big enough to need a 16-bit length, a fragmented message with a
// ping between its fragments) arrive one byte per read, then in pieces of every size.
func TestLoop_MessagesSurviveEverySplitOfTheStream(t *testing.T) {
	mask := [4]byte{9, 8, 7, 6}
	big := bytes.Repeat([]byte("x"), 300)
	stream := wsframe.AppendClientRequest(nil, "x", "/acc", "dGhlIHNhbXBsZSBub25jZQ==", "")
	stream = wsframe.AppendFrame(stream, true, wsframe.OpText, []byte("hello"), &mask)
	stream = wsframe.AppendFrame(stream, true, wsframe.OpBinary, big, &mask)
	stream = wsframe.AppendFrame(stream, false, wsframe.OpText, []byte("frag"), &mask)
	stream = wsframe.AppendFrame(stream, true, wsframe.OpPing, []byte("p"), &mask)
	stream = wsframe.AppendFrame(stream, true, wsframe.OpContinuation, []byte("ment"), &mask)
	want := []string{"1:hello", "2:" + string(big), "1:fragment"}
	for _, piece := range []int{1, 2, 3, 7, 64, 129, 1000} {
		t.Run(fmt.Sprintf("%d-byte reads", piece), func(t *testing.T) {
			h := &recordHandler{}
			l, c, peer := handshakingConn(t, h)
			defer unix.Close(peer)
			for off := 0; off < len(stream); off += piece {
				if _, err := unix.Write(peer, stream[off:min(off+piece, len(stream))]); err != nil {
					t.Fatal(err)
				}
				l.serve(c, netpoll.EvIn)
				if st := c.state.Load(); st == stClosed || st == stClosing {
					t.Fatalf("closed after %d bytes: %v", off+piece, c.why)
				}
			}
			if fmt.Sprint(h.got) != fmt.Sprint(want) {
				t.Fatalf("messages %q, want %q", h.got, want)
			}
			if len(c.in) != 0 || c.frag != nil {
				t.Fatalf("%d bytes and a fragment left over", len(c.in))
			}
			// The 101 answer and the pong came back.
			var buf [4096]byte
			n, err := unix.Read(peer, buf[:])
			if err != nil || !bytes.HasPrefix(buf[:n], []byte("HTTP/1.1 101")) || !bytes.HasSuffix(buf[:n], []byte{0x8a, 1, 'p'}) {
				t.Fatalf("peer read %q, %v", buf[:n], err)
			}
			l.closeConn(c, nil)
			if st := l.e.Stats(); st.Open != 0 || h.closes != 1 {
				t.Fatalf("open %d, closes %d after the close", st.Open, h.closes)
			}
		})
	}
}
