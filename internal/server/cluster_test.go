package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gows-dev/gows/internal/protocol"
	"github.com/gows-dev/gows/internal/server"
	"github.com/gows-dev/gows/internal/server/api"
	"github.com/gows-dev/gows/internal/server/cluster"
	"github.com/gows-dev/gows/internal/server/rpc"
	"github.com/gows-dev/gows/internal/testutil"
)

// go-redis logs every failed dial on its process-wide logger; the tests kill Redis on
// purpose, and the broker reports outages itself.
func init() { cluster.SetRedisLogger(slog.New(slog.DiscardHandler)) }

// Test cluster timings: short enough that faults resolve in a few seconds, long enough
// that a call on two busy cores under -race does not miss them. A Redis call that misses
// its deadline counts as an outage (cluster-wide operations then fail at once), so a
// tight Redis timeout fails tests that never meant to test one. The Redis timeout must
// stay under a third of the TTL (ClusterConfig.Validate).
const (
	testNodeTTL      = 3300 * time.Millisecond
	testRedisTimeout = time.Second
	testRPCTimeout   = 2 * time.Second
	// testSlack is what a loaded machine may add to a call that should take about a
	// deadline: enough for scheduling and GC, well short of a second deadline or a hang.
	testSlack = time.Second
)

// keyPrefix gives each test its own Redis keys.
func keyPrefix(t *testing.T) string {
	return "t-" + strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
}

// inCluster configures a node of a test cluster: one Redis URL, or Redis Cluster seeds.
func inCluster(t *testing.T, id string, redisURL string, addrs ...string) func(*server.Config) {
	prefix := keyPrefix(t)
	return func(c *server.Config) {
		c.NodeID = id
		c.Cluster.Redis = redisURL
		c.Cluster.RedisAddrs = addrs
		c.Cluster.RedisPrefix = prefix
		c.Cluster.NodeTTL = testNodeTTL
		c.Cluster.RedisTimeout = testRedisTimeout
		c.Cluster.RPCTimeout = testRPCTimeout
	}
}

// startCluster runs n nodes (n1, n2, ...) on one Redis and waits until each routes to
// all of them.
func startCluster(t *testing.T, n int, redisURL string, addrs ...string) []*testutil.Server {
	t.Helper()
	var nodes []*testutil.Server
	for i := range n {
		nodes = append(nodes, testutil.StartServer(t, inCluster(t, fmt.Sprintf("n%d", i+1), redisURL, addrs...)))
	}
	waitClusterSize(t, n, nodes...)
	return nodes
}

func waitClusterSize(t *testing.T, n int, nodes ...*testutil.Server) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, func() error {
		for _, s := range nodes {
			if st := getState(t, s); st.Cluster.Nodes != n {
				return fmt.Errorf("%s routes to %d nodes, want %d", st.NodeID, st.Cluster.Nodes, n)
			}
		}
		return nil
	})
}

// metric returns the value of an unlabelled metric of node s.
func metric(t *testing.T, s *testutil.Server, name string) string {
	t.Helper()
	for line := range strings.SplitSeq(httpGet(t, s.HTTPURL+"/metrics"), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}

// noNoticeBefore pushes a marker to user (client c) through node s, reads up to it, and
// fails when a notice read on the way matches bad: what a node sent before the marker
// was sent, it sent first.
func noNoticeBefore(t *testing.T, s *testutil.Server, c *testutil.Client, user string, bad func(cmd string, m protocol.Message) bool) {
	t.Helper()
	pushForm(t, s, "/user/sendMessage", sendTo(user, "marker"), http.StatusOK)
	if m := testutil.Data[protocol.Message](t, c.Push(protocol.CmdMsg)); m.Msg != "marker" {
		t.Fatalf("%s got %+v", user, m)
	}
	for _, p := range c.Pending() {
		if m := testutil.Data[protocol.Message](t, p); bad(p.Cmd, m) {
			t.Fatalf("%s got %s %+v", user, p.Cmd, m)
		}
	}
}

// limitedCluster starts two cluster nodes with presence_limit limit.
func limitedCluster(t *testing.T, redisURL string, limit int) []*testutil.Server {
	t.Helper()
	var ns []*testutil.Server
	for i := range 2 {
		cfg := inCluster(t, fmt.Sprintf("n%d", i+1), redisURL)
		ns = append(ns, testutil.StartServer(t, func(c *server.Config) { cfg(c); c.PresenceLimit = limit }))
	}
	waitClusterSize(t, 2, ns...)
	return ns
}

// inRoomTogether logs watcher in on node a and user on node b (which may be a), joins both
// to room, and reads the watcher's enter notices of user, for the app and for the room.
func inRoomTogether(t *testing.T, a, b *testutil.Server, watcher, user, room string) (*testutil.Client, *testutil.Client) {
	t.Helper()
	w := login(t, a, 101, watcher)
	u := login(t, b, 101, user)
	wantNotice(t, w, protocol.CmdEnter, user, "")
	joinAll(t, room, w, u)
	wantNotice(t, w, protocol.CmdEnter, user, room)
	return w, u
}

// joinAll joins every client to room.
func joinAll(t *testing.T, room string, cs ...*testutil.Client) {
	t.Helper()
	for _, c := range cs {
		if r := c.Call(protocol.CmdJoin, protocol.RoomData{Room: room}); r.Response.Code != protocol.OK {
			t.Fatalf("join %s: %+v", room, r)
		}
	}
}

// wantNotice reads c's next presence notice of cmd (enter or exit) and checks whom and
// which room ("": the app) it is about.
func wantNotice(t *testing.T, c *testutil.Client, cmd, from, target string) {
	t.Helper()
	if m := testutil.Data[protocol.Message](t, c.Push(cmd)); m.From != from || m.Target != target {
		t.Fatalf("got %s %+v, want %s of %q in %q", cmd, m, cmd, from, target)
	}
}

// loginOnN1 logs user in on ns[0] and waits until ns[1] sees it online there (presence
// writes are batched).
func loginOnN1(t *testing.T, ns []*testutil.Server, user string) *testutil.Client {
	t.Helper()
	c := login(t, ns[0], 101, user)
	waitOnline(t, ns[1], user, "n1")
	return c
}

func login(t *testing.T, s *testutil.Server, app uint32, user string) *testutil.Client {
	t.Helper()
	c := testutil.Dial(t, s.WSURL, nil)
	c.Login(app, user)
	return c
}

// online asks node s where app/user is.
func online(t *testing.T, s *testutil.Server, user string) (int, api.Presence) {
	t.Helper()
	code, a := getJSON(t, s.HTTPURL+"/user/online?appId=101&userId="+url.QueryEscape(user))
	var p api.Presence
	if code == http.StatusOK {
		if err := json.Unmarshal(a.Data, &p); err != nil {
			t.Fatal(err)
		}
	}
	return code, p
}

// waitOnline waits until node s sees user on node want ("" for offline).
func waitOnline(t *testing.T, s *testutil.Server, user, want string) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, func() error {
		code, p := online(t, s, user)
		if code != http.StatusOK {
			return fmt.Errorf("online %s: HTTP %d", user, code)
		}
		if p.NodeID != want || p.Online != (want != "") {
			return fmt.Errorf("%s is on %q (online %v), want %q", user, p.NodeID, p.Online, want)
		}
		return nil
	})
}

func userList(t *testing.T, s *testutil.Server, path string) (int, api.UserPage) {
	t.Helper()
	code, a := getJSON(t, s.HTTPURL+path)
	var p api.UserPage
	if code == http.StatusOK {
		if err := json.Unmarshal(a.Data, &p); err != nil {
			t.Fatal(err)
		}
	}
	return code, p
}

func pushResult(t *testing.T, a answer) api.PushResult {
	t.Helper()
	var r api.PushResult
	if err := json.Unmarshal(a.Data, &r); err != nil {
		t.Fatalf("push data %s: %v", a.Data, err)
	}
	return r
}

func sendTo(user, msg string) url.Values {
	return url.Values{"appId": {"101"}, "userId": {user}, "message": {msg}}
}

func TestCluster_MessageCrossesNodes(t *testing.T) {
	r := testutil.StartRedis(t)
	ns := startCluster(t, 3, r.URL())
	alice, bob, carol := login(t, ns[0], 101, "alice"), login(t, ns[1], 101, "bob"), login(t, ns[2], 101, "carol")
	waitOnline(t, ns[0], "bob", "n2")
	waitOnline(t, ns[0], "carol", "n3")
	waitOnline(t, ns[2], "alice", "n1")

	// HTTP push on n3 to a user on n1.
	_, a := pushForm(t, ns[2], "/user/sendMessage", sendTo("alice", "via n3"), http.StatusOK)
	if res := pushResult(t, a); res.Delivered != 1 {
		t.Fatalf("push via n3: %+v", res)
	}
	if m := testutil.Data[protocol.Message](t, alice.Push(protocol.CmdMsg)); m.Msg != "via n3" || m.To != "alice" {
		t.Fatalf("alice got %+v", m)
	}
	// WebSocket send from n1 to a user on n2.
	if r := alice.Call(protocol.CmdSend, protocol.SendData{To: "bob", Msg: "hi bob"}); r.Response.Code != protocol.OK {
		t.Fatalf("send to bob: %+v", r)
	}
	if m := testutil.Data[protocol.Message](t, bob.Push(protocol.CmdMsg)); m.Msg != "hi bob" || m.From != "alice" {
		t.Fatalf("bob got %+v", m)
	}
	// Cluster-wide lists and counts, from HTTP and from the WebSocket users command.
	if code, p := userList(t, ns[1], "/user/list?appId=101"); code != 200 || p.UserCount != 3 || !slices.Equal(p.UserList, []string{"alice", "bob", "carol"}) {
		t.Fatalf("user list on n2: %d %+v", code, p)
	}
	if code, p := userList(t, ns[1], "/user/list?appId=101&limit=2"); code != 200 || p.NextCursor != "bob" || len(p.UserList) != 2 {
		t.Fatalf("first page on n2: %d %+v", code, p)
	}
	if r := carol.Call(protocol.CmdUsers, nil); testutil.Data[protocol.UsersResult](t, r).UserCount != 3 {
		t.Fatalf("users command on n3: %s", r.Response.Data)
	}
	if r := alice.Call(protocol.CmdSend, protocol.SendData{To: "nobody", Msg: "x"}); r.Response.Code != protocol.NotData {
		t.Fatalf("send to an offline user: %+v", r)
	}
	// Broadcast from n1 reaches all three nodes; delivered sums their counts.
	_, a = pushForm(t, ns[0], "/user/sendMessageAll", url.Values{"appId": {"101"}, "message": {"to all"}}, http.StatusOK)
	if res := pushResult(t, a); res.Delivered != 3 || res.NodesFailed != 0 {
		t.Fatalf("broadcast: %+v", res)
	}
	for _, c := range []*testutil.Client{alice, bob, carol} {
		if m := testutil.Data[protocol.Message](t, c.Push(protocol.CmdMsg)); m.Msg != "to all" {
			t.Fatalf("broadcast got %+v", m)
		}
	}
	// Rooms: members on n1 and n3, pushed and listed from n2.
	for _, c := range []*testutil.Client{alice, carol} {
		if r := c.Call(protocol.CmdJoin, protocol.RoomData{Room: "lobby"}); r.Response.Code != protocol.OK {
			t.Fatalf("join: %+v", r)
		}
	}
	_, a = pushForm(t, ns[1], "/room/sendMessage", url.Values{"appId": {"101"}, "room": {"lobby"}, "message": {"room msg"}}, http.StatusOK)
	if res := pushResult(t, a); res.Delivered != 2 {
		t.Fatalf("room push: %+v", res)
	}
	for _, c := range []*testutil.Client{alice, carol} {
		if m := testutil.Data[protocol.Message](t, c.Push(protocol.CmdMsg)); m.Msg != "room msg" || m.Target != "lobby" {
			t.Fatalf("room push got %+v", m)
		}
	}
	if code, p := userList(t, ns[1], "/room/users?appId=101&room=lobby"); code != 200 || !slices.Equal(p.UserList, []string{"alice", "carol"}) {
		t.Fatalf("room users on n2: %d %+v", code, p)
	}
	// /system/nodes lists the three nodes with their counts.
	code, a := getJSON(t, ns[0].HTTPURL+"/system/nodes")
	var nodes struct{ Nodes []api.NodeState }
	if err := json.Unmarshal(a.Data, &nodes); code != 200 || err != nil {
		t.Fatalf("nodes: %d %s %v", code, a.Data, err)
	}
	if len(nodes.Nodes) != 3 || nodes.Nodes[0].NodeID != "n1" || !nodes.Nodes[0].Self || nodes.Nodes[0].Users != 1 ||
		nodes.Nodes[2].GRPCAddr != ns[2].GRPCAddr() || nodes.Nodes[1].RSSBytes == 0 || nodes.Nodes[1].HTTPAddr != ns[1].HTTPAddr().String() {
		t.Fatalf("nodes = %+v", nodes.Nodes)
	}
}

// TestCluster_SingleNodeListsItself: without Redis, /system/nodes answers this node.
func TestCluster_SingleNodeListsItself(t *testing.T) {
	s := testutil.StartServer(t, func(c *server.Config) { c.NodeID = "solo" })
	login(t, s, 101, "u1")
	code, a := getJSON(t, s.HTTPURL+"/system/nodes")
	var nodes struct{ Nodes []api.NodeState }
	if err := json.Unmarshal(a.Data, &nodes); code != 200 || err != nil {
		t.Fatalf("nodes: %d %s %v", code, a.Data, err)
	}
	if len(nodes.Nodes) != 1 || nodes.Nodes[0].NodeID != "solo" || nodes.Nodes[0].Users != 1 || !nodes.Nodes[0].Self ||
		"http://"+nodes.Nodes[0].HTTPAddr != s.HTTPURL {
		t.Fatalf("nodes = %+v, want solo with 1 user at %s", nodes.Nodes, s.HTTPURL)
	}
	if st := getState(t, s); st.Cluster.Mode != "single" || st.Cluster.Nodes != 1 || st.Cluster.RedisUp != nil {
		t.Fatalf("cluster state = %+v", st.Cluster)
	}
}

func TestCluster_KickoutAcrossNodes(t *testing.T) {
	r := testutil.StartRedis(t)
	ns := startCluster(t, 2, r.URL())
	older := loginOnN1(t, ns, "alice")
	newer := login(t, ns[1], 101, "alice")

	if p := older.Push(protocol.CmdKickout); p.Response.Code != protocol.OK {
		t.Fatalf("kickout push %+v", p)
	}
	var ce *websocket.CloseError
	if err := older.ReadClose(); !errors.As(err, &ce) || ce.Code != int(protocol.CloseKickout) {
		t.Fatalf("older connection closed with %v, want %d", err, protocol.CloseKickout)
	}
	waitOnline(t, ns[0], "alice", "n2")
	pushForm(t, ns[0], "/user/sendMessage", sendTo("alice", "to the newer"), http.StatusOK)
	if m := testutil.Data[protocol.Message](t, newer.Push(protocol.CmdMsg)); m.Msg != "to the newer" {
		t.Fatalf("newer got %+v", m)
	}
	// An operator's kick on n1 reaches the session on n2.
	_, a := pushForm(t, ns[0], "/user/kick", url.Values{"appId": {"101"}, "userId": {"alice"}, "reason": {"bye"}}, http.StatusOK)
	var kr api.KickResult
	if err := json.Unmarshal(a.Data, &kr); err != nil || kr.Kicked != 1 {
		t.Fatalf("kick across nodes: %s", a.Data)
	}
	if err := newer.ReadClose(); !errors.As(err, &ce) || ce.Code != int(protocol.CloseAdminKick) {
		t.Fatalf("newer connection closed with %v, want %d", err, protocol.CloseAdminKick)
	}
	waitOnline(t, ns[0], "alice", "")
	pushForm(t, ns[1], "/user/kick", url.Values{"appId": {"101"}, "userId": {"alice"}}, http.StatusNotFound)
}

// A login on another node that replaces a session is no exit: the user stays online. The
// replaced session's rooms are left, and their members told so.
func TestCluster_TakeoverIsNoExit(t *testing.T) {
	r := testutil.StartRedis(t)
	ns := startCluster(t, 2, r.URL())
	watcher, older := inRoomTogether(t, ns[0], ns[0], "watcher", "dup", "lobby")
	waitOnline(t, ns[1], "dup", "n1")
	login(t, ns[1], 101, "dup")
	var ce *websocket.CloseError
	if err := older.ReadClose(); !errors.As(err, &ce) || ce.Code != int(protocol.CloseKickout) {
		t.Fatalf("older connection closed with %v, want %d", err, protocol.CloseKickout)
	}
	wantNotice(t, watcher, protocol.CmdExit, "dup", "lobby")
	testutil.Eventually(t, 10*time.Second, func() error {
		if st := getState(t, ns[0]); st.Users != 1 {
			return fmt.Errorf("n1 has %d users, want the watcher alone", st.Users)
		}
		return nil
	})
	// The replaced session is logged out on n1; a push sent after that arrives after any
	// notice its logout sent. Dup is online on n2: no app exit.
	noNoticeBefore(t, ns[0], watcher, "watcher", func(cmd string, m protocol.Message) bool {
		return cmd == protocol.CmdExit && m.Target == ""
	})
}

// TestCluster_RedisDownAndBack: with Redis killed, local pushes and logins work and
// cluster-wide operations answer 503 at once; when Redis is back (empty, same port),
// every node re-registers and rewrites its users without any client reconnecting.
func TestCluster_RedisDownAndBack(t *testing.T) {
	r := testutil.StartRedis(t)
	ns := startCluster(t, 2, r.URL())
	alice := login(t, ns[0], 101, "alice")
	bob := login(t, ns[1], 101, "bob")
	waitOnline(t, ns[0], "bob", "n2")

	r.Kill()
	// The first failing call costs at most the Redis timeout; the rest fail at once.
	for i := range 3 {
		limit := testRedisTimeout + testSlack
		if i > 0 {
			limit = testRedisTimeout // less than a wait for Redis
		}
		start := time.Now()
		_, a := pushForm(t, ns[0], "/user/sendMessage", sendTo("bob", "lost"), http.StatusServiceUnavailable)
		if took := time.Since(start); took > limit || a.Code != protocol.OperationFailure {
			t.Fatalf("push %d to a remote user with redis down: code %d after %s", i, a.Code, took)
		}
		if n := strings.Count(a.Msg, "unavailable"); n != 1 {
			t.Fatalf("push %d: message %q says unavailable %d times, want once", i, a.Msg, n)
		}
	}
	if code, _ := userList(t, ns[1], "/user/list?appId=101"); code != http.StatusServiceUnavailable {
		t.Fatalf("user list with redis down: HTTP %d, want 503", code)
	}
	pushForm(t, ns[0], "/user/sendMessage", sendTo("alice", "local"), http.StatusOK)
	if m := testutil.Data[protocol.Message](t, alice.Push(protocol.CmdMsg)); m.Msg != "local" {
		t.Fatalf("alice got %+v", m)
	}
	dave := login(t, ns[0], 101, "dave") // a login needs no Redis
	testutil.Eventually(t, 5*time.Second, func() error {
		if v := metric(t, ns[1], "gows_cluster_redis_up"); v != "0" {
			return fmt.Errorf("n2 gows_cluster_redis_up = %q", v)
		}
		return nil
	})
	if st := getState(t, ns[0]); st.Cluster.RedisUp == nil || *st.Cluster.RedisUp {
		t.Fatalf("state during the outage: %+v", st.Cluster)
	}

	r.Restart()
	testutil.Eventually(t, 10*time.Second, func() error {
		code, p := userList(t, ns[1], "/user/list?appId=101")
		if code != http.StatusOK || !slices.Equal(p.UserList, []string{"alice", "bob", "dave"}) {
			return fmt.Errorf("user list after redis returned: %d %+v", code, p)
		}
		return nil
	})
	pushForm(t, ns[0], "/user/sendMessage", sendTo("bob", "back"), http.StatusOK)
	if m := testutil.Data[protocol.Message](t, bob.Push(protocol.CmdMsg)); m.Msg != "back" {
		t.Fatalf("bob got %+v", m)
	}
	pushForm(t, ns[1], "/user/sendMessage", sendTo("dave", "back"), http.StatusOK)
	if m := testutil.Data[protocol.Message](t, dave.Push(protocol.CmdMsg)); m.Msg != "back" {
		t.Fatalf("dave got %+v", m)
	}
	if v := metric(t, ns[1], "gows_cluster_redis_outages_total"); v != "1" {
		t.Fatalf("n2 gows_cluster_redis_outages_total = %q", v)
	}
}

// TestCluster_PausedRedisDoesNotHang: a SIGSTOPped Redis accepts connections and never
// answers; logins and requests still answer within the Redis timeout.
func TestCluster_PausedRedisDoesNotHang(t *testing.T) {
	r := testutil.StartRedis(t)
	ns := startCluster(t, 2, r.URL())
	login(t, ns[1], 101, "bob")
	waitOnline(t, ns[0], "bob", "n2")

	r.Pause()
	t.Cleanup(r.Resume) // before the kill in StartRedis's cleanup (cleanups run last first)
	start := time.Now()
	_, a := pushForm(t, ns[0], "/user/sendMessage", sendTo("bob", "x"), http.StatusServiceUnavailable)
	if took := time.Since(start); took > testRedisTimeout+testSlack {
		t.Fatalf("push with redis paused took %s (code %d)", took, a.Code)
	}
	start = time.Now()
	c := login(t, ns[0], 101, "erin")
	if took := time.Since(start); took >= testRedisTimeout { // it waited for Redis
		t.Fatalf("login with redis paused took %s", took)
	}
	if r := c.Call(protocol.CmdUsers, nil); r.Response.Code != protocol.OperationFailure {
		t.Fatalf("users command with redis paused: %+v", r)
	}
	start = time.Now()
	if code, _ := getJSON(t, ns[1].HTTPURL+"/system/nodes"); code != http.StatusServiceUnavailable {
		t.Fatalf("nodes with redis paused: HTTP %d", code)
	}
	if took := time.Since(start); took > testRedisTimeout+testSlack {
		t.Fatalf("nodes with redis paused took %s", took)
	}
	r.Resume()
	waitOnline(t, ns[1], "erin", "n1")
}

// TestCluster_UnreachablePeerAnswersWithinTheDeadline: a registered node whose gRPC
// port never answers costs a push the RPC deadline, and nothing else waits for it.
func TestCluster_UnreachablePeerAnswersWithinTheDeadline(t *testing.T) {
	r := testutil.StartRedis(t)
	ns := startCluster(t, 2, r.URL())
	bob := login(t, ns[1], 101, "bob")

	// A third node, "hung", registers with a gRPC address that never answers and
	// records one user; it is a real broker, just without a server behind it.
	hole := testutil.Blackhole(t)
	ghost := cluster.User{App: 101, ID: "ghost", Node: "hung", LoginMs: 1}
	hung, err := cluster.NewRedis(cluster.RedisConfig{NodeID: "hung", URL: r.URL(), Prefix: keyPrefix(t),
		Timeout: testRedisTimeout, NodeTTL: 30 * time.Second, DedupWindow: time.Minute},
		cluster.Hooks{
			Self: func() cluster.Node { return cluster.Node{GRPCAddr: hole} },
			Local: func() iter.Seq[cluster.User] {
				return func(yield func(cluster.User) bool) { yield(ghost) }
			},
		})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- hung.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("hung broker: %v", err)
		}
	})
	hung.Login(ghost, true)
	waitClusterSize(t, 3, ns...)
	waitOnline(t, ns[0], "ghost", "hung")

	// The push to ghost waits for its deadline; pushes to bob meanwhile do not.
	var wg sync.WaitGroup
	slowDone := make(chan struct{})
	var took time.Duration
	var code int
	var a answer
	wg.Go(func() {
		defer close(slowDone)
		start := time.Now()
		code, a = pushForm(t, ns[0], "/user/sendMessage", sendTo("ghost", "lost"), 0)
		took = time.Since(start)
	})
	quick, slowest := 0, time.Duration(0)
	for done := false; !done; {
		start := time.Now()
		pushForm(t, ns[0], "/user/sendMessage", sendTo("bob", "quick"), http.StatusOK)
		slowest = max(slowest, time.Since(start))
		quick++
		select {
		case <-slowDone:
			done = true
		default:
		}
	}
	wg.Wait()
	if code != http.StatusServiceUnavailable || took < testRPCTimeout/2 || took > testRPCTimeout+testSlack || a.Code != protocol.OperationFailure {
		t.Fatalf("push to the hung node: HTTP %d code %d after %s, want 503/1009 after about %s", code, a.Code, took, testRPCTimeout)
	}
	if quick < 2 || slowest > testRPCTimeout/2 {
		t.Fatalf("%d pushes to bob while one waited for the hung node, slowest %s", quick, slowest)
	}
	if m := testutil.Data[protocol.Message](t, bob.Push(protocol.CmdMsg)); m.Msg != "quick" {
		t.Fatalf("bob got %+v", m)
	}
	// A broadcast answers within the deadline too, naming the node it missed.
	start := time.Now()
	_, a = pushForm(t, ns[0], "/user/sendMessageAll", url.Values{"appId": {"101"}, "message": {"all"}}, http.StatusOK)
	if res := pushResult(t, a); res.Delivered != 1 || res.NodesFailed != 1 || time.Since(start) > testRPCTimeout+testSlack {
		t.Fatalf("broadcast with a hung node: %+v after %s", res, time.Since(start))
	}
	// A room's member list, asked of every node, says it misses one.
	joinAll(t, "lobby", bob)
	if code, p := userList(t, ns[0], "/room/users?appId=101&room=lobby"); code != http.StatusOK ||
		!slices.Equal(p.UserList, []string{"bob"}) || p.NodesFailed != 1 {
		t.Fatalf("room users with a hung node: HTTP %d %+v, want bob and nodesFailed 1", code, p)
	}
}

// TestCluster_OverRedisCluster runs two nodes on a 3-master Redis Cluster.
func TestCluster_OverRedisCluster(t *testing.T) {
	rc := testutil.StartRedisCluster(t)
	ns := startCluster(t, 2, "", rc.Addrs...)
	alice := login(t, ns[0], 101, "alice")
	login(t, ns[1], 101, "bob")
	waitOnline(t, ns[1], "alice", "n1")
	waitOnline(t, ns[0], "bob", "n2") // presence writes are batched: the list reads what is written
	pushForm(t, ns[1], "/user/sendMessage", sendTo("alice", "through the cluster"), http.StatusOK)
	if m := testutil.Data[protocol.Message](t, alice.Push(protocol.CmdMsg)); m.Msg != "through the cluster" {
		t.Fatalf("alice got %+v", m)
	}
	if code, p := userList(t, ns[0], "/user/list?appId=101"); code != 200 || p.UserCount != 2 {
		t.Fatalf("user list: %d %+v", code, p)
	}
}

// TestCluster_PresenceNoticesCrossNodes: enter and exit notices of a small app and room
// reach the users on the other nodes.
func TestCluster_PresenceNoticesCrossNodes(t *testing.T) {
	r := testutil.StartRedis(t)
	ns := startCluster(t, 2, r.URL())
	alice := loginOnN1(t, ns, "alice")
	bob := login(t, ns[1], 101, "bob")
	wantNotice(t, alice, protocol.CmdEnter, "bob", "")
	joinAll(t, "lobby", alice, bob)
	wantNotice(t, alice, protocol.CmdEnter, "bob", "lobby")
	if r := bob.Call(protocol.CmdLeave, protocol.RoomData{Room: "lobby"}); r.Response.Code != protocol.OK {
		t.Fatalf("leave: %+v", r)
	}
	wantNotice(t, alice, protocol.CmdExit, "bob", "lobby")
	_ = bob.Conn.Close()
	wantNotice(t, alice, protocol.CmdExit, "bob", "")
	// Counted once the peer has answered, which may be after alice read the notice.
	testutil.Eventually(t, 10*time.Second, func() error {
		if v := metric(t, ns[1], "gows_cluster_notices_forwarded_total"); v != "4" {
			return fmt.Errorf("n2 forwarded %q notices, want 4 (enter, room enter, room exit, exit)", v)
		}
		return nil
	})
}

// TestCluster_PresenceNoticesBoundedClusterWide: a login on a node where its app is
// small is not told to the other nodes when the app is above the presence limit across
// the cluster.
func TestCluster_PresenceNoticesBoundedClusterWide(t *testing.T) {
	ns := limitedCluster(t, testutil.StartRedis(t).URL(), 2)
	alice := login(t, ns[0], 101, "alice")
	carol := login(t, ns[0], 101, "carol") // n1 has 2 users: at the limit
	if m := testutil.Data[protocol.Message](t, alice.Push(protocol.CmdEnter)); m.From != "carol" {
		t.Fatalf("alice got enter %+v", m)
	}
	loginOnN1(t, ns, "dave")    // above the limit on n1: no notice
	login(t, ns[1], 101, "bob") // n2 has 1 user, the cluster 4: above the limit
	testutil.Eventually(t, 10*time.Second, func() error {
		if v := metric(t, ns[1], "gows_cluster_notices_skipped_total"); v != "1" {
			return fmt.Errorf("n2 skipped %q notices, want 1", v)
		}
		return nil
	})
	for _, c := range []*testutil.Client{alice, carol} {
		for _, p := range c.Pending() {
			if from := testutil.Data[protocol.Message](t, p).From; p.Cmd == protocol.CmdEnter && (from == "bob" || from == "dave") {
				t.Fatalf("told about %s in an app above the presence limit: %+v", from, p)
			}
		}
	}
	if v := metric(t, ns[1], "gows_cluster_notices_forwarded_total"); v != "0" {
		t.Errorf("n2 forwarded %q notices, want 0", v)
	}
}

// An app is big by its users on all nodes: a login on a node where the app is small is
// no notice for that node's users either, when the cluster has more than the limit.
func TestCluster_AppNoticesGatedClusterWideOnTheirOwnNodeToo(t *testing.T) {
	ns := limitedCluster(t, testutil.StartRedis(t).URL(), 3)
	for i := range 4 {
		u := fmt.Sprintf("a%d", i)
		loginOnN1(t, ns, u)
	}
	p2 := login(t, ns[1], 101, "p2") // n2: 1 user; the cluster: 5
	login(t, ns[1], 101, "q2")       // n2: 2 users, under the limit; the cluster: 6, over it
	testutil.Eventually(t, 10*time.Second, func() error {
		if v := metric(t, ns[1], "gows_cluster_notices_skipped_total"); v != "2" {
			return fmt.Errorf("n2 skipped %q notices, want 2 (p2's and q2's enter)", v)
		}
		return nil
	})
	// Above the presence limit across the cluster: no enter, on n2 either.
	noNoticeBefore(t, ns[1], p2, "p2", func(cmd string, _ protocol.Message) bool { return cmd == protocol.CmdEnter })
}

// A node that stops still tells the other nodes' users that its users left: the notices
// of its last connections are forwarded before it deregisters.
func TestCluster_StoppingNodeForwardsItsUsersExits(t *testing.T) {
	r := testutil.StartRedis(t)
	ns := startCluster(t, 2, r.URL())
	watcher, leaver := inRoomTogether(t, ns[0], ns[1], "watcher", "leaver", "rr")
	stopped := make(chan error, 1)
	go func() { stopped <- ns[1].Stop() }()
	_ = leaver.ReadClose() // answers the node's 1001, so that its drain ends at once
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	wantNotice(t, watcher, protocol.CmdExit, "leaver", "rr")
	wantNotice(t, watcher, protocol.CmdExit, "leaver", "")
}

// TestCluster_BroadcastReachesANodeThatJustJoined: a node that joins is reached by a
// broadcast from an older node at once, not only after the older node's next lease
// renewal (node_ttl/3, here 10 s).
// slowRenewals configures a cluster node that renews its lease, and re-reads the
// registry on its own, only every 10 s.
func slowRenewals(t *testing.T, id, redisURL string) func(*server.Config) {
	cfg := inCluster(t, id, redisURL)
	return func(c *server.Config) { cfg(c); c.Cluster.NodeTTL = 30 * time.Second }
}

func TestCluster_StateCountsANodeThatJustJoined(t *testing.T) {
	r := testutil.StartRedis(t)
	n1 := testutil.StartServer(t, slowRenewals(t, "n1", r.URL()))
	waitClusterSize(t, 1, n1)
	testutil.StartServer(t, slowRenewals(t, "n2", r.URL()))
	// n1 renews (and re-reads the registry) every 10 s; /system/state reads it again
	// when its view is more than a second old.
	testutil.Eventually(t, 5*time.Second, func() error {
		if st := getState(t, n1); st.Cluster.Nodes != 2 {
			return fmt.Errorf("n1's state counts %d nodes, want 2", st.Cluster.Nodes)
		}
		return nil
	})
}

func TestCluster_BroadcastReachesANodeThatJustJoined(t *testing.T) {
	r := testutil.StartRedis(t)
	n1 := testutil.StartServer(t, slowRenewals(t, "n1", r.URL()))
	waitClusterSize(t, 1, n1)
	n2 := testutil.StartServer(t, slowRenewals(t, "n2", r.URL()))
	bob := login(t, n2, 101, "bob")
	// n1's view of the registry is from before n2 started (a lookup on n1 would read it
	// again, so none is made); within a second it is old enough to be read again.
	testutil.Eventually(t, 5*time.Second, func() error {
		_, a := pushForm(t, n1, "/user/sendMessageAll", url.Values{"appId": {"101"}, "message": {"welcome"}}, http.StatusOK)
		if res := pushResult(t, a); res.Delivered != 1 {
			return fmt.Errorf("broadcast from n1 reached %d connections, want bob's", res.Delivered)
		}
		return nil
	})
	if m := testutil.Data[protocol.Message](t, bob.Push(protocol.CmdMsg)); m.Msg != "welcome" {
		t.Fatalf("bob got %+v", m)
	}
}

// When a login on n2 replaces alice's session on n1, the older session gets its kickout
// and no notice about alice, and the app none either: alice stayed online throughout.
func TestCluster_TakeoverSendsNoEnterToTheUserItself(t *testing.T) {
	r := testutil.StartRedis(t)
	ns := startCluster(t, 2, r.URL())
	watcher := login(t, ns[0], 101, "watcher")
	older := loginOnN1(t, ns, "alice")
	wantNotice(t, watcher, protocol.CmdEnter, "alice", "")
	login(t, ns[1], 101, "alice")
	older.Push(protocol.CmdKickout)
	var ce *websocket.CloseError
	if err := older.ReadClose(); !errors.As(err, &ce) || ce.Code != int(protocol.CloseKickout) {
		t.Fatalf("older connection closed with %v, want %d", err, protocol.CloseKickout)
	}
	for _, p := range older.Pending() {
		if m := testutil.Data[protocol.Message](t, p); m.From == "alice" {
			t.Fatalf("alice was told about itself: %s %+v", p.Cmd, m)
		}
	}
	// alice never went offline: the takeover is no news to the app (no second enter, and
	// the kicked session's logout no exit).
	waitOnline(t, ns[0], "alice", "n2")
	noNoticeBefore(t, ns[1], watcher, "watcher", func(_ string, m protocol.Message) bool { return m.From == "alice" && m.Target == "" })
}

// TestCluster_RetryOfAPushDeliveredLateIsADuplicate: a push whose RPC timed out forgets
// its msgId so that it can be retried; when the node holding the user delivered it all
// the same (it answered late), the retry is acknowledged as a duplicate, not delivered
// again. The first attempt is made straight over gRPC here, as if its answer was lost.
func TestCluster_RetryOfAPushDeliveredLateIsADuplicate(t *testing.T) {
	r := testutil.StartRedis(t)
	ns := startCluster(t, 2, r.URL())
	bob := login(t, ns[1], 101, "bob")
	waitOnline(t, ns[0], "bob", "n2")

	peers := rpc.NewPeers(rpc.PeersConfig{Timeout: testRPCTimeout})
	t.Cleanup(func() { _ = peers.Close() })
	n2 := rpc.Target{ID: "n2", Addr: ns[1].GRPCAddr()}
	first, err := protocol.EncodePush("late-1", protocol.CmdMsg, protocol.Message{To: "bob", Type: protocol.TypeText, Msg: "first attempt"})
	if err != nil {
		t.Fatal(err)
	}
	if rs := peers.SendUserOn(t.Context(), []rpc.Target{n2}, 101, "bob", "late-1", first); rs[0].Err != nil || rs[0].Value != 1 {
		t.Fatalf("first attempt: %+v", rs[0])
	}
	if m := testutil.Data[protocol.Message](t, bob.Push(protocol.CmdMsg)); m.Msg != "first attempt" {
		t.Fatalf("bob got %+v", m)
	}

	retry := sendTo("bob", "first attempt")
	retry.Set("msgId", "late-1")
	_, a := pushForm(t, ns[0], "/user/sendMessage", retry, http.StatusOK)
	if res := pushResult(t, a); !res.Duplicate || res.Delivered != 0 {
		t.Fatalf("retry through n1: %+v, want a duplicate delivered to no one", res)
	}
	// Bob's next message is the next push, not the first one again.
	pushForm(t, ns[0], "/user/sendMessage", sendTo("bob", "next"), http.StatusOK)
	if m := testutil.Data[protocol.Message](t, bob.Push(protocol.CmdMsg)); m.Msg != "next" {
		t.Fatalf("bob got %+v, want the next push", m)
	}
}
