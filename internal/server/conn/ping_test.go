//go:build linux

package conn

import (
	"bytes"
	"syscall"
	"testing"
	"time"

	"github.com/gows-dev/gows/internal/wsframe"
)

// A client that sends pings and never reads must not make the engine queue pongs without
// bound: the send queue is the limit of what a connection may hold.
func TestConn_PingFloodFromAClientThatDoesNotReadIsBounded(t *testing.T) {
	const queue = 16
	h := &connHandler{opened: make(chan *Conn, 1)}
	e, url := startEngine(t, Config{SendQueue: queue, WriteTimeout: time.Minute}, h)
	c := dialRaw(t, url, func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
	})
	sc := <-h.opened
	ping := clientFrame(true, wsframe.OpPing, bytes.Repeat([]byte("p"), wsframe.MaxControlPayload))
	const pings = 60_000 // 7.6 MB of pongs: more than the kernel buffers hold
	batch := bytes.Repeat(ping, 1000)
	for range pings / 1000 {
		c.write(batch)
	}
	eventually(t, 20*time.Second, func() error {
		if got := e.Stats().FramesIn; got < pings {
			return notYet("%d of %d pings read", got, pings)
		}
		return nil
	})
	sc.mu.Lock()
	queued := len(sc.out)
	sc.mu.Unlock()
	if queued > 2*queue+1 {
		t.Fatalf("%d pongs queued for a client that reads nothing (send queue %d)", queued, queue)
	}
}
