package server_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/gows-dev/gows/internal/protocol"
	"github.com/gows-dev/gows/internal/server"
	"github.com/gows-dev/gows/internal/server/api"
	"github.com/gows-dev/gows/internal/testutil"
	"github.com/gows-dev/gows/internal/wsframe"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestWS_LoginPingHeartbeat(t *testing.T) {
	srv := testutil.StartServer(t)
	c := testutil.Dial(t, srv.WSURL, nil)
	// The seed's exact login frame, with its appId/userId spelling.
	c.WriteRaw([]byte(`{"seq":"1565336219141-266129","cmd":"login","data":{"userId":"u1","appId":101,"serviceToken":""}}`))
	r := c.NextResponse()
	if r.Seq != "1565336219141-266129" || r.Cmd != "login" || r.Response.Code != 200 || r.Response.CodeMsg != "Success" {
		t.Fatalf("login answer: %+v", r)
	}
	if string(r.Response.Data) != "null" {
		t.Fatalf("login data = %s, want null", r.Response.Data)
	}
	if r := c.Call(protocol.CmdPing, nil); r.Response.Code != 200 || string(r.Response.Data) != `"pong"` {
		t.Fatalf("ping: %+v", r)
	}
	if r := c.Call(protocol.CmdHeartbeat, protocol.HeartbeatData{UserID: "u1"}); r.Response.Code != 200 {
		t.Fatalf("heartbeat: %+v", r)
	}
	// The alternative spelling logs in too (on a second connection).
	c2 := testutil.Dial(t, srv.WSURL, nil)
	c2.WriteRaw([]byte(`{"seq":"2","cmd":"login","data":{"userID":"u2","appID":"101"}}`))
	if r := c2.NextResponse(); r.Response.Code != 200 {
		t.Fatalf("login with appID/userID: %+v", r)
	}
	st := getState(t, srv)
	if st.Users != 2 || st.Connections != 2 {
		t.Fatalf("state users=%d connections=%d, want 2 and 2", st.Users, st.Connections)
	}
}

func TestWS_BadInputGetsErrorCodes(t *testing.T) {
	srv := testutil.StartServer(t, func(c *server.Config) { c.AllowedAppIDs = []uint32{101, 102} })
	c := testutil.Dial(t, srv.WSURL, nil)
	cases := []struct {
		name    string
		frame   string
		seq     string
		code    protocol.Code
		contain string
	}{
		{"invalid JSON", `{"seq":"a1","cmd":`, "", protocol.ParameterIllegal, "invalid request"},
		{"invalid JSON keeps seq", `{"seq":"a2","cmd":"login","data":{"appId":[}}`, "", protocol.ParameterIllegal, "invalid request"},
		{"not an object", `[1,2,3]`, "", protocol.ParameterIllegal, "invalid request"},
		{"missing cmd", `{"seq":"a3"}`, "a3", protocol.ParameterIllegal, "no cmd"},
		{"unknown cmd", `{"seq":"a4","cmd":"teleport"}`, "a4", protocol.RoutingNotExist, "unknown cmd"},
		// 1 + 15×2 bytes, then a character cut by the 32-byte limit: left out whole.
		{"long unknown cmd", `{"seq":"a4b","cmd":"x` + strings.Repeat("é", 20) + `"}`, "a4b", protocol.RoutingNotExist, "unknown cmd x" + strings.Repeat("é", 15) + "..."},
		{"heartbeat before login", `{"seq":"a5","cmd":"heartbeat","data":{"userId":"u1"}}`, "a5", protocol.NotLoggedIn, "log in"},
		{"send before login", `{"seq":"a6","cmd":"send","data":{"msg":"hi"}}`, "a6", protocol.NotLoggedIn, "log in"},
		{"login without data", `{"seq":"a7","cmd":"login"}`, "a7", protocol.ParameterIllegal, "missing data"},
		{"login without appId", `{"seq":"a8","cmd":"login","data":{"userId":"u1"}}`, "a8", protocol.ParameterIllegal, "appId"},
		{"login with bad appId", `{"seq":"a9","cmd":"login","data":{"userId":"u1","appId":"x"}}`, "a9", protocol.ParameterIllegal, "appId"},
		{"login to a refused app", `{"seq":"a10","cmd":"login","data":{"userId":"u1","appId":7}}`, "a10", protocol.Unauthorized, "not allowed"},
		{"login without userId", `{"seq":"a11","cmd":"login","data":{"appId":101}}`, "a11", protocol.UnauthorizedUserID, "userId"},
		{"login with long userId", `{"seq":"a12","cmd":"login","data":{"appId":101,"userId":"` + strings.Repeat("x", 65) + `"}}`, "a12", protocol.UnauthorizedUserID, "userId"},
		// Errors name the field and the JSON type it needs, not Go's types.
		{"seq is a number", `{"seq":5,"cmd":"ping"}`, "", protocol.ParameterIllegal, "seq: must be a string, got number"},
		{"login data not an object", `{"seq":"a13","cmd":"login","data":"u1"}`, "a13", protocol.ParameterIllegal, "login data: must be a JSON object, got string"},
		{"login with a numeric userId", `{"seq":"a14","cmd":"login","data":{"appId":101,"userId":5}}`, "a14", protocol.ParameterIllegal, "userId: must be a string, got number"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.WriteRaw([]byte(tc.frame))
			r := c.NextResponse()
			if r.Response.Code != tc.code || !strings.Contains(r.Response.CodeMsg, tc.contain) {
				t.Fatalf("got code %d %q, want %d containing %q", r.Response.Code, r.Response.CodeMsg, tc.code, tc.contain)
			}
			if tc.seq != "" && r.Seq != tc.seq {
				t.Fatalf("seq %q, want %q", r.Seq, tc.seq)
			}
		})
	}
	t.Run("seq salvaged from invalid data", func(t *testing.T) {
		c.WriteRaw([]byte(`{"seq":"s1","cmd":"login","data":{"appId":1},"x":}`))
		if r := c.NextResponse(); r.Response.Code != protocol.ParameterIllegal {
			t.Fatalf("got %+v", r)
		}
	})
	t.Run("binary frame", func(t *testing.T) {
		if err := c.Conn.WriteMessage(websocket.BinaryMessage, []byte{1, 2, 3}); err != nil {
			t.Fatal(err)
		}
		r := c.NextResponse()
		if r.Response.Code != protocol.ParameterIllegal || !strings.Contains(r.Response.CodeMsg, "binary") {
			t.Fatalf("got %+v", r)
		}
	})
	t.Run("JSON in a binary frame gets its seq back", func(t *testing.T) {
		if err := c.Conn.WriteMessage(websocket.BinaryMessage, []byte(`{"seq":"b1","cmd":"ping"}`)); err != nil {
			t.Fatal(err)
		}
		if r := c.NextResponse(); r.Seq != "b1" || r.Response.Code != protocol.ParameterIllegal || !strings.Contains(r.Response.CodeMsg, "text frames") {
			t.Fatalf("got %+v", r)
		}
	})
	// After all that the connection still works.
	c.Login(101, "u1")
	for _, tc := range []struct {
		name    string
		data    string
		code    protocol.Code
		contain string
	}{
		{"send without msg", `{"to":"u2"}`, protocol.ParameterIllegal, "msg"},
		{"send to offline user", `{"to":"nobody","msg":"hi"}`, protocol.NotData, "user nobody is not online"},
		{"send to a room not joined", `{"room":"r1","msg":"hi"}`, protocol.OperationFailure, "join room r1"},
		{"send to user and room", `{"to":"u2","room":"r1","msg":"hi"}`, protocol.ParameterIllegal, ""},
		{"join without room", `{}`, protocol.ParameterIllegal, ""},
		{"send data not an object", `5`, protocol.ParameterIllegal, "send data: must be a JSON object, got number"},
		{"send with a numeric type", `{"msg":"hi","type":5}`, protocol.ParameterIllegal, "send data: type: must be a string, got number"},
		{"send with a long type", `{"msg":"hi","type":"` + strings.Repeat("t", 33) + `"}`, protocol.ParameterIllegal, "type: must be 1..32 printable characters"},
		{"users data not an object", `["r1"]`, protocol.ParameterIllegal, "users data: must be a JSON object, got array"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd, _, _ := strings.Cut(tc.name, " ")
			r := c.Call(cmd, json.RawMessage(tc.data))
			if r.Response.Code != tc.code || !strings.Contains(r.Response.CodeMsg, tc.contain) {
				t.Fatalf("got %d %q, want %d containing %q", r.Response.Code, r.Response.CodeMsg, tc.code, tc.contain)
			}
			if d := string(r.Response.Data); d != "" && d != "null" { // an error answer has no data
				t.Fatalf("error answer with data %s", d)
			}
		})
	}
}

func TestWS_SendToUserRoomAndApp(t *testing.T) {
	srv := testutil.StartServer(t)
	alice := testutil.Dial(t, srv.WSURL, nil)
	alice.Login(101, "alice")
	bob := testutil.Dial(t, srv.WSURL, nil)
	bob.Login(101, "bob")
	carol := testutil.Dial(t, srv.WSURL, nil) // another app: must not see app 101's traffic
	carol.Login(102, "carol")

	// Direct: bob gets it, alice gets the answer with the delivered count.
	r := alice.Call(protocol.CmdSend, protocol.SendData{To: "bob", Msg: "hi bob"})
	if r.Response.Code != 200 {
		t.Fatalf("send: %+v", r)
	}
	if res := testutil.Data[api.PushResult](t, r); res.Delivered != 1 || res.MsgID == "" {
		t.Fatalf("send result %+v", res)
	}
	m := testutil.Data[protocol.Message](t, bob.Push(protocol.CmdMsg))
	if m.Msg != "hi bob" || m.From != "alice" || m.Target != "" || m.To != "bob" || m.Type != "text" {
		t.Fatalf("bob got %+v", m)
	}

	// Room: both join, bob speaks, both get it with the room as target.
	for _, c := range []*testutil.Client{alice, bob} {
		if r := c.Call(protocol.CmdJoin, protocol.RoomData{Room: "lobby"}); r.Response.Code != 200 {
			t.Fatalf("join: %+v", r)
		}
	}
	if r := bob.Call(protocol.CmdSend, protocol.SendData{Room: "lobby", Msg: "hello room"}); r.Response.Code != 200 {
		t.Fatalf("room send: %+v", r)
	}
	for _, c := range []*testutil.Client{alice, bob} {
		m := testutil.Data[protocol.Message](t, c.Push(protocol.CmdMsg))
		if m.Msg != "hello room" || m.Target != "lobby" || m.From != "bob" {
			t.Fatalf("room message %+v", m)
		}
	}
	users := testutil.Data[protocol.UsersResult](t, alice.Call(protocol.CmdUsers, protocol.UsersData{Room: "lobby"}))
	if users.UserCount != 2 || strings.Join(users.UserList, ",") != "alice,bob" {
		t.Fatalf("room users %+v", users)
	}

	// App: everyone in 101 including the sender, nobody in 102.
	if r := alice.Call(protocol.CmdSend, protocol.SendData{Msg: "hello all"}); r.Response.Code != 200 {
		t.Fatalf("app send: %+v", r)
	}
	for _, c := range []*testutil.Client{alice, bob} {
		if m := testutil.Data[protocol.Message](t, c.Push(protocol.CmdMsg)); m.Msg != "hello all" {
			t.Fatalf("app message %+v", m)
		}
	}
	// carol sees only her own app: a ping answer arrives with no push before it.
	if r := carol.Call(protocol.CmdPing, nil); r.Response.Code != 200 {
		t.Fatalf("ping %+v", r)
	}
	users = testutil.Data[protocol.UsersResult](t, carol.Call(protocol.CmdUsers, nil))
	if users.UserCount != 1 || users.UserList[0] != "carol" {
		t.Fatalf("app 102 users %+v", users)
	}
}

func TestWS_PresenceNotices(t *testing.T) {
	srv := testutil.StartServer(t, func(c *server.Config) { c.PresenceLimit = 2 })
	alice := testutil.Dial(t, srv.WSURL, nil)
	alice.Login(101, "alice")
	bob := testutil.Dial(t, srv.WSURL, nil)
	bob.Login(101, "bob")
	if m := testutil.Data[protocol.Message](t, alice.Push(protocol.CmdEnter)); m.From != "bob" || m.Type != "enter" {
		t.Fatalf("enter %+v", m)
	}
	// bob left an app of 2 users, him included: alice is told, as of his coming.
	_ = bob.Conn.Close()
	if m := testutil.Data[protocol.Message](t, alice.Push(protocol.CmdExit)); m.From != "bob" {
		t.Fatalf("exit %+v", m)
	}
	carol := testutil.Dial(t, srv.WSURL, nil)
	carol.Login(101, "carol")
	if m := testutil.Data[protocol.Message](t, alice.Push(protocol.CmdEnter)); m.From != "carol" {
		t.Fatalf("enter %+v", m)
	}
	// A third user makes the app bigger than the limit: neither dave's coming nor his
	// going is told (an exit is judged by the app with the user who leaves, as his enter
	// was, so no one gets an exit without its enter).
	dave := testutil.Dial(t, srv.WSURL, nil)
	dave.Login(101, "dave")
	_ = dave.Conn.Close()
	waitOnline(t, srv, "dave", "")
	noNoticeBefore(t, srv, alice, "alice", func(_ string, m protocol.Message) bool { return m.From == "dave" })
}

// A connection that closes leaves its rooms, and their members are told, even in an app
// too big for app-wide notices.
func TestWS_ClosingLeavesRoomsWithNotices(t *testing.T) {
	srv := testutil.StartServer(t, func(c *server.Config) { c.PresenceLimit = 2 })
	for _, u := range []string{"x1", "x2"} {
		testutil.Dial(t, srv.WSURL, nil).Login(101, u)
	}
	m1 := testutil.Dial(t, srv.WSURL, nil)
	m1.Login(101, "m1")
	m2 := testutil.Dial(t, srv.WSURL, nil)
	m2.Login(101, "m2")
	joinAll(t, "small", m1, m2)
	wantNotice(t, m1, protocol.CmdEnter, "m2", "small")
	_ = m2.Conn.Close()
	wantNotice(t, m1, protocol.CmdExit, "m2", "small")
	users := testutil.Data[protocol.UsersResult](t, m1.Call(protocol.CmdUsers, protocol.RoomData{Room: "small"}))
	if users.UserCount != 1 || users.UserList[0] != "m1" {
		t.Fatalf("room small after m2 closed: %+v", users)
	}
}

// Commands a client sends just before its close frame still run, but their answers have
// nowhere to go: they are counted, not silently lost.
func TestWS_AnswersAfterTheClientClosedAreCounted(t *testing.T) {
	srv := testutil.StartServer(t, func(c *server.Config) { c.MessageBurst = 1000 }) // 200 pings at once are not abuse here
	c := testutil.Dial(t, srv.WSURL, nil)
	c.Login(101, "quitter")
	var burst []byte
	for i := range 200 {
		burst = append(burst, wsframe.AppendFrame(nil, true, wsframe.OpText, []byte(fmt.Sprintf(`{"seq":"%d","cmd":"ping"}`, i)), &[4]byte{1, 2, 3, 4})...)
	}
	burst = append(burst, wsframe.AppendFrame(nil, true, wsframe.OpClose, []byte{0x03, 0xe8}, &[4]byte{1, 2, 3, 4})...)
	if _, err := c.Conn.UnderlyingConn().Write(burst); err != nil {
		t.Fatal(err)
	}
	answered := 0
	for {
		_ = c.Conn.SetReadDeadline(time.Now().Add(testutil.ReadTimeout))
		if _, _, err := c.Conn.ReadMessage(); err != nil {
			break // the server's close
		}
		answered++
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		v, _ := strconv.Atoi(metric(t, srv, "gows_answers_undelivered_total"))
		if answered+v != 200 {
			return fmt.Errorf("%d pings answered and %d counted as undelivered, want 200 in all", answered, v)
		}
		return nil
	})
}

func TestWS_DuplicateLoginKicksOldConnection(t *testing.T) {
	srv := testutil.StartServer(t)
	old := testutil.Dial(t, srv.WSURL, nil)
	old.Login(101, "u1")
	newer := testutil.Dial(t, srv.WSURL, nil)
	newer.Login(101, "u1")
	if p := old.Push(protocol.CmdKickout); p.Response.Code != 200 {
		t.Fatalf("kickout push %+v", p)
	}
	var ce *websocket.CloseError
	if err := old.ReadClose(); !errors.As(err, &ce) || ce.Code != int(protocol.CloseKickout) {
		t.Fatalf("old connection closed with %v, want %d", err, protocol.CloseKickout)
	}
	// The newer connection is the one that receives.
	pushForm(t, srv, "/user/sendMessage", url.Values{"appId": {"101"}, "userId": {"u1"}, "message": {"still here"}}, http.StatusOK)
	if m := testutil.Data[protocol.Message](t, newer.Push(protocol.CmdMsg)); m.Msg != "still here" {
		t.Fatalf("newer got %+v", m)
	}
	if st := getState(t, srv); st.Users != 1 {
		t.Fatalf("users = %d, want 1", st.Users)
	}
	if k, r := duplicateLogins(t, srv); k != "1" || r != "0" {
		t.Fatalf("duplicate logins kicked %q, rejected %q; want 1 and 0", k, r)
	}
}

// A login on a connection that is logged in as someone else switches it: the old user
// goes offline (exit), the new one comes (enter); a repeated login as the same user
// changes nothing and tells nobody.
func TestWS_LoginAgainSwitchesUser(t *testing.T) {
	srv := testutil.StartServer(t)
	watcher := testutil.Dial(t, srv.WSURL, nil)
	watcher.Login(101, "watcher")
	c := testutil.Dial(t, srv.WSURL, nil)
	c.Login(101, "a")
	c.Login(101, "a")
	c.Login(101, "b")
	var got []string
	for range 3 {
		r := watcher.Next()
		got = append(got, r.Cmd+" "+testutil.Data[protocol.Message](t, r).From)
	}
	if want := "enter a,exit a,enter b"; strings.Join(got, ",") != want {
		t.Fatalf("watcher was told %v, want %s", got, want)
	}
	if _, p := online(t, srv, "a"); p.Online {
		t.Fatal("a is still online after its connection logged in as b")
	}
	if _, p := online(t, srv, "b"); !p.Online {
		t.Fatal("b is not online")
	}
}

func TestWS_DuplicateLoginRejectMode(t *testing.T) {
	srv := testutil.StartServer(t, func(c *server.Config) { c.DuplicateLogin = "reject" })
	first := testutil.Dial(t, srv.WSURL, nil)
	first.Login(101, "u1")
	second := testutil.Dial(t, srv.WSURL, nil)
	if r := second.Call(protocol.CmdLogin, protocol.LoginData{AppID: 101, UserID: "u1"}); r.Response.Code != protocol.OperationFailure {
		t.Fatalf("second login %+v", r)
	}
	if r := first.Call(protocol.CmdPing, nil); r.Response.Code != 200 {
		t.Fatalf("first connection broken: %+v", r)
	}
	// A session that tries to switch to a user logged in elsewhere is refused and keeps
	// the identity it had.
	second.Login(101, "u2")
	if r := second.Call(protocol.CmdLogin, protocol.LoginData{AppID: 101, UserID: "u1"}); r.Response.Code != protocol.OperationFailure {
		t.Fatalf("switch to u1 %+v", r)
	}
	r := second.Call(protocol.CmdUsers, nil)
	if got := testutil.Data[protocol.UsersResult](t, r); r.Response.Code != protocol.OK || !slices.Equal(got.UserList, []string{"u1", "u2"}) {
		t.Fatalf("after a refused switch: %+v", r)
	}
	if k, r := duplicateLogins(t, srv); k != "0" || r != "2" {
		t.Fatalf("duplicate logins kicked %q, rejected %q; want 0 and 2", k, r)
	}
}

// duplicateLogins reads gows_duplicate_logins_total's kicked and rejected counts.
func duplicateLogins(t *testing.T, srv *testutil.Server) (kicked, rejected string) {
	t.Helper()
	return metric(t, srv, `gows_duplicate_logins_total{result="kicked"}`), metric(t, srv, `gows_duplicate_logins_total{result="rejected"}`)
}

// A connection may be in at most max_rooms rooms: the next join is refused until it
// leaves one; joining a room it is in is still harmless.
func TestWS_RoomsPerConnectionAreBounded(t *testing.T) {
	if got := server.Default().MaxRooms; got != 1000 {
		t.Fatalf("default max_rooms = %d, documented as 1000", got)
	}
	srv := testutil.StartServer(t, func(c *server.Config) { c.MessageRate = 0; c.MaxRooms = 50 })
	c := testutil.Dial(t, srv.WSURL, nil)
	c.Login(101, "u1")
	var seqs []string
	for i := range 50 {
		seqs = append(seqs, c.Send(protocol.CmdJoin, protocol.RoomData{Room: fmt.Sprintf("r%d", i)}))
	}
	for _, seq := range seqs {
		if r := c.Await(seq); r.Response.Code != protocol.OK {
			t.Fatalf("join %s: %+v", seq, r)
		}
	}
	refused := func(reason string) string {
		return metric(t, srv, `gows_room_joins_refused_total{reason="`+reason+`"}`)
	}
	if n := refused("max_rooms"); n != "0" {
		t.Fatalf("joins refused for max_rooms before any = %q, want 0", n)
	}
	join := func(room string) protocol.Response { return c.Call(protocol.CmdJoin, protocol.RoomData{Room: room}) }
	if r := join("one-too-many"); r.Response.Code != protocol.OperationFailure || !strings.Contains(r.Response.CodeMsg, "50 rooms") {
		t.Fatalf("join 51st room: %+v", r)
	}
	if n := refused("max_rooms"); n != "1" {
		t.Fatalf("joins refused for max_rooms = %q, want 1", n)
	}
	if r := join(""); r.Response.Code != protocol.ParameterIllegal {
		t.Fatalf("join without a room: %+v", r)
	}
	anon := testutil.Dial(t, srv.WSURL, nil)
	if r := anon.Call(protocol.CmdJoin, protocol.RoomData{Room: "r1"}); r.Response.Code != protocol.NotLoggedIn {
		t.Fatalf("join before login: %+v", r)
	}
	if a, b := refused("bad_request"), refused("not_logged_in"); a != "1" || b != "1" {
		t.Fatalf("joins refused: bad_request %q, not_logged_in %q; want 1 each", a, b)
	}
	if r := join("r7"); r.Response.Code != protocol.OK {
		t.Fatalf("join a room again: %+v", r)
	}
	if r := c.Call(protocol.CmdLeave, protocol.RoomData{Room: "r7"}); r.Response.Code != protocol.OK {
		t.Fatalf("leave: %+v", r)
	}
	if r := join("one-too-many"); r.Response.Code != protocol.OK {
		t.Fatalf("join after a leave: %+v", r)
	}
}

func TestWS_Timeouts(t *testing.T) {
	srv := testutil.StartServer(t, func(c *server.Config) {
		c.LoginTimeout = 200 * time.Millisecond
		c.HeartbeatTimeout = 400 * time.Millisecond
	})
	cases := []struct {
		name  string
		login bool
		code  protocol.CloseCode
	}{
		{"no login", false, protocol.CloseLoginTimeout},
		{"no heartbeat", true, protocol.CloseHeartbeatTimeout},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := testutil.Dial(t, srv.WSURL, nil)
			if tc.login {
				c.Login(101, "sleepy")
			}
			var ce *websocket.CloseError
			if err := c.ReadClose(); !errors.As(err, &ce) || ce.Code != int(tc.code) {
				t.Fatalf("closed with %v, want %d", err, tc.code)
			}
		})
	}
}

// WebSocket ping and pong frames are liveness: a logged-in connection that sends nothing
// else outlives its heartbeat timeout several times over. They do not log a connection
// in: one that only pings is still closed by the login timeout.
func TestWS_ControlFramesAreLiveness(t *testing.T) {
	// Wide enough that a busy machine stalling the process for most of a second does not
	// close a connection whose frames were due; the subtests run in parallel.
	const heartbeat = time.Second
	srv := testutil.StartServer(t, func(c *server.Config) {
		c.LoginTimeout = 300 * time.Millisecond
		c.HeartbeatTimeout = heartbeat
	})
	for _, op := range []int{websocket.PingMessage, websocket.PongMessage} {
		t.Run(fmt.Sprintf("opcode %d keeps a session", op), func(t *testing.T) {
			t.Parallel()
			c := testutil.Dial(t, srv.WSURL, nil)
			c.Login(uint32(200+op), "alive") // an app of its own: no presence notices
			defer controlFramesEvery(c, op, heartbeat/8)()
			// Nothing may arrive for three heartbeat timeouts: a close would.
			_ = c.Conn.SetReadDeadline(time.Now().Add(3 * heartbeat))
			_, b, err := c.Conn.ReadMessage()
			var ne interface{ Timeout() bool }
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatalf("read %q, %v; want a read timeout on a connection kept open by control frames", b, err)
			}
		})
	}
	t.Run("pings do not replace the login", func(t *testing.T) {
		t.Parallel()
		c := testutil.Dial(t, srv.WSURL, nil)
		defer controlFramesEvery(c, websocket.PingMessage, heartbeat/8)()
		var ce *websocket.CloseError
		if err := c.ReadClose(); !errors.As(err, &ce) || ce.Code != int(protocol.CloseLoginTimeout) {
			t.Fatalf("closed with %v, want %d", err, protocol.CloseLoginTimeout)
		}
	})
}

// controlFramesEvery sends c a control frame of type op at every tick until the returned
// stop is called (or a write fails: the connection closed).
func controlFramesEvery(c *testutil.Client, op int, every time.Duration) (stop func()) {
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if c.Conn.WriteControl(op, []byte("hi"), time.Now().Add(time.Second)) != nil {
					return
				}
			}
		}
	}()
	return func() { close(done); <-finished }
}

func TestWS_OversizeFrameCloses1009(t *testing.T) {
	srv := testutil.StartServer(t, func(c *server.Config) { c.MaxMessageBytes = 1024 })
	c := testutil.Dial(t, srv.WSURL, nil)
	c.WriteRaw([]byte(`{"seq":"1","cmd":"ping","data":"` + strings.Repeat("x", 2000) + `"}`))
	var ce *websocket.CloseError
	if err := c.ReadClose(); !errors.As(err, &ce) || ce.Code != int(protocol.CloseMessageTooBig) {
		t.Fatalf("closed with %v, want 1009", err)
	}
}

func TestWS_SlowConsumerIsDisconnectedOthersKeepReceiving(t *testing.T) {
	srv := testutil.StartServer(t, func(c *server.Config) { c.SendQueue = 4 })
	slow := testutil.Dial(t, srv.WSURL, nil) // never reads
	slow.Login(101, "slow")
	fast := testutil.Dial(t, srv.WSURL, nil)
	fast.Login(101, "fast")
	big := strings.Repeat("x", 32<<10)
	// Push to the slow client until the server gives up on it; bounded by count.
	disconnected := false
	for i := 0; i < 5000 && !disconnected; i++ {
		code, _ := pushForm(t, srv, "/user/sendMessage", url.Values{"appId": {"101"}, "userId": {"slow"}, "message": {big}}, 0)
		disconnected = code == http.StatusNotFound
	}
	if !disconnected {
		t.Fatal("slow consumer was never disconnected")
	}
	if st := getState(t, srv); st.SlowConsumers != 1 {
		t.Fatalf("slowConsumers = %d, want 1", st.SlowConsumers)
	}
	pushForm(t, srv, "/user/sendMessage", url.Values{"appId": {"101"}, "userId": {"fast"}, "message": {"ok"}}, http.StatusOK)
	if m := testutil.Data[protocol.Message](t, fast.Push(protocol.CmdMsg)); m.Msg != "ok" {
		t.Fatalf("fast got %+v", m)
	}
	metrics := httpGet(t, srv.HTTPURL+"/metrics")
	if !strings.Contains(metrics, "gows_slow_consumer_disconnects_total 1") {
		t.Fatalf("metrics do not count the slow consumer:\n%s", grepLines(metrics, "slow"))
	}
}

func TestWS_OriginPolicy(t *testing.T) {
	srv := testutil.StartServer(t, func(c *server.Config) { c.AllowedOrigins = []string{"*.trusted.example"} })
	cases := []struct {
		name   string
		origin string
		ok     bool
	}{
		{"no origin (non-browser)", "", true},
		{"same host, other port", "http://127.0.0.1:8080", true},
		{"allowed pattern", "https://chat.trusted.example", true},
		{"cross site", "https://evil.example", false},
		{"lookalike", "https://trusted.example.evil.example", false},
		{"null origin", "null", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.origin != "" {
				h.Set("Origin", tc.origin)
			}
			_, err := testutil.DialErr(t, srv.WSURL, h)
			if tc.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.ok && (err == nil || !strings.Contains(err.Error(), "HTTP 403")) {
				t.Fatalf("want HTTP 403, got %v", err)
			}
		})
	}
}

func TestWS_WrongPathAndPlainHTTP(t *testing.T) {
	srv := testutil.StartServer(t)
	if _, err := testutil.DialErr(t, strings.Replace(srv.WSURL, "/acc", "/nope", 1), nil); err == nil || !strings.Contains(err.Error(), "HTTP 404") {
		t.Fatalf("wrong path: %v", err)
	}
	resp, err := http.Get(strings.Replace(srv.WSURL, "ws://", "http://", 1))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired || !strings.Contains(string(body), "websocket") {
		t.Fatalf("plain GET: %d %s", resp.StatusCode, body)
	}
}

// With a drain delay, a stopping node goes on serving its connections while /readyz
// answers 503, and closes them (1001) only after the delay.
func TestServer_DrainDelayAnswersNotReadyFirst(t *testing.T) {
	const delay = 2 * time.Second
	srv := testutil.StartServer(t, func(c *server.Config) { c.DrainDelay = delay })
	alice := testutil.Dial(t, srv.WSURL, nil)
	alice.Login(101, "alice")
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- srv.Stop() }()
	testutil.Eventually(t, 10*time.Second, func() error {
		code, a := getJSON(t, srv.HTTPURL+"/readyz")
		if code != http.StatusServiceUnavailable {
			return fmt.Errorf("readyz answered %d %s, want 503", code, a.Msg)
		}
		return nil
	})
	// Still serving: a push reaches alice, whose connection is open.
	pushForm(t, srv, "/user/sendMessage", url.Values{"appId": {"101"}, "userId": {"alice"}, "message": {"still here"}}, http.StatusOK)
	if m := testutil.Data[protocol.Message](t, alice.Push(protocol.CmdMsg)); m.Msg != "still here" {
		t.Fatalf("alice got %+v", m)
	}
	var ce *websocket.CloseError
	if err := alice.ReadClose(); !errors.As(err, &ce) || ce.Code != int(protocol.CloseGoingAway) {
		t.Fatalf("closed with %v, want 1001", err)
	}
	if d := time.Since(start); d < delay {
		t.Fatalf("closed after %s, before the drain delay of %s", d, delay)
	}
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}

func TestServer_ShutdownClosesWith1001(t *testing.T) {
	srv := testutil.StartServer(t)
	var clients []*testutil.Client
	for i := range 10 {
		c := testutil.Dial(t, srv.WSURL, nil)
		c.Login(101, fmt.Sprint("u", i))
		clients = append(clients, c)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Stop() }()
	for _, c := range clients {
		var ce *websocket.CloseError
		if err := c.ReadClose(); !errors.As(err, &ce) || ce.Code != int(protocol.CloseGoingAway) {
			t.Fatalf("closed with %v, want 1001", err)
		}
		_ = c.Conn.Close()
	}
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}

// A node whose command queue is full answers "server busy" rather than queueing without
// bound, and the answer carries the refused request's seq, so that the client can tell
// which to retry: every request is answered, by its result or by "server busy".
func TestWS_ServerBusyAnswersCarryTheSeq(t *testing.T) {
	srv := testutil.StartServer(t, func(c *server.Config) { c.Workers = 1; c.MessageRate = 0 })
	c := testutil.Dial(t, srv.WSURL, nil)
	c.Login(101, "u1")
	const n = 5000
	var burst []byte // every request in one write: the node reads them faster than one worker runs them
	mask := [4]byte{1, 2, 3, 4}
	for i := range n {
		burst = wsframe.AppendFrame(burst, true, wsframe.OpText, fmt.Appendf(nil, `{"seq":"b%d","cmd":"users"}`, i), &mask)
	}
	if _, err := c.Conn.UnderlyingConn().Write(burst); err != nil {
		t.Fatal(err)
	}
	answered, busy := map[string]bool{}, 0
	for range n {
		r := c.NextResponse()
		if r.Response.Code == protocol.OperationFailure && r.Response.CodeMsg == "server busy, retry later" {
			busy++
		} else if r.Response.Code != protocol.OK {
			t.Fatalf("answer %+v", r)
		}
		if !strings.HasPrefix(r.Seq, "b") || answered[r.Seq] {
			t.Fatalf("answer with seq %q (answered before: %v): %+v", r.Seq, answered[r.Seq], r)
		}
		answered[r.Seq] = true
	}
	if busy == 0 {
		t.Fatalf("none of %d requests in one burst to one worker was refused as busy", n)
	}
	t.Logf("%d of %d answered server busy", busy, n)
}
