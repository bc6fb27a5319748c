//go:build !linux

package launcher

import "syscall"

// nodeProcAttr has no parent-death signal outside Linux.
func nodeProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }
