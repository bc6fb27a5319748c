package tui

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/textinput"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
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

// styles are the model's lipgloss styles, bound to one renderer so that tests can turn
// colours off without touching global state.
type styles struct {
	time, own, other, server, room, direct, presence, notice, errText lipgloss.Style
	status, statusErr, side, sideTitle, sideSelf, sep                 lipgloss.Style
}

func newStyles(r *lipgloss.Renderer) styles {
	return styles{
		time:      r.NewStyle().Faint(true),
		own:       r.NewStyle().Foreground(lipgloss.Color("10")).Bold(true),
		other:     r.NewStyle().Foreground(lipgloss.Color("14")),
		server:    r.NewStyle().Foreground(lipgloss.Color("12")).Bold(true),
		room:      r.NewStyle().Foreground(lipgloss.Color("11")),
		direct:    r.NewStyle().Foreground(lipgloss.Color("13")).Bold(true),
		presence:  r.NewStyle().Faint(true),
		notice:    r.NewStyle().Faint(true).Italic(true),
		errText:   r.NewStyle().Foreground(lipgloss.Color("9")),
		status:    r.NewStyle().Reverse(true),
		statusErr: r.NewStyle().Reverse(true).Foreground(lipgloss.Color("9")),
		side:      r.NewStyle(),
		sideTitle: r.NewStyle().Bold(true).Underline(true),
		sideSelf:  r.NewStyle().Foreground(lipgloss.Color("10")).Bold(true),
		sep:       r.NewStyle().Faint(true),
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
}

// NewModel returns the model for a session with cfg over conn. r renders the styles: pass
// lipgloss.NewRenderer(out) for the terminal the program draws on.
func NewModel(conn Conn, cfg Config, r *lipgloss.Renderer) *Model {
	in := textinput.New()
	in.Prompt = "> "
	in.Placeholder = "type a message or /help"
	in.PromptStyle = r.NewStyle().Bold(true)
	in.TextStyle = r.NewStyle()
	in.PlaceholderStyle = r.NewStyle().Faint(true)
	in.Cursor.Style = r.NewStyle()
	in.Cursor.TextStyle = r.NewStyle()
	in.Cursor.SetMode(cursor.CursorStatic) // a blinking cursor would redraw the screen twice a second
	in.Focus()
	return &Model{
		chat:   newChat(conn, cfg),
		events: conn.Events(),
		st:     newStyles(r),
		vp:     viewport.New(0, 0),
		input:  in,
	}
}

// Init starts waiting for connection events.
func (m *Model) Init() tea.Cmd { return waitEvent(m.events) }

// Update handles a key, a resize or a connection event.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
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
	case tea.KeyMsg:
		return m.key(msg)
	}
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(msg)
	return m, cmd
}

func (m *Model) key(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	switch k.Type {
	case tea.KeyCtrlC:
		return m, tea.Quit
	case tea.KeyPgUp:
		m.vp.PageUp()
		return m, nil
	case tea.KeyPgDown:
		m.vp.PageDown()
		return m, nil
	case tea.KeyEnter:
		return m.submit()
	case tea.KeyRunes:
		if len(k.Runes) > 1 {
			// Several characters in one message are text that came in one read (typed
			// fast, over a slow link, or by a script), never a key. textinput matches its
			// bindings on the message's String(), which for runes is the text itself, so
			// a word like "down", "left", "home" or "delete" would move the cursor or
			// delete instead of being typed. As a paste, String() is "[down]", which
			// matches no binding, and the runes are inserted.
			k.Paste = true
		}
	}
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(k)
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

// render styles e and wraps it to the pane's width.
func (m *Model) render(e entry) string {
	return ansi.Wrap(m.styled(e), max(m.vp.Width, 1), "")
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
	m.vp.Width = paneW
	m.vp.Height = max(m.height-chromeHeight, 1)
	m.input.Width = max(m.width-len(m.input.Prompt)-1, 1)
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

// styled renders an entry with colours; with colours off it equals entry.String.
func (m *Model) styled(e entry) string {
	st := m.st
	var b strings.Builder
	b.WriteString(st.time.Render(e.at.Format(timeFormat)) + " ")
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

// View draws the screen: pane and side panel, status line, input line.
func (m *Model) View() string {
	if m.width <= 0 || m.height <= 0 {
		return ""
	}
	var b strings.Builder
	if m.height > chromeHeight {
		pane := m.vp.View()
		if _, side := m.paneWidth(); side > 0 {
			sep := strings.TrimSuffix(strings.Repeat(m.st.sep.Render("│")+"\n", m.vp.Height), "\n")
			pane = lipgloss.JoinHorizontal(lipgloss.Top, pane, sep, m.sidePanel(side, m.vp.Height))
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
