//go:build linux

package netpoll

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Event masks used with Add and Mod.
const (
	In    = unix.EPOLLIN | unix.EPOLLRDHUP
	InOut = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLOUT
	Out   = unix.EPOLLOUT
)

// Event is one readiness event filled in by Wait.
type Event = unix.EpollEvent

// Bits of Event.Events.
const (
	EvIn    = unix.EPOLLIN
	EvOut   = unix.EPOLLOUT
	EvRdHup = unix.EPOLLRDHUP
	EvHup   = unix.EPOLLHUP
	EvErr   = unix.EPOLLERR
)

// Poller is one epoll instance. The zero value is not usable; call New.
//
// Wait never blocks a thread in epoll_wait. It asks the kernel without waiting, and when
// nothing is ready it parks the goroutine on Go's own network poller, where the epoll
// descriptor is registered like a socket (an epoll instance is readable while events are
// ready). A goroutine blocked in a system call holds a thread and a P: every few
// milliseconds the runtime's monitor takes the P back and wakes at a high rate to do so,
// which in a machine of a hundred mostly idle gows processes cost a tenth of the CPU.
type Poller struct {
	epfd   int
	wakeFd int
	file   *os.File        // epfd, registered with the runtime's poller
	raw    syscall.RawConn // nil if the runtime cannot poll it: Wait then blocks in epoll_wait
}

// New creates a Poller. Close releases it.
func New() (*Poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	wfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		_ = unix.Close(epfd) // best effort: we are failing anyway
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	p := &Poller{epfd: epfd, wakeFd: wfd}
	// A non-blocking descriptor makes os.NewFile register it with the runtime's poller.
	if unix.SetNonblock(epfd, true) == nil {
		p.file = os.NewFile(uintptr(epfd), "epoll")
		if p.file.SetReadDeadline(time.Time{}) == nil { // fails unless it is pollable
			p.raw, _ = p.file.SyscallConn() // only fails for a closed file
		}
	}
	if err := p.Add(wfd, unix.EPOLLIN); err != nil {
		_ = p.Close() // best effort: we are failing anyway
		return nil, err
	}
	return p, nil
}

// Add registers fd for the given events (level-triggered).
func (p *Poller) Add(fd int, events uint32) error {
	ev := unix.EpollEvent{Events: events, Fd: int32(fd)}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return fmt.Errorf("epoll add fd %d: %w", fd, err)
	}
	return nil
}

// Mod changes the events fd is registered for.
func (p *Poller) Mod(fd int, events uint32) error {
	ev := unix.EpollEvent{Events: events, Fd: int32(fd)}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, fd, &ev); err != nil {
		return fmt.Errorf("epoll mod fd %d: %w", fd, err)
	}
	return nil
}

// Del removes fd from the poller.
func (p *Poller) Del(fd int) error {
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, nil); err != nil {
		return fmt.Errorf("epoll del fd %d: %w", fd, err)
	}
	return nil
}

// Wait waits up to msec milliseconds (-1: forever) for events and stores them in events.
// It returns the number stored; an interrupted wait returns 0 and no error. A wake-up event
// (see Wake) is consumed here and reported through woke.
func (p *Poller) Wait(events []Event, msec int) (n int, woke bool, err error) {
	if p.raw == nil {
		n, err = unix.EpollWait(p.epfd, events, msec)
	} else {
		n, err = p.park(events, msec)
	}
	if err != nil {
		if errors.Is(err, unix.EINTR) {
			return 0, false, nil
		}
		return 0, false, fmt.Errorf("epoll_wait: %w", err)
	}
	for i := 0; i < n; i++ {
		if int(events[i].Fd) == p.wakeFd {
			var buf [8]byte
			_, _ = unix.Read(p.wakeFd, buf[:]) // drains the counter; EAGAIN means another wait drained it
			events[i] = events[n-1]
			n--
			woke = true
			break
		}
	}
	return n, woke, nil
}

// park collects ready events, waiting for them on the runtime's poller if there are none
// yet; a timeout returns no events and no error.
func (p *Poller) park(events []Event, msec int) (n int, err error) {
	n, err = unix.EpollWait(p.epfd, events, 0)
	if n != 0 || err != nil || msec == 0 {
		return n, err
	}
	var deadline time.Time
	if msec > 0 {
		deadline = time.Now().Add(time.Duration(msec) * time.Millisecond)
	}
	if err := p.file.SetReadDeadline(deadline); err != nil {
		return 0, fmt.Errorf("epoll deadline: %w", err)
	}
	// Read calls the function, and while it returns false waits until the descriptor is
	// readable (or the deadline passes) and calls it again. An event that becomes ready
	// between the check and the wait still wakes it: the runtime remembers the edge.
	rerr := p.raw.Read(func(fd uintptr) bool {
		n, err = unix.EpollWait(int(fd), events, 0)
		return n != 0 || err != nil
	})
	switch {
	case errors.Is(rerr, os.ErrDeadlineExceeded):
		return 0, nil
	case rerr != nil:
		return 0, rerr
	}
	return n, err
}

// Wake makes a concurrent or the next Wait return.
func (p *Poller) Wake() error {
	var one = [8]byte{1}
	if _, err := unix.Write(p.wakeFd, one[:]); err != nil && !errors.Is(err, unix.EAGAIN) {
		return fmt.Errorf("wake poller: %w", err)
	}
	return nil
}

// Close releases the epoll instance and the eventfd.
func (p *Poller) Close() error {
	err1 := unix.Close(p.wakeFd)
	var err2 error
	if p.file != nil {
		err2 = p.file.Close() // also removes it from the runtime's poller
	} else {
		err2 = unix.Close(p.epfd)
	}
	return errors.Join(err1, err2)
}

// ListenOptions configures Listen.
type ListenOptions struct {
	// ReusePort sets SO_REUSEPORT so that several processes can share the address; the
	// kernel spreads new connections across them.
	ReusePort bool
	// Backlog is the accept queue length; zero means 4096 (the kernel caps it at somaxconn).
	Backlog int
}

// Listen opens a non-blocking TCP listening socket on addr ("host:port"; an empty host
// listens on every address, IPv6 and IPv4) and returns its fd and the bound address.
func Listen(addr string, opt ListenOptions) (int, netip.AddrPort, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return -1, netip.AddrPort{}, fmt.Errorf("listen %q: %w", addr, err)
	}
	port, err := net.LookupPort("tcp", portStr)
	if err != nil {
		return -1, netip.AddrPort{}, fmt.Errorf("listen %q: %w", addr, err)
	}
	var ip netip.Addr
	if host == "" {
		ip = netip.IPv6Unspecified()
	} else {
		if ip, err = netip.ParseAddr(host); err != nil {
			ips, lerr := net.LookupIP(host)
			if lerr != nil || len(ips) == 0 {
				return -1, netip.AddrPort{}, fmt.Errorf("listen %q: cannot resolve host %q", addr, host)
			}
			ip, _ = netip.AddrFromSlice(ips[0])
		}
		ip = ip.Unmap()
	}
	backlog := opt.Backlog
	if backlog <= 0 {
		backlog = 4096
	}
	fd, err := listenOn(netip.AddrPortFrom(ip, uint16(port)), host == "", opt.ReusePort, backlog)
	if err != nil && host == "" {
		// No IPv6 on this host: fall back to IPv4 only.
		fd, err = listenOn(netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(port)), false, opt.ReusePort, backlog)
	}
	if err != nil {
		return -1, netip.AddrPort{}, fmt.Errorf("listen %q: %w", addr, err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		_ = unix.Close(fd) // best effort: we are failing anyway
		return -1, netip.AddrPort{}, fmt.Errorf("listen %q: getsockname: %w", addr, err)
	}
	return fd, SockaddrToAddrPort(sa), nil
}

func listenOn(ap netip.AddrPort, dualStack, reusePort bool, backlog int) (int, error) {
	family := unix.AF_INET
	if ap.Addr().Is6() {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	fail := func(what string, err error) (int, error) {
		_ = unix.Close(fd) // best effort: we are failing anyway
		return -1, fmt.Errorf("%s: %w", what, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fail("SO_REUSEADDR", err)
	}
	if reusePort {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			return fail("SO_REUSEPORT", err)
		}
	}
	if family == unix.AF_INET6 {
		v6only := 1
		if dualStack {
			v6only = 0
		}
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, v6only); err != nil {
			return fail("IPV6_V6ONLY", err)
		}
	}
	if err := unix.Bind(fd, AddrPortToSockaddr(ap)); err != nil {
		return fail("bind", err)
	}
	if err := unix.Listen(fd, backlog); err != nil {
		return fail("listen", err)
	}
	return fd, nil
}

// Accept accepts one connection from a non-blocking listening fd. The new fd is
// non-blocking and close-on-exec. It returns unix.EAGAIN when no connection is waiting.
func Accept(lfd int) (int, netip.AddrPort, error) {
	for {
		nfd, sa, err := unix.Accept4(lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if errors.Is(err, unix.EINTR) || errors.Is(err, unix.ECONNABORTED) {
			continue
		}
		if err != nil {
			return -1, netip.AddrPort{}, err
		}
		return nfd, SockaddrToAddrPort(sa), nil
	}
}

// SockaddrToAddrPort converts a unix.Sockaddr to a netip.AddrPort (zero for other families).
func SockaddrToAddrPort(sa unix.Sockaddr) netip.AddrPort {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), uint16(a.Port))
	}
	return netip.AddrPort{}
}

// AddrPortToSockaddr converts a netip.AddrPort to a unix.Sockaddr.
func AddrPortToSockaddr(ap netip.AddrPort) unix.Sockaddr {
	if ap.Addr().Is4() {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	}
	return &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
}
