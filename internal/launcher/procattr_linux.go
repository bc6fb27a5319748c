package launcher

import "syscall"

// nodeProcAttr makes the kernel kill a node if the launcher itself dies, so nodes never
// linger after a crashed or SIGKILLed launcher.
func nodeProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
