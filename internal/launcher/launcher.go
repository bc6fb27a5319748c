// Package launcher supervises a local cluster: N `gows serve` node processes on one
// machine that share their WebSocket and HTTP ports through SO_REUSEPORT. It restarts a
// node that dies (with backoff), prefixes each node's output lines with its name,
// forwards the stop signal and waits for every process it started.
//
// One machine needs several processes when one process may not hold enough file
// descriptors for the connections (RLIMIT_NOFILE), or to use several cores for
// independent event loops.
package launcher

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Config configures Run.
type Config struct {
	// Nodes is the number of node processes; at least 1.
	Nodes int
	// Exe is the program to run (normally os.Executable()).
	Exe string
	// Args returns the arguments of node i (0-based).
	Args func(i int) []string
	// Name returns node i's display name, used as the line prefix.
	Name func(i int) string
	// Env is the nodes' environment; nil inherits the launcher's.
	Env []string
	// Stdout and Stderr receive the nodes' output, each line prefixed "[name] ".
	Stdout, Stderr io.Writer
	// StopTimeout is how long a node may take to exit after SIGTERM before SIGKILL;
	// 0 means 15s.
	StopTimeout time.Duration
	// MinBackoff and MaxBackoff bound the delay before restarting a node that died;
	// the delay doubles per quick death and resets once a node ran for a minute.
	// Zero values mean 500ms and 30s.
	MinBackoff, MaxBackoff time.Duration
	// MaxQuickDeaths is how many times in a row a node may die within a minute of its
	// start before the launcher gives up: it stops every node and Run returns an error.
	// A node that can never start (its port taken by another program, a Redis that
	// refuses it) would otherwise be restarted forever. 0 means 5; negative, never.
	MaxQuickDeaths int
	// Logger receives the launcher's own lifecycle logs; nil discards them.
	Logger *slog.Logger
}

// Validate reports a configuration Run cannot use.
func (c Config) Validate() error {
	switch {
	case c.Nodes < 1:
		return fmt.Errorf("nodes: must be at least 1, got %d", c.Nodes)
	case c.Exe == "":
		return errors.New("launcher needs the program to run")
	case c.Args == nil || c.Name == nil:
		return errors.New("launcher needs Args and Name")
	case c.StopTimeout < 0 || c.MinBackoff < 0 || c.MaxBackoff < 0:
		return errors.New("launcher timeouts must not be negative")
	}
	return nil
}

// Run starts the nodes and keeps them running until ctx is cancelled; then it sends each
// SIGTERM, waits for all of them (SIGKILL after StopTimeout) and returns nil. When a node
// dies MaxQuickDeaths times in a row, it stops the others the same way and returns an
// error that names the node.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if cfg.StopTimeout == 0 {
		cfg.StopTimeout = 15 * time.Second
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.MaxQuickDeaths == 0 {
		cfg.MaxQuickDeaths = 5
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	out := &lockedWriter{w: cfg.Stdout}
	errOut := &lockedWriter{w: cfg.Stderr}
	ctx, giveUp := context.WithCancelCause(ctx)
	defer giveUp(nil)
	var wg sync.WaitGroup
	for i := range cfg.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := superviseNode(ctx, cfg, i, out, errOut); err != nil {
				giveUp(err) // stops the other nodes
			}
		}()
	}
	wg.Wait()
	cfg.Logger.Info("all nodes stopped", "nodes", cfg.Nodes)
	if err := context.Cause(ctx); errors.Is(err, errCrashLoop) {
		return err
	}
	return nil
}

// errCrashLoop is the cause of a launcher's stop when a node kept dying.
var errCrashLoop = errors.New("node keeps dying")

// superviseNode runs node i, restarting it when it dies, until ctx is cancelled (nil) or
// the node died cfg.MaxQuickDeaths times in a row within a minute of its start (an error
// wrapping errCrashLoop).
func superviseNode(ctx context.Context, cfg Config, i int, out, errOut *lockedWriter) error {
	name := cfg.Name(i)
	log := cfg.Logger.With("node", name)
	backoff := cfg.MinBackoff
	quickDeaths := 0
	for restarts := 0; ; restarts++ {
		started := time.Now()
		err := runNode(ctx, cfg, i, out, errOut)
		if ctx.Err() != nil {
			log.Info("node stopped")
			return nil
		}
		if time.Since(started) > time.Minute {
			backoff, quickDeaths = cfg.MinBackoff, 0
		}
		quickDeaths++
		if cfg.MaxQuickDeaths > 0 && quickDeaths >= cfg.MaxQuickDeaths {
			log.Error("node keeps dying; stopping every node", "err", err, "deaths", quickDeaths)
			return fmt.Errorf("%w: %s died %d times in a row within a minute of its start (last: %v); its output above says why",
				errCrashLoop, name, quickDeaths, err)
		}
		log.Warn("node died; restarting", "err", err, "restarts", restarts+1, "after", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(backoff*2, cfg.MaxBackoff)
	}
}

// runNode runs node i once and returns when it exits.
func runNode(ctx context.Context, cfg Config, i int, out, errOut *lockedWriter) error {
	prefix := "[" + cfg.Name(i) + "] "
	stdout := &prefixWriter{w: out, prefix: prefix}
	stderr := &prefixWriter{w: errOut, prefix: prefix}
	cmd := exec.CommandContext(ctx, cfg.Exe, cfg.Args(i)...)
	cmd.Env = cfg.Env
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = cfg.StopTimeout
	cmd.SysProcAttr = nodeProcAttr()
	err := cmd.Run()
	stdout.flush()
	stderr.flush()
	return err
}

// lockedWriter serialises whole lines from several nodes onto one writer.
type lockedWriter struct {
	mu sync.Mutex // guards w
	w  io.Writer
}

func (l *lockedWriter) write(b []byte) {
	if l.w == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = l.w.Write(b) // the launcher's own output failing must not stop the nodes
}

// prefixWriter prefixes each complete line and passes it on; a partial last line waits
// for its newline (or flush).
type prefixWriter struct {
	w      *lockedWriter
	prefix string
	buf    []byte // partial line; only exec's copying goroutine writes
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	n := len(b)
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		line := append([]byte(p.prefix), p.buf[:i+1]...)
		p.w.write(line)
		p.buf = p.buf[i+1:]
	}
	if len(p.buf) == 0 {
		p.buf = nil
	}
	return n, nil
}

func (p *prefixWriter) flush() {
	if len(p.buf) > 0 {
		p.w.write(append(append([]byte(p.prefix), p.buf...), '\n'))
		p.buf = nil
	}
}
