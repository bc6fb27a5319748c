//go:build linux

package conn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gows-dev/gows/internal/testcert"
	"github.com/gows-dev/gows/internal/wsframe"
)

// floodHandler answers a message with 200 frames of 64 KiB (12.5 MiB, more than the
// kernel buffers between the engine and a client that reads nothing), within the send
// queue, so that the connection ends by write timeout rather than as a slow consumer.
type floodHandler struct{ echoHandler }

func (h *floodHandler) OnMessage(c *Conn, _ wsframe.Opcode, _ []byte) {
	frame := Frame(wsframe.OpBinary, make([]byte, 64<<10))
	for range 200 {
		_ = c.Send(frame) // the test looks at how the connection ends, not at each frame
	}
}

// A wss:// client that stops reading must not hold its TLS relay forever: once the engine
// drops the connection (write timeout), the relay gives up within the write timeout too,
// so Run returns.
func TestEngine_TLSRelayOfAClientThatStopsReadingEnds(t *testing.T) {
	cert := testcert.Certificate(t)
	h := &floodHandler{echoHandler{closed: make(chan *CloseError, 1)}}
	e, err := New(Config{
		Addr:         "127.0.0.1:0",
		WriteTimeout: 200 * time.Millisecond,
		SendQueue:    256,
		TLS:          &tls.Config{Certificates: []tls.Certificate{cert}},
	}, h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()

	small := func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		return errors.Join(err, serr)
	}
	d := websocket.Dialer{
		NetDialContext:  (&net.Dialer{Control: small}).DialContext,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
	}
	c := dialAndSay(t, &d, "wss://"+e.Addr().String()+"/echo", "flood me")
	// The client reads nothing from here on.
	select {
	case <-h.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the engine did not drop a client that reads nothing")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Error("Run did not return: the TLS relay is still writing to a client that reads nothing")
		c.Close() // unblocks the relay so that the test can end
		<-done
	}
}

// refusedAtOnce connects to addr, sends nothing and reports whether the engine closes
// (or resets) the socket within a few seconds, before the test's handshake timeout: a
// TLS handshake started for it would wait for its hello until that timeout.
func refusedAtOnce(addr string) error {
	conn, err := net.Dial("tcp", addr)
	if errors.Is(err, syscall.ECONNRESET) {
		return nil // reset before the dial returned
	}
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetReadDeadline(time.Now().Add(3 * time.Second)); err != nil {
		return err
	}
	_, err = conn.Read(make([]byte, 1))
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("socket not closed by the engine: read %v", err)
	}
	return nil
}

// inTLSHandshake opens a socket that never sends its TLS hello and waits until the engine
// counts it as a handshake in progress. The test closes it, or its end does.
func inTLSHandshake(t *testing.T, e *Engine) net.Conn {
	t.Helper()
	idle, err := net.Dial("tcp", e.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = idle.Close() })
	eventually(t, 5*time.Second, func() error {
		if n := e.Stats().Handshaking; n != 1 {
			return fmt.Errorf("handshaking = %d, want 1", n)
		}
		return nil
	})
	return idle
}

func tlsDialer() *websocket.Dialer {
	return &websocket.Dialer{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, HandshakeTimeout: 5 * time.Second}
}

// At max_conns a TLS socket is reset on accept: it costs no relay goroutine and no
// handshake (which could only end in a 503), and counts as overloaded. A handshake in
// progress holds a slot as an open connection does.
func TestEngine_TLSPastMaxConnsIsRefusedBeforeItsHandshake(t *testing.T) {
	cert := testcert.Certificate(t)
	e, url := startEngine(t, Config{MaxConns: 2, HandshakeTimeout: 30 * time.Second,
		TLS: &tls.Config{Certificates: []tls.Certificate{cert}}}, &echoHandler{})
	wss := "wss" + url[2:] + "/echo"
	open := dialAndSay(t, tlsDialer(), wss, "hello")
	if _, got, err := open.ReadMessage(); err != nil || string(got) != "hello" {
		t.Fatalf("echo: %q, %v", got, err)
	}
	// A socket in its TLS handshake (it never sends its hello) takes the second slot.
	idle := inTLSHandshake(t, e)

	const flood = 30
	for i := range flood {
		if err := refusedAtOnce(e.Addr().String()); err != nil {
			t.Fatalf("socket %d past max_conns: %v", i, err)
		}
	}
	if _, _, err := tlsDialer().Dial(wss, nil); err == nil {
		t.Fatal("a TLS client past max_conns was served")
	}
	st := e.Stats()
	if st.RefusedOverload != flood+1 || st.TLSFailures != 0 || st.Handshaking != 1 {
		t.Fatalf("refused overloaded %d (want %d), tls failures %d (want 0), handshaking %d (want 1)",
			st.RefusedOverload, flood+1, st.TLSFailures, st.Handshaking)
	}
	// The slot held by the handshake comes back when it ends.
	idle.Close()
	eventually(t, 5*time.Second, func() error {
		c, _, err := tlsDialer().Dial(wss, nil)
		if err != nil {
			return err
		}
		return c.Close()
	})
}

// At max_conns_per_ip, counting TLS handshakes in progress, another socket from the same
// address is reset on accept and counts as per_ip_limit.
func TestEngine_TLSPastMaxConnsPerIPIsRefusedBeforeItsHandshake(t *testing.T) {
	cert := testcert.Certificate(t)
	e, url := startEngine(t, Config{MaxConnsPerIP: 1, HandshakeTimeout: 30 * time.Second,
		TLS: &tls.Config{Certificates: []tls.Certificate{cert}}}, &echoHandler{})
	wss := "wss" + url[2:] + "/echo"
	idle := inTLSHandshake(t, e)
	if err := refusedAtOnce(e.Addr().String()); err != nil {
		t.Fatalf("second socket from one address: %v", err)
	}
	if _, _, err := tlsDialer().Dial(wss, nil); err == nil {
		t.Fatal("a TLS client past max_conns_per_ip was served")
	}
	if st := e.Stats(); st.RefusedPerIP != 2 || st.RefusedOverload != 0 {
		t.Fatalf("refused per ip %d (want 2), overloaded %d (want 0)", st.RefusedPerIP, st.RefusedOverload)
	}
	idle.Close()
	var open *websocket.Conn // the address's one allowance, once the handshake gave it back
	eventually(t, 5*time.Second, func() error {
		c, _, err := tlsDialer().Dial(wss, nil)
		open = c
		return err
	})
	defer open.Close()
	if err := open.WriteMessage(websocket.TextMessage, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if _, got, err := open.ReadMessage(); err != nil || string(got) != "hi" {
		t.Fatalf("echo: %q, %v", got, err)
	}
	if _, _, err := tlsDialer().Dial(wss, nil); err == nil {
		t.Fatal("a second TLS connection from one address was served at max_conns_per_ip 1")
	}
}
