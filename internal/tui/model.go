package tui

import (
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/textinput"
	"charm.land/bubbles/v2/viewport"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
)

// Layout constants, in terminal cells.
const (
	// sidePanelMinWidth is the narrowest terminal that still shows the who-is-online panel.
	sidePanelMinWidth = 50
	// sidePanelMaxWidth caps the panel's width (a fifth of the terminal), separator excluded.
	sidePanelMaxWidth = 20
	// chromeHeight is the rows below the message pane: the status line and the input line.
	chromeHeight = 2
)

// eventMsg carries a connection Event into the bubbletea loop.
type eventMsg struct{ ev Event }

// closedMsg says the connection's event stream ended.
type closedMsg struct{}

// waitEvent is the command that turns the next event on ch into a message. Update runs it
// again after each eventMsg, so exactly one is outstanding and events arrive in order.
func waitEvent(ch <-chan Event) tea.Cmd {
	return func() tea.Msg {
		ev, ok := <-ch
		if !ok {
			return closedMsg{}
		}
		return eventMsg{ev: ev}
	}
}

// styles are the model's lipgloss styles. Their colours are the terminal's 16 numbered
// ones, which its theme adapts to a light or dark background, so the model never asks the
// terminal for its background. The program lowers them to what the terminal supports
// (none for TERM=dumb or NO_COLOR).
type styles struct {
	time, own, other, server, room, direct, presence, notice, errText lipgloss.Style
	status, statusErr, side, sideTitle, sideSelf, sep                 lipgloss.Style
}

func newStyles() styles {
	s := lipgloss.NewStyle()
	return styles{
		time:      s.Faint(true),
		own:       s.Foreground(lipgloss.Color("10")).Bold(true),
		other:     s.Foreground(lipgloss.Color("14")),
		server:    s.Foreground(lipgloss.Color("12")).Bold(true),
		room:      s.Foreground(lipgloss.Color("11")),
		direct:    s.Foreground(lipgloss.Color("13")).Bold(true),
		presence:  s.Faint(true),
		notice:    s.Faint(true).Italic(true),
		errText:   s.Foreground(lipgloss.Color("9")),
		status:    s.Reverse(true),
		statusErr: s.Reverse(true).Foreground(lipgloss.Color("9")),
		side:      s,
		sideTitle: s.Bold(true).Underline(true),
		sideSelf:  s.Foreground(lipgloss.Color("10")).Bold(true),
		sep:       s.Faint(true),
	}
}

// Model is the full-screen chat: a scrolling message pane, a panel of who is online, a
// status line and an input line. It talks to the server only through its Conn.
type Model struct {
	chat   *chat
	events <-chan Event
	st     styles

	history []entry // shown in the pane, oldest first; at most historyLimit
	// rendered holds history's entries styled and wrapped to the pane's width, so that a
	// new message renders only itself; a resize renders them all again.
	rendered []string
	// status is the last error (or the answer to a command) for the status line; cleared
	// when the user sends the next line.
	status    string
	statusErr bool

	vp     viewport.Model
	input  textinput.Model
	width  int
	height int

	// typed holds characters typed since the input line last took them: a run of keys
	// (a paste from a terminal without bracketed paste comes as one key per character)
	// goes in as one paste, since each edit of textinput costs the length of its line.
	typed strings.Builder
	// frame caches the screen, drawn again only when something changed (stale), not for
	// every key typed.
	frame string
	stale bool
}

// typedMsg asks the model to hand what was typed to the input line.
type typedMsg struct{}

// typedWait is how long typed characters wait for more before they go in: about a
// frame, too short to notice while typing, long enough for a pasted line to arrive
// whole. Any other key takes them at once, so nothing is reordered.
const typedWait = 15 * time.Millisecond

// NewModel returns the model for a session with cfg over conn.
func NewModel(conn Conn, cfg Config) *Model {
	c := newChat(conn, cfg)
	c.screen = true
	in := textinput.New()
	in.Prompt = "> "
	in.Placeholder = "type a message or /help"
	plain := lipgloss.NewStyle()
	state := textinput.StyleState{
		Prompt:      plain.Bold(true),
		Text:        plain,
		Placeholder: plain.Faint(true),
		Suggestion:  plain.Faint(true),
	}
	// Cursor.Blink stays false: a blinking cursor would redraw the screen twice a second.
	in.SetStyles(textinput.Styles{Focused: state, Blurred: state})
	in.Focus()
	return &Model{
		chat:   c,
		events: conn.Events(),
		st:     newStyles(),
		vp:     viewport.New(),
		input:  in,
	}
}

// Init starts waiting for connection events.
func (m *Model) Init() tea.Cmd { return waitEvent(m.events) }

// Update handles a key, a resize or a connection event.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if k, ok := msg.(tea.KeyPressMsg); ok && k.Text != "" && k.Mod&^tea.ModShift == 0 {
		// Text (one character, or several in one key: never a key binding, which
		// textinput matches on String(), so a word like "down" or "delete" is typed, not
		// obeyed). It waits for the keys queued behind it, then goes in with them; what
		// is drawn does not change meanwhile.
		first := m.typed.Len() == 0
		m.typed.WriteString(k.Text)
		if first {
			return m, tea.Tick(typedWait, func(time.Time) tea.Msg { return typedMsg{} })
		}
		return m, nil
	}
	// Anything else may change what is drawn; whatever it is acts on the line as typed
	// so far.
	m.stale = true
	m.takeTyped()
	switch msg := msg.(type) {
	case typedMsg:
		return m, nil
	case tea.KeyPressMsg:
		return m.key(msg)
	case eventMsg:
		se, isStatus := msg.ev.(StatusEvent)
		if isStatus && se.State != m.chat.state {
			m.status, m.statusErr = "", false // an old error says nothing about the new state
		}
		m.chat.event(msg.ev)
		m.flush()
		if isStatus && se.State == StateDisconnected && se.Err != nil {
			// The state already says disconnected: the reason alone fits narrower terminals.
			m.status = clean(se.Err.Error())
		}
		return m, waitEvent(m.events)
	case closedMsg:
		m.chat.closed()
		m.flush()
		return m, nil
	case tea.WindowSizeMsg:
		m.resize(msg.Width, msg.Height)
		return m, nil
	}
	return m.updateInput(msg)
}

func (m *Model) key(k tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	switch k.Keystroke() {
	case "ctrl+c":
		return m, tea.Quit
	case "pgup":
		m.vp.PageUp()
		return m, nil
	case "pgdown":
		m.vp.PageDown()
		return m, nil
	case "enter":
		return m.submit()
	}
	return m.updateInput(k)
}

// takeTyped hands the characters typed so far to the input line, as one paste.
func (m *Model) takeTyped() {
	if m.typed.Len() == 0 {
		return
	}
	m.input, _ = m.input.Update(tea.PasteMsg{Content: m.typed.String()})
	m.typed.Reset()
}

// updateInput hands msg to the input line.
func (m *Model) updateInput(msg tea.Msg) (tea.Model, tea.Cmd) {
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(msg)
	return m, cmd
}

// submit handles Enter. A line that needs the connection while it is down stays in the
// input, so nothing typed is lost.
func (m *Model) submit() (tea.Model, tea.Cmd) {
	m.status, m.statusErr = "", false
	res := m.chat.input(m.input.Value())
	m.flush()
	switch res {
	case inputQuit:
		return m, tea.Quit
	case inputOffline:
		m.status = "not connected: your line is kept; press Enter again once connected"
		if m.chat.state == StateDisconnected {
			m.status = "disconnected for good: not sent; Ctrl-C quits" // no reconnect will come
		}
		m.statusErr = true
	default:
		m.input.Reset()
	}
	return m, nil
}

// flush moves the chat's new entries into the pane, errors to the status line.
func (m *Model) flush() {
	added := false
	for _, e := range m.chat.take() {
		if e.kind == kindError {
			m.status, m.statusErr = e.text, true
			if !e.pane {
				continue
			}
		}
		m.history = append(m.history, e)
		m.rendered = append(m.rendered, m.render(e))
		added = true
	}
	if n := len(m.history); n > historyLimit {
		m.history = append(m.history[:0], m.history[n-historyLimit:]...)
		m.rendered = append(m.rendered[:0], m.rendered[n-historyLimit:]...)
	}
	if added {
		m.refresh()
	}
}

// render styles e and wraps it to the pane's width. Lines after the first are indented
// past the time, so that every entry starts with its time at the left edge; a pane too
// narrow for that wraps them from the edge.
func (m *Model) render(e entry) string {
	w := max(m.vp.Width(), 1)
	at := m.st.time.Render(e.at.Format(timeFormat)) + " "
	const indent = len(timeFormat) + 1
	if w < 2*indent {
		return ansi.Wrap(at+m.styled(e), w, "")
	}
	lines := strings.Split(ansi.Wrap(m.styled(e), w-indent, ""), "\n")
	return at + strings.Join(lines, "\n"+strings.Repeat(" ", indent))
}

// refresh sets the pane's content, staying at the bottom if it was there.
func (m *Model) refresh() {
	follow := m.vp.AtBottom()
	m.vp.SetContent(strings.Join(m.rendered, "\n"))
	if follow {
		m.vp.GotoBottom()
	}
}

func (m *Model) resize(w, h int) {
	m.width, m.height = max(w, 0), max(h, 0)
	paneW, _ := m.paneWidth()
	m.vp.SetWidth(paneW)
	m.vp.SetHeight(max(m.height-chromeHeight, 1))
	m.input.SetWidth(max(m.width-len(m.input.Prompt)-1, 1))
	// Re-wrap everything for the new width and show the latest lines.
	for i, e := range m.history {
		m.rendered[i] = m.render(e)
	}
	m.vp.SetContent(strings.Join(m.rendered, "\n"))
	m.vp.GotoBottom()
}

// paneWidth returns the message pane's width and the side panel's (0 when hidden).
func (m *Model) paneWidth() (pane, side int) {
	if m.width >= sidePanelMinWidth {
		side = min(m.width/5, sidePanelMaxWidth)
		return m.width - side - 1, side
	}
	return max(m.width, 1), 0
}

// styled renders an entry without its time, with colours; with colours off it equals
// entry.body.
func (m *Model) styled(e entry) string {
	st := m.st
	var b strings.Builder
	if e.room != "" {
		b.WriteString(st.room.Render("["+e.room+"]") + " ")
	}
	switch e.kind {
	case kindText:
		name := st.other
		switch {
		case e.from == "" && e.scope != scopeDirectOut:
			name = st.server
		case e.scope == scopeDirectIn || e.scope == scopeDirectOut:
			name = st.direct
		case e.own:
			name = st.own
		}
		b.WriteString(name.Render(e.sender()) + " " + e.text)
	case kindPresence:
		verb := " entered"
		if e.left {
			verb = " left"
		}
		b.WriteString(st.presence.Render("* " + e.from + verb))
	case kindNotice:
		b.WriteString(st.notice.Render("-- " + e.text))
	case kindError:
		b.WriteString(st.errText.Render("!! " + e.text))
	}
	return b.String()
}

// View draws the screen, always on the alternate screen.
func (m *Model) View() tea.View {
	v := tea.NewView(m.screen())
	v.AltScreen = true // also while the size is unknown, so the program does not leave it
	return v
}

// screen draws pane and side panel, status line and input line.
func (m *Model) screen() string {
	if m.width <= 0 || m.height <= 0 {
		return ""
	}
	if m.stale || m.frame == "" {
		m.frame, m.stale = m.draw(), false
	}
	return m.frame
}

func (m *Model) draw() string {
	var b strings.Builder
	if m.height > chromeHeight {
		pane := m.vp.View()
		if _, side := m.paneWidth(); side > 0 {
			sep := strings.TrimSuffix(strings.Repeat(m.st.sep.Render("│")+"\n", m.vp.Height()), "\n")
			pane = lipgloss.JoinHorizontal(lipgloss.Top, pane, sep, m.sidePanel(side, m.vp.Height()))
		}
		b.WriteString(pane + "\n")
	}
	if m.height > 1 {
		b.WriteString(m.statusLine() + "\n")
	}
	b.WriteString(ansi.Truncate(m.input.View(), m.width, ""))
	return b.String()
}

// sidePanel lists who is online in the current room (or the app), w wide and h high.
func (m *Model) sidePanel(w, h int) string {
	rows := make([]string, 0, h)
	users := m.chat.users
	title := "online"
	if users != nil {
		title = fmt.Sprintf("online (%d)", len(users))
	}
	rows = append(rows, m.st.sideTitle.Render(ansi.Truncate(" "+title, w, "…")))
	for i, u := range users {
		if len(rows) == h-1 && i < len(users)-1 {
			rows = append(rows, m.st.side.Render(ansi.Truncate(fmt.Sprintf(" +%d more", len(users)-i), w, "…")))
			break
		}
		style := m.st.side
		if u == m.chat.self {
			style = m.st.sideSelf
		}
		rows = append(rows, style.Render(ansi.Truncate(" "+u, w, "…")))
	}
	for len(rows) < h {
		rows = append(rows, "")
	}
	return lipgloss.NewStyle().Width(w).Render(strings.Join(rows[:h], "\n"))
}

// statusLine shows the connection state, room, user and server, then the last error.
// When it does not fit, the server goes first, then the user, and then it is cut.
func (m *Model) statusLine() string {
	c := m.chat
	state := c.state.String()
	switch c.state {
	case StateReconnecting:
		state = fmt.Sprintf("reconnecting in %ds", int((c.retryIn+time.Second-1)/time.Second))
	case StateDisconnected:
		state = "disconnected (Ctrl-C quits)"
	}
	room := "#(all)"
	if c.room != "" {
		room = "#" + c.room
	}
	msg := m.status
	if msg == "" && c.lastErr != nil && c.state != StateConnected {
		msg = clean(c.lastErr.Error())
	}
	var line string
	for _, who := range []string{c.self + "@" + c.server, c.self, ""} {
		parts := []string{state, room}
		if who != "" {
			parts = append(parts, who)
		}
		if msg != "" {
			parts = append(parts, msg)
		}
		line = " " + strings.Join(parts, " | ")
		if ansi.StringWidth(line) <= m.width {
			break
		}
	}
	line = ansi.Truncate(line, m.width, "…")
	if pad := m.width - ansi.StringWidth(line); pad > 0 {
		line += strings.Repeat(" ", pad)
	}
	if m.statusErr {
		return m.st.statusErr.Render(line)
	}
	return m.st.status.Render(line)
}
