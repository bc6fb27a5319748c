// Package testutil starts real gows parts for tests: a server on free loopback ports,
// WebSocket clients (gorilla/websocket, an independent implementation), and polling
// helpers. It is imported only by tests.
package testutil

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/gows-dev/gows/internal/server"
)

// Server is a gows node running for one test.
type Server struct {
	*server.Server
	WSURL   string     // ws://127.0.0.1:port/acc
	HTTPURL string     // http://127.0.0.1:port
	Logs    *LogBuffer // the node's log, text, from level info
	cancel  context.CancelFunc
	done    chan error
}

// StartServer runs a node on free loopback ports with the default config changed by
// opts. The node is stopped (and its Run error checked) when the test ends.
func StartServer(t testing.TB, opts ...func(*server.Config)) *Server {
	t.Helper()
	cfg := server.Default()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.WSAddr = "127.0.0.1:0"
	cfg.GRPCAddr = "127.0.0.1:0"
	cfg.DrainTimeout = 5 * time.Second
	for _, o := range opts {
		o(&cfg)
	}
	logs := &LogBuffer{}
	s, err := server.New(cfg, server.Deps{Version: "test", Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &Server{
		Server:  s,
		WSURL:   fmt.Sprintf("ws://%s%s", s.WSAddr(), cfg.WSPath),
		HTTPURL: fmt.Sprintf("http://%s", s.HTTPAddr()),
		Logs:    logs,
		cancel:  cancel,
		done:    make(chan error, 1),
	}
	go func() { ts.done <- s.Run(ctx) }()
	t.Cleanup(func() {
		if err := ts.Stop(); err != nil {
			t.Errorf("server run: %v", err)
		}
	})
	return ts
}

// Stop shuts the node down and returns Run's error. Calling it twice is harmless.
func (s *Server) Stop() error {
	s.cancel()
	err, ok := <-s.done
	if !ok {
		return nil
	}
	close(s.done)
	return err
}

// Eventually polls fn every 10ms until it returns nil, failing the test with fn's last
// error after timeout.
func Eventually(t testing.TB, timeout time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %s: %v", timeout, err)
		}
		<-tick.C
	}
}

// ErrNotYet is a convenient error for Eventually conditions.
var ErrNotYet = errors.New("not yet")
