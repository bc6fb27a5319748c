package admin_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/gows-dev/gows/internal/admin"
	"github.com/gows-dev/gows/internal/protocol"
	"github.com/gows-dev/gows/internal/server"
	"github.com/gows-dev/gows/internal/server/api"
	"github.com/gows-dev/gows/internal/testcert"
	"github.com/gows-dev/gows/internal/testutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newClient returns a client for server, closed when the test ends.
func newClient(t *testing.T, cfg admin.Config) *admin.Client {
	t.Helper()
	c, err := admin.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() }) // releases idle connections only; cannot fail
	return c
}

func clientFor(t *testing.T, srv *testutil.Server) *admin.Client {
	t.Helper()
	cfg := admin.Default()
	cfg.Server = srv.HTTPURL
	return newClient(t, cfg)
}

func msgOf(t *testing.T, r protocol.Response) protocol.Message {
	t.Helper()
	return testutil.Data[protocol.Message](t, r)
}

// TestClient_EveryRouteAgainstARealServer drives every method against a real node with
// real WebSocket clients and checks both the typed result and what the clients received.
func TestClient_EveryRouteAgainstARealServer(t *testing.T) {
	started := time.Now()
	srv := testutil.StartServer(t)
	u1 := testutil.Dial(t, srv.WSURL, nil)
	u1.Login(101, "u1")
	u2 := testutil.Dial(t, srv.WSURL, nil)
	u2.Login(101, "u2")
	if r := u2.Call(protocol.CmdJoin, protocol.RoomData{Room: "lobby"}); r.Response.Code != protocol.OK {
		t.Fatalf("join: %+v", r)
	}
	c := clientFor(t, srv)
	ctx := t.Context()

	t.Run("state", func(t *testing.T) {
		st, err := c.State(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Users != 2 || st.Connections != 2 || st.NodeID != srv.NodeID() || st.Version != "test" {
			t.Errorf("state = %+v", st.State)
		}
		var raw api.State
		if err := json.Unmarshal(st.Raw(), &raw); err != nil || raw != st.State {
			t.Errorf("raw %s (%v) does not match %+v", st.Raw(), err, st.State)
		}
		// uptimeMs, as of the answer, wins over the time since startedAt.
		if up, want := st.Uptime(time.Now().Add(time.Hour)), time.Duration(st.UptimeMs)*time.Millisecond; st.UptimeMs <= 0 || up != want {
			t.Errorf("Uptime = %s with uptimeMs %d, want %s", up, st.UptimeMs, want)
		}
	})

	t.Run("a single node lists itself", func(t *testing.T) {
		nl, err := c.Nodes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if nl.Cluster() || nl.Mode != "single" || len(nl.Nodes) != 1 || nl.Nodes[0].NodeID != srv.NodeID() || nl.Nodes[0].Users != 2 || !nl.Nodes[0].Self {
			t.Fatalf("nodes = %+v", nl)
		}
		checkUptimeFromStart(t, nl.Nodes[0], started)
		var raw api.NodeList
		if err := json.Unmarshal(nl.Raw(), &raw); err != nil || len(raw.Nodes) != 1 || raw.Nodes[0].NodeID != srv.NodeID() {
			t.Errorf("raw %s (%v), want {\"mode\":\"single\",\"nodes\":[...]}", nl.Raw(), err)
		}
	})

	t.Run("users one page", func(t *testing.T) {
		p, err := c.Users(ctx, admin.UserQuery{AppID: 101, Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		if p.UserCount != 2 || !slices.Equal(p.UserList, []string{"u1"}) || p.NextCursor != "u1" {
			t.Errorf("page = %+v", p.UserPage)
		}
	})

	t.Run("users streamed page by page", func(t *testing.T) {
		var pages [][]string
		for p, err := range c.UserPages(ctx, admin.UserQuery{AppID: 101, Limit: 1}) {
			if err != nil {
				t.Fatal(err)
			}
			pages = append(pages, p.UserList)
		}
		if fmt.Sprint(pages) != "[[u1] [u2]]" {
			t.Errorf("pages = %v", pages)
		}
	})

	t.Run("room users", func(t *testing.T) {
		p, err := c.Users(ctx, admin.UserQuery{AppID: 101, Room: "lobby"})
		if err != nil || !slices.Equal(p.UserList, []string{"u2"}) {
			t.Errorf("room page = %+v, %v", p.UserPage, err)
		}
	})

	t.Run("online", func(t *testing.T) {
		p, err := c.Online(ctx, 101, "u1")
		if err != nil {
			t.Fatal(err)
		}
		if !p.Online || p.NodeID != srv.NodeID() || p.Addr == "" || time.Since(p.LoginTime()) > time.Minute {
			t.Errorf("presence = %+v", p.Presence)
		}
		p, err = c.Online(ctx, 101, "ghost")
		if err != nil || p.Online {
			t.Errorf("ghost: %+v, %v; want offline, no error", p.Presence, err)
		}
	})

	t.Run("push to a user, then the same msgId again", func(t *testing.T) {
		r, err := c.PushUser(ctx, "u1", admin.Message{AppID: 101, Text: "hello", MsgID: "m1", From: "ops"})
		if err != nil || r.MsgID != "m1" || r.Delivered != 1 || r.Duplicate {
			t.Fatalf("push = %+v, %v", r.PushResult, err)
		}
		if m := msgOf(t, u1.Push(protocol.CmdMsg)); m.Msg != "hello" || m.From != "ops" {
			t.Errorf("u1 got %+v", m)
		}
		r, err = c.PushUser(ctx, "u1", admin.Message{AppID: 101, Text: "hello", MsgID: "m1"})
		if err != nil || !r.Duplicate || r.Delivered != 0 {
			t.Errorf("repeat = %+v, %v; want a duplicate", r.PushResult, err)
		}
	})

	t.Run("push with a msgId of 128 two-byte characters", func(t *testing.T) {
		// The server counts characters, not bytes: 256 bytes is a valid id.
		id := strings.Repeat("é", 128)
		r, err := c.PushUser(ctx, "u1", admin.Message{AppID: 101, Text: "accented", MsgID: id})
		if err != nil || r.MsgID != id || r.Delivered != 1 {
			t.Fatalf("push = %+v, %v", r.PushResult, err)
		}
		if m := msgOf(t, u1.Push(protocol.CmdMsg)); m.Msg != "accented" {
			t.Errorf("u1 got %+v", m)
		}
	})

	t.Run("push to an offline user", func(t *testing.T) {
		_, err := c.PushUser(ctx, "ghost", admin.Message{AppID: 101, Text: "hello"})
		apiErr, ok := errors.AsType[*admin.APIError](err)
		if !ok || !errors.Is(err, admin.ErrNotOnline) || apiErr.Status != http.StatusNotFound ||
			apiErr.Code != protocol.NotData || apiErr.Msg != "user ghost is not online" {
			t.Errorf("err = %#v, want a 404/1005 APIError", err)
		}
	})

	t.Run("push to a room", func(t *testing.T) {
		r, err := c.PushRoom(ctx, "lobby", admin.Message{AppID: 101, Text: "hi room", From: "ops"})
		if err != nil || r.Delivered != 1 || r.MsgID == "" {
			t.Fatalf("room push = %+v, %v", r.PushResult, err)
		}
		if m := msgOf(t, u2.Push(protocol.CmdMsg)); m.Msg != "hi room" || m.Target != "lobby" || m.From != "ops" {
			t.Errorf("u2 got %+v", m)
		}
	})

	t.Run("broadcast", func(t *testing.T) {
		r, err := c.Broadcast(ctx, admin.Message{AppID: 101, Text: "maintenance"})
		if err != nil || r.Delivered != 2 {
			t.Fatalf("broadcast = %+v, %v", r.PushResult, err)
		}
		for _, u := range []*testutil.Client{u1, u2} {
			if m := msgOf(t, u.Push(protocol.CmdMsg)); m.Msg != "maintenance" {
				t.Errorf("got %+v", m)
			}
		}
	})

	t.Run("kick", func(t *testing.T) {
		r, err := c.Kick(ctx, 101, "u2", "bye")
		if err != nil || r.Kicked != 1 {
			t.Fatalf("kick = %+v, %v", r.KickResult, err)
		}
		if m := msgOf(t, u2.Push(protocol.CmdKickout)); m.Msg != "bye" {
			t.Errorf("kickout = %+v", m)
		}
		var ce *websocket.CloseError
		if err := u2.ReadClose(); !errors.As(err, &ce) || ce.Code != int(protocol.CloseAdminKick) {
			t.Errorf("close = %v, want 4007", err)
		}
		_, err = c.Kick(ctx, 101, "ghost", "")
		if !errors.Is(err, admin.ErrNotOnline) {
			t.Errorf("kick ghost: %v, want ErrNotOnline", err)
		}
	})
}

// TestClient_SendsTokenAndKeepsPathPrefix puts the real node behind a proxy that mounts
// it under /gows and requires the bearer token, as a deployment might. The node trusts
// the proxy, which forwards for a client on this machine.
func TestClient_SendsTokenAndKeepsPathPrefix(t *testing.T) {
	srv := testutil.StartServer(t, func(c *server.Config) { c.TrustedProxies = []string{"127.0.0.1/32", "::1/128"} })
	target, err := url.Parse(srv.HTTPURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.StripPrefix("/gows", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cret" {
			api.WriteError(w, http.StatusUnauthorized, protocol.Unauthorized, "admin token required")
			return
		}
		proxy.ServeHTTP(w, r)
	})))
	t.Cleanup(front.Close)

	tests := []struct {
		name  string
		token string
		code  protocol.Code // 0: success; else the *APIError's code
	}{
		{name: "right token", token: "s3cret"},
		{name: "no token", token: "", code: protocol.Unauthorized},
		{name: "wrong token", token: "guess", code: protocol.Unauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, admin.Config{Server: front.URL + "/gows/", Token: tt.token, Timeout: 5 * time.Second})
			st, err := c.State(t.Context())
			if tt.code == 0 {
				if err != nil || st.NodeID != srv.NodeID() {
					t.Errorf("state = %+v, %v", st.State, err)
				}
				return
			}
			if apiErr, ok := errors.AsType[*admin.APIError](err); !ok || apiErr.Code != tt.code || apiErr.Status != http.StatusUnauthorized {
				t.Errorf("err = %v, want code %d", err, tt.code)
			}
		})
	}
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(testutil.FreePort(t)))
}

func TestClient_UnreachableServerNamesTheAddress(t *testing.T) {
	notGows := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "<html>hello</html>")
	}))
	t.Cleanup(notGows.Close)
	tests := []struct {
		name   string
		server string
		want   string // in the error
	}{
		{"nothing listens", freeAddr(t), "connection refused"},
		{"no answer in time", testutil.Blackhole(t), "no answer within 300ms"},
		{"not a gows API", notGows.URL, "not from a gows API (HTTP 200, text/html)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, admin.Config{Server: tt.server, Timeout: 300 * time.Millisecond})
			_, err := c.State(t.Context())
			ue, ok := errors.AsType[*admin.UnreachableError](err)
			if !ok {
				t.Fatalf("err = %#v, want *admin.UnreachableError", err)
			}
			wantAddr := tt.server
			if !strings.HasPrefix(wantAddr, "http://") {
				wantAddr = "http://" + wantAddr
			}
			if ue.Addr != wantAddr || ue.Op != "GET /system/state" || !strings.Contains(err.Error(), tt.want) ||
				!strings.Contains(err.Error(), wantAddr) {
				t.Errorf("err = %v (addr %q), want the address %s and %q", err, ue.Addr, wantAddr, tt.want)
			}
		})
	}
}

// A node serving https with a certificate the system does not trust is reached with that
// certificate as CACert, and not without it.
func TestClient_TrustsTheCACertFile(t *testing.T) {
	certFile, keyFile := testcert.Files(t)
	srv := testutil.StartServer(t, func(c *server.Config) { c.TLSCert, c.TLSKey = certFile, keyFile })
	base := strings.Replace(srv.HTTPURL, "http://", "https://", 1)
	c := newClient(t, admin.Config{Server: base, CACert: certFile, Timeout: 10 * time.Second})
	if st, err := c.State(t.Context()); err != nil || st.NodeID == "" {
		t.Fatalf("state over https with the certificate trusted: %+v, %v", st, err)
	}
	plain := newClient(t, admin.Config{Server: base, Timeout: 10 * time.Second})
	if _, err := plain.State(t.Context()); !strings.Contains(fmt.Sprint(err), "certificate") {
		t.Fatalf("state over https without trusting the certificate: %v, want a certificate error", err)
	}
	for _, file := range []string{keyFile, filepath.Join(t.TempDir(), "missing.pem")} {
		if _, err := admin.New(admin.Config{Server: base, CACert: file}); !isInputError(err, "cacert") {
			t.Errorf("cacert %s: %v, want an InputError naming cacert", file, err)
		}
	}
}

func isInputError(err error, field string) bool {
	ie, ok := errors.AsType[*admin.InputError](err)
	return ok && ie.Field == field
}

func TestClient_BadInputIsRefusedBeforeSending(t *testing.T) {
	// Nothing listens here: a request that went out would be an UnreachableError.
	c := newClient(t, admin.Config{Server: freeAddr(t)})
	ctx := t.Context()
	tests := []struct {
		name  string
		call  func() error
		field string
	}{
		{"users without app", func() error { _, err := c.Users(ctx, admin.UserQuery{}); return err }, "appId"},
		{"users limit too big", func() error {
			_, err := c.Users(ctx, admin.UserQuery{AppID: 1, Limit: api.MaxPageLimit + 1})
			return err
		}, "limit"},
		{"users bad room", func() error { _, err := c.Users(ctx, admin.UserQuery{AppID: 1, Room: "a\nb"}); return err }, "room"},
		{"online without user", func() error { _, err := c.Online(ctx, 1, ""); return err }, "userId"},
		{"push without text", func() error { _, err := c.PushUser(ctx, "u1", admin.Message{AppID: 1}); return err }, "message"},
		{"push without user", func() error { _, err := c.PushUser(ctx, "", admin.Message{AppID: 1, Text: "x"}); return err }, "userId"},
		{"push long msgId", func() error {
			_, err := c.Broadcast(ctx, admin.Message{AppID: 1, Text: "x", MsgID: strings.Repeat("m", 129)})
			return err
		}, "msgId"},
		{"push long multi-byte msgId", func() error {
			_, err := c.Broadcast(ctx, admin.Message{AppID: 1, Text: "x", MsgID: strings.Repeat("é", 129)})
			return err
		}, "msgId"},
		{"push long type", func() error {
			_, err := c.PushUser(ctx, "u1", admin.Message{AppID: 1, Text: "x", Type: strings.Repeat("t", protocol.MaxTypeLen+1)})
			return err
		}, "type"},
		{"push type with a control character", func() error {
			_, err := c.PushRoom(ctx, "lobby", admin.Message{AppID: 1, Text: "x", Type: "a\nb"})
			return err
		}, "type"},
		{"room push bad room", func() error { _, err := c.PushRoom(ctx, "", admin.Message{AppID: 1, Text: "x"}); return err }, "room"},
		{"kick long reason", func() error {
			_, err := c.Kick(ctx, 1, "u1", strings.Repeat("r", api.MaxKickReasonBytes+1))
			return err
		}, "reason"},
		{"bad server URL", func() error { _, err := admin.New(admin.Config{Server: "ftp://x"}); return err }, "server"},
		{"empty server", func() error { _, err := admin.New(admin.Config{}); return err }, "server"},
		{"negative timeout", func() error { _, err := admin.New(admin.Config{Server: "x:1", Timeout: -1}); return err }, "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if ie, ok := errors.AsType[*admin.InputError](err); !ok || ie.Field != tt.field {
				t.Errorf("err = %#v, want an InputError for %s", err, tt.field)
			}
		})
	}
}

// TestClient_ClusterReachesUsersOnOtherNodes: through node B's API the operator finds,
// pushes to and kicks a user connected to node A, and lists both nodes.
func TestClient_ClusterReachesUsersOnOtherNodes(t *testing.T) {
	r := testutil.StartRedis(t)
	started := time.Now()
	join := func(id string) func(*server.Config) {
		return func(c *server.Config) { c.NodeID = id; c.Cluster.Redis = r.URL() }
	}
	a, b := testutil.StartServer(t, join("node-a")), testutil.StartServer(t, join("node-b"))
	u := testutil.Dial(t, a.WSURL, nil)
	u.Login(101, "u1")
	c := clientFor(t, b)
	ctx := t.Context()
	testutil.Eventually(t, 10*time.Second, func() error {
		p, err := c.Online(ctx, 101, "u1")
		if err != nil {
			return err
		}
		if !p.Online || p.NodeID != "node-a" {
			return fmt.Errorf("online through node-b: %+v", p.Presence)
		}
		return nil
	})
	res, err := c.PushUser(ctx, "u1", admin.Message{AppID: 101, Text: "from node b"})
	if err != nil || res.Delivered != 1 {
		t.Fatalf("push through node-b: %+v %v", res, err)
	}
	if m := msgOf(t, u.Push(protocol.CmdMsg)); m.Msg != "from node b" {
		t.Fatalf("u1 on node-a got %+v", m)
	}
	nl, err := c.Nodes(ctx)
	if err != nil || !nl.Cluster() || len(nl.Nodes) != 2 {
		t.Fatalf("nodes: %+v %v", nl, err)
	}
	for _, n := range nl.Nodes {
		checkUptimeFromStart(t, n, started)
	}
	k, err := c.Kick(ctx, 101, "u1", "maintenance")
	if err != nil || k.Kicked != 1 {
		t.Fatalf("kick through node-b: %+v %v", k, err)
	}
	var ce *websocket.CloseError
	if err := u.ReadClose(); !errors.As(err, &ce) || ce.Code != int(protocol.CloseAdminKick) {
		t.Fatalf("u1 closed with %v, want 4007", err)
	}
}

// checkUptimeFromStart checks the uptime of a node that /system/nodes listed, which
// sends startedAt and no uptimeMs: it is the time since startedAt, so at most a second
// (startedAt is rounded down to one) longer than the time since started, taken before
// the node started.
func checkUptimeFromStart(t *testing.T, n admin.Node, started time.Time) {
	t.Helper()
	at, err := time.Parse(time.RFC3339, n.StartedAt)
	if err != nil || n.UptimeMs != 0 {
		t.Fatalf("node %s: startedAt %q (%v), uptimeMs %d; want a start time and no uptimeMs", n.NodeID, n.StartedAt, err, n.UptimeMs)
	}
	if got := n.Uptime(at.Add(90 * time.Minute)); got != 90*time.Minute {
		t.Errorf("node %s: Uptime 90 minutes after startedAt = %s", n.NodeID, got)
	}
	before := time.Since(started)
	if got := n.Uptime(time.Now()); got <= 0 || got > before+time.Second {
		t.Errorf("node %s: Uptime now = %s, want (0, %s]", n.NodeID, got, before+time.Second)
	}
}

func TestNode_UptimeIsUptimeMsElseTheTimeSinceStartedAt(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		node admin.Node
		want time.Duration
	}{
		{"uptimeMs wins", admin.Node{UptimeMs: 1500, StartedAt: "2026-11-28T11:00:00Z"}, 1500 * time.Millisecond},
		{"since startedAt", admin.Node{StartedAt: "2026-11-28T09:30:00Z"}, 150 * time.Minute},
		{"since startedAt with fraction and offset", admin.Node{StartedAt: "2026-11-28T12:59:59.5+01:00"}, 500 * time.Millisecond},
		{"neither", admin.Node{}, 0},
		{"malformed startedAt", admin.Node{StartedAt: "yesterday"}, 0},
		{"startedAt after now (clock skew)", admin.Node{StartedAt: "2026-11-28T12:00:05Z"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.node.Uptime(now); got != tt.want {
				t.Errorf("Uptime = %s, want %s", got, tt.want)
			}
		})
	}
}
