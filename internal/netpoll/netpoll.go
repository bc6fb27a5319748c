// Package netpoll wraps Linux epoll and the raw socket calls that the event-driven
// WebSocket engines (the server's connection engine and bench's client) are built on.
//
// A Poller is an epoll instance plus an eventfd that Wake uses to interrupt Wait. It is safe
// for concurrent use: Add, Mod, Del and Wake may be called from any goroutine while one
// goroutine sits in Wait. Outside Linux the poller and listener fail with ErrUnsupported.
package netpoll

import (
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// SetLinger0 makes a later close send RST instead of FIN, so no TIME_WAIT is left behind.
func SetLinger0(fd int) error {
	return unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
}

// SetNoDelay disables Nagle's algorithm on fd.
func SetNoDelay(fd int) error {
	return unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
}

// IsTemporary reports whether err from Read/Write/Accept means "try again later".
func IsTemporary(err error) bool {
	return errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR)
}

// IsFileLimit reports whether err means the process or system ran out of file descriptors.
func IsFileLimit(err error) bool {
	return errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE)
}

// FileLimit returns the process's soft RLIMIT_NOFILE.
func FileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("getrlimit nofile: %w", err)
	}
	return lim.Cur, nil
}
