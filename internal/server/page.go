package server

import (
	"net/http"

	"github.com/gows-dev/gows/internal/protocol"
	"github.com/gows-dev/gows/internal/server/api"
	"github.com/gows-dev/gows/internal/server/web"
)

// pageHandler serves the chat page at / and /home/index with its assets under /static/;
// any other path is an unknown route (the API's JSON 404).
func (s *Server) pageHandler() http.Handler {
	return web.Handler(web.Config{
		PublicWSURL:      s.cfg.PublicWSURL,
		WSPort:           int(s.engine.Addr().Port()),
		WSPath:           s.cfg.WSPath,
		PresenceLimit:    s.cfg.PresenceLimit,
		HeartbeatTimeout: s.cfg.HeartbeatTimeout,
		Refuse: func(w http.ResponseWriter, status int, msg string) {
			api.WriteError(w, status, protocol.RoutingNotExist, msg)
		},
	})
}
