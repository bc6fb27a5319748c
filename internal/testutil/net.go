package testutil

import (
	"net"
	"strconv"
	"sync"
	"testing"
)

// Blackhole listens on a loopback port, accepts connections and never answers, like a
// peer whose process is stopped: a call to it can only end by its deadline. It returns
// the address; the listener and connections are closed when the test ends.
func Blackhole(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex // guards conns
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		_ = ln.Close() // ends the accept loop
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close() // test teardown
		}
	})
	return ln.Addr().String()
}

// RefusedAddr returns a loopback address where nothing listens (connections are
// refused), as a node that has exited.
func RefusedAddr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
}
