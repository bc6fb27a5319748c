package rpc_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gows-dev/gows/internal/protocol"
	"github.com/gows-dev/gows/internal/server/cluster"
	"github.com/gows-dev/gows/internal/server/hub"
	"github.com/gows-dev/gows/internal/server/rpc"
	"github.com/gows-dev/gows/internal/testutil"
	gowsv1 "github.com/gows-dev/gows/proto/gows/v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeConn records what the hub sends to a session. The hub is real; the WebSocket
// connection is the seam.
type fakeConn struct {
	mu     sync.Mutex // guards frames and closed
	frames [][]byte
	closed protocol.CloseCode
}

func (c *fakeConn) Send(frame []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.frames = append(c.frames, frame)
	return nil
}

func (c *fakeConn) Close(code protocol.CloseCode, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = code
}

func (c *fakeConn) state() (int, protocol.CloseCode) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.frames), c.closed
}

// node is a hub served by a real gRPC server on a loopback port.
type node struct {
	hub  *hub.Hub
	addr string
}

func startNode(t testing.TB, token string) *node {
	t.Helper()
	return startLoggedNode(t, token, nil)
}

// startLoggedNode is startNode with the service's logger.
func startLoggedNode(t testing.TB, token string, log *slog.Logger) *node {
	t.Helper()
	h := hub.New(1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := rpc.NewServer(token, rpc.Local{
		Hub:   h,
		State: func() *gowsv1.StateResponse { return &gowsv1.StateResponse{NodeId: "n1", Users: int64(h.Count())} },
		Kick: func(app uint32, user string, beforeMs, _ int64, code protocol.CloseCode, reason string) int {
			s := h.Lookup(app, user)
			if s == nil || (beforeMs != 0 && s.LoginMs() > beforeMs) {
				return 0
			}
			s.Conn().Close(code, reason)
			return 1
		},
		Logger:    log,
		Delivered: cluster.NewDedup(time.Minute),
	})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return &node{hub: h, addr: ln.Addr().String()}
}

func (n *node) login(app uint32, user string, loginMs int64) *fakeConn {
	c := &fakeConn{}
	n.hub.Login(hub.NewSession(c), app, user, loginMs)
	return c
}

func newPeers(t testing.TB, token string, timeout time.Duration) *rpc.Peers {
	p := rpc.NewPeers(rpc.PeersConfig{Token: token, Timeout: timeout})
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("close peers: %v", err)
		}
	})
	return p
}

// TestNode_SendUserDeliversAMessageIDOnce: a node remembers the message ids it
// delivered for other nodes, so a push retried after its answer was lost (a timeout)
// is not delivered twice; an id it could not deliver is not remembered.
func TestNode_SendUserDeliversAMessageIDOnce(t *testing.T) {
	n := startNode(t, "")
	target := rpc.Target{ID: "n1", Addr: n.addr}
	alice := n.login(1, "alice", 100)
	p := newPeers(t, "", 2*time.Second)
	ctx := t.Context()

	if got, err := p.SendUser(ctx, target, 1, "alice", "m1", []byte(`{"x":1}`)); err != nil || got != 1 {
		t.Fatalf("first send of m1 = %d, %v", got, err)
	}
	if _, err := p.SendUser(ctx, target, 1, "alice", "m1", []byte(`{"x":1}`)); !errors.Is(err, rpc.ErrDuplicate) {
		t.Fatalf("second send of m1: err = %v, want ErrDuplicate", err)
	}
	if frames, _ := alice.state(); frames != 1 {
		t.Fatalf("alice got %d frames, want 1", frames)
	}
	if _, err := p.SendUser(ctx, target, 2, "alice", "m1", []byte(`{}`)); !errors.Is(err, rpc.ErrNotFound) {
		t.Fatalf("m1 of another app: err = %v, want ErrNotFound (ids are per app)", err)
	}
	if _, err := p.SendUser(ctx, target, 1, "carol", "m2", []byte(`{}`)); !errors.Is(err, rpc.ErrNotFound) {
		t.Fatalf("m2 to an absent user: err = %v, want ErrNotFound", err)
	}
	n.login(1, "carol", 100)
	if got, err := p.SendUser(ctx, target, 1, "carol", "m2", []byte(`{}`)); err != nil || got != 1 {
		t.Fatalf("m2 once carol is here = %d, %v; want it delivered", got, err)
	}
	for range 2 { // no id: never taken for a repeat
		if got, err := p.SendUser(ctx, target, 1, "alice", "", []byte(`{}`)); err != nil || got != 1 {
			t.Fatalf("send without an id = %d, %v", got, err)
		}
	}
}

func TestNode_AdaptsTheHub(t *testing.T) {
	n := startNode(t, "")
	target := rpc.Target{ID: "n1", Addr: n.addr}
	alice := n.login(1, "alice", 100)
	bob := n.login(1, "bob", 100)
	n.hub.Join(n.hub.Lookup(1, "bob"), "r1")
	p := newPeers(t, "", 2*time.Second)
	ctx := t.Context()

	if got, err := p.SendUser(ctx, target, 1, "alice", "", []byte(`{"x":1}`)); err != nil || got != 1 {
		t.Fatalf("send to alice = %d, %v", got, err)
	}
	if _, err := p.SendUser(ctx, target, 1, "carol", "", []byte(`{}`)); !errors.Is(err, rpc.ErrNotFound) {
		t.Fatalf("send to an absent user: err = %v, want ErrNotFound", err)
	}
	if rs := p.SendApp(ctx, []rpc.Target{target}, 1, "", []byte(`{}`)); rs[0].Err != nil || rs[0].Value != 2 {
		t.Fatalf("send to app = %+v", rs)
	}
	if rs := p.SendRoom(ctx, []rpc.Target{target}, 1, "r1", "", []byte(`{}`)); rs[0].Err != nil || rs[0].Value != 1 {
		t.Fatalf("send to room = %+v", rs)
	}
	if rs := p.SendApp(ctx, []rpc.Target{target}, 1, "alice", []byte(`{}`)); rs[0].Err != nil || rs[0].Value != 1 {
		t.Fatalf("send to app except alice = %+v", rs)
	}
	if rs := p.SendRoom(ctx, []rpc.Target{target}, 1, "r1", "bob", []byte(`{}`)); rs[0].Err != nil || rs[0].Value != 0 {
		t.Fatalf("send to room except bob = %+v", rs)
	}
	if rs := p.Users(ctx, []rpc.Target{target}, 1, ""); rs[0].Err != nil || !slices.Equal(rs[0].Value, []string{"alice", "bob"}) {
		t.Fatalf("users = %+v", rs)
	}
	if rs := p.Users(ctx, []rpc.Target{target}, 1, "r1"); !slices.Equal(rs[0].Value, []string{"bob"}) {
		t.Fatalf("room users = %+v", rs)
	}
	if st, err := p.State(ctx, target); err != nil || st.GetUsers() != 2 {
		t.Fatalf("state = %v, %v", st, err)
	}
	if o, err := p.Online(ctx, target, 1, "alice"); err != nil || !o.GetOnline() || o.GetLoginMs() != 100 {
		t.Fatalf("online = %v, %v", o, err)
	}
	// alice: her message and the app's; bob: the app's, the room's and the app's but alice's.
	if frames, _ := alice.state(); frames != 2 {
		t.Fatalf("alice got %d frames, want 2", frames)
	}
	if frames, _ := bob.state(); frames != 3 {
		t.Fatalf("bob got %d frames, want 3", frames)
	}

	// A kick for a login at 50 must not close a session that logged in at 100.
	if k, err := p.Kick(ctx, target, 1, "alice", 50, uint32(protocol.CloseKickout), "elsewhere"); err != nil || k != 0 {
		t.Fatalf("kick of an older login = %d, %v", k, err)
	}
	if k, err := p.Kick(ctx, target, 1, "alice", 100, uint32(protocol.CloseKickout), "elsewhere"); err != nil || k != 1 {
		t.Fatalf("kick = %d, %v", k, err)
	}
	if _, code := alice.state(); code != protocol.CloseKickout {
		t.Fatalf("alice closed with %d, want 4001", code)
	}
	if _, err := p.Kick(ctx, target, 1, "alice", 0, 1000, ""); status.Code(errors.Unwrap(err)) != codes.InvalidArgument {
		t.Fatalf("kick with a non-application close code: %v", err)
	}
}

func TestNode_TokenIsChecked(t *testing.T) {
	var serverLog testutil.LogBuffer
	n := startLoggedNode(t, "s3cret", slog.New(slog.NewTextHandler(&serverLog, nil)))
	target := rpc.Target{ID: "n1", Addr: n.addr}
	cases := []struct {
		name  string
		token string
		ok    bool
	}{
		{"right token", "s3cret", true},
		{"wrong token", "s3cres", false},
		{"longer token", "s3cret-and-more", false},
		{"no token", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newPeers(t, tc.token, 2*time.Second).State(t.Context(), target)
			if tc.ok != (err == nil) {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if !tc.ok && status.Code(errors.Unwrap(err)) != codes.Unauthenticated {
				t.Fatalf("err = %v, want Unauthenticated", err)
			}
		})
	}

	// The refusing node says why, once for the burst (one line a minute at most), and
	// names the caller; the refused caller's log names the token, not "unreachable".
	lines := strings.Split(strings.TrimSpace(serverLog.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "level=WARN") ||
		!strings.Contains(lines[0], "missing or wrong cluster token") || !strings.Contains(lines[0], "from=127.0.0.1:") {
		t.Errorf("refusing node's log: %q, want one warning naming the cluster token and the caller", lines)
	}
	var callerLog testutil.LogBuffer
	p := rpc.NewPeers(rpc.PeersConfig{Token: "wrong", Timeout: 2 * time.Second, Logger: slog.New(slog.NewTextHandler(&callerLog, nil))})
	defer func() { _ = p.Close() }()
	if _, err := p.State(t.Context(), target); status.Code(errors.Unwrap(err)) != codes.Unauthenticated {
		t.Fatalf("err = %v, want Unauthenticated", err)
	}
	if got := callerLog.String(); !strings.Contains(got, "refused this node's cluster token") || strings.Contains(got, "unreachable") {
		t.Errorf("refused caller's log: %q, want a warning about the cluster token", got)
	}
}

// TestPeers_UnreachablePeerAnswersWithinTheDeadline: a fan-out to a good and a hung
// peer returns the good answer and the hung peer's error within the deadline, and a
// call to the good peer meanwhile is not held up.
func TestPeers_UnreachablePeerAnswersWithinTheDeadline(t *testing.T) {
	good := startNode(t, "")
	good.login(1, "alice", 1)
	hung := testutil.Blackhole(t)
	// Long enough that the quick call (at most half of it) has room on busy cores under
	// -race, and a loaded machine's second of slack stays well short of a hang.
	const timeout, slack = 2 * time.Second, time.Second
	p := newPeers(t, "", timeout)
	targets := []rpc.Target{{ID: "good", Addr: good.addr}, {ID: "hung", Addr: hung}, {ID: "refused", Addr: testutil.RefusedAddr(t)}}

	var wg sync.WaitGroup
	var quick time.Duration
	var quickErr error
	start := time.Now()
	wg.Go(func() {
		s := time.Now()
		_, quickErr = p.SendUser(context.Background(), targets[0], 1, "alice", "", []byte(`{}`))
		quick = time.Since(s)
	})
	rs := p.SendApp(t.Context(), targets, 1, "", []byte(`{}`))
	took := time.Since(start)
	wg.Wait()

	if took > timeout+slack {
		t.Fatalf("fan-out took %s, deadline %s", took, timeout)
	}
	if rs[0].Err != nil || rs[0].Value != 1 {
		t.Fatalf("good peer: %+v", rs[0])
	}
	// The connect attempt ends with the deadline: as DeadlineExceeded, or as Unavailable
	// when the connect timeout (the same length) fires first.
	if c := status.Code(errors.Unwrap(rs[1].Err)); c != codes.DeadlineExceeded && c != codes.Unavailable {
		t.Fatalf("hung peer: err = %v, want deadline exceeded or unavailable", rs[1].Err)
	}
	if rs[2].Err == nil {
		t.Fatal("refused peer answered")
	}
	if quickErr != nil || quick > timeout/2 {
		t.Fatalf("a call to the good peer during the fan-out took %s (%v)", quick, quickErr)
	}
}

func TestPeers_SyncDropsLeftPeers(t *testing.T) {
	n := startNode(t, "")
	n.login(1, "alice", 1)
	p := newPeers(t, "", time.Second)
	target := rpc.Target{ID: "n1", Addr: n.addr}
	p.Sync([]rpc.Target{target})
	if _, err := p.SendUser(t.Context(), target, 1, "alice", "", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	p.Sync(nil)
	// Without an address the dropped peer cannot be reached any more.
	if _, err := p.SendUser(t.Context(), rpc.Target{ID: "n1"}, 1, "alice", "", []byte(`{}`)); err == nil {
		t.Fatal("a dropped peer without an address was reached")
	}
	// With its address it is dialled again.
	if _, err := p.SendUser(t.Context(), target, 1, "alice", "", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
}
