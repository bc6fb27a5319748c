package tui

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/muesli/cancelreader"
)

// maxLineBytes is the longest input line line mode accepts.
const maxLineBytes = 64 << 10

// runLines is line mode: it reads lines (text or slash commands, as in the full-screen UI)
// from in and writes one entry per line to out, in entry.String's format.
//
// Lines are read only while connected, so a script's lines wait for the login (and for a
// reconnect) instead of failing. At the end of in, it waits up to cfg.FlushTimeout for the
// answers to what it sent, then returns nil. It returns the connection's error when the
// server ends the session for good, and nil when ctx ends.
func runLines(ctx context.Context, cfg Config, conn Conn, in io.Reader, out io.Writer) error {
	c := newChat(conn, cfg)
	lines, stopReader := readLines(in)
	defer stopReader()

	var (
		held    string // a line that needs the connection, kept until it is back
		hasHeld bool   // held is set
		eof     bool   // in has ended
		blocked bool   // held was refused as offline; wait for the next state change
		flush   <-chan time.Time
		events  = conn.Events()
		readErr error
	)
	var flushTimer *time.Timer // started at the end of input
	defer func() {
		if flushTimer != nil {
			flushTimer.Stop()
		}
	}()
	write := func() error {
		for _, e := range c.take() {
			if _, err := fmt.Fprintln(out, e.String()); err != nil {
				return fmt.Errorf("write output: %w", err)
			}
		}
		return nil
	}
	for {
		if c.state == StateConnected && hasHeld && !blocked {
			res := c.input(held)
			if err := write(); err != nil {
				return err
			}
			if res == inputQuit {
				return nil
			}
			hasHeld = res != inputDone
			blocked = res == inputOffline
		}
		if eof && !hasHeld && len(c.pending) == 0 {
			return readErr
		}
		var next <-chan lineOrErr
		if c.state == StateConnected && !hasHeld && !eof {
			next = lines
		}
		select {
		case <-ctx.Done():
			return nil
		case <-flush:
			c.fail("gave up waiting for %d answers", len(c.pending))
			if err := write(); err != nil {
				return err
			}
			return readErr
		case ev, ok := <-events:
			if !ok {
				c.closed()
				if err := write(); err != nil {
					return err
				}
				if ctx.Err() != nil {
					return nil
				}
				return c.lastErrOr(errors.New("connection closed"))
			}
			if _, ok := ev.(StatusEvent); ok {
				blocked = false
			}
			c.event(ev)
			if err := write(); err != nil {
				return err
			}
		case l := <-next:
			if l.err != nil || l.eof {
				eof, readErr = true, l.err
				flushTimer = time.NewTimer(cfg.FlushTimeout)
				flush = flushTimer.C
				continue
			}
			held, hasHeld = l.line, true
		}
	}
}

// lastErrOr returns why the connection ended, or def when nothing is known.
func (c *chat) lastErrOr(def error) error {
	if c.lastErr != nil {
		return c.lastErr
	}
	return def
}

// lineOrErr is one line read from the input, or its end.
type lineOrErr struct {
	line string
	eof  bool
	err  error // a read error (not io.EOF); eof is set too
}

// readLines starts a goroutine that reads lines from in and hands them over one by one.
// stop ends it and waits for it: at once when in is a terminal or pipe (the read is
// cancelled), otherwise after the read in progress returns.
func readLines(in io.Reader) (<-chan lineOrErr, func()) {
	cr, err := cancelreader.NewReader(in)
	if err != nil {
		// Not pollable (a regular file): reads never block for long, so a plain reader
		// stops soon enough.
		cr = nil
	}
	var src io.Reader = in
	if cr != nil {
		src = cr
	}
	ch := make(chan lineOrErr)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		sc := bufio.NewScanner(src)
		sc.Buffer(make([]byte, 4096), maxLineBytes)
		for sc.Scan() {
			select {
			case ch <- lineOrErr{line: sc.Text()}:
			case <-done:
				return
			}
		}
		end := lineOrErr{eof: true}
		if err := sc.Err(); err != nil && !errors.Is(err, cancelreader.ErrCanceled) {
			end.err = fmt.Errorf("read input: %w", err)
		}
		select {
		case ch <- end:
		case <-done:
		}
	})
	var once sync.Once
	stop := func() {
		once.Do(func() {
			close(done)
			if cr != nil {
				cr.Cancel()
			}
			wg.Wait()
			if cr != nil {
				_ = cr.Close() // releases the epoll descriptor; nothing to do if it fails
			}
		})
	}
	return ch, stop
}
