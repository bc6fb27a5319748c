package tui

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"

	"github.com/gows-dev/gows/internal/protocol"
)

func TestModel_LinesBecomeRequests(t *testing.T) {
	tests := []struct {
		name string
		room string // the room the session is in before the line
		line string
		want []sent // cmd and data only
	}{
		{name: "text to the app", line: "hello", want: []sent{
			{cmd: protocol.CmdSend, data: protocol.SendData{Type: "text", Msg: "hello"}}}},
		{name: "text to the room", room: "lobby", line: "  hello room ", want: []sent{
			{cmd: protocol.CmdSend, data: protocol.SendData{Room: "lobby", Type: "text", Msg: "hello room"}}}},
		{name: "double slash sends a slash", line: "//shrug", want: []sent{
			{cmd: protocol.CmdSend, data: protocol.SendData{Type: "text", Msg: "/shrug"}}}},
		{name: "join", line: "/join lobby", want: []sent{
			{cmd: protocol.CmdJoin, data: protocol.RoomData{Room: "lobby"}},
			{cmd: protocol.CmdUsers, data: protocol.UsersData{Room: "lobby"}}}},
		{name: "join leaves the current room", room: "a", line: "/join b", want: []sent{
			{cmd: protocol.CmdLeave, data: protocol.RoomData{Room: "a"}},
			{cmd: protocol.CmdJoin, data: protocol.RoomData{Room: "b"}},
			{cmd: protocol.CmdUsers, data: protocol.UsersData{Room: "b"}}}},
		{name: "leave", room: "lobby", line: "/leave", want: []sent{
			{cmd: protocol.CmdLeave, data: protocol.RoomData{Room: "lobby"}},
			{cmd: protocol.CmdUsers, data: protocol.UsersData{}}}},
		{name: "direct", line: "/msg bob are you there?", want: []sent{
			{cmd: protocol.CmdSend, data: protocol.SendData{To: "bob", Type: "text", Msg: "are you there?"}}}},
		{name: "direct to a quoted user id with spaces", line: `/msg "ann lee" hi there`, want: []sent{
			{cmd: protocol.CmdSend, data: protocol.SendData{To: "ann lee", Type: "text", Msg: "hi there"}}}},
		{name: "join a quoted room with spaces", line: `/join "tea room"`, want: []sent{
			{cmd: protocol.CmdJoin, data: protocol.RoomData{Room: "tea room"}},
			{cmd: protocol.CmdUsers, data: protocol.UsersData{Room: "tea room"}}}},
		{name: "users", room: "lobby", line: "/users", want: []sent{
			{cmd: protocol.CmdUsers, data: protocol.UsersData{Room: "lobby"}}}},
		{name: "unknown command sends nothing", line: "/frobnicate"},
		{name: "join without room sends nothing", line: "/join"},
		{name: "join with a bad room sends nothing", line: "/join " + strings.Repeat("r", protocol.MaxRoomLen+1)},
		{name: "msg without text sends nothing", line: "/msg bob"},
		{name: "msg with an open quote sends nothing", line: `/msg "ann lee hi`},
		{name: "join with two words sends nothing", line: "/join tea room"},
		{name: "leave outside a room sends nothing", line: "/leave"},
		{name: "blank line sends nothing", line: "   "},
		{name: "help sends nothing", line: "/help"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Room = tt.room
			h := newHarness(t, cfg, 80, 20)
			h.connect("alice")
			before := len(h.conn.requests())
			h.typeLine(tt.line)
			var got []sent
			for _, s := range h.conn.requests()[before:] {
				got = append(got, sent{cmd: s.cmd, data: s.data})
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("sent %+v, want %+v", got, tt.want)
			}
			if v := h.m.input.Value(); v != "" {
				t.Errorf("input = %q after Enter, want it cleared", v)
			}
		})
	}
}

// Lines the client refuses itself say why on the status line, and send nothing.
func TestModel_MalformedCommandsSayWhatIsWrong(t *testing.T) {
	tests := []struct {
		name string
		line string
		want string
	}{
		{name: "unknown command", line: "/dance now", want: "unknown command /dance (try /help)"},
		{name: "msg without text", line: "/msg bob", want: "usage: /msg USER TEXT"},
		{name: "msg with an unclosed quote", line: `/msg "unterminated hi`,
			want: `unclosed quote in "unterminated hi; usage: /msg "USER ID" TEXT`},
		{name: "msg with a long unclosed quote", line: `/msg "` + strings.Repeat("x", 100),
			want: `unclosed quote in "` + strings.Repeat("x", excerptRunes-1) + `…; usage: /msg "USER ID" TEXT`},
		{name: "join without room", line: "/join", want: "usage: /join ROOM"},
		{name: "join with an unclosed quote", line: `/join "tea room`,
			want: `unclosed quote in "tea room; usage: /join "ROOM NAME"`},
		{name: "leave outside a room", line: "/leave", want: "not in a room"},
		{name: "join a room with too long a name", line: "/join " + strings.Repeat("r", 65),
			want: `not a valid room name (want 1..64 printable characters, without white space at either end): "` + strings.Repeat("r", excerptRunes) + `…"`},
		{name: "msg to too long a user id", line: "/msg " + strings.Repeat("u", 65) + " hi",
			want: `not a valid user id (want 1..64 printable characters, without white space at either end): "` + strings.Repeat("u", excerptRunes) + `…"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, testConfig(), 120, 10)
			h.connect("alice")
			before := len(h.conn.requests())
			h.typeLine(tt.line)
			if h.m.status != tt.want || !h.m.statusErr {
				t.Errorf("status = %q (error %v), want error %q", h.m.status, h.m.statusErr, tt.want)
			}
			if sent := h.conn.requests()[before:]; len(sent) != 0 {
				t.Errorf("sent %+v, want nothing", sent)
			}
		})
	}
}

// /help lists the commands, // among them, and the keys only where there are keys: in
// the full-screen UI, not in line mode.
func TestChat_HelpListsWhatTheFrontEndHas(t *testing.T) {
	for _, screen := range []bool{false, true} {
		c := newChat(newFakeConn(), testConfig())
		c.screen = screen
		c.input("/help")
		var help strings.Builder
		for _, e := range c.take() {
			help.WriteString(e.text + "\n")
		}
		got := help.String()
		for _, want := range []string{"//TEXT", "/join ROOM", "/msg USER TEXT", "/quit"} {
			if !strings.Contains(got, want) {
				t.Errorf("screen %v: help lacks %q:\n%s", screen, want, got)
			}
		}
		for _, key := range []string{"keys:", "PgUp", "Ctrl-C", "Enter"} {
			if strings.Contains(got, key) != screen {
				t.Errorf("screen %v: help mentions %q: %v, want %v:\n%s", screen, key, !screen, screen, got)
			}
		}
	}
}

func TestModel_ErrorsGoToTheStatusLine(t *testing.T) {
	tests := []struct {
		name string
		line string
		code protocol.Code
		msg  string
		want string
	}{
		{name: "user not online", line: "/msg zed hi", code: protocol.NotData, want: "zed is not online; not sent: hi"},
		{name: "room send refused", line: "hello", code: protocol.OperationFailure, msg: "join room x first",
			want: "not sent: hello: join room x first (1009)"},
		{name: "join refused", line: "/join lobby", code: protocol.ParameterIllegal, want: "cannot join lobby: parameter illegal (1001)"},
		{name: "users refused", line: "/users", code: protocol.ServerError, want: "users: server error (1004)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, testConfig(), 120, 10)
			h.connect("alice")
			h.typeLine(tt.line)
			var req sent
			for _, s := range h.conn.requests() {
				if s.cmd != protocol.CmdUsers || tt.line == "/users" {
					req = s
				}
			}
			h.event(answer(req, tt.code, tt.msg, nil))
			if h.m.status != tt.want || !h.m.statusErr {
				t.Errorf("status = %q (error %v), want error %q", h.m.status, h.m.statusErr, tt.want)
			}
			if !strings.Contains(h.view(), tt.want) {
				t.Errorf("view does not show %q:\n%s", tt.want, h.view())
			}
		})
	}
}

func TestModel_FailedJoinKeepsThePreviousRoom(t *testing.T) {
	cfg := testConfig()
	cfg.Room = "a"
	h := newHarness(t, cfg, 80, 10)
	h.connect("alice")
	h.typeLine("/join b")
	if h.m.chat.room != "b" {
		t.Fatalf("room = %q while joining, want b", h.m.chat.room)
	}
	h.event(answer(h.conn.find(t, protocol.CmdJoin), protocol.ParameterIllegal, "", nil))
	if h.m.chat.room != "a" {
		t.Errorf("room = %q after the join failed, want a", h.m.chat.room)
	}
}

func TestModel_OfflineLineStaysInTheInput(t *testing.T) {
	h := newHarness(t, testConfig(), 80, 10)
	h.connect("alice")
	h.event(StatusEvent{State: StateReconnecting, RetryIn: 1e9})
	before := len(h.conn.requests())
	h.typeLine("do not lose me")
	if v := h.m.input.Value(); v != "do not lose me" {
		t.Errorf("input = %q, want the line kept", v)
	}
	if !strings.Contains(h.m.status, "not connected") {
		t.Errorf("status = %q, want it to say not connected", h.m.status)
	}
	if n := len(h.conn.requests()); n != before {
		t.Errorf("sent %d requests while offline", n-before)
	}
	// Once back, Enter sends it.
	h.connect("alice")
	h.send(tea.KeyPressMsg{Code: tea.KeyEnter})
	if got := h.conn.last(t); got.cmd != protocol.CmdSend || got.data.(protocol.SendData).Msg != "do not lose me" {
		t.Errorf("last request = %+v, want the kept line", got)
	}
	if v := h.m.input.Value(); v != "" {
		t.Errorf("input = %q after sending, want it cleared", v)
	}
}

// TestModel_LineTypedAfterTheSessionEndedDoesNotPromiseAReconnect: once the server has
// ended the session for good (kicked out, login refused), Enter does not tell the user to
// wait for a connection that will never come.
func TestModel_LineTypedAfterTheSessionEndedDoesNotPromiseAReconnect(t *testing.T) {
	h := newHarness(t, testConfig(), 80, 10)
	h.connect("alice")
	h.event(StatusEvent{State: StateDisconnected, Err: &CloseError{Code: protocol.CloseKickout}})
	h.typeLine("anyone?")
	if v := h.m.input.Value(); v != "anyone?" {
		t.Errorf("input = %q, want the line kept", v)
	}
	if !strings.Contains(h.m.status, "disconnected for good") || strings.Contains(h.m.status, "once connected") {
		t.Errorf("status = %q, want it to say the session is over", h.m.status)
	}
}

func TestModel_ConnectionRaceKeepsTheLine(t *testing.T) {
	// The model still thinks it is connected, but the Conn already dropped.
	h := newHarness(t, testConfig(), 80, 10)
	h.connect("alice")
	h.conn.setOffline(true)
	h.typeLine("racing")
	if v := h.m.input.Value(); v != "racing" {
		t.Errorf("input = %q, want the line kept", v)
	}
}

func TestModel_ReconnectRejoinsTheRoom(t *testing.T) {
	cfg := testConfig()
	h := newHarness(t, cfg, 80, 10)
	h.connect("alice")
	h.typeLine("/join lobby")
	h.event(answer(h.conn.find(t, protocol.CmdJoin), protocol.OK, "", protocol.RoomData{Room: "lobby"}))
	h.typeLine("in flight")
	h.event(StatusEvent{State: StateReconnecting, RetryIn: 1e9, Err: &CloseError{Code: protocol.CloseGoingAway}})
	if !strings.Contains(h.view(), "not sent (connection lost): in flight") {
		t.Errorf("view does not report the unanswered send:\n%s", h.view())
	}
	if h.m.chat.users != nil {
		t.Errorf("users = %v while disconnected, want none", h.m.chat.users)
	}
	before := len(h.conn.requests())
	h.event(StatusEvent{State: StateConnecting})
	h.event(StatusEvent{State: StateConnected})
	var got []sent
	for _, s := range h.conn.requests()[before:] {
		got = append(got, sent{cmd: s.cmd, data: s.data})
	}
	want := []sent{
		{cmd: protocol.CmdJoin, data: protocol.RoomData{Room: "lobby"}},
		{cmd: protocol.CmdUsers, data: protocol.UsersData{Room: "lobby"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after reconnect sent %+v, want %+v", got, want)
	}
}

func TestModel_PresenceUpdatesThePanel(t *testing.T) {
	cfg := testConfig()
	cfg.Room = "lobby"
	h := newHarness(t, cfg, 80, 10)
	h.event(StatusEvent{State: StateConnected})
	h.answerUsers("alice", "bob")
	steps := []struct {
		cmd, target, from string
		want              []string
	}{
		{protocol.CmdEnter, "lobby", "carol", []string{"alice", "bob", "carol"}},
		{protocol.CmdEnter, "lobby", "carol", []string{"alice", "bob", "carol"}},
		{protocol.CmdEnter, "", "dave", []string{"alice", "bob", "carol"}}, // the app, not the room
		{protocol.CmdEnter, "other", "erin", []string{"alice", "bob", "carol"}},
		{protocol.CmdExit, "lobby", "bob", []string{"alice", "carol"}},
		{protocol.CmdExit, "lobby", "nobody", []string{"alice", "carol"}},
		{protocol.CmdExit, "other", "carol", []string{"alice", "carol"}},
		{protocol.CmdExit, "", "carol", []string{"alice"}}, // offline: gone from every room
	}
	for i, s := range steps {
		h.event(push(s.cmd, protocol.Message{Target: s.target, Type: s.cmd, From: s.from}))
		if !reflect.DeepEqual(h.m.chat.users, s.want) {
			t.Fatalf("step %d (%s %s %s): users = %v, want %v", i, s.cmd, s.target, s.from, h.m.chat.users, s.want)
		}
	}
}

func TestModel_QuitKeys(t *testing.T) {
	tests := []struct {
		name string
		do   func(h *harness) tea.Cmd
	}{
		{"ctrl-c", func(h *harness) tea.Cmd { return h.send(tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl}) }},
		{"/quit", func(h *harness) tea.Cmd { return h.typeLine("/quit") }},
		{"ctrl-c while disconnected", func(h *harness) tea.Cmd {
			h.send(closedMsg{})
			return h.send(tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, testConfig(), 80, 10)
			cmd := tt.do(h)
			if cmd == nil {
				t.Fatal("no command, want tea.Quit")
			}
			if _, ok := cmd().(tea.QuitMsg); !ok {
				t.Errorf("command gives %T, want tea.QuitMsg", cmd())
			}
		})
	}
}

func TestModel_PageUpAndDownScroll(t *testing.T) {
	h := newHarness(t, testConfig(), 80, 10)
	h.connect("alice")
	for i := range 40 {
		h.event(push(protocol.CmdMsg, protocol.Message{Type: "text", From: "bob", Msg: fmt.Sprintf("message %d", i)}))
	}
	if !h.m.vp.AtBottom() {
		t.Fatal("pane does not follow new messages")
	}
	bottom := h.m.vp.YOffset()
	h.send(tea.KeyPressMsg{Code: tea.KeyPgUp})
	if h.m.vp.YOffset() >= bottom {
		t.Fatalf("PgUp: offset %d, want below %d", h.m.vp.YOffset(), bottom)
	}
	// A new message while scrolled back does not yank the view down.
	off := h.m.vp.YOffset()
	h.event(push(protocol.CmdMsg, protocol.Message{Type: "text", From: "bob", Msg: "late"}))
	if h.m.vp.YOffset() != off {
		t.Errorf("offset moved from %d to %d on a new message while scrolled back", off, h.m.vp.YOffset())
	}
	if strings.Contains(h.view(), "late") {
		t.Error("the new message is visible while scrolled back")
	}
	h.send(tea.KeyPressMsg{Code: tea.KeyPgDown})
	h.send(tea.KeyPressMsg{Code: tea.KeyPgDown})
	if !h.m.vp.AtBottom() || !strings.Contains(h.view(), "late") {
		t.Errorf("PgDn did not return to the newest message:\n%s", h.view())
	}
	// Typing is not scrolling: letters go to the input.
	h.typeText("jk")
	if h.m.input.Value() != "jk" {
		t.Errorf("input = %q, want jk", h.m.input.Value())
	}
}

// A key that carries several characters is text, even when they spell a key's name:
// the input binds "down", "left", "home", "delete" and more.
func TestModel_AKeyOfSeveralCharactersIsText(t *testing.T) {
	h := newHarness(t, testConfig(), 80, 10)
	h.typeText("x ")
	for _, word := range []string{"down", "left", "home", "delete", "backspace"} {
		h.send(tea.KeyPressMsg{Code: tea.KeyExtended, Text: word})
	}
	h.send(typedMsg{})
	if got, want := h.m.input.Value(), "x downlefthomedeletebackspace"; got != want {
		t.Errorf("input = %q, want %q", got, want)
	}
}

func TestModel_ResizeToAnySizeRendersExactly(t *testing.T) {
	h := newHarness(t, testConfig(), 80, 24)
	h.connect("alice", "bob", "a-user-with-a-very-long-name-indeed")
	for i := range 30 {
		h.event(push(protocol.CmdMsg, protocol.Message{Type: "text", From: "bob", Msg: strings.Repeat("word ", i)}))
	}
	h.typeText(strings.Repeat("typed ", 30))
	for _, size := range [][2]int{{0, 0}, {1, 1}, {2, 2}, {10, 3}, {30, 5}, {49, 10}, {50, 10}, {200, 60}, {80, 24}} {
		h.send(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
		v := h.view()
		if size[0] == 0 || size[1] == 0 {
			if v != "" {
				t.Errorf("%v: view %q, want empty", size, v)
			}
			continue
		}
		lines := strings.Split(v, "\n")
		if len(lines) != size[1] {
			t.Errorf("%v: %d lines, want %d", size, len(lines), size[1])
		}
		for i, l := range lines {
			if w := len([]rune(l)); w > size[0] {
				t.Errorf("%v: line %d is %d wide: %q", size, i, w, l)
			}
		}
	}
	if !strings.Contains(h.view(), "typed") {
		t.Error("the typed text is gone after resizing")
	}
}

func TestModel_SurvivesMalformedFrames(t *testing.T) {
	h := newHarness(t, testConfig(), 80, 10)
	h.connect("alice")
	h.typeLine("/users")
	users := h.conn.last(t)
	bad := []protocol.Response{
		{Cmd: protocol.CmdMsg},
		{Cmd: protocol.CmdMsg, Response: protocol.Result{Data: []byte(`"a string"`)}},
		{Cmd: protocol.CmdEnter, Response: protocol.Result{Data: []byte(`{"from":5}`)}},
		{Cmd: protocol.CmdExit, Response: protocol.Result{Data: []byte(`null`)}},
		{Cmd: protocol.CmdKickout},
		{Cmd: "surprise", Response: protocol.Result{Code: 4242}},
		{Seq: "nobody", Cmd: protocol.CmdJoin, Response: protocol.Result{Code: protocol.OK}},
		{Seq: users.seq, Cmd: protocol.CmdUsers, Response: protocol.Result{Code: protocol.OK, Data: []byte(`{"userList":7}`)}},
	}
	for _, f := range bad {
		h.event(FrameEvent{Frame: f})
		_ = h.view()
	}
	h.event(StatusEvent{State: State(99)})
	h.send(closedMsg{})
	_ = h.view()
}

func TestModel_EventsArriveThroughARearmedCommand(t *testing.T) {
	conn := newFakeConn()
	conn.events = make(chan Event, 2)
	m := NewModel(conn, testConfig())
	conn.events <- StatusEvent{State: StateConnected}
	conn.events <- FrameEvent{Frame: frame("m", protocol.CmdMsg, protocol.OK, "Ok", protocol.Message{From: "bob", Msg: "hi"})}
	close(conn.events)
	cmd := m.Init()
	var kinds []string
	for cmd != nil {
		msg := cmd()
		kinds = append(kinds, fmt.Sprintf("%T", msg))
		_, cmd = m.Update(msg)
	}
	want := []string{"tui.eventMsg", "tui.eventMsg", "tui.closedMsg"}
	if !reflect.DeepEqual(kinds, want) {
		t.Errorf("messages %v, want %v", kinds, want)
	}
	if m.chat.state != StateDisconnected {
		t.Errorf("state = %v after the stream closed, want disconnected", m.chat.state)
	}
}

func TestModel_HistoryIsBounded(t *testing.T) {
	h := newHarness(t, testConfig(), 80, 10)
	for i := range historyLimit + 50 {
		h.event(push(protocol.CmdMsg, protocol.Message{From: "bob", Msg: fmt.Sprint(i)}))
	}
	if n := len(h.m.history); n != historyLimit {
		t.Errorf("history holds %d entries, want %d", n, historyLimit)
	}
	if got := h.m.history[len(h.m.history)-1].text; got != fmt.Sprint(historyLimit+49) {
		t.Errorf("newest entry %q", got)
	}
}

// Typed characters wait for more (typedMsg) unless another key comes first: then they
// go in before it, in order. Enter sends what was typed even if it has not gone in yet.
func TestModel_TypedTextGoesInBeforeTheNextKey(t *testing.T) {
	h := newHarness(t, testConfig(), 80, 10)
	h.connect("alice")
	for _, r := range "abc" {
		h.send(tea.KeyPressMsg{Code: r, Text: string(r)})
	}
	h.send(tea.KeyPressMsg{Code: tea.KeyBackspace})
	if got := h.m.input.Value(); got != "ab" {
		t.Fatalf("input after abc and backspace = %q, want ab", got)
	}
	for _, r := range "cd" {
		h.send(tea.KeyPressMsg{Code: r, Text: string(r)})
	}
	h.send(tea.KeyPressMsg{Code: tea.KeyEnter})
	if got := h.conn.last(t); got.cmd != protocol.CmdSend || got.data.(protocol.SendData).Msg != "abcd" {
		t.Fatalf("sent %+v, want abcd", got)
	}
}

// BenchmarkModel_Paste: a 64 KiB line pasted by a terminal without bracketed
// paste (one key each, the screen drawn after each, the typed text going in every 500
// keys as the frame-long wait lets it) and as one bracketed paste.
func BenchmarkModel_Paste(b *testing.B) {
	text := strings.Repeat("pasted words ", 6000)[:65536] // the longest input line
	b.Run("keys", func(b *testing.B) {
		for b.Loop() {
			m := NewModel(newFakeConn(), testConfig())
			m.Update(tea.WindowSizeMsg{Width: 100, Height: 30})
			for i, r := range text {
				m.Update(tea.KeyPressMsg{Code: r, Text: string(r)})
				if i%500 == 499 {
					m.Update(typedMsg{})
				}
				_ = m.View()
			}
			m.Update(typedMsg{})
			_ = m.View()
		}
	})
	b.Run("bracketed", func(b *testing.B) {
		for b.Loop() {
			m := NewModel(newFakeConn(), testConfig())
			m.Update(tea.WindowSizeMsg{Width: 100, Height: 30})
			m.Update(tea.PasteMsg{Content: text})
			_ = m.View()
		}
	})
}
