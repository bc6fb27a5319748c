//go:build linux

package netpoll

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Read, Write and the poller's epoll_ctl and non-waiting epoll_wait are issued with
// syscall.RawSyscall, which does not tell Go's scheduler that the goroutine entered the
// kernel. They are only used on non-blocking descriptors, so they return at once. The
// scheduler's bookkeeping would otherwise cost more than the call on a busy machine: a P
// marked "in a system call" that the OS happens to deschedule for 20 µs is taken back by
// the runtime's monitor (sysmon), which then keeps waking every 20 µs, and the goroutine
// must win a P back when it returns. With a hundred Go processes on two cores, sysmon
// alone was 8 % of the machine.

// Read reads from a non-blocking descriptor, like unix.Read.
func Read(fd int, p []byte) (int, error) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	n, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(ptr), uintptr(len(p)))
	if e != 0 {
		return int(n), e
	}
	return int(n), nil
}

// Write writes to a non-blocking descriptor, like unix.Write.
func Write(fd int, p []byte) (int, error) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(ptr), uintptr(len(p)))
	if e != 0 {
		return int(n), e
	}
	return int(n), nil
}

// epollCtl is unix.EpollCtl without the scheduler's system-call state (it never blocks).
func epollCtl(epfd, op, fd int, ev *unix.EpollEvent) error {
	_, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_CTL, uintptr(epfd), uintptr(op), uintptr(fd), uintptr(unsafe.Pointer(ev)), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// epollPoll collects ready events without waiting (epoll_pwait with a zero timeout).
func epollPoll(epfd int, events []unix.EpollEvent) (int, error) {
	if len(events) == 0 {
		return 0, nil
	}
	n, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
