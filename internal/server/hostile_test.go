package server_test

import (
	"bufio"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gows-dev/gows/internal/protocol"
	"github.com/gows-dev/gows/internal/server"
	"github.com/gows-dev/gows/internal/testutil"
	"github.com/gows-dev/gows/internal/wsframe"
)

// rssCeiling is the generous bound on how much the process may grow while a hostile
// client does its worst. The point is "bounded", not a tight figure: without the limits
// these tests would grow by hundreds of MB.
const rssCeiling = 96 << 20

// wellBehaved checks that a normal client on the node still sends and receives.
func wellBehaved(t *testing.T, srv *testutil.Server, c *testutil.Client) {
	t.Helper()
	if r := c.Call(protocol.CmdPing, nil); r.Response.Code != 200 {
		t.Fatalf("well-behaved client ping: %+v", r)
	}
	pushForm(t, srv, "/user/sendMessage", url.Values{"appId": {"101"}, "userId": {"good"}, "message": {"still fine"}}, 200)
	if m := testutil.Data[protocol.Message](t, c.Push(protocol.CmdMsg)); m.Msg != "still fine" {
		t.Fatalf("well-behaved client got %+v", m)
	}
}

// rawDial opens a TCP connection to the WebSocket port and completes the handshake by
// hand, so the test can send frames no library would.
func rawDial(t *testing.T, srv *testutil.Server) (net.Conn, *bufio.Reader) {
	t.Helper()
	u, _ := url.Parse(srv.WSURL)
	nc, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	key := wsframe.NewKey()
	if _, err := nc.Write(wsframe.AppendClientRequest(nil, u.Host, u.Path, key, "")); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	_ = nc.SetReadDeadline(time.Now().Add(testutil.ReadTimeout))
	var head []byte
	for wsframe.HeaderEnd(head) == 0 {
		line, err := br.ReadBytes('\n')
		if err != nil {
			t.Fatalf("handshake: %v", err)
		}
		head = append(head, line...)
	}
	if _, err := wsframe.CheckResponse(head, key); err != nil {
		t.Fatal(err)
	}
	return nc, br
}

// readCloseCode reads frames until a close frame and returns its code (0 when the socket
// ended without one).
func readCloseCode(t *testing.T, nc net.Conn, br *bufio.Reader) uint16 {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(testutil.ReadTimeout))
	for {
		var hdr []byte
		var h wsframe.Header
		for {
			b, err := br.ReadByte()
			if err != nil {
				return 0
			}
			hdr = append(hdr, b)
			hh, n, err := wsframe.ParseHeader(hdr)
			if err != nil {
				t.Fatal(err)
			}
			if n > 0 {
				h = hh
				break
			}
		}
		payload := make([]byte, h.Length)
		if _, err := ioReadFull(br, payload); err != nil {
			return 0
		}
		if h.Op == wsframe.OpClose {
			code, _, _ := wsframe.ParseClose(payload)
			return code
		}
	}
}

func ioReadFull(br *bufio.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := br.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func TestHostile_ClientThatNeverReads(t *testing.T) {
	srv := testutil.StartServer(t)
	good := testutil.Dial(t, srv.WSURL, nil)
	good.Login(101, "good")
	bad := testutil.Dial(t, srv.WSURL, nil) // never reads after login
	bad.Login(101, "bad")
	before := getState(t, srv).RSSBytes
	msg := strings.Repeat("m", 1000)
	pushed, refused := 0, 0
	for i := 0; i < 100000; i++ {
		code, _ := pushForm(t, srv, "/user/sendMessage", url.Values{"appId": {"101"}, "userId": {"bad"}, "message": {msg}}, 0)
		if code == 200 {
			pushed++
			continue
		}
		refused++ // 404: the server has closed the slow consumer
		break
	}
	if refused == 0 {
		t.Fatalf("pushed %d messages to a client that never reads and it was never closed", pushed)
	}
	st := getState(t, srv)
	if st.SlowConsumers != 1 || st.RSSBytes > before+rssCeiling {
		t.Fatalf("slowConsumers=%d, RSS grew from %d to %d", st.SlowConsumers, before, st.RSSBytes)
	}
	wellBehaved(t, srv, good)
}

func TestHostile_HugeFrames(t *testing.T) {
	srv := testutil.StartServer(t)
	good := testutil.Dial(t, srv.WSURL, nil)
	good.Login(101, "good")
	before := getState(t, srv).RSSBytes
	mask := [4]byte{9, 8, 7, 6}
	chunk := make([]byte, 1<<20)
	cases := []struct {
		name  string
		frame func(nc net.Conn) error
	}{
		{"one 100 MB frame", func(nc net.Conn) error {
			if _, err := nc.Write(wsframe.AppendHeader(nil, true, wsframe.OpText, 100<<20, &mask)); err != nil {
				return err
			}
			for range 100 {
				if _, err := nc.Write(chunk); err != nil {
					return err // the server closed: expected once it has seen the header
				}
			}
			return nil
		}},
		{"100 MB in 1 MB fragments", func(nc net.Conn) error {
			for i := range 100 {
				op := wsframe.OpContinuation
				if i == 0 {
					op = wsframe.OpText
				}
				if _, err := nc.Write(wsframe.AppendFrame(nil, i == 99, op, chunk, &mask)); err != nil {
					return err
				}
			}
			return nil
		}},
		{"100 MB in 1000-byte fragments", func(nc net.Conn) error {
			small := wsframe.AppendFrame(nil, false, wsframe.OpContinuation, chunk[:1000], &mask)
			if _, err := nc.Write(wsframe.AppendFrame(nil, false, wsframe.OpText, chunk[:1000], &mask)); err != nil {
				return err
			}
			for range 100 << 10 {
				if _, err := nc.Write(small); err != nil {
					return err
				}
			}
			return nil
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nc, br := rawDial(t, srv)
			writeErr := make(chan error, 1)
			go func() { writeErr <- tc.frame(nc) }()
			if code := readCloseCode(t, nc, br); code != uint16(protocol.CloseMessageTooBig) {
				t.Fatalf("close code %d, want 1009", code)
			}
			_ = nc.Close() // unblocks the writer if it is still writing
			<-writeErr
		})
	}
	if st := getState(t, srv); st.RSSBytes > before+rssCeiling {
		t.Fatalf("RSS grew from %d to %d", before, st.RSSBytes)
	}
	wellBehaved(t, srv, good)
}

func TestHostile_HalfFinishedHandshakes(t *testing.T) {
	srv := testutil.StartServer(t, func(c *server.Config) { c.HandshakeTimeout = 300 * time.Millisecond })
	good := testutil.Dial(t, srv.WSURL, nil)
	good.Login(101, "good")
	before := getState(t, srv).RSSBytes
	u, _ := url.Parse(srv.WSURL)
	var socks []net.Conn
	for i := range 1000 {
		nc, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		socks = append(socks, nc)
		// Half a request head, never finished.
		if _, err := nc.Write([]byte("GET /acc HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, nc := range socks {
			_ = nc.Close()
		}
	})
	testutil.Eventually(t, 20*time.Second, func() error {
		if st := getState(t, srv); st.Handshaking != 0 {
			return fmt.Errorf("%d handshakes still open", st.Handshaking)
		}
		return nil
	})
	// The server closed every one of them.
	for _, nc := range socks[:10] {
		_ = nc.SetReadDeadline(time.Now().Add(testutil.ReadTimeout))
		if _, err := nc.Read(make([]byte, 1)); err == nil {
			t.Fatal("a half-finished handshake is still open")
		}
	}
	if n := metric(t, srv, `gows_handshake_failures_total{reason="timeout"}`); n != "1000" {
		t.Fatalf(`gows_handshake_failures_total{reason="timeout"} %q, want 1000`, n)
	}
	if st := getState(t, srv); st.RSSBytes > before+rssCeiling {
		t.Fatalf("RSS grew from %d to %d", before, st.RSSBytes)
	}
	wellBehaved(t, srv, good)
}

func TestHostile_SilentPeerClosedByHeartbeatTimeout(t *testing.T) {
	srv := testutil.StartServer(t, func(c *server.Config) { c.HeartbeatTimeout = 500 * time.Millisecond })
	// The well-behaved client keeps its session alive with heartbeats while the silent
	// peer is timed out: it must not be closed with it.
	good := testutil.Dial(t, srv.WSURL, nil)
	good.Login(101, "good")
	before := getState(t, srv).RSSBytes
	stop := make(chan struct{})
	beats := make(chan error, 1)
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				beats <- nil
				return
			case <-tick.C:
				if err := good.Conn.WriteMessage(websocket.PingMessage, nil); err != nil {
					beats <- err
					return
				}
			}
		}
	}()
	// A peer that logs in and then vanishes: it sends nothing more and reads nothing,
	// as a client whose network dropped. TCP keepalive would take hours to notice.
	nc, br := rawDial(t, srv)
	req, _ := protocol.EncodeRequest("1", protocol.CmdLogin, protocol.LoginData{AppID: 101, UserID: "ghost"})
	mask := [4]byte{1, 2, 3, 4}
	if _, err := nc.Write(wsframe.AppendFrame(nil, true, wsframe.OpText, req, &mask)); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if st := getState(t, srv); st.Users != 1 || st.Connections != 1 {
			return fmt.Errorf("users=%d connections=%d, want the good client's alone", st.Users, st.Connections)
		}
		return nil
	})
	close(stop)
	if err := <-beats; err != nil {
		t.Fatalf("well-behaved client's ping: %v", err)
	}
	if code := readCloseCode(t, nc, br); code != uint16(protocol.CloseHeartbeatTimeout) {
		t.Fatalf("close code %d, want 4003", code)
	}
	if n := metric(t, srv, "gows_idle_timeouts_total"); n != "1" {
		t.Fatalf("gows_idle_timeouts_total %q, want 1", n)
	}
	if st := getState(t, srv); st.RSSBytes > before+rssCeiling {
		t.Fatalf("RSS grew from %d to %d", before, st.RSSBytes)
	}
	wellBehaved(t, srv, good)
}
