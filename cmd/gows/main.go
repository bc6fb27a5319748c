// Command gows is a WebSocket push gateway in one binary: `gows serve` runs a node,
// `gows version` prints what was built, and more subcommands live next to them in this
// package (one file each, registered in newRootCmd).
//
// Only main calls os.Exit; everything below returns errors and writes to the streams it
// is given, so tests run the real command tree with buffers.
package main

import (
	"context"
	"os"
)

func main() { os.Exit(run(os.Args[1:])) }

// run executes the command line args against the process's standard streams and returns
// the exit code.
func run(args []string) int {
	s := &streams{in: os.Stdin, out: os.Stdout, err: os.Stderr}
	return execute(context.Background(), newRootCmd(s), s, args)
}
