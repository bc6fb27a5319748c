package server

import (
	"net/http"

	"github.com/gows-dev/gows/internal/protocol"
	"github.com/gows-dev/gows/internal/server/api"
)

// pageHandler serves the chat page at / and /home/index; any other path is an unknown
// route (JSON 404).
func (s *Server) pageHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		api.WriteError(w, http.StatusNotFound, protocol.RoutingNotExist, "no route "+r.URL.Path)
	})
}
