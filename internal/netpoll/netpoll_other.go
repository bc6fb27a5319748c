//go:build !linux

package netpoll

import (
	"errors"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrUnsupported is returned on systems without epoll: the event-driven engines need
// Linux. The rest of gows (chat, admin, token, version) works everywhere.
var ErrUnsupported = errors.New("the event-driven socket engine needs Linux (epoll)")

// Event masks used with Add and Mod.
const (
	In    = EvIn | EvRdHup
	InOut = EvIn | EvRdHup | EvOut
	Out   = EvOut
)

// Bits of Event.Events.
const (
	EvIn    = 0x1
	EvOut   = 0x4
	EvRdHup = 0x2000
	EvHup   = 0x10
	EvErr   = 0x8
)

// Event is one readiness event filled in by Wait.
type Event struct {
	Events uint32
	Fd     int32
	Pad    int32
}

// Poller is unavailable on this system.
type Poller struct{}

// New fails with ErrUnsupported.
func New() (*Poller, error) { return nil, ErrUnsupported }

// Add fails with ErrUnsupported.
func (p *Poller) Add(fd int, events uint32) error { return ErrUnsupported }

// Mod fails with ErrUnsupported.
func (p *Poller) Mod(fd int, events uint32) error { return ErrUnsupported }

// Del fails with ErrUnsupported.
func (p *Poller) Del(fd int) error { return ErrUnsupported }

// Wait fails with ErrUnsupported.
func (p *Poller) Wait(events []Event, msec int) (int, bool, error) { return 0, false, ErrUnsupported }

// Wake fails with ErrUnsupported.
func (p *Poller) Wake() error { return ErrUnsupported }

// Close does nothing.
func (p *Poller) Close() error { return nil }

// ListenOptions configures Listen.
type ListenOptions struct {
	ReusePort bool
	Backlog   int
}

// Listen fails with ErrUnsupported.
func Listen(addr string, opt ListenOptions) (int, netip.AddrPort, error) {
	return -1, netip.AddrPort{}, ErrUnsupported
}

// Accept fails with ErrUnsupported.
func Accept(lfd int) (int, netip.AddrPort, error) { return -1, netip.AddrPort{}, ErrUnsupported }

// SetLinger0 makes a later close send RST instead of FIN.
func SetLinger0(fd int) error {
	return unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
}

// SetNoDelay disables Nagle's algorithm on fd.
func SetNoDelay(fd int) error {
	return unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
}

// IsTemporary reports whether err means "try again later".
func IsTemporary(err error) bool {
	return errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR)
}

// IsFileLimit reports whether err means the process ran out of file descriptors.
func IsFileLimit(err error) bool {
	return errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE)
}

// FileLimit returns the process's soft RLIMIT_NOFILE.
func FileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	return lim.Cur, nil
}
