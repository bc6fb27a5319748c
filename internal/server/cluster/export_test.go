package cluster

import "context"

// Test hooks for the external tests (package cluster_test), which import testutil and
// so cannot live inside package cluster.

// Heartbeat renews the lease once, as the heartbeat loop does.
func (r *Redis) Heartbeat(ctx context.Context) error { return r.heartbeat(ctx) }

// WriteLogins writes login records in one pipeline, as the writer does.
func (r *Redis) WriteLogins(ctx context.Context, users []User) {
	ops := make([]presenceOp, len(users))
	for i, u := range users {
		ops[i] = presenceOp{login: true, u: u}
	}
	r.stale.Store(false) // the first lease asks for a rewrite; these writes stand for it
	r.flush(ctx, ops)
}

// Config returns the broker's configuration.
func (r *Redis) Config() RedisConfig { return r.cfg }

// BatchOp is a login (Login true) or a logout for WriteBatch; Local is the node's own
// view (the login's first, the logout's last).
type BatchOp struct {
	Login bool
	U     User
	Local bool
}

// WriteBatch writes ops in one pipeline, in order, as the writer does.
func (r *Redis) WriteBatch(ctx context.Context, ops []BatchOp) {
	batch := make([]presenceOp, len(ops))
	for i, op := range ops {
		batch[i] = presenceOp{login: op.Login, u: op.U, local: op.Local}
	}
	r.stale.Store(false)
	r.flush(ctx, batch)
}

// NodeUsersKey is the key of the set of users node id recorded.
func (r *Redis) NodeUsersKey(id string) string { return r.k.nodeUsers(id) }

// Collect removes dead node id, as the collector does when a renewal reports it.
func (r *Redis) Collect(ctx context.Context, id string) error { return r.collect(ctx, id) }

// RemoveDead removes node id's users and registry entry, as the collector does once it
// has claimed a dead node.
func (r *Redis) RemoveDead(ctx context.Context, id string) error { return r.removeDead(ctx, id) }

// ResyncIfStale rewrites this node's presence if it must be, as the writer does when a
// renewal wakes it.
func (r *Redis) ResyncIfStale(ctx context.Context) {
	if r.stale.Load() {
		r.resync(ctx)
	}
}

// ClientName is the Redis client name of a node's connections.
func ClientName(nodeID string) string { return clientName(nodeID) }
