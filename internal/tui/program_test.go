package tui

import (
	"fmt"
	"io"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/gows-dev/gows/internal/protocol"
	"github.com/gows-dev/gows/internal/testutil"
)

// TestProgram_SessionGolden runs the model in a real bubbletea program, with keys coming
// through the program's input and events through the Conn, at a fixed size with colours
// off, and compares the final screen with a golden file.
func TestProgram_SessionGolden(t *testing.T) {
	conn := newFakeConn()
	m := NewModel(conn, testConfig(), asciiRenderer())
	// A clock that stands still: keys and events race each other here, and must not
	// change the timestamps.
	m.chat.now = func() time.Time { return time.Date(2025, 1, 2, 12, 0, 0, 0, time.UTC) }
	keys, typing := io.Pipe()
	p := tea.NewProgram(m, tea.WithInput(keys), tea.WithOutput(io.Discard), tea.WithoutSignalHandler(),
		tea.WithContext(t.Context()))
	type result struct {
		m   tea.Model
		err error
	}
	done := make(chan result, 1)
	go func() {
		fm, err := p.Run()
		done <- result{fm, err}
	}()
	t.Cleanup(func() {
		_ = typing.Close() // ends bubbletea's input reader
		close(conn.events) // ends the model's waiting command
	})

	type_ := func(s string) {
		t.Helper()
		if _, err := io.WriteString(typing, s); err != nil {
			t.Fatal(err)
		}
	}
	waitSent := func(cmd string, n int) sent {
		t.Helper()
		var s sent
		testutil.Eventually(t, waitTimeout, func() error {
			var found []sent
			for _, r := range conn.requests() {
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

	p.Send(tea.WindowSizeMsg{Width: 64, Height: 10})
	conn.events <- StatusEvent{State: StateConnected}
	conn.events <- answer(waitSent(protocol.CmdUsers, 1), protocol.OK, "", protocol.UsersResult{UserCount: 2, UserList: []string{"alice", "bob"}})
	type_("hello bob\r")
	waitSent(protocol.CmdSend, 1)
	conn.events <- push(protocol.CmdMsg, protocol.Message{Type: "text", Msg: "hello bob", From: "alice"})
	conn.events <- push(protocol.CmdMsg, protocol.Message{Type: "text", Msg: "hi alice", From: "bob"})
	type_("/nope\r")
	type_("half-typed")
	type_("\x03") // Ctrl-C

	var res result
	select {
	case res = <-done:
	case <-t.Context().Done():
		t.Fatal("program did not quit")
	}
	if res.err != nil {
		t.Fatalf("program: %v", res.err)
	}
	golden(t, "program_session", res.m.View())
}
