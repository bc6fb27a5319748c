package tui

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gows-dev/gows/internal/protocol"
)

// historyLimit bounds the entries a front end keeps for scrolling back.
const historyLimit = 2000

// request is a command sent and not yet answered, kept to make sense of its answer.
type request struct {
	cmd  string
	room string // join, leave, users: the room; send: the room it went to
	to   string // send: the direct recipient
	text string // send: the message
	show bool   // users: print the list (typed /users) rather than only refresh the panel
	prev string // join: the room we were in, restored if the join fails
	line int    // what asked for it: chat.line when it was sent
}

// chat is the client-side logic of a chat session, shared by the full-screen Model and
// line mode. It is not safe for concurrent use: one goroutine (bubbletea's event loop, or
// the line-mode loop) owns it.
type chat struct {
	conn   Conn
	self   string
	server string // host:port, for display
	now    func() time.Time
	state  State
	// retryIn is the time left before the next attempt while reconnecting.
	retryIn time.Duration
	// lastErr is why the last connection ended, shown while reconnecting or disconnected.
	lastErr error
	// everConnected tells a reconnect from the first connect.
	everConnected bool
	// failing is set while attempts fail, so that an outage is reported once.
	failing bool
	// room is the room plain lines go to: the one joined, or being joined. "" means the
	// whole app. It is joined again after every reconnect.
	room    string
	users   []string // who is online in room (or the app), sorted; nil while unknown
	pending map[string]request
	// lost counts the messages reported not sent because their connection dropped.
	lost int
	// line numbers what asks for requests, from 1: each typed line, and each connection's
	// own join and user list. A request carries its line, so that a line refused twice
	// (a /join whose leave and join both fail) counts once.
	line int
	// refusals counts the lines refused: by the server (an error code) or by the client
	// (an unknown command, a malformed one). refusedLine is the line refused last.
	refusals    int
	refusedLine int
	// out collects the entries produced since the front end last took them.
	out []entry
	// screen is set for the full-screen UI, whose /help also lists its keys.
	screen bool
}

func newChat(conn Conn, cfg Config) *chat {
	return &chat{
		conn:    conn,
		self:    cfg.UserID,
		server:  cfg.serverName(),
		now:     time.Now,
		room:    cfg.Room,
		pending: make(map[string]request),
	}
}

// take returns the entries produced since the last call.
func (c *chat) take() []entry {
	out := c.out
	c.out = nil
	return out
}

func (c *chat) add(e entry) {
	e.at = c.now()
	c.out = append(c.out, e)
}

func (c *chat) notice(format string, args ...any) {
	c.add(entry{kind: kindNotice, text: fmt.Sprintf(format, args...)})
}

func (c *chat) fail(format string, args ...any) {
	c.add(entry{kind: kindError, text: fmt.Sprintf(format, args...)})
}

// refuse reports that what line asked for was refused, and counts the line once. Line 0
// is unknown: every such refusal counts.
func (c *chat) refuse(line int, format string, args ...any) {
	c.fail(format, args...)
	if line == 0 || line != c.refusedLine {
		c.refusals++
	}
	c.refusedLine = line
}

// inputResult tells the front end what became of a typed line.
type inputResult int

const (
	inputDone    inputResult = iota // handled (sent, or refused with an error entry): clear the input
	inputOffline                    // needs the connection, which is down: keep the line and retry later
	inputQuit                       // the user asked to quit
)

// helpText is shown by /help, one notice per line; helpQuit and helpKeys follow it, as
// the front end goes.
const helpText = `commands:
  TEXT              send to the current room, or to everyone in the app when in none
  //TEXT            send /TEXT (a line that starts with /)
  /join ROOM        join ROOM (leaving the current one); plain lines go there
  /leave            leave the current room
  /msg USER TEXT    send TEXT to USER only
  /users            list who is online in the room (or the app)
  /help             this help`

const (
	helpQuitScreen = `  /quit             leave (also /exit, Ctrl-C)
a USER or ROOM with spaces goes in quotes: /msg "ann lee" hi
keys: Enter sends, PgUp/PgDn scroll, Ctrl-C quits`
	helpQuitLines = `  /quit             end the input (also /exit): what came before is still sent
a USER or ROOM with spaces goes in quotes: /msg "ann lee" hi`
)

// input handles one typed line.
func (c *chat) input(line string) inputResult {
	line = strings.TrimSpace(line)
	if line == "" {
		return inputDone
	}
	if quitCommand(line) {
		return inputQuit
	}
	c.line++
	if !strings.HasPrefix(line, "/") || strings.HasPrefix(line, "//") {
		// "//text" sends "/text".
		if strings.HasPrefix(line, "//") {
			line = line[1:]
		}
		return c.sendText(line)
	}
	name, rest, _ := strings.Cut(line, " ")
	rest = strings.TrimSpace(rest)
	switch name {
	case "/help":
		tail := helpQuitLines
		if c.screen {
			tail = helpQuitScreen
		}
		for l := range strings.SplitSeq(helpText+"\n"+tail, "\n") {
			c.notice("%s", l)
		}
		return inputDone
	case "/join":
		room, extra, ok := cutArg(rest)
		if !ok {
			return c.unclosed(rest, `/join "ROOM NAME"`)
		}
		if extra != "" {
			room = "" // refused with the usage
		}
		return c.join(room)
	case "/leave":
		return c.leave()
	case "/msg":
		to, text, ok := cutArg(rest)
		if !ok {
			return c.unclosed(rest, `/msg "USER ID" TEXT`)
		}
		return c.direct(to, text)
	case "/users":
		return c.listUsers(true)
	}
	c.refuse(c.line, "unknown command %s (try /help)", name)
	return inputDone
}

// unclosed refuses a command whose argument opens a quote it does not close.
func (c *chat) unclosed(arg, usage string) inputResult {
	c.refuse(c.line, "unclosed quote in %s; usage: %s", excerpt(clean(arg)), usage)
	return inputDone
}

// cutArg cuts a command's first argument off s: a word, or a "quoted" user id or room
// name, which may hold spaces. ok is false when a quote is left open.
func cutArg(s string) (arg, rest string, ok bool) {
	if q, quoted := strings.CutPrefix(s, `"`); quoted {
		arg, rest, ok = strings.Cut(q, `"`)
		return arg, strings.TrimSpace(rest), ok
	}
	arg, rest, _ = strings.Cut(s, " ")
	return arg, strings.TrimSpace(rest), true
}

// quitCommand reports whether line is /quit or /exit.
func quitCommand(line string) bool {
	name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
	return name == "/quit" || name == "/exit"
}

// send sends a request and remembers it. It reports inputOffline when there is no
// connection, and turns other failures into an error entry.
func (c *chat) send(r request, data any) inputResult {
	seq, err := c.conn.Send(r.cmd, data)
	if errors.Is(err, ErrNotConnected) {
		return inputOffline
	}
	switch {
	case err == nil:
	case r.cmd == protocol.CmdSend:
		// The start of the text names the message; all of it (a message too long, say)
		// could hide the reason.
		c.refuse(c.line, "not sent: %s: %v", excerpt(clean(r.text)), err)
		return inputDone
	default:
		c.refuse(c.line, "%s: %v", r.cmd, err)
		return inputDone
	}
	r.line = c.line
	c.pending[seq] = r
	return inputDone
}

func (c *chat) sendText(text string) inputResult {
	if c.state != StateConnected {
		return inputOffline
	}
	return c.send(request{cmd: protocol.CmdSend, room: c.room, text: text},
		protocol.SendData{Room: c.room, Type: protocol.TypeText, Msg: text})
}

func (c *chat) direct(to, text string) inputResult {
	if to == "" || text == "" {
		c.refuse(c.line, "usage: /msg USER TEXT")
		return inputDone
	}
	if !protocol.ValidUserID(to) {
		c.refuse(c.line, "not a valid user id (want %s): %q", protocol.NameRule(protocol.MaxUserIDLen), excerpt(to))
		return inputDone
	}
	if c.state != StateConnected {
		return inputOffline
	}
	return c.send(request{cmd: protocol.CmdSend, to: to, text: text},
		protocol.SendData{To: to, Type: protocol.TypeText, Msg: text})
}

func (c *chat) join(room string) inputResult {
	if room == "" {
		c.refuse(c.line, "usage: /join ROOM")
		return inputDone
	}
	if !protocol.ValidRoom(room) {
		c.refuse(c.line, "not a valid room name (want %s): %q", protocol.NameRule(protocol.MaxRoomLen), excerpt(room))
		return inputDone
	}
	if room == c.room {
		c.notice("already in %s", room)
		return inputDone
	}
	if c.state != StateConnected {
		return inputOffline
	}
	prev := c.room
	if prev != "" {
		if res := c.send(request{cmd: protocol.CmdLeave, room: prev}, protocol.RoomData{Room: prev}); res != inputDone {
			return res
		}
	}
	// The server serves a connection's requests in order, so lines typed from now on go
	// to the new room after the join.
	c.room = room
	c.users = nil
	if res := c.send(request{cmd: protocol.CmdJoin, room: room, prev: prev}, protocol.RoomData{Room: room}); res != inputDone {
		return res
	}
	return c.listUsers(false)
}

func (c *chat) leave() inputResult {
	if c.room == "" {
		c.refuse(c.line, "not in a room")
		return inputDone
	}
	if c.state != StateConnected {
		return inputOffline
	}
	room := c.room
	c.room = ""
	c.users = nil
	if res := c.send(request{cmd: protocol.CmdLeave, room: room}, protocol.RoomData{Room: room}); res != inputDone {
		return res
	}
	return c.listUsers(false)
}

func (c *chat) listUsers(show bool) inputResult {
	if c.state != StateConnected {
		return inputOffline
	}
	return c.send(request{cmd: protocol.CmdUsers, room: c.room, show: show}, protocol.UsersData{Room: c.room})
}

// event handles one event from the connection.
func (c *chat) event(ev Event) {
	switch ev := ev.(type) {
	case StatusEvent:
		c.status(ev)
	case FrameEvent:
		c.frame(ev.Frame)
	}
}

// closed handles the end of the event stream: the connection stopped for good.
func (c *chat) closed() {
	if c.state != StateDisconnected {
		c.state = StateDisconnected
		c.notice("disconnected")
	}
}

func (c *chat) status(ev StatusEvent) {
	prev := c.state
	c.state, c.retryIn = ev.State, ev.RetryIn
	if ev.Err != nil {
		c.lastErr = ev.Err
	}
	if ev.State == prev {
		return // a countdown tick
	}
	switch ev.State {
	case StateConnected:
		c.lastErr = nil
		c.failing = false
		if c.everConnected {
			c.notice("reconnected")
		} else {
			c.notice("connected to %s as %s", c.server, c.self)
		}
		c.everConnected = true
		c.line++ // the connection's own requests
		// A new connection has no rooms: join ours again, then fetch who is online.
		if c.room != "" {
			c.send(request{cmd: protocol.CmdJoin, room: c.room}, protocol.RoomData{Room: c.room})
		}
		c.listUsers(false)
	case StateReconnecting:
		c.dropSession()
		switch {
		case prev == StateConnected:
			c.notice("connection lost: %s; reconnecting", errText(ev.Err))
			c.failing = true
		case !c.failing:
			// Said once per outage, not at every attempt.
			c.notice("cannot connect: %s; retrying", errText(ev.Err))
			c.failing = true
		}
	case StateDisconnected:
		c.dropSession()
		c.add(entry{kind: kindError, pane: true, text: "disconnected: " + errText(ev.Err)})
	}
}

// dropSession forgets what belonged to the connection that ended: requests it will never
// answer, and the list of who is online.
func (c *chat) dropSession() {
	for seq, r := range c.pending {
		if r.cmd == protocol.CmdSend {
			c.fail("not sent (connection lost): %s", excerpt(clean(r.text)))
			c.lost++
		}
		delete(c.pending, seq)
	}
	c.users = nil
}

func errText(err error) string {
	if err == nil {
		return "unknown reason"
	}
	return err.Error()
}

func (c *chat) frame(f protocol.Response) {
	switch f.Cmd {
	case protocol.CmdMsg:
		c.message(f)
		return
	case protocol.CmdEnter, protocol.CmdExit:
		c.presence(f)
		return
	case protocol.CmdKickout:
		var m protocol.Message
		_ = decodeData(f.Response.Data, &m) // the reason is optional
		c.add(entry{kind: kindError, pane: true, text: "kicked out: " + orDefault(clean(m.Msg), "logged in elsewhere")})
		return
	}
	r, ok := c.pending[f.Seq]
	if ok {
		delete(c.pending, f.Seq)
	}
	if f.Response.Code != protocol.OK {
		c.refused(f, r, ok)
		return
	}
	if !ok {
		return // an answer to nothing we remember (a previous connection's): nothing to show
	}
	switch r.cmd {
	case protocol.CmdSend:
		if r.to != "" {
			// Direct messages are not echoed back: show what was sent.
			c.add(entry{kind: kindText, scope: scopeDirectOut, from: c.self, to: r.to, own: true, text: clean(r.text)})
		}
	case protocol.CmdJoin:
		c.notice("joined %s", r.room)
	case protocol.CmdLeave:
		c.notice("left %s", r.room)
	case protocol.CmdUsers:
		var u protocol.UsersResult
		if err := decodeData(f.Response.Data, &u); err != nil {
			c.fail("users: bad answer: %v", err)
			return
		}
		list := make([]string, 0, len(u.UserList))
		for _, name := range u.UserList {
			list = append(list, clean(name))
		}
		slices.Sort(list)
		list = slices.Compact(list)
		if r.room == c.room {
			c.users = list
		}
		if r.show {
			where := "the app"
			if r.room != "" {
				where = r.room
			}
			c.notice("online in %s (%d): %s", where, u.UserCount, strings.Join(list, ", "))
		}
	}
}

// refused reports a command the server answered with an error code.
func (c *chat) refused(f protocol.Response, r request, known bool) {
	res := f.Response
	why := fmt.Sprintf("%s (%d)", orDefault(clean(res.CodeMsg), res.Code.Text()), res.Code)
	if !known {
		c.refuse(0, "%s: %s", orDefault(clean(f.Cmd), "server"), why)
		return
	}
	switch {
	case r.cmd == protocol.CmdSend && r.to != "" && res.Code == protocol.NotData:
		c.refuse(r.line, "%s is not online; not sent: %s", r.to, excerpt(clean(r.text)))
	case r.cmd == protocol.CmdSend:
		// The start of the text names the message; all of it could hide the reason.
		c.refuse(r.line, "not sent: %s: %s", excerpt(clean(r.text)), why)
	case r.cmd == protocol.CmdJoin:
		if c.room == r.room {
			c.room = r.prev
		}
		c.refuse(r.line, "cannot join %s: %s", r.room, why)
	case r.cmd == protocol.CmdUsers && !r.show:
		// The client's own refresh of the online panel, not a line the user gave: said,
		// not counted.
		c.fail("%s: %s", r.cmd, why)
	default:
		c.refuse(r.line, "%s: %s", r.cmd, why)
	}
}

func (c *chat) message(f protocol.Response) {
	var m protocol.Message
	if err := decodeData(f.Response.Data, &m); err != nil {
		c.fail("bad message from server: %v", err)
		return
	}
	e := entry{kind: kindText, from: clean(m.From), own: m.From == c.self, text: clean(m.Msg)}
	switch {
	case m.Target != "":
		e.scope, e.room = scopeRoom, clean(m.Target)
	case directMessage(m):
		e.scope, e.to = scopeDirectIn, clean(m.To)
	default:
		e.scope = scopeApp
	}
	c.add(e)
}

// directMessage reports whether a msg push went to this user alone.
func directMessage(m protocol.Message) bool { return m.To != "" }

func (c *chat) presence(f protocol.Response) {
	var m protocol.Message
	if err := decodeData(f.Response.Data, &m); err != nil {
		c.fail("bad %s notice from server: %v", clean(f.Cmd), err)
		return
	}
	who := clean(m.From)
	if who == "" {
		return
	}
	left := f.Cmd == protocol.CmdExit
	c.add(entry{kind: kindPresence, room: clean(m.Target), from: who, own: m.From == c.self, left: left})
	// The panel lists the current room (or the app). A user who went offline has left
	// every room too, and the server sends no room notice for that.
	offline := left && m.Target == ""
	if c.users == nil || (m.Target != c.room && !offline) {
		return // about another scope than the panel's, or the panel is not loaded yet
	}
	i, found := slices.BinarySearch(c.users, who)
	switch {
	case left && found:
		c.users = slices.Delete(c.users, i, i+1)
	case !left && !found:
		c.users = slices.Insert(c.users, i, who)
	}
}

// decodeData decodes a response's data, which may be null.
func decodeData(data []byte, v any) error {
	return protocol.DecodeData(data, v)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// clean makes text from the network safe to print: control characters (which could move
// the cursor or change the terminal's state) become spaces or U+FFFD, so a message is
// always one line of plain text.
func clean(s string) string {
	if !strings.ContainsFunc(s, unsafeRune) {
		return s
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			return ' '
		case unsafeRune(r):
			return '\uFFFD'
		}
		return r
	}, s)
}

func unsafeRune(r rune) bool {
	return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0)
}

// excerptRunes is how much of a refused message's text excerpt shows.
const excerptRunes = 24

// excerpt returns the start of s, with "…" when it is cut.
func excerpt(s string) string {
	i, n := 0, 0
	for i < len(s) && n < excerptRunes {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		n++
	}
	if i == len(s) {
		return s
	}
	return s[:i] + "…"
}
