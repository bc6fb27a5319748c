// Package conformance holds gows' RFC 6455 conformance suite for the connection engine
// (internal/server/conn). It has no code of its own: the tests start the real engine with
// an echo Handler (the same behaviour as the server's opt-in /echo endpoint), speak to it
// over raw TCP with hand-built frames, and check each verdict: an exact echo, a close
// frame with a specific code, or a dropped socket. Cases are numbered after the Autobahn
// TestSuite sections they mirror: 1 framing, 2 ping/pong, 3 reserved bits, 4 opcodes,
// 5 fragmentation, 6 UTF-8, 7 close handling, 9 limits; section 0 covers the handshake.
//
// Run it with: go test -race ./internal/server/conn/conformance/
package conformance
