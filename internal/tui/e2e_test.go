package tui

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/vt"
	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/gows-dev/gows/internal/protocol"
	"github.com/gows-dev/gows/internal/server"
	"github.com/gows-dev/gows/internal/server/api"
	"github.com/gows-dev/gows/internal/testutil"
)

// waitTimeout bounds every wait for output in the end-to-end tests.
const waitTimeout = 15 * time.Second

// output collects what a client writes, for a test to wait on. Its text is searched with
// ANSI sequences removed, from a mark onwards, so that a wait never matches old output.
type output struct{ testutil.LogBuffer }

func (o *output) text() string { return ansi.Strip(o.String()) }

// mark returns the current end of the output.
func (o *output) mark() int { return len(o.text()) }

// waitFor waits until want appears after mark and returns the position just after it.
func (o *output) waitFor(t *testing.T, mark int, want string) int {
	t.Helper()
	var at int
	testutil.Eventually(t, waitTimeout, func() error {
		text := o.text()
		i := strings.Index(text[min(mark, len(text)):], want)
		if i < 0 {
			tail := text[max(len(text)-600, 0):]
			return fmt.Errorf("%q not in output yet; it ends with:\n%s", want, tail)
		}
		at = min(mark, len(text)) + i + len(want)
		return nil
	})
	return at
}

// screen is what a terminal shows of what the full-screen client writes. The client
// draws only the cells that changed since its last frame, so its output read as a stream
// does not hold its text in order: a terminal emulator puts it on a screen. Like a
// pseudo-terminal with nothing behind it, it answers none of the client's questions. It
// also keeps every byte written, for tests of the sequences themselves.
type screen struct {
	mu      sync.Mutex // guards term and raw
	term    *vt.Emulator
	raw     bytes.Buffer
	answers sync.WaitGroup
}

func newScreen(cols, rows int) *screen {
	s := &screen{term: vt.NewEmulator(cols, rows)}
	// The emulator's answers go to a pipe that must be read for it to go on: drop them.
	s.answers.Go(func() { _, _ = io.Copy(io.Discard, s.term) })
	return s
}

func (s *screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.raw.Write(p)
	return s.term.Write(p)
}

// close stops the answers' reader. (Not through the emulator's Close, which would race
// with that reader on the emulator's closed flag.)
func (s *screen) close() {
	if c, ok := s.term.InputPipe().(io.Closer); ok {
		_ = c.Close()
	}
	s.answers.Wait()
}

// text returns the screen's text, a line per row.
func (s *screen) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.term.String()
}

// written returns every byte written so far.
func (s *screen) written() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.raw.Bytes())
}

// waitFor waits until the screen shows want.
func (s *screen) waitFor(t *testing.T, want string) { t.Helper(); s.waitForCount(t, want, 1) }

// waitForCount waits until the screen shows want n times.
func (s *screen) waitForCount(t *testing.T, want string, n int) {
	t.Helper()
	testutil.Eventually(t, waitTimeout, func() error {
		text := s.text()
		if got := strings.Count(text, want); got < n {
			return fmt.Errorf("%q shown %d times, want %d; the screen:\n%s: %w", want, got, n, text, testutil.ErrNotYet)
		}
		return nil
	})
}

// chatConfig is a Config for a test client of srv that reconnects quickly.
func chatConfig(url, user string) Config {
	cfg := Default()
	cfg.URL = url
	cfg.UserID = user
	cfg.AppID = 101
	cfg.MinBackoff = 50 * time.Millisecond
	cfg.MaxBackoff = 400 * time.Millisecond
	cfg.FlushTimeout = 5 * time.Second
	return cfg
}

// lineClient is a line-mode Run fed through a pipe.
type lineClient struct {
	out  *output
	in   *os.File // the write end of the client's stdin; close it for EOF
	done chan error
}

// startLineClient runs Run in line mode. Its stdin is an os.Pipe, as a script's would be,
// so that Run can cancel the read when it stops early.
func startLineClient(t *testing.T, ctx context.Context, cfg Config) *lineClient {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cfg.NoTUI = true
	c := &lineClient{out: &output{}, in: w, done: make(chan error, 1)}
	go func() {
		c.done <- Run(ctx, cfg, r, c.out)
		_ = r.Close() // Run has stopped reading
	}()
	t.Cleanup(func() {
		_ = w.Close() // ends the client if the test did not
		select {
		case <-c.done:
		case <-time.After(waitTimeout):
			t.Error("line client did not stop")
		}
	})
	return c
}

func (c *lineClient) typeLine(t *testing.T, s string) {
	t.Helper()
	if _, err := io.WriteString(c.in, s+"\n"); err != nil {
		t.Fatalf("write to line client: %v", err)
	}
}

// wait returns Run's result, failing the test if it takes too long.
func (c *lineClient) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-c.done:
		c.done <- err // for the cleanup
		return err
	case <-time.After(waitTimeout):
		t.Fatal("line client did not stop")
		return nil
	}
}

// tuiClient is a full-screen Run in a pseudo-terminal.
type tuiClient struct {
	screen *screen
	ptmx   *os.File // the terminal's side: keys are written here, the screen read here
	tty    *os.File // the program's side
	before *unix.Termios
	done   chan error
	reader sync.WaitGroup
}

func startTUIClient(t *testing.T, ctx context.Context, cfg Config) *tuiClient {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("no pseudo-terminal (CI must run this test): %v", err)
		}
		t.Skipf("no pseudo-terminal: %v", err)
	}
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 24, Cols: 100}); err != nil {
		t.Fatal(err)
	}
	before, err := getTermios(int(tty.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	c := &tuiClient{screen: newScreen(100, 24), ptmx: ptmx, tty: tty, before: before, done: make(chan error, 1)}
	c.reader.Go(func() {
		_, _ = io.Copy(c.screen, ptmx) // ends with an error when ptmx is closed
	})
	go func() { c.done <- Run(ctx, cfg, tty, tty) }()
	t.Cleanup(func() {
		select {
		case <-c.done:
		case <-time.After(waitTimeout):
			t.Error("TUI client did not stop")
		}
		_ = tty.Close()
		_ = ptmx.Close()
		c.reader.Wait()
		c.screen.close()
	})
	return c
}

func (c *tuiClient) keys(t *testing.T, s string) {
	t.Helper()
	if _, err := io.WriteString(c.ptmx, s); err != nil {
		t.Fatalf("type into the terminal: %v", err)
	}
}

func (c *tuiClient) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-c.done:
		c.done <- err
		return err
	case <-time.After(waitTimeout):
		t.Fatal("TUI client did not stop")
		return nil
	}
}

// TestChat_TUIAndLineModeChatAcrossAServerRestart runs a real server, a line-mode client
// (bob) and a full-screen client in a pseudo-terminal (alice) in one room. They exchange
// messages both ways; then the server stops and a new one starts on the same port: both
// show that they are reconnecting, come back into the room on their own, and chat again.
// Ctrl-C ends the TUI and restores the terminal; the end of input ends line mode.
func TestChat_TUIAndLineModeChatAcrossAServerRestart(t *testing.T) {
	srv := testutil.StartServer(t)
	wsAddr := srv.WSAddr().String()
	ctx := t.Context()

	bobCfg := chatConfig(srv.WSURL, "bob")
	bobCfg.Room = "lobby"
	bob := startLineClient(t, ctx, bobCfg)
	bob.out.waitFor(t, 0, "-- joined lobby")

	aliceCfg := chatConfig(srv.WSURL, "alice")
	aliceCfg.Room = "lobby"
	alice := startTUIClient(t, ctx, aliceCfg)
	alice.screen.waitFor(t, "-- joined lobby")
	alice.screen.waitFor(t, "connected | #lobby | alice@"+wsAddr)
	bobMark := bob.out.waitFor(t, 0, "[lobby] * alice entered")

	// Both ways, in the room.
	bob.typeLine(t, "hello from line mode")
	alice.screen.waitFor(t, "[lobby] <bob> hello from line mode")
	alice.keys(t, "hi from the terminal\r")
	bobMark = bob.out.waitFor(t, bobMark, "[lobby] <alice> hi from the terminal")
	// A direct message.
	alice.keys(t, "/msg bob just you\r")
	alice.screen.waitFor(t, "-> *bob* just you")
	bobMark = bob.out.waitFor(t, bobMark, "just you")
	// An error goes to alice's status line.
	alice.keys(t, "/msg nobody hello?\r")
	alice.screen.waitFor(t, "nobody is not online")

	// The server goes away; a new one comes up on the same port.
	if err := srv.Stop(); err != nil {
		t.Fatalf("stop server: %v", err)
	}
	bobMark = bob.out.waitFor(t, bobMark, "-- connection lost")
	alice.screen.waitFor(t, "reconnecting in")
	alice.keys(t, "typed while away")
	alice.screen.waitFor(t, "> typed while away")
	testutil.StartServer(t, func(c *server.Config) { c.WSAddr = wsAddr })
	bobMark = bob.out.waitFor(t, bobMark, "-- reconnected")
	bobMark = bob.out.waitFor(t, bobMark, "-- joined lobby")
	alice.screen.waitFor(t, "-- reconnected")
	alice.screen.waitForCount(t, "-- joined lobby", 2)

	// Chat again, both ways: the room was joined again without help.
	alice.keys(t, "\r")
	bobMark = bob.out.waitFor(t, bobMark, "[lobby] <alice> typed while away")
	bob.typeLine(t, "welcome back")
	alice.screen.waitFor(t, "[lobby] <bob> welcome back")

	// Ctrl-C quits the TUI and leaves the terminal as it was.
	alice.keys(t, "\x03")
	if err := alice.wait(t); err != nil {
		t.Errorf("TUI client: %v", err)
	}
	after, err := getTermios(int(alice.tty.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	if *after != *alice.before {
		t.Errorf("terminal not restored:\nbefore %+v\nafter  %+v", *alice.before, *after)
	}
	// The terminal never answered, and the client asked it nothing it would wait for:
	// bubbletea 1.x asked for the background colour and the cursor position at start,
	// and waited 5 seconds for the answers.
	for _, q := range []string{"\x1b]11;?", "\x1b[6n"} {
		if bytes.Contains(alice.screen.written(), []byte(q)) {
			t.Errorf("the client asked the terminal %q", q)
		}
	}
	bob.out.waitFor(t, bobMark, "* alice left")

	// The end of input ends line mode cleanly.
	if err := bob.in.Close(); err != nil {
		t.Fatal(err)
	}
	if err := bob.wait(t); err != nil {
		t.Errorf("line client: %v", err)
	}
}

// TestChat_LineModeSendsThenExitsAtEndOfInput is the script case: lines piped in before
// the login are sent after it, and the end of input waits for their answers.
// listenerAndScript starts a server and two line-mode clients of it: "listener",
// connected (its output from mark on is new), and "script".
func listenerAndScript(t *testing.T) (listener *lineClient, mark int, script *lineClient) {
	t.Helper()
	srv := testutil.StartServer(t)
	listener = startLineClient(t, t.Context(), chatConfig(srv.WSURL, "listener"))
	mark = listener.out.waitFor(t, 0, "-- connected")
	return listener, mark, startLineClient(t, t.Context(), chatConfig(srv.WSURL, "script"))
}

func TestChat_LineModeSendsThenExitsAtEndOfInput(t *testing.T) {
	listener, mark, script := listenerAndScript(t)
	script.typeLine(t, "first")
	script.typeLine(t, "/msg listener second")
	script.typeLine(t, "/users")
	if err := script.in.Close(); err != nil {
		t.Fatal(err)
	}
	if err := script.wait(t); err != nil {
		t.Fatalf("script: %v", err)
	}
	out := script.out.text()
	for _, want := range []string{"-- connected to ", "<script> first", "-> *listener* second", "-- online in the app (2): listener, script"} {
		if !strings.Contains(out, want) {
			t.Errorf("script output lacks %q:\n%s", want, out)
		}
	}
	mark = listener.out.waitFor(t, mark, "<script> first")
	listener.out.waitFor(t, mark, "second")
}

// A script that pipes more lines than the server's default allowance (50 a second, a
// burst of 100) is paced, not refused and disconnected: every line arrives.
func TestChat_LineModeKeepsUnderTheServersRateLimit(t *testing.T) {
	listener, mark, script := listenerAndScript(t)
	var lines strings.Builder
	for i := range 150 {
		fmt.Fprintf(&lines, "line-%03d\n", i)
	}
	if _, err := io.WriteString(script.in, lines.String()); err != nil {
		t.Fatal(err)
	}
	if err := script.in.Close(); err != nil {
		t.Fatal(err)
	}
	if err := script.wait(t); err != nil {
		t.Fatalf("script: %v\n%s", err, script.out.text())
	}
	if out := script.out.text(); strings.Contains(out, "rate limit") {
		t.Fatalf("the server refused lines:\n%s", out)
	}
	listener.out.waitFor(t, mark, "<script> line-149")
	if got := strings.Count(listener.out.text(), "<script> line-"); got != 150 {
		t.Fatalf("the listener got %d of 150 lines", got)
	}
}

// TestChat_KickoutEndsTheSession logs the same user in twice: the first session is kicked
// out (close 4001) and does not reconnect; Run returns the close error.
func TestChat_KickoutEndsTheSession(t *testing.T) {
	srv := testutil.StartServer(t, func(c *server.Config) { c.DuplicateLogin = "kick" })
	ctx := t.Context()
	first := startLineClient(t, ctx, chatConfig(srv.WSURL, "dup"))
	first.out.waitFor(t, 0, "-- connected")
	second := startLineClient(t, ctx, chatConfig(srv.WSURL, "dup"))
	second.out.waitFor(t, 0, "-- connected")

	err := first.wait(t)
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != protocol.CloseKickout {
		t.Fatalf("first session ended with %v, want a close %d", err, protocol.CloseKickout)
	}
	out := first.out.text()
	if !strings.Contains(out, "!! kicked out") || !strings.Contains(out, "!! disconnected: closed:") {
		t.Errorf("first session output:\n%s", out)
	}
	if strings.Contains(out, "reconnecting") {
		t.Errorf("a kicked-out session reconnected:\n%s", out)
	}
}

// TestChat_RefusedLoginEndsTheSession uses an app id the server does not allow.
func TestChat_RefusedLoginEndsTheSession(t *testing.T) {
	srv := testutil.StartServer(t, func(c *server.Config) { c.AllowedAppIDs = []uint32{7} })
	c := startLineClient(t, t.Context(), chatConfig(srv.WSURL, "carol"))
	err := c.wait(t)
	var le *LoginError
	if !errors.As(err, &le) {
		t.Fatalf("Run = %v, want a *LoginError", err)
	}
	if !strings.Contains(c.out.text(), "!! disconnected: login refused") {
		t.Errorf("output:\n%s", c.out.text())
	}
}

// TestChat_HeartbeatsKeepAnIdleSessionAlive uses a server that closes silent connections
// after 1.5s and a client that beats every 100ms (a stall of 1.4s on a busy machine
// still passes; a client that does not beat is dropped). It waits until the server has
// counted enough heartbeats to span several timeouts, then checks the first session is
// still the one connected.
func TestChat_HeartbeatsKeepAnIdleSessionAlive(t *testing.T) {
	srv := testutil.StartServer(t, func(c *server.Config) { c.HeartbeatTimeout = 1500 * time.Millisecond })
	cfg := chatConfig(srv.WSURL, "idle")
	cfg.HeartbeatInterval = 100 * time.Millisecond
	c := startLineClient(t, t.Context(), cfg)
	c.out.waitFor(t, 0, "-- connected")
	const beats = 45 // 4.5s of heartbeats: three heartbeat timeouts
	testutil.Eventually(t, waitTimeout, func() error {
		st, err := serverState(srv)
		if err != nil {
			return err
		}
		if st.MessagesIn < beats {
			return fmt.Errorf("server received %d messages, want %d: %w", st.MessagesIn, beats, testutil.ErrNotYet)
		}
		return nil
	})
	if out := c.out.text(); strings.Contains(out, "connection lost") || strings.Count(out, "-- connected") != 1 {
		t.Errorf("the idle session was dropped:\n%s", out)
	}
}

// serverState reads srv's /system/state.
func serverState(srv *testutil.Server) (api.State, error) {
	// No keep-alive: an idle pooled connection would outlive the test as goroutines.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(srv.HTTPURL + "/system/state")
	if err != nil {
		return api.State{}, err
	}
	defer resp.Body.Close()
	var body struct {
		Data api.State `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return api.State{}, fmt.Errorf("decode /system/state: %w", err)
	}
	return body.Data, nil
}

// TestChat_TUIShowsARefusedHandshakeAndStops points the full-screen client at a path the
// server has no endpoint at: it shows the HTTP status and the server's message, stops
// trying, and Run returns the refusal once the user quits.
func TestChat_TUIShowsARefusedHandshakeAndStops(t *testing.T) {
	srv := testutil.StartServer(t)
	c := startTUIClient(t, t.Context(), chatConfig(strings.TrimSuffix(srv.WSURL, "/acc")+"/nope", "alice"))
	c.screen.waitFor(t, "disconnected (Ctrl-C quits) | #(all) | connect: handshake refused: 404 Not Found: no websocket")
	c.keys(t, "\x03")
	err := c.wait(t)
	if he, ok := errors.AsType[*HandshakeError](err); !ok || he.Status != http.StatusNotFound {
		t.Errorf("Run = %v, want the 404 refusal", err)
	}
}

// TestChat_TUIStopsOnSIGTERM sends the process SIGTERM while the full-screen client runs
// with a context that the signal ends, as gows chat runs it: Run returns nil at once and
// the terminal is restored. (bubbletea's own signal handler, racing the context for the
// same signal, used to hang the program.)
func TestChat_TUIStopsOnSIGTERM(t *testing.T) {
	srv := testutil.StartServer(t)
	ctx, stop := signal.NotifyContext(t.Context(), syscall.SIGTERM)
	defer stop()
	c := startTUIClient(t, ctx, chatConfig(srv.WSURL, "alice"))
	c.screen.waitFor(t, "connected | #(all) | alice@")
	if err := unix.Kill(os.Getpid(), unix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := c.wait(t); err != nil {
		t.Errorf("Run = %v, want nil after SIGTERM", err)
	}
	after, err := getTermios(int(c.tty.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	if *after != *c.before {
		t.Errorf("terminal not restored:\nbefore %+v\nafter  %+v", *c.before, *after)
	}
}

// TestChat_TooLongAMessageIsRefusedWithoutLosingTheSession sends a line that JSON
// escapes to more than the server's max_message_bytes ("<" becomes six bytes): the
// client refuses it itself instead of sending it and being closed for good (1009), and
// the next line still goes out on the same connection.
func TestChat_TooLongAMessageIsRefusedWithoutLosingTheSession(t *testing.T) {
	listener, mark, script := listenerAndScript(t)
	script.typeLine(t, strings.Repeat("<", 20000))
	script.typeLine(t, "after the long one")
	listener.out.waitFor(t, mark, "<script> after the long one")
	if err := script.in.Close(); err != nil {
		t.Fatal(err)
	}
	if err := script.wait(t); !errors.As(err, new(*RefusedError)) {
		t.Errorf("Run = %v, want a *RefusedError for the long line", err)
	}
	out := script.out.text()
	for _, want := range []string{"!! not sent: <<<", "message too long", "<script> after the long one"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%.600s", want, out)
		}
	}
	if strings.Contains(out, "disconnected") || strings.Contains(out, "connection lost") {
		t.Errorf("the session ended:\n%.600s", out)
	}
}

// TestChat_TUIRefusesAPastedLineTooLong pastes a line into the full-screen client as a
// terminal without bracketed paste does, a key per character, one that JSON escapes to
// more than the server takes ("<" becomes six bytes), and presses Enter: the status line
// shows the documented refusal with the start of the text, the input line is cleared,
// and the session goes on.
func TestChat_TUIRefusesAPastedLineTooLong(t *testing.T) {
	srv := testutil.StartServer(t)
	c := startTUIClient(t, t.Context(), chatConfig(srv.WSURL, "alice"))
	c.screen.waitFor(t, "connected | #(all) | alice@")
	c.keys(t, strings.Repeat("<", 12000))
	c.screen.waitFor(t, "> <<<<<<<<<<")
	c.keys(t, "\r")
	c.screen.waitFor(t, "not sent: "+strings.Repeat("<", excerptRunes)+"…: message too long")
	c.screen.waitFor(t, "> type a message or /help")
	c.keys(t, "still here\r")
	c.screen.waitFor(t, "<alice> still here")
	if text := c.screen.text(); strings.Contains(text, "disconnected") || strings.Contains(text, "connection lost") {
		t.Errorf("the session ended:\n%s", text)
	}
	c.keys(t, "\x03")
	if err := c.wait(t); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
}
