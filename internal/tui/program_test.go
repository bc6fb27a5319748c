package tui

import (
	"fmt"
	"io"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/gows-dev/gows/internal/protocol"
	"github.com/gows-dev/gows/internal/testutil"
)

// TestProgram_SessionGolden runs the model in a real bubbletea program, with keys coming
// through the program's input and events through the Conn, at a fixed size with colours
// off, and compares the final screen with a golden file.
// program is a Model running in a real bubbletea program, with keys coming through the
// program's input and events through a fakeConn.
type program struct {
	t      *testing.T
	conn   *fakeConn
	p      *tea.Program
	typing *io.PipeWriter
	done   chan programResult
}

// The program's terminal size.
const programWidth, programHeight = 64, 10

type programResult struct {
	m   tea.Model
	err error
}

func startProgram(t *testing.T) *program {
	t.Helper()
	conn := newFakeConn()
	m := NewModel(conn, testConfig())
	// A clock that stands still: keys and events race each other here, and must not
	// change the timestamps.
	m.chat.now = func() time.Time { return time.Date(2025, 1, 2, 12, 0, 0, 0, time.UTC) }
	keys, typing := io.Pipe()
	pr := &program{
		t: t, conn: conn, typing: typing, done: make(chan programResult, 1),
		// The program sends the window size it starts with as a message of its own, in no
		// set order with the test's: both are the same size.
		p: tea.NewProgram(m, tea.WithInput(keys), tea.WithOutput(io.Discard), tea.WithoutSignalHandler(),
			tea.WithContext(t.Context()), tea.WithWindowSize(programWidth, programHeight)),
	}
	go func() {
		fm, err := pr.p.Run()
		pr.done <- programResult{fm, err}
	}()
	t.Cleanup(func() {
		_ = typing.Close() // ends bubbletea's input reader
		close(conn.events) // ends the model's waiting command
	})
	return pr
}

// type_ writes s to the program's input in one write, as a terminal hands over what was
// typed since the last read.
func (pr *program) type_(s string) {
	pr.t.Helper()
	if _, err := io.WriteString(pr.typing, s); err != nil {
		pr.t.Fatal(err)
	}
}

// waitSent waits for the n-th request of cmd and returns it.
func (pr *program) waitSent(cmd string, n int) sent {
	pr.t.Helper()
	var s sent
	testutil.Eventually(pr.t, waitTimeout, func() error {
		var found []sent
		for _, r := range pr.conn.requests() {
			if r.cmd == cmd {
				found = append(found, r)
			}
		}
		if len(found) < n {
			return fmt.Errorf("%d %s requests, want %d: %w", len(found), cmd, n, testutil.ErrNotYet)
		}
		s = found[n-1]
		return nil
	})
	return s
}

// connect reports a login and answers the user list that follows it.
func (pr *program) connect(users ...string) {
	pr.t.Helper()
	pr.p.Send(tea.WindowSizeMsg{Width: programWidth, Height: programHeight})
	pr.conn.events <- StatusEvent{State: StateConnected}
	pr.conn.events <- answer(pr.waitSent(protocol.CmdUsers, 1), protocol.OK, "", protocol.UsersResult{UserCount: len(users), UserList: users})
}

// quit presses Ctrl-C and returns the final model.
func (pr *program) quit() tea.Model {
	pr.t.Helper()
	pr.type_("\x03")
	var res programResult
	select {
	case res = <-pr.done:
	case <-pr.t.Context().Done():
		pr.t.Fatal("program did not quit")
	}
	if res.err != nil {
		pr.t.Fatalf("program: %v", res.err)
	}
	return res.m
}

func TestProgram_SessionGolden(t *testing.T) {
	pr := startProgram(t)
	pr.connect("alice", "bob")
	pr.type_("hello bob\r")
	pr.waitSent(protocol.CmdSend, 1)
	pr.conn.events <- push(protocol.CmdMsg, protocol.Message{Type: "text", Msg: "hello bob", From: "alice"})
	pr.conn.events <- push(protocol.CmdMsg, protocol.Message{Type: "text", Msg: "hi alice", From: "bob"})
	pr.type_("/nope\r")
	pr.type_("half-typed")
	golden(t, "program_session", plain(t, pr.quit().View()))
}

// TestProgram_WordsThatNameKeysAreTyped types a line in one write, as a terminal hands
// over text typed fast or over a slow link: bubbletea delivers each word as one message,
// and words that name the input's keys ("down", "left", "home", "delete", ...) are text
// like any other, not cursor moves or deletions.
func TestProgram_WordsThatNameKeysAreTyped(t *testing.T) {
	pr := startProgram(t)
	pr.connect("alice")
	line := "go down left then right to the end home delete backspace up tab"
	pr.type_(line + "\r")
	s := pr.waitSent(protocol.CmdSend, 1)
	if got := s.data.(protocol.SendData).Msg; got != line {
		t.Errorf("sent %q, want %q", got, line)
	}
	pr.quit()
}
