// Package conn is gows' event-driven WebSocket engine. It owns the listening socket and
// every connection's lifetime: the upgrade handshake, framing (RFC 6455), the read limit,
// ping/pong, deadlines and the close handshake. Complete messages are handed to a Handler.
//
// # Design
//
// A few loop goroutines (GOMAXPROCS by default) each own an epoll instance and the
// connections assigned to it. A loop reads whatever is ready into its own read buffer,
// decodes the frames in place and calls the Handler. Nothing is parked per connection: an
// idle connection is its socket in epoll plus a Conn struct. There are no per-connection
// goroutines, buffers or timers; each loop sweeps its connections for expired deadlines.
//
// Writes may come from any goroutine. Send tries a non-blocking write first; only when the
// socket is full is the frame queued (up to Config.SendQueue frames) and EPOLLOUT armed, and
// the owning loop flushes the queue when the socket drains. A queue that would overflow
// marks the client as a slow consumer: it is closed with 1013 and counted. Frames are
// immutable byte slices, so one encoded broadcast frame is shared by every recipient.
//
// # Memory budget per idle connection
//
// A Conn is about 200 bytes; its entry in the fd table is 8 bytes; its slot in the loop's
// list is 8 bytes. The read-side buffers (partial frames, fragmented messages) and the
// write queue exist only while data is in flight, and are released as soon as it is gone.
// The kernel's socket buffers are not part of the process RSS.
//
// # Ownership and file descriptors
//
// Only the owning loop closes a connection's file descriptor, and it first marks the Conn
// closed (under Conn.mu) and clears its fd table slot, so a descriptor number reused by a
// new connection is never touched through a stale Conn. Other goroutines that must abort a
// connection call shutdown(2) under Conn.mu, which wakes the loop.
//
// Lock order: loop.mu is never held while taking Conn.mu, except in the sweeper, which takes
// Conn.mu inside loop.mu only through atomic reads (no Conn.mu at all).
package conn
