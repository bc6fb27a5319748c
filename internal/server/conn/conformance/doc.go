// Package conformance holds gows' RFC 6455 conformance suite for the connection engine
// (internal/server/conn) and the server built on it. It has no code of its own: every case
// runs against the engine with an echo Handler (which also shows how the engine recorded
// each close) and against the real server (gows serve with its default configuration and
// --echo-path /echo), speaking raw TCP with hand-built frames, and checks each verdict: an
// exact echo, a close frame with a specific code, or a dropped socket. Cases are numbered
// after the Autobahn TestSuite sections they mirror: 1 framing, 2 ping/pong, 3 reserved
// bits, 4 opcodes, 5 fragmentation, 6 UTF-8, 7 close handling, 9 limits; section 0 covers
// the handshake.
//
// Run it with: go test -race ./internal/server/conn/conformance/
//
// To check a running deployment too (plain ws://, started with --echo-path /echo and the
// default 64 KiB message limit): GOWS_CONFORMANCE_ADDR=host:port go test ./internal/server/conn/conformance/
package conformance
