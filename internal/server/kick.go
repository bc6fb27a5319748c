package server

import (
	"context"
	"fmt"

	"github.com/gows-dev/gows/internal/protocol"
	"github.com/gows-dev/gows/internal/server/api"
)

// Kick closes app/user's connection on this node for /user/kick.
func (b backend) Kick(ctx context.Context, app uint32, user, reason string) (int, error) {
	return b.s.kickUser(ctx, app, user, reason)
}

// kickUser sends app/user's session a kickout push carrying reason and closes it with
// 4007 (closed by an operator). It returns the number of connections closed: the hub
// keeps one session per user on a node, so 1, or api.ErrNotOnline. The session leaves
// the hub when its close completes, as for any other close.
func (s *Server) kickUser(ctx context.Context, app uint32, user, reason string) (int, error) {
	if !s.appAllowed(app) {
		return 0, &api.ParamError{Field: "appId", Msg: fmt.Sprintf("app %d is not allowed on this server", app)}
	}
	sess := s.hub.Lookup(app, user)
	if sess == nil {
		return s.kickRemote(ctx, app, user, reason) // on the node presence names, if any
	}
	if reason == "" {
		reason = protocol.CloseAdminKick.Text()
	}
	s.kick(sess, protocol.CloseAdminKick, reason)
	s.log.Info("user kicked by operator", "app_id", app, "user_id", user, "reason", reason)
	return 1, nil
}
