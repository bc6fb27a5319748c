// Package cluster is what gows nodes share: the registry of live nodes, the presence of
// online users (appId+userId -> node), and message-id deduplication. Broker is the
// interface the server uses; Redis implements it for a cluster and Memory for the
// embedded single node, so the server has one code path for both.
//
// # Liveness is tracked per node, not per user
//
// A node renews a lease in the registry every NodeTTL/3. Presence entries carry no TTL
// of their own: an entry counts only while the node it names holds a lease. So a login
// costs one queued write, a heartbeat of a user costs nothing, and a dead node's users
// stop resolving as soon as its lease runs out (at most NodeTTL after its last renewal).
// The first node whose renewal sees an expired lease removes that node's entries from
// the user lists, so they are gone within 2 x NodeTTL. A node that comes back with the
// same id before that keeps its new entries: the cleanup is skipped when the lease is
// current again, and a cleanup already under way flags the node to rewrite them.
//
// # Writes are batched
//
// Login and Logout never wait for Redis: they queue an operation for one writer
// goroutine, which sends everything queued so far as one pipeline (up to batchMax
// operations). Under 10,000 logins per second the queue fills while a round trip is in
// flight, so the pipelines grow and the round trips stay few. When Redis cannot be
// written, or the queue overflows, the node marks its presence as stale and rewrites
// all of it (its own users, from the hub) once Redis answers again.
//
// # Redis key layout
//
// P is RedisConfig.Prefix ("gows"). Keys read together share a hash tag ({...}), so
// each script and each pipeline of one user list runs in one Redis Cluster slot.
//
//	P:{nodes}:live        ZSET  node id -> lease expiry (unix ms, Redis clock)
//	P:{nodes}:info        HASH  node id -> Node as JSON (addresses, counts, draining)
//	P:{nodes}:gc:ID       STRING lock held by the node cleaning up dead node ID
//	P:{nodes}:rewrite:ID  STRING set when a cleanup of ID found it live again (a
//	                            restart with the same id): ID's next renewal
//	                            clears it and rewrites ID's presence
//	P:{aAPP}:users        HASH  user id -> "node|loginMs|clientAddr"
//	P:{aAPP}:index        ZSET  user id, score 0: the sorted, paged user list and count
//	P:{nID}:users         SET   "app:user" of every user node ID recorded, for cleanup
//	                            and for its own resync
//	P:dedup:APP:MSGID     STRING with a TTL of the dedup window
//
// docs/cluster.md has the measured memory per online user.
//
// # Locking
//
// Redis.mu guards the cached view of the registry; Redis.healthMu guards the outage
// state. Neither is held across I/O and no code takes both.
package cluster
