package tui

import "golang.org/x/sys/unix"

// getTermios reads a terminal's settings.
func getTermios(fd int) (*unix.Termios, error) { return unix.IoctlGetTermios(fd, unix.TCGETS) }
