package server_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gows-dev/gows/internal/protocol"
	"github.com/gows-dev/gows/internal/server"
	"github.com/gows-dev/gows/internal/server/api"
	"github.com/gows-dev/gows/internal/testutil"
)

// perUser configures max_conns_per_user n and duplicate_login mode.
func perUser(n int, mode string) func(*server.Config) {
	return func(c *server.Config) { c.MaxConnsPerUser, c.DuplicateLogin = n, mode }
}

// wantMsg reads c's next msg push and fails unless it carries text.
func wantMsg(t *testing.T, c *testutil.Client, text string) {
	t.Helper()
	if m := testutil.Data[protocol.Message](t, c.Push(protocol.CmdMsg)); m.Msg != text {
		t.Fatalf("got %+v, want msg %q", m, text)
	}
}

// wantClosed reads c's kickout push and close, and fails unless the close code is code.
func wantClosed(t *testing.T, c *testutil.Client, code protocol.CloseCode) {
	t.Helper()
	c.Push(protocol.CmdKickout)
	var ce *websocket.CloseError
	if err := c.ReadClose(); !errors.As(err, &ce) || ce.Code != int(code) {
		t.Fatalf("closed with %v, want %d", err, code)
	}
}

// pushToUser sends msg to user through s and returns the result.
func pushToUser(t *testing.T, s *testutil.Server, user, msg string, want int) api.PushResult {
	t.Helper()
	_, a := pushForm(t, s, "/user/sendMessage", sendTo(user, msg), want)
	return pushResult(t, a)
}

// TestWS_SeveralConnectionsPerUser: with max_conns_per_user 2 both connections of u1
// receive a push (delivered 2), /user/online counts 2, lists and counts show u1 once,
// the room lists u1 once, a third login kicks the oldest, and the app hears one enter
// and, only after the last connection closed, one exit.
func TestWS_SeveralConnectionsPerUser(t *testing.T) {
	srv := testutil.StartServer(t, perUser(2, "kick"))
	watcher := login(t, srv, 101, "w")
	a := login(t, srv, 101, "u1")
	b := login(t, srv, 101, "u1")
	wantNotice(t, watcher, protocol.CmdEnter, "u1", "")

	if r := pushToUser(t, srv, "u1", "to both", http.StatusOK); r.Delivered != 2 {
		t.Fatalf("delivered %d, want 2", r.Delivered)
	}
	wantMsg(t, a, "to both")
	wantMsg(t, b, "to both")
	if r := b.Call(protocol.CmdSend, protocol.SendData{To: "u1", Msg: "to myself"}); r.Response.Code != protocol.OK ||
		testutil.Data[api.PushResult](t, r).Delivered != 2 {
		t.Fatalf("send to u1 over WebSocket: %+v", r)
	}
	wantMsg(t, a, "to myself")
	wantMsg(t, b, "to myself")

	if _, p := online(t, srv, "u1"); !p.Online || p.Connections != 2 || !slices.Equal(p.Nodes, []string{p.NodeID}) {
		t.Fatalf("online %+v, want 2 connections on one node", p)
	}
	if _, p := userList(t, srv, "/user/list?appId=101"); p.UserCount != 2 || !slices.Equal(p.UserList, []string{"u1", "w"}) {
		t.Fatalf("user list %+v, want u1 once and w", p)
	}
	r := watcher.Call(protocol.CmdUsers, nil)
	if got := testutil.Data[protocol.UsersResult](t, r); got.UserCount != 2 || !slices.Equal(got.UserList, []string{"u1", "w"}) {
		t.Fatalf("users %+v, want u1 once and w", got)
	}
	if st := getState(t, srv); st.Users != 2 {
		t.Fatalf("state users %d, want 2", st.Users)
	}
	joinAll(t, "r", watcher, a, b)
	wantNotice(t, watcher, protocol.CmdEnter, "u1", "r") // one enter for two joins
	if _, p := userList(t, srv, "/room/users?appId=101&room=r"); !slices.Equal(p.UserList, []string{"u1", "w"}) {
		t.Fatalf("room users %+v, want u1 once and w", p)
	}

	c := login(t, srv, 101, "u1")
	wantClosed(t, a, protocol.CloseKickout)
	if k, r := duplicateLogins(t, srv); k != "1" || r != "0" {
		t.Fatalf("duplicate logins kicked %q, rejected %q; want 1 and 0", k, r)
	}
	if r := pushToUser(t, srv, "u1", "to b and c", http.StatusOK); r.Delivered != 2 {
		t.Fatalf("delivered %d after the kick, want 2", r.Delivered)
	}
	wantMsg(t, b, "to b and c")
	wantMsg(t, c, "to b and c")

	_ = b.Conn.Close() // the test closes it: errors do not matter
	// c is not in the room: b's leaving is u1's leaving it (a's was not: b was there).
	wantNotice(t, watcher, protocol.CmdExit, "u1", "r")
	testutil.Eventually(t, testutil.ReadTimeout, func() error {
		if _, p := online(t, srv, "u1"); p.Connections != 1 {
			return fmt.Errorf("u1 has %d connections, want 1", p.Connections)
		}
		return nil
	})
	// Neither the kicked nor the closed connection was u1's last: no app exit yet.
	noNoticeBefore(t, srv, watcher, "w", func(cmd string, m protocol.Message) bool {
		return cmd == protocol.CmdExit && m.Target == ""
	})
	_ = c.Conn.Close()
	wantNotice(t, watcher, protocol.CmdExit, "u1", "")
}

// Logins of one user arriving together in reject mode: as many get in as the limit
// allows and the rest are refused; none of those let in is replaced (kicked) by another.
// A node in a cluster asks Redis for the user's other connections before it counts its
// own, which leaves a wide gap between two logins' checks.
func TestWS_ConnectionsPerUserRejectModeUnderConcurrentLogins(t *testing.T) {
	const limit, tries = 3, 24
	r := testutil.StartRedis(t)
	for name, cluster := range map[string]func(*server.Config){
		"single node":     func(*server.Config) {},
		"node in cluster": inCluster(t, "n1", r.URL()),
	} {
		t.Run(name, func(t *testing.T) { concurrentRejectedLogins(t, limit, tries, cluster) })
	}
}

func concurrentRejectedLogins(t *testing.T, limit, tries int, cluster func(*server.Config)) {
	srv := testutil.StartServer(t, cluster, perUser(limit, "reject"))
	clients := make([]*testutil.Client, tries)
	for i := range clients {
		clients[i] = testutil.Dial(t, srv.WSURL, nil)
	}
	seqs := make([]string, tries)
	for i, c := range clients { // all sent before any answer is read
		seqs[i] = c.Send(protocol.CmdLogin, protocol.LoginData{AppID: 101, UserID: "u1"})
	}
	var in []*testutil.Client
	for i, c := range clients {
		switch r := c.Await(seqs[i]); r.Response.Code {
		case protocol.OK:
			in = append(in, c)
		case protocol.OperationFailure:
		default:
			t.Fatalf("login %d answered %+v", i, r)
		}
	}
	if len(in) != limit {
		t.Fatalf("%d of %d concurrent logins got in, want %d", len(in), tries, limit)
	}
	for _, c := range in {
		if r := c.Call(protocol.CmdPing, nil); r.Response.Code != protocol.OK {
			t.Fatalf("a connection let in was closed: %+v", r)
		}
	}
	if k, r := duplicateLogins(t, srv); k != "0" || r != fmt.Sprint(tries-limit) {
		t.Fatalf("duplicate logins kicked %q, rejected %q; want 0 and %d", k, r, tries-limit)
	}
}

// TestWS_ConnectionsPerUserRejectMode: past the limit a login is refused (1009) and the
// user's connections stay.
func TestWS_ConnectionsPerUserRejectMode(t *testing.T) {
	srv := testutil.StartServer(t, perUser(2, "reject"))
	a, b := login(t, srv, 101, "u1"), login(t, srv, 101, "u1")
	third := testutil.Dial(t, srv.WSURL, nil)
	r := third.Call(protocol.CmdLogin, protocol.LoginData{AppID: 101, UserID: "u1"})
	if r.Response.Code != protocol.OperationFailure || !strings.Contains(r.Response.CodeMsg, "max_conns_per_user") {
		t.Fatalf("third login %+v, want 1009 naming max_conns_per_user", r.Response)
	}
	if r := pushToUser(t, srv, "u1", "still two", http.StatusOK); r.Delivered != 2 {
		t.Fatalf("delivered %d, want 2", r.Delivered)
	}
	wantMsg(t, a, "still two")
	wantMsg(t, b, "still two")
	if k, r := duplicateLogins(t, srv); k != "0" || r != "1" {
		t.Fatalf("duplicate logins kicked %q, rejected %q; want 0 and 1", k, r)
	}
}

// TestWS_NoConnectionLimit: with max_conns_per_user 0 any number of connections log in
// and all receive.
func TestWS_NoConnectionLimit(t *testing.T) {
	srv := testutil.StartServer(t, perUser(0, "kick"))
	var cs []*testutil.Client
	for range 5 {
		cs = append(cs, login(t, srv, 101, "u1"))
	}
	if r := pushToUser(t, srv, "u1", "all five", http.StatusOK); r.Delivered != 5 {
		t.Fatalf("delivered %d, want 5", r.Delivered)
	}
	for _, c := range cs {
		wantMsg(t, c, "all five")
	}
	if k, _ := duplicateLogins(t, srv); k != "0" {
		t.Fatalf("%s connections kicked, want none", k)
	}
}

// TestKick_ClosesEveryConnectionOfTheUser: /user/kick closes both of u1's connections
// and says so.
func TestKick_ClosesEveryConnectionOfTheUser(t *testing.T) {
	srv := testutil.StartServer(t, perUser(2, "kick"))
	a, b := login(t, srv, 101, "u1"), login(t, srv, 101, "u1")
	_, ans := pushForm(t, srv, "/user/kick", sendTo("u1", ""), http.StatusOK)
	var res api.KickResult
	if err := json.Unmarshal(ans.Data, &res); err != nil || res.Kicked != 2 {
		t.Fatalf("kick data %s (%v), want kicked 2", ans.Data, err)
	}
	wantClosed(t, a, protocol.CloseAdminKick)
	wantClosed(t, b, protocol.CloseAdminKick)
}

// waitConns waits until node s counts n connections of user (0: offline).
func waitConns(t *testing.T, s *testutil.Server, user string, n int) api.Presence {
	t.Helper()
	var p api.Presence
	testutil.Eventually(t, 10*time.Second, func() error {
		var code int
		code, p = online(t, s, user)
		if code != http.StatusOK || p.Connections != n {
			return fmt.Errorf("online %s: HTTP %d, %d connections on %v, want %d", user, code, p.Connections, p.Nodes, n)
		}
		return nil
	})
	return p
}

// TestCluster_SeveralConnectionsPerUser: with max_conns_per_user 2, u1 on n1 and on n2
// both receive a push sent through n3 (one call per node); a third login, on n3, kicks
// the oldest, on n1; a kick through n1 closes the other two on n2 and n3; and a node
// that stops leaves u1 reachable on the other.
func TestCluster_SeveralConnectionsPerUser(t *testing.T) {
	ns := twoPerUserCluster(t, 3)

	a := login(t, ns[0], 101, "u1")
	waitConns(t, ns[2], "u1", 1) // a's record is written before b's: a is the oldest
	b := login(t, ns[1], 101, "u1")
	if p := waitConns(t, ns[2], "u1", 2); !slices.Equal(p.Nodes, []string{"n1", "n2"}) || p.NodeID != "n2" {
		t.Fatalf("online through n3 %+v, want n1 and n2, newest on n2", p)
	}
	if res := pushToUser(t, ns[2], "u1", "to both nodes", http.StatusOK); res.Delivered != 2 || res.NodesFailed != 0 {
		t.Fatalf("push through n3 %+v, want delivered 2", res)
	}
	wantMsg(t, a, "to both nodes")
	wantMsg(t, b, "to both nodes")
	if _, p := userList(t, ns[2], "/user/list?appId=101"); p.UserCount != 1 || !slices.Equal(p.UserList, []string{"u1"}) {
		t.Fatalf("user list %+v, want u1 once", p)
	}

	c := login(t, ns[2], 101, "u1")
	wantClosed(t, a, protocol.CloseKickout)
	if p := waitConns(t, ns[0], "u1", 2); !slices.Equal(p.Nodes, []string{"n2", "n3"}) {
		t.Fatalf("online after the third login %+v, want n2 and n3", p)
	}
	if res := pushToUser(t, ns[0], "u1", "to b and c", http.StatusOK); res.Delivered != 2 {
		t.Fatalf("push through n1 %+v, want delivered 2", res)
	}
	wantMsg(t, b, "to b and c")
	wantMsg(t, c, "to b and c")

	// n2 stops: its record goes, n3's stays.
	if err := ns[1].Stop(); err != nil {
		t.Fatal(err)
	}
	waitConns(t, ns[0], "u1", 1)
	if res := pushToUser(t, ns[0], "u1", "to c", http.StatusOK); res.Delivered != 1 {
		t.Fatalf("push through n1 after n2 stopped %+v, want delivered 1", res)
	}
	wantMsg(t, c, "to c")

	d := login(t, ns[0], 101, "u1")
	waitConns(t, ns[2], "u1", 2)
	_, ans := pushForm(t, ns[2], "/user/kick", sendTo("u1", ""), http.StatusOK)
	var res api.KickResult
	if err := json.Unmarshal(ans.Data, &res); err != nil || res.Kicked != 2 {
		t.Fatalf("kick through n3: %s (%v), want kicked 2", ans.Data, err)
	}
	wantClosed(t, c, protocol.CloseAdminKick)
	wantClosed(t, d, protocol.CloseAdminKick)
}

// TestCluster_PresenceNoticesAreClusterWide: with max_conns_per_user 2, u1 logging in on
// n1 and then on n2 is one enter for the app, closing the connection on n1 while the one
// on n2 stays is no exit, and closing that last one is the exit.
func TestCluster_PresenceNoticesAreClusterWide(t *testing.T) {
	ns := twoPerUserCluster(t, 2)
	watcher := login(t, ns[0], 101, "watcher")
	appNotice := func(_ string, m protocol.Message) bool { return m.From == "u1" && m.Target == "" }

	a := login(t, ns[0], 101, "u1")
	wantNotice(t, watcher, protocol.CmdEnter, "u1", "")
	waitConns(t, ns[1], "u1", 1)
	b := login(t, ns[1], 101, "u1")
	waitConns(t, ns[0], "u1", 2)
	_ = a.Conn.Close()
	waitConns(t, ns[0], "u1", 1)
	noNoticeBefore(t, ns[1], watcher, "watcher", appNotice)

	_ = b.Conn.Close()
	wantNotice(t, watcher, protocol.CmdExit, "u1", "")
}

// twoPerUserCluster starts n nodes (n1, ...) with max_conns_per_user 2 in kick mode on a
// Redis of their own, and waits until each routes to all.
func twoPerUserCluster(t *testing.T, n int) []*testutil.Server {
	t.Helper()
	r := testutil.StartRedis(t)
	var ns []*testutil.Server
	for i := range n {
		ns = append(ns, testutil.StartServer(t, inCluster(t, fmt.Sprintf("n%d", i+1), r.URL()), perUser(2, "kick")))
	}
	waitClusterSize(t, n, ns...)
	return ns
}
