//go:build linux

package netpoll

import (
	"testing"

	"golang.org/x/sys/unix"
)

type waitResult struct {
	n    int
	fd   int32
	woke bool
	err  error
}

// waitAsync runs one Wait(-1) in a goroutine and delivers what it returned.
func waitAsync(p *Poller) <-chan waitResult {
	out := make(chan waitResult, 1)
	go func() {
		events := make([]Event, 4)
		n, woke, err := p.Wait(events, -1)
		r := waitResult{n: n, woke: woke, err: err}
		if n > 0 {
			r.fd = events[0].Fd
		}
		out <- r
	}()
	return out
}

func newPoller(t *testing.T) *Poller {
	t.Helper()
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	if p.raw == nil {
		t.Fatal("the epoll descriptor is not registered with the runtime's poller: Wait would block a thread")
	}
	return p
}

func TestPoller_WaitWakesWhenASocketBecomesReadable(t *testing.T) {
	p := newPoller(t)
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Close(fds[0]); _ = unix.Close(fds[1]) })
	if err := p.Add(fds[0], In); err != nil {
		t.Fatal(err)
	}
	done := waitAsync(p)
	if _, err := unix.Write(fds[1], []byte("x")); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || r.n != 1 || r.fd != int32(fds[0]) || r.woke {
		t.Fatalf("Wait = %+v; want one event for fd %d", r, fds[0])
	}
	// Level-triggered: the unread byte is still reported, without waiting.
	events := make([]Event, 4)
	if n, _, err := p.Wait(events, -1); err != nil || n != 1 {
		t.Fatalf("second Wait = %d, %v; want the same event again", n, err)
	}
}

func TestPoller_WaitTimesOutWithNoEvents(t *testing.T) {
	p := newPoller(t)
	events := make([]Event, 4)
	for _, msec := range []int{0, 5} {
		if n, woke, err := p.Wait(events, msec); n != 0 || woke || err != nil {
			t.Fatalf("Wait(%d ms) = %d, %v, %v; want nothing", msec, n, woke, err)
		}
	}
}

func TestPoller_WakeEndsAWait(t *testing.T) {
	p := newPoller(t)
	done := waitAsync(p)
	if err := p.Wake(); err != nil {
		t.Fatal(err)
	}
	if r := <-done; r.err != nil || r.n != 0 || !r.woke {
		t.Fatalf("Wait = %+v; want woke and no events", r)
	}
}
