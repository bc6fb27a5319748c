//go:build !linux

package netpoll

import (
	"errors"
	"net/netip"
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
