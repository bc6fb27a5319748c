// Package rpc is the gRPC node service between gows nodes (proto/gows/v1). NewServer
// serves it as a thin adapter over the node's hub; Peers is the client side, with one
// long-lived connection per peer node, reused by every call.
//
// Every call carries the cluster token when one is configured, checked on the server
// in constant time, and has a deadline. A peer that cannot be reached answers an error
// within that deadline and holds up nothing else: fan-outs call peers in parallel.
package rpc

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net/netip"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	grpcpeer "google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/gows-dev/gows/internal/lograte"
	"github.com/gows-dev/gows/internal/protocol"
	"github.com/gows-dev/gows/internal/server/conn"
	"github.com/gows-dev/gows/internal/server/hub"
	gowsv1 "github.com/gows-dev/gows/proto/gows/v1"
)

// tokenHeader is the metadata key that carries the cluster token.
const tokenHeader = "x-gows-cluster-token"

// Local is what the service needs of its node.
type Local struct {
	// Hub is the node's registry of local sessions.
	Hub *hub.Hub
	// State describes the node.
	State func() *gowsv1.StateResponse
	// Kick closes app/user's sessions here that logged in at or before beforeMs (0:
	// any), or only the one that logged in at loginMs when that is not 0, and returns
	// how many it closed.
	Kick func(app uint32, user string, beforeMs, loginMs int64, code protocol.CloseCode, reason string) int
	// Logger receives a warning when calls are refused for a missing or wrong cluster
	// token (at most one a minute); nil discards it.
	Logger *slog.Logger
	// Delivered remembers the message ids SendUser delivered here, so that a push
	// retried after a timeout is not delivered twice; nil remembers none.
	Delivered Deduper
}

// Deduper remembers message ids of an app for a while (cluster.Dedup).
type Deduper interface {
	// First records app/id and reports whether it is new.
	First(app uint32, id string) bool
	// Forget drops app/id.
	Forget(app uint32, id string)
}

// NewServer returns a gRPC server with the Node service for l registered. When token is
// not "", every call must carry it. The caller serves and stops the server.
func NewServer(token string, l Local, opts ...grpc.ServerOption) *grpc.Server {
	if token != "" {
		log := l.Logger
		if log == nil {
			log = slog.New(slog.DiscardHandler)
		}
		g := newTokenGate(token, log)
		opts = append(opts, grpc.ChainUnaryInterceptor(g.unary), grpc.ChainStreamInterceptor(g.stream))
	}
	s := grpc.NewServer(opts...)
	gowsv1.RegisterNodeServer(s, &service{l: l})
	return s
}

// tokenGate refuses calls without the token. Both sides are hashed first, so the
// comparison takes the same time whatever the lengths. Refusals are logged: the first at
// once, then at most one line a minute with the count since the last line.
type tokenGate struct {
	want    [sha256.Size]byte
	log     *slog.Logger
	refused lograte.Limiter
}

func newTokenGate(token string, log *slog.Logger) *tokenGate {
	g := &tokenGate{want: sha256.Sum256([]byte(token)), log: log}
	g.refused.Every = time.Minute
	return g
}

func (g *tokenGate) check(ctx context.Context, method string) error {
	md, _ := metadata.FromIncomingContext(ctx) // no metadata: got stays empty
	got := md.Get(tokenHeader)
	ok := 0
	if len(got) == 1 {
		h := sha256.Sum256([]byte(got[0]))
		ok = subtle.ConstantTimeCompare(h[:], g.want[:])
	}
	if ok == 1 {
		return nil
	}
	if n, ok := g.refused.Note(); ok {
		from := ""
		if p, ok := grpcpeer.FromContext(ctx); ok && p.Addr != nil {
			from = p.Addr.String()
		}
		g.log.Warn("refused a call from another node: missing or wrong cluster token; cluster.token must be the same on every node",
			"from", from, "method", method, "token_sent", len(got) == 1, "refused", n)
	}
	return status.Error(codes.Unauthenticated, "missing or wrong cluster token")
}

func (g *tokenGate) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := g.check(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

// stream guards streaming calls too: the service has none today, but one added later is
// covered without anyone remembering to.
func (g *tokenGate) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := g.check(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return handler(srv, ss)
}

type service struct {
	gowsv1.UnimplementedNodeServer
	l Local
}

func (s *service) SendUser(ctx context.Context, r *gowsv1.SendUserRequest) (*gowsv1.SendResponse, error) {
	if r.GetAppId() == 0 || r.GetUserId() == "" || len(r.GetPayload()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "app_id, user_id and payload are required")
	}
	app, id := r.GetAppId(), r.GetMsgId()
	remember := id != "" && s.l.Delivered != nil
	if remember && !s.l.Delivered.First(app, id) {
		return nil, status.Errorf(codes.AlreadyExists, "message %s was delivered here already", id)
	}
	n := s.l.Hub.SendUser(app, r.GetUserId(), conn.TextFrame(r.GetPayload()))
	if n == 0 {
		if remember {
			s.l.Delivered.Forget(app, id)
		}
		return nil, status.Errorf(codes.NotFound, "user %s is not on this node", r.GetUserId())
	}
	return &gowsv1.SendResponse{Delivered: int64(n)}, nil
}

func (s *service) SendApp(ctx context.Context, r *gowsv1.SendAppRequest) (*gowsv1.SendResponse, error) {
	if r.GetAppId() == 0 || len(r.GetPayload()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "app_id and payload are required")
	}
	n := s.l.Hub.SendApp(r.GetAppId(), conn.TextFrame(r.GetPayload()), r.GetExceptUser())
	return &gowsv1.SendResponse{Delivered: int64(n)}, nil
}

func (s *service) SendRoom(ctx context.Context, r *gowsv1.SendRoomRequest) (*gowsv1.SendResponse, error) {
	if r.GetAppId() == 0 || r.GetRoom() == "" || len(r.GetPayload()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "app_id, room and payload are required")
	}
	n := s.l.Hub.SendRoom(r.GetAppId(), r.GetRoom(), conn.TextFrame(r.GetPayload()), r.GetExceptUser())
	return &gowsv1.SendResponse{Delivered: int64(n)}, nil
}

func (s *service) Online(ctx context.Context, r *gowsv1.OnlineRequest) (*gowsv1.OnlineResponse, error) {
	sess := s.l.Hub.Lookup(r.GetAppId(), r.GetUserId())
	if sess == nil {
		return &gowsv1.OnlineResponse{}, nil
	}
	out := &gowsv1.OnlineResponse{Online: true, LoginMs: sess.LoginMs()}
	if c, ok := sess.Conn().(interface{ RemoteAddr() netip.AddrPort }); ok {
		out.Addr = conn.AddrString(c.RemoteAddr())
	}
	return out, nil
}

func (s *service) Users(ctx context.Context, r *gowsv1.UsersRequest) (*gowsv1.UsersResponse, error) {
	if r.GetAppId() == 0 {
		return nil, status.Error(codes.InvalidArgument, "app_id is required")
	}
	if r.GetRoom() != "" {
		return &gowsv1.UsersResponse{UserIds: s.l.Hub.RoomUsers(r.GetAppId(), r.GetRoom())}, nil
	}
	return &gowsv1.UsersResponse{UserIds: s.l.Hub.Users(r.GetAppId())}, nil
}

func (s *service) State(ctx context.Context, r *gowsv1.StateRequest) (*gowsv1.StateResponse, error) {
	return s.l.State(), nil
}

func (s *service) Kick(ctx context.Context, r *gowsv1.KickRequest) (*gowsv1.KickResponse, error) {
	code := protocol.CloseCode(r.GetCloseCode())
	if r.GetAppId() == 0 || r.GetUserId() == "" || code < 4000 || code > 4999 {
		return nil, status.Error(codes.InvalidArgument, "app_id, user_id and an application close_code (4000-4999) are required")
	}
	n := s.l.Kick(r.GetAppId(), r.GetUserId(), r.GetLoginBeforeMs(), r.GetLoginMs(), code, r.GetReason())
	return &gowsv1.KickResponse{Kicked: int64(n)}, nil
}
