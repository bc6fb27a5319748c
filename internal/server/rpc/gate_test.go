package rpc

import (
	"context"
	"log/slog"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// streamWithContext is a server stream that has only a context: the Node service has no
// streaming method to call for real, and the gate reads nothing else.
type streamWithContext struct {
	grpc.ServerStream
	ctx context.Context
}

func (s streamWithContext) Context() context.Context { return s.ctx }

// A streaming call is held to the cluster token like a unary one.
func TestTokenGate_GuardsStreams(t *testing.T) {
	g := newTokenGate("s3cret", slog.New(slog.DiscardHandler))
	info := &grpc.StreamServerInfo{FullMethod: "/gows.v1.Node/Watch"}
	for _, tc := range []struct {
		name  string
		token string
		ok    bool
	}{{"right token", "s3cret", true}, {"wrong token", "s3cres", false}, {"no token", "", false}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			if tc.token != "" {
				ctx = metadata.NewIncomingContext(ctx, metadata.Pairs(tokenHeader, tc.token))
			}
			called := false
			err := g.stream(nil, streamWithContext{ctx: ctx}, info, func(any, grpc.ServerStream) error { called = true; return nil })
			if called != tc.ok || (tc.ok != (err == nil)) || (!tc.ok && status.Code(err) != codes.Unauthenticated) {
				t.Fatalf("handler called %v, err %v; want called %v and Unauthenticated when refused", called, err, tc.ok)
			}
		})
	}
}
