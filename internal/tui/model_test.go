package tui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/gows-dev/gows/internal/protocol"
)

// harness drives a Model with a fakeConn at a fixed size, colours off and a fixed clock.
type harness struct {
	t    *testing.T
	conn *fakeConn
	m    *Model
}

func newHarness(t *testing.T, cfg Config, w, h int) *harness {
	t.Helper()
	conn := newFakeConn()
	m := NewModel(conn, cfg)
	m.chat.now = testClock()
	hs := &harness{t: t, conn: conn, m: m}
	hs.send(tea.WindowSizeMsg{Width: w, Height: h})
	return hs
}

// send feeds msg to Update and returns the command it gave back.
func (h *harness) send(msg tea.Msg) tea.Cmd {
	h.t.Helper()
	_, cmd := h.m.Update(msg)
	return cmd
}

func (h *harness) event(ev Event) { h.t.Helper(); h.send(eventMsg{ev: ev}) }

// typeLine types s and presses Enter.
func (h *harness) typeLine(s string) tea.Cmd {
	h.t.Helper()
	h.typeText(s)
	return h.send(tea.KeyPressMsg{Code: tea.KeyEnter})
}

// typeText types s one key per character, as a terminal sends it.
func (h *harness) typeText(s string) {
	h.t.Helper()
	for _, r := range s {
		h.send(tea.KeyPressMsg{Code: r, Text: string(r)})
	}
	h.send(typedMsg{}) // as the program does after the first key: the keys go in
}

// connect reports a login and answers the requests the model makes after it.
func (h *harness) connect(users ...string) {
	h.t.Helper()
	h.event(StatusEvent{State: StateConnected})
	h.answerUsers(users...)
}

func (h *harness) answerUsers(users ...string) {
	h.t.Helper()
	s := h.conn.find(h.t, protocol.CmdUsers)
	h.event(answer(s, protocol.OK, "", protocol.UsersResult{UserCount: len(users), UserList: users}))
}

func (h *harness) view() string { h.t.Helper(); return plain(h.t, h.m.View()) }

func TestModel_Golden(t *testing.T) {
	tests := []struct {
		name string
		w, h int
		cfg  func(*Config)
		run  func(h *harness)
	}{
		{
			name: "starting",
			w:    64, h: 10,
			run: func(h *harness) {},
		},
		{
			name: "connected",
			w:    64, h: 10,
			run: func(h *harness) { h.connect("bob", "alice", "carol") },
		},
		{
			name: "app_chat",
			w:    64, h: 12,
			run: func(h *harness) {
				h.connect("alice", "bob")
				h.typeLine("hello everyone")
				h.event(answer(h.conn.last(h.t), protocol.OK, "", nil))
				h.event(push(protocol.CmdMsg, protocol.Message{Type: "text", Msg: "hello everyone", From: "alice"}))
				h.event(push(protocol.CmdMsg, protocol.Message{Type: "text", Msg: "hi alice", From: "bob"}))
				h.event(push(protocol.CmdEnter, protocol.Message{Type: "enter", From: "carol"}))
				h.event(push(protocol.CmdExit, protocol.Message{Type: "exit", From: "bob"}))
			},
		},
		{
			name: "room_chat",
			w:    64, h: 12,
			cfg: func(c *Config) { c.Room = "lobby" },
			run: func(h *harness) {
				h.event(StatusEvent{State: StateConnected})
				h.event(answer(h.conn.find(h.t, protocol.CmdJoin), protocol.OK, "", protocol.RoomData{Room: "lobby"}))
				h.answerUsers("alice", "bob")
				h.event(push(protocol.CmdEnter, protocol.Message{Target: "lobby", Type: "enter", From: "dave"}))
				h.event(push(protocol.CmdMsg, protocol.Message{Target: "lobby", Type: "text", Msg: "hi room", From: "bob"}))
				h.typeLine("hi bob")
				h.event(push(protocol.CmdMsg, protocol.Message{Target: "lobby", Type: "text", Msg: "hi bob", From: "alice"}))
				h.event(push(protocol.CmdMsg, protocol.Message{Type: "text", Msg: "to the whole app", From: "erin"}))
			},
		},
		{
			name: "direct",
			w:    64, h: 10,
			run: func(h *harness) {
				h.connect("alice", "bob")
				h.typeLine("/msg bob psst")
				h.event(answer(h.conn.last(h.t), protocol.OK, "", map[string]any{"msgId": "x", "delivered": 1}))
			},
		},
		{
			name: "direct_offline_user",
			w:    64, h: 10,
			run: func(h *harness) {
				h.connect("alice")
				h.typeLine("/msg zed are you there")
				h.event(answer(h.conn.last(h.t), protocol.NotData, "user not online", nil))
			},
		},
		{
			name: "unknown_command",
			w:    64, h: 10,
			run: func(h *harness) {
				h.connect("alice")
				h.typeLine("/dance now")
			},
		},
		{
			name: "help",
			w:    80, h: 14,
			run: func(h *harness) {
				h.connect("alice")
				h.typeLine("/help")
			},
		},
		{
			name: "users",
			w:    64, h: 10,
			run: func(h *harness) {
				h.connect("alice", "bob")
				h.typeLine("/users")
				h.answerUsers("alice", "bob", "carol")
			},
		},
		{
			name: "reconnecting_keeps_input",
			w:    64, h: 10,
			run: func(h *harness) {
				h.connect("alice", "bob")
				h.typeText("half a thought")
				h.event(StatusEvent{State: StateReconnecting, RetryIn: 2500 * time.Millisecond,
					Err: &CloseError{Code: protocol.CloseGoingAway, Reason: "server going away"}})
			},
		},
		{
			name: "reconnected",
			w:    64, h: 12,
			cfg: func(c *Config) { c.Room = "lobby" },
			run: func(h *harness) {
				h.event(StatusEvent{State: StateConnected})
				h.event(StatusEvent{State: StateReconnecting, RetryIn: time.Second, Err: &CloseError{Code: protocol.CloseGoingAway}})
				h.event(StatusEvent{State: StateConnecting})
				h.event(StatusEvent{State: StateConnected})
				h.event(answer(h.conn.find(h.t, protocol.CmdJoin), protocol.OK, "", protocol.RoomData{Room: "lobby"}))
				h.answerUsers("alice", "bob")
			},
		},
		{
			name: "kicked_out",
			w:    64, h: 10,
			run: func(h *harness) {
				h.connect("alice")
				h.event(push(protocol.CmdKickout, protocol.Message{Type: "kickout", Msg: "logged in elsewhere"}))
				h.event(StatusEvent{State: StateDisconnected, Err: &CloseError{Code: protocol.CloseKickout, Reason: "logged in elsewhere"}})
			},
		},
		{
			// Pushes with no sender (the HTTP API without "from") come from the server.
			name: "server_messages",
			w:    72, h: 10,
			cfg: func(c *Config) { c.Room = "lobby" },
			run: func(h *harness) {
				h.connect("alice", "bob")
				h.event(push(protocol.CmdMsg, protocol.Message{Type: "text", Msg: "maintenance at 18:00"}))
				h.event(push(protocol.CmdMsg, protocol.Message{Target: "lobby", Type: "text", Msg: "lobby closes soon"}))
				h.event(push(protocol.CmdMsg, protocol.Message{To: "alice", Type: "text", Msg: "your export is ready"}))
				h.event(push(protocol.CmdMsg, protocol.Message{Type: "text", Msg: "still me", From: "bob"}))
			},
		},
		{
			// A wrong path: the status line shows the HTTP status on an 80-column terminal.
			name: "handshake_refused",
			w:    80, h: 8,
			run: func(h *harness) {
				h.event(StatusEvent{State: StateConnecting})
				h.event(StatusEvent{State: StateDisconnected, Err: fmt.Errorf("connect: %w",
					&HandshakeError{Status: 404, Msg: "no websocket endpoint at /nope; use /acc"})})
			},
		},
		{
			name: "wrap",
			w:    50, h: 10,
			run: func(h *harness) {
				h.connect("alice", "bob")
				h.event(push(protocol.CmdMsg, protocol.Message{Type: "text", From: "bob",
					Msg: "this is a long line that must wrap inside the message pane rather than be cut off at the edge"}))
				h.event(push(protocol.CmdMsg, protocol.Message{Type: "text", From: "bob",
					Msg: strings.Repeat("x", 70)}))
			},
		},
		{
			name: "narrow_hides_panel",
			w:    40, h: 8,
			run: func(h *harness) {
				h.connect("alice", "bob")
				h.event(push(protocol.CmdMsg, protocol.Message{Type: "text", Msg: "a message that wraps in a narrow window", From: "bob"}))
			},
		},
		{
			name: "hostile_text_is_cleaned",
			w:    64, h: 10,
			run: func(h *harness) {
				h.connect("alice")
				h.event(push(protocol.CmdMsg, protocol.Message{Type: "text", Msg: "line1\nline2\x1b[2Jgone\x07", From: "ev\x1bil"}))
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			h := newHarness(t, cfg, tt.w, tt.h)
			tt.run(h)
			got := h.view()
			if n := strings.Count(got, "\n") + 1; n != tt.h {
				t.Errorf("view has %d lines, want the terminal's %d", n, tt.h)
			}
			golden(t, "model_"+tt.name, got)
		})
	}
}
