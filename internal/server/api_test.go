package server_test

import (
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gows-dev/gows/internal/protocol"
	"github.com/gows-dev/gows/internal/server"
	"github.com/gows-dev/gows/internal/server/api"
	"github.com/gows-dev/gows/internal/testutil"
)

// answer is the seed-shaped body of every API answer.
type answer struct {
	Code protocol.Code   `json:"code"`
	Msg  string          `json:"msg"`
	Data json.RawMessage `json:"data"`
}

func do(t *testing.T, req *http.Request) (int, answer) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var a answer
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatalf("%s %s: body %q is not JSON: %v", req.Method, req.URL, b, err)
	}
	return resp.StatusCode, a
}

// pushForm POSTs a form; a non-zero want is checked against the HTTP status.
func pushForm(t *testing.T, srv *testutil.Server, path string, v url.Values, want int) (int, answer) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.HTTPURL+path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	code, a := do(t, req)
	if want != 0 && code != want {
		t.Fatalf("POST %s: HTTP %d (%d %s), want %d", path, code, a.Code, a.Msg, want)
	}
	return code, a
}

// multipartType is the Content-Type of multipartBody's bodies.
const multipartType = "multipart/form-data; boundary=gows-test-boundary"

// multipartBody encodes name/value pairs as a multipart/form-data body (what curl -F and
// PHP's curl with an array of fields send).
func multipartBody(pairs ...string) string {
	var b strings.Builder
	w := multipart.NewWriter(&b)
	if err := w.SetBoundary("gows-test-boundary"); err != nil {
		panic(err)
	}
	for i := 0; i+1 < len(pairs); i += 2 {
		if err := w.WriteField(pairs[i], pairs[i+1]); err != nil {
			panic(err)
		}
	}
	if err := w.Close(); err != nil {
		panic(err)
	}
	return b.String()
}

func getJSON(t *testing.T, rawURL string) (int, answer) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, rawURL, nil)
	return do(t, req)
}

func getState(t *testing.T, srv *testutil.Server) api.State {
	t.Helper()
	code, a := getJSON(t, srv.HTTPURL+"/system/state")
	if code != 200 {
		t.Fatalf("state: %d %+v", code, a)
	}
	var st api.State
	if err := json.Unmarshal(a.Data, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func httpGet(t *testing.T, rawURL string) string {
	t.Helper()
	resp, err := http.Get(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestAPI_Routes(t *testing.T) {
	srv := testutil.StartServer(t)
	u1 := testutil.Dial(t, srv.WSURL, nil)
	u1.Login(101, "u1")
	u2 := testutil.Dial(t, srv.WSURL, nil)
	u2.Login(101, "u2")
	if r := u2.Call(protocol.CmdJoin, protocol.RoomData{Room: "r1"}); r.Response.Code != 200 {
		t.Fatal(r)
	}

	cases := []struct {
		name     string
		method   string
		path     string
		body     string
		ctype    string
		status   int
		code     protocol.Code
		contains string // in the data or message
	}{
		{"user list", "GET", "/user/list?appId=101", "", "", 200, 200, `"userList":["u1","u2"]`},
		{"user list seed spelling", "GET", "/user/list?appID=101", "", "", 200, 200, `"userCount":2,"userList":["u1","u2"]`},
		{"user list page", "GET", "/user/list?appId=101&limit=1", "", "", 200, 200, `"nextCursor":"u1"`},
		{"user list next page", "GET", "/user/list?appId=101&limit=1&cursor=u1", "", "", 200, 200, `"userList":["u2"]`},
		{"user list without appId", "GET", "/user/list", "", "", 400, 1001, "appId: is required"},
		{"user list bad limit", "GET", "/user/list?appId=101&limit=0", "", "", 400, 1001, "limit"},
		{"online yes", "GET", "/user/online?appId=101&userId=u1", "", "", 200, 200, `"online":true`},
		{"online alt spelling", "GET", "/user/online?appID=101&userID=u2", "", "", 200, 200, `"online":true`},
		{"online no", "GET", "/user/online?appId=101&userId=ghost", "", "", 200, 200, `"online":false`},
		{"online without userId", "GET", "/user/online?appId=101", "", "", 400, 1001, "userId: is required"},
		{"send form", "POST", "/user/sendMessage", "appId=101&userId=u1&msgId=m1&message=hello", "application/x-www-form-urlencoded", 200, 200, `"delivered":1`},
		{"send json", "POST", "/user/sendMessage", `{"appId":101,"userId":"u1","msgId":"m2","message":"hi"}`, "application/json", 200, 200, `"msgId":"m2"`},
		{"send duplicate", "POST", "/user/sendMessage", "appId=101&userId=u1&msgId=m1&message=hello", "application/x-www-form-urlencoded", 200, 200, `"duplicate":true`},
		{"send offline", "POST", "/user/sendMessage", "appId=101&userId=ghost&msgId=m3&message=hello", "application/x-www-form-urlencoded", 404, 1005, "not online"},
		{"send offline retried", "POST", "/user/sendMessage", "appId=101&userId=ghost&msgId=m3&message=hello", "application/x-www-form-urlencoded", 404, 1005, "not online"},
		{"send without message", "POST", "/user/sendMessage", "appId=101&userId=u1", "application/x-www-form-urlencoded", 400, 1001, "message: is required"},
		{"send with only appId names the user first", "POST", "/user/sendMessage", "appId=101", "application/x-www-form-urlencoded", 400, 1001, "userId: is required"},
		{"room send with only appId names the room first", "POST", "/room/sendMessage", "appId=101", "application/x-www-form-urlencoded", 400, 1001, "room: is required"},
		{"send with GET", "GET", "/user/sendMessage?appId=101&userId=u1&message=x", "", "", 405, 1010, "POST"},
		{"send bad json", "POST", "/user/sendMessage", `{"appId":`, "application/json", 400, 1001, "invalid JSON"},
		{"send form over 1 MiB", "POST", "/user/sendMessageAll", "appId=101&message=" + strings.Repeat("x", 1<<20), "application/x-www-form-urlencoded", 413, 1001, "body: must be at most 1048576 bytes"},
		{"send json over 1 MiB", "POST", "/user/sendMessageAll", `{"appId":101,"message":"` + strings.Repeat("x", 1<<20) + `"}`, "application/json", 413, 1001, "body: must be at most 1048576 bytes"},
		{"send json with data after it", "POST", "/user/sendMessage", `{"appId":101,"userId":"u1","message":"x"}{}`, "application/json", 400, 1001, "body: invalid JSON object: data after the JSON object"},
		{"send json with white space after it", "POST", "/user/sendMessage", "{\"appId\":101,\"userId\":\"ghost\",\"message\":\"x\"}\n ", "application/json", 404, 1005, "not online"},
		{"send type of 32 characters", "POST", "/user/sendMessage", "appId=101&userId=ghost&message=x&type=" + strings.Repeat("t", 32), "application/x-www-form-urlencoded", 404, 1005, "not online"},
		{"send type of 33 characters", "POST", "/user/sendMessageAll", "appId=101&message=x&type=" + strings.Repeat("t", 33), "application/x-www-form-urlencoded", 400, 1001, "type: must be 1..32 printable characters"},
		{"send json array", "POST", "/user/sendMessage", `[{"appId":101}]`, "application/json", 400, 1001, "body: must be a JSON object, got array"},
		{"send bad sender", "POST", "/user/sendMessage", "appId=101&userId=u1&from=%01&message=x", "application/x-www-form-urlencoded", 400, 1001, "from: sender must be"},
		{"send msgId of 128 characters", "POST", "/user/sendMessage", "appId=101&userId=ghost&message=x&msgId=" + strings.Repeat("%C3%A9", 128), "application/x-www-form-urlencoded", 404, 1005, "not online"},
		{"send msgId of 129 characters", "POST", "/user/sendMessage", "appId=101&userId=ghost&message=x&msgId=" + strings.Repeat("e", 129), "application/x-www-form-urlencoded", 400, 1001, "msgId: must be at most 128 characters"},
		// The seed's clients spell appID, userID and msgID, as gin's c.PostForm read them.
		{"send seed spelling", "POST", "/user/sendMessage", "appID=101&userID=u1&msgID=s1&message=seed", "application/x-www-form-urlencoded", 200, 200, `"msgId":"s1","delivered":1`},
		{"send seed spelling duplicate", "POST", "/user/sendMessage", "appID=101&userID=u1&msgID=s1&message=seed", "application/x-www-form-urlencoded", 200, 200, `"duplicate":true`},
		{"send multipart", "POST", "/user/sendMessage", multipartBody("appID", "101", "userID", "u1", "msgID", "mp1", "message", "multi"), multipartType, 200, 200, `"msgId":"mp1","delivered":1`},
		{"send multipart without boundary", "POST", "/user/sendMessage", "appId=101", "multipart/form-data", 400, 1001, "body: invalid multipart form body"},
		{"send text/plain", "POST", "/user/sendMessage", "appId=101&userId=u1&message=x", "text/plain;charset=UTF-8", 415, 1001, `body: Content-Type "text/plain;charset=UTF-8" is not read`},
		{"send without Content-Type", "POST", "/user/sendMessage", "appId=101&userId=u1&message=x", "", 415, 1001, "send a form"},
		{"send in the query, empty text/plain body", "POST", "/user/sendMessage?appId=101&userId=ghost&message=x", "", "text/plain", 404, 1005, "not online"},
		{"send all", "POST", "/user/sendMessageAll", "appId=101&userId=u1&msgId=a1&message=all", "application/x-www-form-urlencoded", 200, 200, `"delivered":2`},
		{"send all seed spelling", "POST", "/user/sendMessageAll", "appID=101&userID=u1&msgID=a2&message=all2", "application/x-www-form-urlencoded", 200, 200, `"delivered":2`},
		{"room send", "POST", "/room/sendMessage", "appId=101&room=r1&userId=u1&msgId=r1&message=room", "application/x-www-form-urlencoded", 200, 200, `"delivered":1`},
		{"room send without room", "POST", "/room/sendMessage", "appId=101&userId=u1&message=room", "application/x-www-form-urlencoded", 400, 1001, "room: is required"},
		{"room send bad sender", "POST", "/room/sendMessage", "appId=101&room=r1&userID=%01&message=room", "application/x-www-form-urlencoded", 400, 1001, "userID: sender must be"},
		{"room users", "GET", "/room/users?appId=101&room=r1", "", "", 200, 200, `"userList":["u2"]`},
		{"state", "GET", "/system/state", "", "", 200, 200, `"users":2`},
		{"healthz", "GET", "/healthz", "", "", 200, 200, "ok"},
		{"readyz", "GET", "/readyz", "", "", 200, 200, "ready"},
		{"unknown route", "GET", "/nope", "", "", 404, 1010, "no route"},
		{"unknown page asset", "GET", "/static/nope.js", "", "", 404, 1010, "no route /static/nope.js"},
		{"page with POST", "POST", "/", "a=1", "application/x-www-form-urlencoded", 405, 1010, "use GET"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.HTTPURL+tc.path, strings.NewReader(tc.body))
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			status, a := do(t, req)
			if status != tc.status || a.Code != tc.code {
				t.Fatalf("HTTP %d code %d (%s), want %d/%d", status, a.Code, a.Msg, tc.status, tc.code)
			}
			if !strings.Contains(string(a.Data)+a.Msg, tc.contains) {
				t.Fatalf("answer %s %s does not contain %s", a.Msg, a.Data, tc.contains)
			}
		})
	}
	// What the clients received: u1 got m1 once (not the duplicate), m2, and the app push;
	// u2 got the app push and the room push.
	var got []string
	for range 6 {
		got = append(got, testutil.Data[protocol.Message](t, u1.Push(protocol.CmdMsg)).Msg)
	}
	if strings.Join(got, ",") != "hello,hi,seed,multi,all,all2" {
		t.Fatalf("u1 got %v", got)
	}
	for _, want := range []string{"all", "all2"} {
		if m := testutil.Data[protocol.Message](t, u2.Push(protocol.CmdMsg)); m.Msg != want || m.From != "u1" {
			t.Fatalf("u2 got %+v, want %q from u1", m, want)
		}
	}
	if m := testutil.Data[protocol.Message](t, u2.Push(protocol.CmdMsg)); m.Msg != "room" || m.Target != "r1" {
		t.Fatalf("u2 got %+v", m)
	}
	// The pushes carry the msgId as seq.
	if r := u1.Call(protocol.CmdPing, nil); r.Response.Code != 200 {
		t.Fatal(r)
	}
	for _, p := range u1.Pending() {
		if p.Cmd != protocol.CmdMsg {
			continue // enter notices
		}
		t.Fatalf("u1 got an unexpected extra push (duplicate delivered?): %+v", p)
	}
}

// A client forwarded by a trusted proxy is listed by the address the proxy names, without
// the port 0 that stands for "port unknown" (not "203.0.113.9:0").
func TestOnline_ForwardedClientAddressHasNoPort(t *testing.T) {
	s := testutil.StartServer(t, func(c *server.Config) { c.TrustedProxies = []string{"127.0.0.0/8", "::1"} })
	c := testutil.Dial(t, s.WSURL, http.Header{"X-Forwarded-For": {"203.0.113.9"}})
	c.Login(101, "u1")
	code, p := online(t, s, "u1")
	if code != http.StatusOK || !p.Online || p.Addr != "203.0.113.9" {
		t.Fatalf("online: %d %+v, want online from 203.0.113.9", code, p)
	}
}
