// Package tui is the terminal chat client behind `gows chat`.
//
// It has three layers:
//
//   - Client speaks the gows WebSocket protocol (internal/protocol) over
//     github.com/gorilla/websocket: it logs in, sends heartbeats, and reconnects with
//     backoff when the connection drops, reporting everything as Events on one channel.
//   - chat is the client-side logic shared by both front ends: it turns typed lines
//     ("/join lobby", "hello") into requests, and Events into entries to show (messages,
//     presence notices, connection notices, errors). It reaches the network only through
//     the Conn interface, so tests drive it with a fake.
//   - Model is the full-screen front end on Bubble Tea v2 (charm.land/bubbletea/v2):
//     message pane, who-is-online panel, status line, input line. Line mode (runLines) is
//     the plain one for scripts: lines in on stdin, one formatted entry per line out on
//     stdout.
//
// Run picks the front end and owns the goroutines: the Client's Run, the bubbletea
// program (or the line-mode loop) and, in line mode, the stdin reader. Events reach the
// bubbletea model through a command that waits on the Client's channel and is re-armed
// after each event, so the model sees them one at a time and in order.
package tui
