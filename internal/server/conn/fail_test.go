//go:build linux

package conn

import (
	"testing"
	"time"

	"github.com/gows-dev/gows/internal/protocol"
	"github.com/gows-dev/gows/internal/wsframe"
)

// A connection failed for invalid UTF-8 in a fragment is counted once, as invalid UTF-8:
// the continuation frames that follow it in the same read are not another violation.
func TestLoop_FailedConnectionIsCountedOnce(t *testing.T) {
	h := &echoHandler{closed: make(chan *CloseError, 1)}
	e, url := startEngine(t, Config{}, h)
	c := dialRaw(t, url, nil)
	var stream []byte
	stream = append(stream, clientFrame(false, wsframe.OpText, []byte("ok \xff"))...)
	stream = append(stream, clientFrame(false, wsframe.OpContinuation, []byte("more"))...)
	stream = append(stream, clientFrame(true, wsframe.OpContinuation, []byte("end"))...)
	c.write(stream)
	if code, err := c.readClose(); err != nil || code != uint16(protocol.CloseInvalidPayload) {
		t.Fatalf("close %d, %v; want 1007", code, err)
	}
	select {
	case <-h.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the server did not close the connection")
	}
	if st := e.Stats(); st.InvalidUTF8 != 1 || st.ProtocolErrors != 0 {
		t.Fatalf("invalid UTF-8 %d, protocol errors %d; want 1 and 0", st.InvalidUTF8, st.ProtocolErrors)
	}
}

// A fragmented message the client began before it saw our close frame is not a protocol
// violation: once closing, only the peer's close matters, and the close handshake ends
// with the peer's answer, as the close the server started.
func TestLoop_FragmentsCrossingOurCloseAreIgnored(t *testing.T) {
	h := &closeThenHandler{echoHandler: echoHandler{closed: make(chan *CloseError, 1)}, after: func(*Conn) {}}
	e, url := startEngine(t, Config{}, h)
	c := dialRaw(t, url, nil)
	c.write(clientFrame(true, wsframe.OpText, []byte("hi")))
	if code, err := c.readClose(); err != nil || code != uint16(protocol.CloseRateLimited) {
		t.Fatalf("close %d, %v; want %d", code, err, protocol.CloseRateLimited)
	}
	c.write(clientFrame(false, wsframe.OpText, []byte("in ")),
		clientFrame(false, wsframe.OpContinuation, []byte("flight")),
		clientFrame(true, wsframe.OpContinuation, []byte("!")),
		clientFrame(true, wsframe.OpClose, wsframe.ClosePayload(uint16(protocol.CloseRateLimited), "")))
	select {
	case why := <-h.closed:
		if why.Code != protocol.CloseRateLimited || why.Remote {
			t.Fatalf("closed with %v", why)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the server did not close the connection")
	}
	if st := e.Stats(); st.ProtocolErrors != 0 {
		t.Fatalf("%d protocol errors counted for a client that answered our close", st.ProtocolErrors)
	}
}
