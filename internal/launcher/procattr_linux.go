package launcher

import "syscall"

// nodeProcAttr puts a node in a process group of its own, so that a Ctrl-C on the
// launcher's terminal (SIGINT to the terminal's foreground group) reaches the launcher
// only, which stops the nodes with one SIGTERM each: a node that got the SIGINT too
// would take the SIGTERM as a second signal and end without draining. It also makes the
// kernel kill a node if the launcher itself dies, so nodes never linger after a crashed
// or SIGKILLed launcher.
func nodeProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
