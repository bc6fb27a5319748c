package tui

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/muesli/cancelreader"

	"github.com/gows-dev/gows/internal/pace"
)

// maxLineBytes is the longest input line line mode accepts.
const maxLineBytes = 64 << 10

const (
	// maxQueuedLines bounds the lines line mode reads ahead of the connection, so that the
	// end of a script's input is seen while it cannot connect.
	maxQueuedLines = 256
	// maxUnanswered bounds the requests line mode keeps in flight: it hands the next line
	// over only while fewer are unanswered. A line makes at most three requests (/join:
	// leave, join, users) and only unanswered requests can be queued, so the connection's
	// send queue (sendQueue) never overflows, however fast the input comes.
	maxUnanswered = sendQueue - 3
)

// UnsentError is line mode's failure when its input could not be delivered for want of a
// connection: it never connected before the input ended, or lines were not sent.
type UnsentError struct {
	// Lines is the number of lines not sent: read but never sent, or sent on a connection
	// that dropped before the server answered. 0 when the input had none.
	Lines int
	// Err is why the last connection ended or failed; nil when unknown.
	Err error
}

// Error says how many lines were not sent, and why.
func (e *UnsentError) Error() string {
	var s string
	switch e.Lines {
	case 0:
		s = "could not connect"
	case 1:
		s = "1 line not sent"
	default:
		s = fmt.Sprintf("%d lines not sent", e.Lines)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns why the connection ended or failed.
func (e *UnsentError) Unwrap() error { return e.Err }

// RefusedError is line mode's failure when lines of its input were refused: by the
// server, with an error code (a /msg to a user who is not online, a /join the server
// would not allow), or by the client (an unknown or malformed command, a /leave in no
// room). Each was reported with an error entry. The --room join counts as a line.
type RefusedError struct {
	// Lines is the number of lines refused, at least 1.
	Lines int
}

// Error says how many lines were refused.
func (e *RefusedError) Error() string {
	if e.Lines == 1 {
		return "1 line refused"
	}
	return fmt.Sprintf("%d lines refused", e.Lines)
}

// runLines is line mode: it reads lines (text or slash commands, as in the full-screen UI)
// from in and writes one entry per line to out, in entry.String's format.
//
// Lines that need the connection wait while it is down (up to maxQueuedLines of them), so
// a script's lines wait for the login, and for a reconnect, instead of failing. The end
// of in, or /quit, ends the input: what was read before it is still sent, and runLines
// waits up to cfg.FlushTimeout for the answers, then returns nil. If the connection is
// down at the end of the input, or a connection attempt fails after it, runLines gives up
// at once. It returns a *RefusedError when lines were refused, else an *UnsentError when
// lines could not be sent for want of a connection (or it never connected); the
// connection's error when the server ends the session for good, and nil when ctx ends.
func runLines(ctx context.Context, cfg Config, conn Conn, in io.Reader, out io.Writer) error {
	c := newChat(conn, cfg)
	start := time.Now()
	// The pacer's clock is time.Since(start); held is set while it holds the next line back.
	pacer := pace.New(linesPerSecond, lineBurst, lineBurst, 0)
	var held <-chan time.Time
	lines, stopReader := readLines(in)
	defer stopReader()

	var (
		queue   []string // lines read and not yet handled, oldest first
		blocked bool     // queue[0] needs the connection, which is down; wait for a state change
		eof     bool     // in has ended or /quit was read: read no more
		flush   <-chan time.Time
		events  = conn.Events()
		readErr error
	)
	var flushTimer *time.Timer // started once connected after the end of input
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
	// finish reports what will not be sent and returns runLines's result.
	finish := func(err error) error {
		unsent := c.lost + c.abandon(queue)
		if werr := write(); werr != nil {
			return werr
		}
		switch {
		case err != nil:
		case c.refusals > 0:
			// Retrying later cannot make a refused line pass: this outranks UnsentError.
			err = &RefusedError{Lines: c.refusals}
		case unsent > 0 || !c.everConnected:
			err = &UnsentError{Lines: unsent, Err: c.lastErr}
		}
		return cmp.Or(err, readErr)
	}
	for {
		for len(queue) > 0 && !blocked && held == nil && len(c.pending) < maxUnanswered {
			now := int64(time.Since(start))
			if wait := pacer.Wait(now); wait > 0 {
				held = time.After(time.Duration(wait))
				break
			}
			if c.input(queue[0]) == inputOffline {
				blocked = true
				break
			}
			pacer.Take(1, now)
			queue = queue[1:]
		}
		if err := write(); err != nil {
			return err
		}
		if eof {
			switch {
			case c.everConnected && len(queue) == 0 && len(c.pending) == 0:
				return finish(nil)
			case c.state == StateReconnecting:
				// No connection, and no more input to wait for: retrying could go on forever.
				c.fail("gave up: not connected at the end of input")
				return finish(nil)
			case c.state == StateConnected && flush == nil:
				flushTimer = time.NewTimer(cfg.FlushTimeout)
				flush = flushTimer.C
			}
		}
		var next <-chan lineOrErr
		if !eof && len(queue) < maxQueuedLines {
			next = lines
		}
		select {
		case <-ctx.Done():
			return nil
		case <-held:
			held = nil
		case <-flush:
			c.fail("gave up waiting for %d answers", len(c.pending))
			return finish(nil)
		case ev, ok := <-events:
			if !ok {
				c.closed()
				if err := write(); err != nil {
					return err
				}
				if ctx.Err() != nil {
					return nil
				}
				return finish(c.lastErrOr(errors.New("connection closed")))
			}
			if _, ok := ev.(StatusEvent); ok {
				blocked = false
			}
			c.event(ev)
		case l := <-next:
			switch {
			case l.eof:
				eof, readErr = true, l.err
			case l.long > 0:
				c.refuse(0, "not sent: a line of %d bytes (at most %d)", l.long, maxLineBytes)
			case quitCommand(l.line):
				eof = true // the rest of the input is not read
			default:
				queue = append(queue, l.line)
			}
		}
	}
}

// Line mode keeps under a server's default inbound allowance (message_rate 50 per
// second, message_burst 100): lineBurst lines at once, then linesPerSecond, so a script
// that pipes hundreds of lines is slowed down rather than refused and then disconnected
// (4006) for abuse.
const (
	linesPerSecond = 40
	lineBurst      = 50
)

// abandon reports each of lines that needs sending as not sent, and returns how many did.
func (c *chat) abandon(lines []string) int {
	n := 0
	for _, l := range lines {
		if l = strings.TrimSpace(l); l != "" {
			c.fail("not sent: %s", clean(l))
			n++
		}
	}
	return n
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
	long int // a line longer than maxLineBytes was skipped: its length in bytes
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
		br := bufio.NewReader(src)
		var err error
		for {
			var l lineOrErr
			if l.line, l.long, err = nextLine(br); err != nil {
				break
			}
			select {
			case ch <- l:
			case <-done:
				return
			}
		}
		end := lineOrErr{eof: true}
		if !errors.Is(err, io.EOF) && !errors.Is(err, cancelreader.ErrCanceled) {
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

// nextLine reads r's next line without its end ("\n" or "\r\n"); the last line need not
// end in one. A line longer than maxLineBytes is read to its end and dropped: long is its
// length and line is empty. err is set only when no line was read.
func nextLine(r *bufio.Reader) (line string, long int, err error) {
	var buf []byte
	n := 0
	for {
		frag, err := r.ReadSlice('\n')
		n += len(frag)
		if n <= maxLineBytes+2 {
			buf = append(buf, frag...)
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err != nil && n == 0:
			return "", 0, err
		}
		// A line: ended by '\n', or the input's last line (its error comes again next time).
		size := n
		if err == nil {
			size-- // the '\n'
		}
		if size > maxLineBytes {
			return "", size, nil
		}
		return strings.TrimSuffix(strings.TrimSuffix(string(buf), "\n"), "\r"), 0, nil
	}
}
