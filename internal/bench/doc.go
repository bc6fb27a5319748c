// Package bench is gows' load tester: it opens many WebSocket connections to one or more
// gows nodes, logs them in, holds them with heartbeats, optionally measures ping round
// trips and a broadcast's delivery, closes them, and reports what it achieved.
//
// # Design
//
// The client is event-driven like the server's engine: a few epoll loops (one per core
// by default) each dial their share of the connections, paced by a token bucket, and
// drive every connection through connect (non-blocking, EPOLLOUT), upgrade, login and
// hold. Sockets are registered edge-triggered once, for reading and writing, so a
// connection costs no epoll_ctl after its first. Each connection binds its source address
// with IP_BIND_ADDRESS_NO_PORT before connecting, so the kernel picks the port per
// destination and one address can hold about one port range of connections to every
// target. Heartbeats and timeouts are driven by a sweep every 100 ms: each sweep sends
// heartbeats to the 1/N of the connections whose number falls in the current slot, so
// there is no timer per connection.
//
// # Memory budget per held connection
//
// A connection is its descriptor in epoll plus a 16-byte slot in its loop's table,
// indexed by descriptor. There is no goroutine, no buffer and no map entry per idle
// connection: the one read buffer (64 KiB) is per loop, and the rare connection with a
// partial frame or unsent bytes has an entry in a per-loop map only while that lasts.
// The Sec-WebSocket-Key is derived from a per-worker seed and the connection number, so
// it is not stored. The kernel's socket and epoll memory are not part of the RSS that the
// report counts; they are part of the machine's MemAvailable, which is reported too.
//
// # Workers
//
// One process may hold at most RLIMIT_NOFILE descriptors. Past that, the Runner starts
// worker processes (Config.WorkerCommand, `gows bench worker` in the CLI), each with its
// own share of the connections and source addresses, and coordinates them over pipes:
// the task and commands go to a worker's stdin, its progress and result come back as
// JSON lines on its stdout (see RunWorker). With one worker the connections are held in
// the calling process and the same code runs without the pipes.
//
// # Ownership
//
// Everything a loop touches (slots, maps, histograms) is owned by its goroutine; the
// worker merges the loops' results after they return. Counters shown while the run goes
// on are atomics. The coordinator's state is owned by the goroutine that calls Run.
package bench
