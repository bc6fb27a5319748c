// Package server composes the gows hub: the WebSocket engine, the hub, the HTTP API and
// (with Redis configured) the cluster. New builds it from a Config; Run serves until the
// context is cancelled and then shuts down in order.
package server

import (
	"context"
	"errors"
	"log/slog"
)

// Deps are the server's collaborators that do not come from configuration.
type Deps struct {
	// Logger receives all logs; nil discards them.
	Logger *slog.Logger
	// Version is reported by /system/state.
	Version string
}

// Server is one gows node.
type Server struct {
	cfg  Config
	deps Deps
}

// New validates cfg and binds the listening sockets, so address errors surface here.
func New(cfg Config, deps Deps) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Server{cfg: cfg, deps: deps}, nil
}

// Run serves until ctx is cancelled, then drains and returns nil after a clean shutdown.
func (s *Server) Run(ctx context.Context) error {
	<-ctx.Done()
	return errors.New("not implemented yet")
}
