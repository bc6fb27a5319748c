//go:build linux

package conn

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gows-dev/gows/internal/wsframe"
)

// rawClient is a WebSocket client over a plain TCP socket that writes frames byte for byte
// as a test wants them, masked or not, whole or in pieces.
type rawClient struct {
	t  *testing.T
	nc net.Conn
	rd *bufio.Reader
}

// dialRaw upgrades a raw TCP connection to url's host (path /echo); control, when not nil,
// sets socket options before the connection is made.
func dialRaw(t *testing.T, url string, control func(fd uintptr)) *rawClient {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if control != nil {
		d.Control = func(_, _ string, rc syscall.RawConn) error { return rc.Control(control) }
	}
	host := strings.TrimPrefix(url, "ws://")
	nc, err := d.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() }) // the server may have closed it already
	key := wsframe.NewKey()
	if _, err := nc.Write(wsframe.AppendClientRequest(nil, host, "/echo", key, "")); err != nil {
		t.Fatal(err)
	}
	c := &rawClient{t: t, nc: nc, rd: bufio.NewReader(nc)}
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(c.rd, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	_ = nc.SetReadDeadline(time.Time{})
	return c
}

// frame builds one masked client frame.
func clientFrame(fin bool, op wsframe.Opcode, payload []byte) []byte {
	mask := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	return wsframe.AppendFrame(nil, fin, op, payload, &mask)
}

func (c *rawClient) write(frames ...[]byte) {
	c.t.Helper()
	for _, f := range frames {
		if _, err := c.nc.Write(f); err != nil {
			c.t.Fatal(err)
		}
	}
}

// readFrame reads one server frame (unmasked) within 5s.
func (c *rawClient) readFrame() (wsframe.Opcode, []byte, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	var hdr [2]byte
	if _, err := io.ReadFull(c.rd, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := int(hdr[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(c.rd, b[:]); err != nil {
			return 0, nil, err
		}
		n = int(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(c.rd, b[:]); err != nil {
			return 0, nil, err
		}
		n = int(binary.BigEndian.Uint64(b[:]))
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(c.rd, p); err != nil {
		return 0, nil, err
	}
	return wsframe.Opcode(hdr[0] & 0x0f), p, nil
}

// readClose reads frames until a close frame and returns its code.
func (c *rawClient) readClose() (uint16, error) {
	for {
		op, p, err := c.readFrame()
		if err != nil {
			return 0, err
		}
		if op == wsframe.OpClose {
			if len(p) < 2 {
				return 0, nil
			}
			return binary.BigEndian.Uint16(p), nil
		}
	}
}

// connHandler echoes like echoHandler and hands over each opened connection.
type connHandler struct {
	echoHandler
	opened chan *Conn
}

func (h *connHandler) OnOpen(c *Conn, _ *http.Request) { h.opened <- c }

var errNotYet = errors.New("not yet")

func notYet(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errNotYet}, args...)...)
}
