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

// kickUser sends each of app/user's connections, here and on the other nodes presence
// names, a kickout push carrying reason and closes it with 4007 (closed by an
// operator). It returns the number of connections closed, or api.ErrNotOnline. The
// sessions leave the hub when their close completes, as for any other close.
func (s *Server) kickUser(ctx context.Context, app uint32, user, reason string) (int, error) {
	if !s.appAllowed(app) {
		return 0, &api.ParamError{Field: "appId", Msg: fmt.Sprintf("app %d is not allowed on this server", app)}
	}
	if reason == "" {
		reason = protocol.CloseAdminKick.Text()
	}
	n := s.kickLocal(app, user, 0, 0, protocol.CloseAdminKick, reason)
	if !s.allHere(n) {
		remote, err := s.kickRemote(ctx, app, user, reason)
		if err != nil && n == 0 {
			return 0, err
		}
		n += remote
	}
	if n == 0 {
		return 0, fmt.Errorf("kick %s: %w", user, api.ErrNotOnline)
	}
	s.log.Info("user kicked by operator", "app_id", app, "user_id", user, "reason", reason, "kicked", n)
	return n, nil
}
