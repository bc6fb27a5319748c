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
