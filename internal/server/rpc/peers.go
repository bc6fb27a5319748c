package rpc

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	gowsv1 "github.com/gows-dev/gows/proto/gows/v1"
)

// ErrNotFound is returned when the peer does not hold the user.
var ErrNotFound = errors.New("not connected to that node")

// ErrDuplicate is returned when the peer delivered the message id already.
var ErrDuplicate = errors.New("delivered by that node already")

// PeerError is a failed call to a peer node.
type PeerError struct {
	Node   string
	Method string
	Err    error
}

func (e *PeerError) Error() string { return fmt.Sprintf("%s on node %s: %v", e.Method, e.Node, e.Err) }

func (e *PeerError) Unwrap() error { return e.Err }

// Target names a peer node and its gRPC address.
type Target struct {
	ID   string
	Addr string
}

// PeersConfig configures Peers.
type PeersConfig struct {
	// Token is sent with every call ("" sends none).
	Token string
	// Timeout is each call's deadline, unless the caller's context has an earlier one.
	Timeout time.Duration
	// Logger receives one warning when a peer becomes unreachable and one note when it
	// answers again; nil discards them.
	Logger *slog.Logger
	// Observe, if set, is told the outcome of every call (for metrics). It must not block.
	Observe func(method string, err error, took time.Duration)
	// TLS, when set, secures the connections to peers (nil: plain gRPC).
	TLS *tls.Config
}

// Peers holds one client connection per peer node, created on first use or by Sync and
// reused by every call until Sync drops the peer or Close. It is safe for concurrent use.
type Peers struct {
	cfg PeersConfig
	log *slog.Logger

	mu     sync.Mutex // guards peers and closed
	peers  map[string]*peer
	closed bool
}

type peer struct {
	Target
	cc      *grpc.ClientConn
	client  gowsv1.NodeClient
	failing atomic.Bool // the last call failed for a transport reason
}

// NewPeers returns an empty set of peers.
func NewPeers(cfg PeersConfig) *Peers {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Peers{cfg: cfg, log: log, peers: make(map[string]*peer)}
}

// Sync makes the set of peers exactly targets: it keeps the connections of unchanged
// peers, opens none yet for new ones (that happens on first use) and closes those of
// peers that left or moved.
func (p *Peers) Sync(targets []Target) {
	want := make(map[string]string, len(targets))
	for _, t := range targets {
		want[t.ID] = t.Addr
	}
	var drop []*peer
	p.mu.Lock()
	for id, pr := range p.peers {
		if addr, ok := want[id]; !ok || addr != pr.Addr {
			drop = append(drop, pr)
			delete(p.peers, id)
		}
	}
	p.mu.Unlock()
	for _, pr := range drop {
		_ = pr.cc.Close() // the peer left; calls in flight on it fail, which their callers report
		p.log.Info("peer node dropped", "node_id", pr.ID, "grpc_addr", pr.Addr)
	}
}

// Close closes every connection. Calls after Close fail.
func (p *Peers) Close() error {
	p.mu.Lock()
	all := p.peers
	p.peers, p.closed = map[string]*peer{}, true
	p.mu.Unlock()
	var errs []error
	for _, pr := range all {
		errs = append(errs, pr.cc.Close())
	}
	return errors.Join(errs...)
}

// get returns the connection to t, creating it (without I/O) when there is none.
func (p *Peers) get(t Target) (*peer, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errors.New("peers closed")
	}
	if pr := p.peers[t.ID]; pr != nil && pr.Addr == t.Addr {
		return pr, nil
	}
	if t.Addr == "" {
		return nil, fmt.Errorf("node %s has no grpc address", t.ID)
	}
	cc, err := grpc.NewClient(t.Addr,
		grpc.WithTransportCredentials(p.creds()),
		grpc.WithUnaryInterceptor(p.sendToken),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
			MinConnectTimeout: p.cfg.Timeout,
		}))
	if err != nil {
		return nil, fmt.Errorf("connect to node %s at %s: %w", t.ID, t.Addr, err)
	}
	if old := p.peers[t.ID]; old != nil {
		_ = old.cc.Close() // the node moved to another address; the old one is useless
	}
	pr := &peer{Target: t, cc: cc, client: gowsv1.NewNodeClient(cc)}
	p.peers[t.ID] = pr
	return pr, nil
}

func (p *Peers) sendToken(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if p.cfg.Token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, tokenHeader, p.cfg.Token)
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}

// call runs one call to t with the deadline and maps its error.
func call[T any](ctx context.Context, p *Peers, t Target, method string, f func(context.Context, gowsv1.NodeClient) (T, error)) (T, error) {
	var zero T
	pr, err := p.get(t)
	if err != nil {
		return zero, &PeerError{Node: t.ID, Method: method, Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	start := time.Now()
	v, err := f(ctx, pr.client)
	if p.cfg.Observe != nil {
		p.cfg.Observe(method, err, time.Since(start))
	}
	code := status.Code(err)
	switch code {
	case codes.OK, codes.NotFound, codes.AlreadyExists, codes.InvalidArgument:
		if pr.failing.Swap(false) {
			p.log.Info("peer node reachable again", "node_id", t.ID, "grpc_addr", t.Addr)
		}
	case codes.Unauthenticated:
		if !pr.failing.Swap(true) {
			p.log.Warn("peer node refused this node's cluster token: cluster.token must be the same on every node",
				"node_id", t.ID, "grpc_addr", t.Addr, "method", method, "err", err)
		}
	default:
		if !pr.failing.Swap(true) {
			p.log.Warn("peer node unreachable", "node_id", t.ID, "grpc_addr", t.Addr, "method", method, "err", err)
		}
	}
	switch {
	case err == nil:
		return v, nil
	case code == codes.NotFound:
		return zero, &PeerError{Node: t.ID, Method: method, Err: ErrNotFound}
	case code == codes.AlreadyExists:
		return zero, &PeerError{Node: t.ID, Method: method, Err: ErrDuplicate}
	default:
		return zero, &PeerError{Node: t.ID, Method: method, Err: err}
	}
}

// Result is one peer's answer in a fan-out.
type Result[T any] struct {
	Node  string
	Value T
	Err   error
}

// fanOut calls every target in parallel and waits for all of them; each call has the
// deadline, so fanOut returns within it.
func fanOut[T any](ctx context.Context, p *Peers, targets []Target, method string, f func(context.Context, gowsv1.NodeClient) (T, error)) []Result[T] {
	out := make([]Result[T], len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() {
			v, err := call(ctx, p, t, method, f)
			out[i] = Result[T]{Node: t.ID, Value: v, Err: err}
		})
	}
	wg.Wait()
	return out
}

// SendUserOn pushes payload to app/user on every target, in parallel; the error of a
// target that does not hold the user wraps ErrNotFound, of one that delivered msgID
// already ErrDuplicate.
func (p *Peers) SendUserOn(ctx context.Context, targets []Target, app uint32, user, msgID string, payload []byte) []Result[int] {
	return delivered(fanOut(ctx, p, targets, "SendUser", sendUserCall(app, user, msgID, payload)))
}

func sendUserCall(app uint32, user, msgID string, payload []byte) func(context.Context, gowsv1.NodeClient) (*gowsv1.SendResponse, error) {
	return func(ctx context.Context, c gowsv1.NodeClient) (*gowsv1.SendResponse, error) {
		return c.SendUser(ctx, &gowsv1.SendUserRequest{AppId: app, UserId: user, MsgId: msgID, Payload: payload})
	}
}

// SendApp pushes payload to app's connections on every target, in parallel, leaving out
// those of the user except ("" for none).
func (p *Peers) SendApp(ctx context.Context, targets []Target, app uint32, except string, payload []byte) []Result[int] {
	return delivered(fanOut(ctx, p, targets, "SendApp", func(ctx context.Context, c gowsv1.NodeClient) (*gowsv1.SendResponse, error) {
		return c.SendApp(ctx, &gowsv1.SendAppRequest{AppId: app, Payload: payload, ExceptUser: except})
	}))
}

// SendRoom pushes payload to a room's members on every target, in parallel, leaving out
// those of the user except ("" for none).
func (p *Peers) SendRoom(ctx context.Context, targets []Target, app uint32, room, except string, payload []byte) []Result[int] {
	return delivered(fanOut(ctx, p, targets, "SendRoom", func(ctx context.Context, c gowsv1.NodeClient) (*gowsv1.SendResponse, error) {
		return c.SendRoom(ctx, &gowsv1.SendRoomRequest{AppId: app, Room: room, Payload: payload, ExceptUser: except})
	}))
}

func delivered(rs []Result[*gowsv1.SendResponse]) []Result[int] {
	out := make([]Result[int], len(rs))
	for i, r := range rs {
		out[i] = Result[int]{Node: r.Node, Value: int(r.Value.GetDelivered()), Err: r.Err}
	}
	return out
}

// Users lists app's (or a room's) users on every target, in parallel.
func (p *Peers) Users(ctx context.Context, targets []Target, app uint32, room string) []Result[[]string] {
	rs := fanOut(ctx, p, targets, "Users", func(ctx context.Context, c gowsv1.NodeClient) (*gowsv1.UsersResponse, error) {
		return c.Users(ctx, &gowsv1.UsersRequest{AppId: app, Room: room})
	})
	out := make([]Result[[]string], len(rs))
	for i, r := range rs {
		out[i] = Result[[]string]{Node: r.Node, Value: r.Value.GetUserIds(), Err: r.Err}
	}
	return out
}

// StateOn asks every target for its state, in parallel.
func (p *Peers) StateOn(ctx context.Context, targets []Target) []Result[*gowsv1.StateResponse] {
	return fanOut(ctx, p, targets, "State", stateCall)
}

func stateCall(ctx context.Context, c gowsv1.NodeClient) (*gowsv1.StateResponse, error) {
	return c.State(ctx, &gowsv1.StateRequest{})
}

// KickSession asks node t to close app/user's session that logged in at loginMs (the
// one presence dropped) and returns how many it closed: 1, or 0 when it is gone.
func (p *Peers) KickSession(ctx context.Context, t Target, app uint32, user string, loginMs int64, code uint32, reason string) (int, error) {
	r, err := call(ctx, p, t, "Kick", kickCall(&gowsv1.KickRequest{AppId: app, UserId: user, LoginBeforeMs: loginMs, LoginMs: loginMs, CloseCode: code, Reason: reason}))
	if err != nil {
		return 0, err
	}
	return int(r.GetKicked()), nil
}

// KickOn asks every target, in parallel, to close all of app/user's sessions there, and
// returns how many each closed.
func (p *Peers) KickOn(ctx context.Context, targets []Target, app uint32, user string, code uint32, reason string) []Result[int] {
	rs := fanOut(ctx, p, targets, "Kick", kickCall(&gowsv1.KickRequest{AppId: app, UserId: user, CloseCode: code, Reason: reason}))
	out := make([]Result[int], len(rs))
	for i, r := range rs {
		out[i] = Result[int]{Node: r.Node, Value: int(r.Value.GetKicked()), Err: r.Err}
	}
	return out
}

func kickCall(req *gowsv1.KickRequest) func(context.Context, gowsv1.NodeClient) (*gowsv1.KickResponse, error) {
	return func(ctx context.Context, c gowsv1.NodeClient) (*gowsv1.KickResponse, error) {
		return c.Kick(ctx, req)
	}
}

// creds are the transport credentials of the connections to peers.
func (p *Peers) creds() credentials.TransportCredentials {
	if p.cfg.TLS == nil {
		return insecure.NewCredentials()
	}
	return credentials.NewTLS(p.cfg.TLS)
}
