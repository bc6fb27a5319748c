//go:build !linux

package launcher

import "syscall"

// nodeProcAttr puts a node in a process group of its own (see procattr_linux.go); there
// is no parent-death signal outside Linux.
func nodeProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
