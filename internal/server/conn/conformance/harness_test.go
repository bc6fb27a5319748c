//go:build linux

package conformance

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"go.uber.org/goleak"

	"github.com/gows-dev/gows/internal/server"
	"github.com/gows-dev/gows/internal/server/conn"
	"github.com/gows-dev/gows/internal/testutil"
	"github.com/gows-dev/gows/internal/wsframe"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// caseTimeout bounds every case: a server that neither answers nor closes fails the case
// instead of hanging the suite.
const caseTimeout = 5 * time.Second

// maxMessage is the engine's default read limit (conn.Config.MaxMessageBytes), which the
// suite runs with.
const maxMessage = 64 << 10

// Opcodes, spelled out here so that the suite builds its frames without wsframe.
const (
	opCont   byte = 0x0
	opText   byte = 0x1
	opBinary byte = 0x2
	opClose  byte = 0x8
	opPing   byte = 0x9
	opPong   byte = 0xA
)

// echoHandler echoes every data message with its opcode, like the server's /echo
// endpoint, and reports each connection's close by its remote address.
type echoHandler struct {
	mu     sync.Mutex                               // guards closes
	closes map[netip.AddrPort]chan *conn.CloseError // one buffered slot per connection
}

func (h *echoHandler) Accept(r *http.Request) error {
	if r.URL.Path != "/echo" {
		return &wsframe.HandshakeError{Status: http.StatusNotFound, Msg: "no such endpoint"}
	}
	return nil
}

func (h *echoHandler) OnOpen(*conn.Conn, *http.Request) {}

func (h *echoHandler) OnMessage(c *conn.Conn, op wsframe.Opcode, p []byte) {
	// An error means the connection is closing or was closed as a slow consumer; the
	// case's verdict shows it.
	_ = c.Send(conn.Frame(op, p))
}

func (h *echoHandler) OnClose(c *conn.Conn, why *conn.CloseError) {
	h.closed(c.RemoteAddr()) <- why
}

// closed returns the channel that receives the close of the connection from addr.
func (h *echoHandler) closed(addr netip.AddrPort) chan *conn.CloseError {
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	h.mu.Lock()
	defer h.mu.Unlock()
	ch, ok := h.closes[addr]
	if !ok {
		ch = make(chan *conn.CloseError, 1)
		h.closes[addr] = ch
	}
	return ch
}

// target is a server the suite speaks to at addr, upgrading on /echo.
type target struct {
	name string
	addr string
	// h is the engine's echo handler, which also tells how the server recorded each
	// close; nil for a whole server, whose records are not visible.
	h *echoHandler
}

// addrEnv names a running deployment (host:port of a WebSocket listener started with
// --echo-path /echo) to run the suite against as well, e.g.
// GOWS_CONFORMANCE_ADDR=10.0.0.5:8089 go test ./internal/server/conn/conformance/
const addrEnv = "GOWS_CONFORMANCE_ADDR"

// targets starts the servers every section runs against until the test is done: the
// engine with the suite's echo handler, and the real server (gows serve, with its default
// configuration and --echo-path /echo); plus the deployment named by $GOWS_CONFORMANCE_ADDR.
func targets(t *testing.T) []target {
	t.Helper()
	addr, h := startEcho(t)
	srv := testutil.StartServer(t, func(c *server.Config) { c.EchoPath = "/echo" })
	ts := []target{{name: "engine", addr: addr, h: h}, {name: "gows serve", addr: srv.Server.WSAddr().String()}}
	if ext := os.Getenv(addrEnv); ext != "" {
		ts = append(ts, target{name: ext, addr: ext})
	}
	return ts
}

// startEcho runs an engine with the default configuration and an echoHandler on a
// loopback port until the test and its subtests are done.
func startEcho(t *testing.T) (string, *echoHandler) {
	t.Helper()
	h := &echoHandler{closes: make(map[netip.AddrPort]chan *conn.CloseError)}
	e, err := conn.New(conn.Config{Addr: "127.0.0.1:0"}, h)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	ctx := t.Context()
	go func() { done <- e.Run(ctx) }()
	t.Cleanup(func() {
		if err := <-done; err != nil {
			t.Errorf("engine run: %v", err)
		}
	})
	return e.Addr().String(), h
}

// maskKey masks every client frame. No byte is zero, so a missing unmask shows.
var maskKey = [4]byte{0xa5, 0x3c, 0x0f, 0xe1}

// header builds a masked client frame header for a payload of n bytes. rsv holds the
// three reserved bits (RSV1 = 4).
func header(fin bool, rsv, op byte, n uint64) []byte {
	return appendHeader(nil, fin, rsv, op, n, true)
}

func appendHeader(b []byte, fin bool, rsv, op byte, n uint64, masked bool) []byte {
	b0 := rsv<<4 | op&0x0f
	if fin {
		b0 |= 0x80
	}
	var m byte
	if masked {
		m = 0x80
	}
	switch {
	case n < 126:
		b = append(b, b0, m|byte(n))
	case n < 1<<16:
		b = append(b, b0, m|126, byte(n>>8), byte(n))
	default:
		b = append(b, b0, m|127)
		b = binary.BigEndian.AppendUint64(b, n)
	}
	if masked {
		b = append(b, maskKey[:]...)
	}
	return b
}

// rawFrame builds a client frame with every field under the test's control.
func rawFrame(fin bool, rsv, op byte, payload []byte, masked bool) []byte {
	b := appendHeader(nil, fin, rsv, op, uint64(len(payload)), masked)
	for i, c := range payload {
		if masked {
			c ^= maskKey[i%4]
		}
		b = append(b, c)
	}
	return b
}

// frame builds a masked client frame without reserved bits.
func frame(fin bool, op byte, payload []byte) []byte { return rawFrame(fin, 0, op, payload, true) }

// msg builds a whole (FIN) masked client frame.
func msg(op byte, payload []byte) []byte { return frame(true, op, payload) }

func text(s string) []byte { return msg(opText, []byte(s)) }

// closeFrame builds a masked close frame with code and reason.
func closeFrame(code uint16, reason string) []byte {
	return msg(opClose, append(binary.BigEndian.AppendUint16(nil, code), reason...))
}

// serverFrame is the exact frame the engine sends for a payload: FIN, no reserved bits,
// unmasked, minimal length encoding.
func serverFrame(op byte, payload []byte) []byte {
	return append(appendHeader(nil, true, 0, op, uint64(len(payload)), false), payload...)
}

// expect is one verdict step: a frame the server must send next, or a dropped socket.
type expect struct {
	op      byte   // opcode of the expected frame
	payload []byte // expected payload of a data frame or pong
	code    uint16 // expected close code; 0 means a close frame without a status
	drop    bool   // the server must close the socket without sending anything more
}

func echo(op byte, payload []byte) expect { return expect{op: op, payload: payload} }
func echoText(s string) expect            { return echo(opText, []byte(s)) }
func pong(p string) expect                { return echo(opPong, []byte(p)) }
func closed(code uint16) expect           { return expect{op: opClose, code: code} }

var dropped = expect{drop: true}

// testCase sends bytes after the handshake and checks what the server answers.
type testCase struct {
	name  string
	send  [][]byte // each element is one write
	chunk int      // when > 0, the whole stream is written in pieces of this many bytes
	want  []expect
}

// oneWrite sends all frames in a single write.
func oneWrite(frames ...[]byte) [][]byte { return [][]byte{bytes.Join(frames, nil)} }

// frameWise sends each frame in its own write.
func frameWise(frames ...[]byte) [][]byte { return frames }

// byteWise returns c with the stream written one byte at a time.
func byteWise(c testCase) testCase {
	c.chunk = 1
	return c
}

// runCases runs every case against every target, in parallel.
func runCases(t *testing.T, cases []testCase) {
	t.Helper()
	seen := make(map[string]bool, len(cases))
	for _, tc := range cases {
		if seen[tc.name] {
			t.Fatalf("duplicate case name %q", tc.name)
		}
		seen[tc.name] = true
	}
	for _, tg := range targets(t) {
		t.Run(tg.name, func(t *testing.T) {
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					runCase(t, tg.addr, tg.h, tc)
				})
			}
		})
	}
}

func runCase(t *testing.T, addr string, h *echoHandler, tc testCase) {
	c := dialWS(t, addr)
	c.write(tc.send, tc.chunk)
	var lastClose *expect
	for i, w := range tc.want {
		c.check(i, w)
		if w.op == opClose && !w.drop {
			lastClose = &tc.want[i]
		}
	}
	last := expect{}
	if n := len(tc.want); n > 0 {
		last = tc.want[n-1]
	}
	switch {
	case last.drop:
	case last.op == opClose:
		// After a close frame the server closes the TCP connection; nothing else may follow.
		c.check(len(tc.want), dropped)
	default:
		// The connection must still be open and nothing unexpected queued: a clean close
		// handshake proves both.
		c.write(oneWrite(closeFrame(1000, "done")), 0)
		c.check(len(tc.want), closed(1000))
		c.check(len(tc.want)+1, dropped)
		lastClose = nil
	}
	if h == nil {
		return
	}
	why := c.serverClose(h)
	if lastClose != nil && !why.Remote && uint16(why.Code) != lastClose.code {
		t.Errorf("server recorded close %d, sent %d", why.Code, lastClose.code)
	}
}

// client is a raw TCP WebSocket client.
type client struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

// handshakeKey is the RFC 6455 example key; the server must answer with its example
// accept value.
const (
	handshakeKey    = "dGhlIHNhbXBsZSBub25jZQ=="
	handshakeAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
)

// upgradeRequest is a minimal valid upgrade request for /echo.
func upgradeRequest(host string) string {
	return "GET /echo HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + handshakeKey + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
}

// dialTCP connects to addr with the case deadline set.
func dialTCP(t *testing.T, addr string) *client {
	t.Helper()
	d := net.Dialer{Timeout: caseTimeout}
	nc, err := d.DialContext(t.Context(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() }) // the verdict is in; a failed close changes nothing
	if err := nc.SetDeadline(time.Now().Add(caseTimeout)); err != nil {
		t.Fatal(err)
	}
	return &client{t: t, nc: nc, br: bufio.NewReader(nc)}
}

// dialWS connects and completes the opening handshake.
func dialWS(t *testing.T, addr string) *client {
	t.Helper()
	c := dialTCP(t, addr)
	if _, err := io.WriteString(c.nc, upgradeRequest(addr)); err != nil {
		t.Fatal(err)
	}
	resp := c.response()
	if resp.StatusCode != http.StatusSwitchingProtocols ||
		resp.Header.Get("Sec-Websocket-Accept") != handshakeAccept ||
		!bytes.EqualFold([]byte(resp.Header.Get("Upgrade")), []byte("websocket")) {
		t.Fatalf("handshake answered %d %v", resp.StatusCode, resp.Header)
	}
	return c
}

// response reads the server's HTTP response head (and the body of a refusal).
func (c *client) response() *http.Response {
	c.t.Helper()
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.t.Fatalf("reading the handshake response: %v", err)
	}
	return resp
}

// write sends the writes, each split into chunk-byte pieces when chunk > 0. A write
// error ends the sending: the server may rightly close early, and the verdict shows it.
func (c *client) write(writes [][]byte, chunk int) {
	c.t.Helper()
	if chunk > 0 {
		writes = split(bytes.Join(writes, nil), chunk)
	}
	for _, w := range writes {
		if _, err := c.nc.Write(w); err != nil {
			if isTimeout(err) {
				c.t.Fatalf("write: %v", err)
			}
			return
		}
	}
}

func split(b []byte, n int) [][]byte {
	var out [][]byte
	for len(b) > n {
		out = append(out, b[:n])
		b = b[n:]
	}
	return append(out, b)
}

// check reads the next frame (or the end of the stream) and compares it with w.
func (c *client) check(step int, w expect) {
	c.t.Helper()
	raw, err := c.readFrame()
	if w.drop {
		switch {
		case err == nil:
			c.t.Fatalf("step %d: want the socket closed, got frame % x", step, head(raw))
		case isTimeout(err):
			c.t.Fatalf("step %d: want the socket closed, still open after %s", step, caseTimeout)
		case !isClosed(err):
			c.t.Fatalf("step %d: want the socket closed, got %v", step, err)
		}
		return
	}
	if err != nil {
		c.t.Fatalf("step %d: want %s, got %v", step, describe(w), err)
	}
	if raw[0]&0x70 != 0 || raw[0]&0x80 == 0 || raw[1]&0x80 != 0 {
		c.t.Fatalf("step %d: server frame header % x: want FIN, no reserved bits, unmasked", step, raw[:2])
	}
	op := raw[0] & 0x0f
	if op != w.op {
		c.t.Fatalf("step %d: want %s, got opcode %#x payload %q", step, describe(w), op, head(payload(raw)))
	}
	if op != opClose {
		if want := serverFrame(w.op, w.payload); !bytes.Equal(raw, want) {
			c.t.Fatalf("step %d: want %s (%d bytes), got %d bytes % x", step, describe(w), len(want), len(raw), head(raw))
		}
		return
	}
	p := payload(raw)
	code := uint16(0)
	switch len(p) {
	case 0:
	case 1:
		c.t.Fatalf("step %d: close frame with a 1-byte payload", step)
	default:
		code = binary.BigEndian.Uint16(p)
		if !utf8.Valid(p[2:]) {
			c.t.Fatalf("step %d: close reason %q is not UTF-8", step, p[2:])
		}
	}
	if code != w.code {
		c.t.Fatalf("step %d: want %s, got close %d %q", step, describe(w), code, p[min(2, len(p)):])
	}
}

// maxServerFrame bounds what the client buffers for one frame; the echo of the largest
// accepted message fits.
const maxServerFrame = maxMessage + 14

// readFrame reads one whole server frame and returns its bytes.
func (c *client) readFrame() ([]byte, error) {
	var hdr [10]byte
	if _, err := io.ReadFull(c.br, hdr[:2]); err != nil {
		return nil, err
	}
	n := uint64(hdr[1] & 0x7f)
	hl := 2
	switch n {
	case 126:
		hl = 4
	case 127:
		hl = 10
	}
	if _, err := io.ReadFull(c.br, hdr[2:hl]); err != nil {
		return nil, fmt.Errorf("truncated frame header: %w", err)
	}
	switch hl {
	case 4:
		n = uint64(binary.BigEndian.Uint16(hdr[2:4]))
	case 10:
		n = binary.BigEndian.Uint64(hdr[2:10])
	}
	if n > maxServerFrame {
		return nil, fmt.Errorf("server frame of %d bytes", n)
	}
	raw := append(make([]byte, 0, hl+4+int(n)), hdr[:hl]...)
	if hdr[1]&0x80 != 0 { // a masked server frame; check rejects it
		raw = raw[:hl+4]
		if _, err := io.ReadFull(c.br, raw[hl:]); err != nil {
			return nil, fmt.Errorf("truncated frame header: %w", err)
		}
	}
	start := len(raw)
	raw = raw[:start+int(n)]
	if _, err := io.ReadFull(c.br, raw[start:]); err != nil {
		return nil, fmt.Errorf("truncated frame: %w", err)
	}
	return raw, nil
}

// serverClose waits for the engine to report this connection closed.
func (c *client) serverClose(h *echoHandler) *conn.CloseError {
	c.t.Helper()
	local := c.nc.LocalAddr().(*net.TCPAddr).AddrPort()
	select {
	case why := <-h.closed(local):
		return why
	case <-time.After(caseTimeout):
		c.t.Fatal("the engine did not report the connection closed")
		return nil
	}
}

// payload returns the payload of an unmasked frame.
func payload(raw []byte) []byte {
	switch raw[1] & 0x7f {
	case 126:
		return raw[4:]
	case 127:
		return raw[10:]
	}
	return raw[2:]
}

// head shortens b for messages.
func head(b []byte) []byte { return b[:min(len(b), 32)] }

func describe(w expect) string {
	switch {
	case w.drop:
		return "the socket closed"
	case w.op == opClose:
		return fmt.Sprintf("close %d", w.code)
	default:
		return fmt.Sprintf("opcode %#x with %d bytes %q", w.op, len(w.payload), head(w.payload))
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// isClosed reports whether err means the peer closed the connection (FIN or RST).
func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
