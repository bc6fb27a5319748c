package main

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// TestServe_DrainsWhenItsLogReaderIsGone runs `gows serve` as its own process with its
// log on a pipe, closes the pipe's reading end (as Ctrl-C does to `| tee`) and sends
// SIGTERM: the node must drain and exit 0, not die of SIGPIPE at its next log line.
func TestServe_DrainsWhenItsLogReaderIsGone(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "serve", "--http-addr", "127.0.0.1:0", "--ws-addr", "127.0.0.1:0",
		"--grpc-addr", "127.0.0.1:0", "--log-format", "json", "--drain-timeout", "5s")
	cmd.Env = append(os.Environ(), runAsGowsEnv+"=1")
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	_ = w.Close() // the child has its copy
	sc := bufio.NewScanner(r)
	listening := false
	for sc.Scan() {
		if _, _, err := boundAddrs(sc.Text()); err == nil {
			listening = true
			break
		}
	}
	_ = r.Close() // no one reads the node's output from here on
	if !listening {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatal("serve ended before it logged its addresses")
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	if ctx.Err() != nil {
		t.Fatal("serve did not stop within 2 minutes of SIGTERM")
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			t.Fatalf("serve died of %v after its log reader went away, want a drain and exit 0", ws.Signal())
		}
	}
	if err != nil {
		t.Fatalf("serve: %v, want exit 0", err)
	}
}
