package tui

import (
	"strings"
	"time"
)

// kind says what an entry is, which decides where it is shown and how it is styled.
type kind int

const (
	kindText     kind = iota // a chat message
	kindPresence             // someone entered or left the app or a room
	kindNotice               // local information: connection state, room changes, user lists, help
	kindError                // a refused command or a server error; the full-screen UI shows it on the status line
)

// scope says where a chat message went.
type scope int

const (
	scopeApp       scope = iota // to everyone in the app
	scopeRoom                   // to a room (entry.room)
	scopeDirectIn               // to me only, from entry.from
	scopeDirectOut              // from me to entry.to only
)

// entry is one line of output: a message, a notice or an error, stamped with the time it
// was seen.
type entry struct {
	at    time.Time
	kind  kind
	scope scope
	room  string // the room of room messages and room presence; "" otherwise
	from  string // the sender ("" for a message from the server), or the user who entered or left
	to    string // the recipient of a direct message
	own   bool   // sent by this user
	left  bool   // presence: left rather than entered
	pane  bool   // an error the full-screen UI keeps in the pane too, not only on the status line
	text  string
}

// timeFormat is the timestamp at the start of every line.
const timeFormat = "15:04:05"

// String renders the entry in the stable plain format of line mode (see docs/chat.md):
//
//	[15:04:05] <bob> hi                  a message to the whole app
//	[15:04:05] [lobby] <bob> hi          a message to room lobby
//	[15:04:05] *bob* hi                  a direct message from bob
//	[15:04:05] -> *bob* hi               a direct message to bob
//	[15:04:05] (server) hi               a message with no sender: from the server (or its API)
//	[15:04:05] (server) -> *alice* hi    a direct message with no sender to alice (me)
//	[15:04:05] * bob entered             bob came online ([lobby] * bob entered: joined lobby)
//	[15:04:05] * bob left                bob went offline (or left the room)
//	[15:04:05] -- joined lobby           a notice
//	[15:04:05] !! bob is not online      an error
func (e entry) String() string {
	var b strings.Builder
	b.WriteString("[" + e.at.Format(timeFormat) + "] ")
	b.WriteString(e.body())
	return b.String()
}

// serverSender names the sender of messages that have none: pushes from the server's
// HTTP API (gows admin push or broadcast without --from). It cannot be mistaken for a
// user, whose messages show as <name>, *name* or -> *name*.
const serverSender = "(server)"

// sender renders who a message is from (and, when direct, to), as line mode shows it.
func (e entry) sender() string {
	switch {
	case e.scope == scopeDirectOut:
		return "-> *" + e.to + "*"
	case e.from == "" && e.scope == scopeDirectIn:
		return serverSender + " -> *" + e.to + "*"
	case e.from == "":
		return serverSender
	case e.scope == scopeDirectIn:
		return "*" + e.from + "*"
	}
	return "<" + e.from + ">"
}

// body is the entry without its timestamp.
func (e entry) body() string {
	var b strings.Builder
	if e.room != "" {
		b.WriteString("[" + e.room + "] ")
	}
	switch e.kind {
	case kindText:
		b.WriteString(e.sender() + " " + e.text)
	case kindPresence:
		b.WriteString("* " + e.from)
		if e.left {
			b.WriteString(" left")
		} else {
			b.WriteString(" entered")
		}
	case kindNotice:
		b.WriteString("-- " + e.text)
	case kindError:
		b.WriteString("!! " + e.text)
	}
	return b.String()
}
