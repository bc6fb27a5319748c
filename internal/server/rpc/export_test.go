package rpc

import (
	"context"

	gowsv1 "github.com/gows-dev/gows/proto/gows/v1"
)

// Single-node calls for the tests: the node asks its peers through the fan-out calls
// (SendUserOn, StateOn, KickOn, KickSession); the tests ask one node and check each
// method of the service on its own.

// SendUser pushes payload to app/user on node t and returns the connections reached.
// The error wraps ErrNotFound when t does not hold the user, ErrDuplicate when t
// delivered msgID already.
func (p *Peers) SendUser(ctx context.Context, t Target, app uint32, user, msgID string, payload []byte) (int, error) {
	r, err := call(ctx, p, t, "SendUser", sendUserCall(app, user, msgID, payload))
	return int(r.GetDelivered()), err
}

// State asks node t for its state.
func (p *Peers) State(ctx context.Context, t Target) (*gowsv1.StateResponse, error) {
	return call(ctx, p, t, "State", stateCall)
}

// Online asks node t whether app/user is connected there.
func (p *Peers) Online(ctx context.Context, t Target, app uint32, user string) (*gowsv1.OnlineResponse, error) {
	return call(ctx, p, t, "Online", func(ctx context.Context, c gowsv1.NodeClient) (*gowsv1.OnlineResponse, error) {
		return c.Online(ctx, &gowsv1.OnlineRequest{AppId: app, UserId: user})
	})
}

// Kick asks node t to close app/user's sessions that logged in at or before beforeMs
// (0: every session) and returns how many it closed.
func (p *Peers) Kick(ctx context.Context, t Target, app uint32, user string, beforeMs int64, code uint32, reason string) (int, error) {
	r, err := call(ctx, p, t, "Kick", kickCall(&gowsv1.KickRequest{AppId: app, UserId: user, LoginBeforeMs: beforeMs, CloseCode: code, Reason: reason}))
	return int(r.GetKicked()), err
}
