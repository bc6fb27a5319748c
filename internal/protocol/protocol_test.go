package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestDecode_Requests(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		wantSeq  string
		wantCmd  string
		wantData string // "" means no data member
	}{
		{
			name:     "seed login",
			in:       `{"seq":"1565336219141-266129","cmd":"login","data":{"userId":"u1","appId":101,"serviceToken":""}}`,
			wantSeq:  "1565336219141-266129",
			wantCmd:  CmdLogin,
			wantData: `{"userId":"u1","appId":101,"serviceToken":""}`,
		},
		{name: "no data", in: `{"seq":"2","cmd":"ping"}`, wantSeq: "2", wantCmd: CmdPing},
		{name: "null data", in: `{"seq":"3","cmd":"ping","data":null}`, wantSeq: "3", wantCmd: CmdPing, wantData: "null"},
		{name: "no seq", in: `{"cmd":"heartbeat","data":{"userId":"u1"}}`, wantCmd: CmdHeartbeat, wantData: `{"userId":"u1"}`},
		{name: "string data", in: `{"seq":"4","cmd":"x","data":"pong"}`, wantSeq: "4", wantCmd: "x", wantData: `"pong"`},
		{name: "whitespace around", in: " \n{ \"seq\" : \"5\" , \"cmd\" : \"users\" , \"data\" : { } }\t", wantSeq: "5", wantCmd: CmdUsers, wantData: `{ }`},
		{name: "unknown members ignored", in: `{"seq":"6","cmd":"join","extra":[1,2],"data":{"room":"r"}}`, wantSeq: "6", wantCmd: CmdJoin, wantData: `{"room":"r"}`},
		{name: "unicode seq", in: `{"seq":"s\u00e9q","cmd":"send","data":{}}`, wantSeq: "séq", wantCmd: CmdSend, wantData: `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Decode([]byte(tt.in))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if r.Seq != tt.wantSeq || r.Cmd != tt.wantCmd || string(r.Data) != tt.wantData {
				t.Fatalf("got seq %q cmd %q data %q, want %q %q %q", r.Seq, r.Cmd, r.Data, tt.wantSeq, tt.wantCmd, tt.wantData)
			}
		})
	}
}

func TestDecode_ErrorsSalvageSeq(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		wantSeq  string
		emptyCmd bool // the error wraps ErrEmptyCmd
	}{
		{name: "not JSON", in: `hello`},
		{name: "empty input", in: ``},
		{name: "truncated object", in: `{"seq":"7","cmd":"lo`},
		{name: "array", in: `[{"seq":"8","cmd":"login"}]`},
		{name: "cmd is a number", in: `{"seq":"9","cmd":5}`, wantSeq: "9"},
		{name: "cmd is an object", in: `{"seq":"10","cmd":{"a":1}}`, wantSeq: "10"},
		{name: "seq is a number", in: `{"seq":11,"cmd":"login"}`},
		{name: "missing cmd", in: `{"seq":"12","data":{}}`, wantSeq: "12", emptyCmd: true},
		{name: "empty cmd", in: `{"seq":"13","cmd":""}`, wantSeq: "13", emptyCmd: true},
		{name: "null", in: `null`, emptyCmd: true},
		{name: "empty object", in: `{}`, emptyCmd: true},
		{name: "trailing garbage", in: `{"seq":"14","cmd":"ping"} x`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.in))
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("want *DecodeError, got %v", err)
			}
			if de.Seq != tt.wantSeq {
				t.Errorf("salvaged seq %q, want %q", de.Seq, tt.wantSeq)
			}
			if got := errors.Is(err, ErrEmptyCmd); got != tt.emptyCmd {
				t.Errorf("errors.Is(err, ErrEmptyCmd) = %v, want %v (err %v)", got, tt.emptyCmd, err)
			}
			if !strings.HasPrefix(err.Error(), "decode request: ") {
				t.Errorf("error text %q does not say what failed", err)
			}
		})
	}
}

func TestLoginData_AcceptsBothSpellings(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    LoginData
		wantErr bool
	}{
		{name: "seed spelling", in: `{"userId":"u1","appId":101,"serviceToken":"t"}`, want: LoginData{ServiceToken: "t", AppID: 101, UserID: "u1"}},
		{name: "ID spelling", in: `{"userID":"u1","appID":101}`, want: LoginData{AppID: 101, UserID: "u1"}},
		{name: "mixed spelling", in: `{"userID":"u1","appId":102}`, want: LoginData{AppID: 102, UserID: "u1"}},
		{name: "appId as numeric string", in: `{"userId":"u1","appId":"101"}`, want: LoginData{AppID: 101, UserID: "u1"}},
		{name: "appID as numeric string", in: `{"userId":"u1","appID":"7"}`, want: LoginData{AppID: 7, UserID: "u1"}},
		{name: "appId largest uint32", in: `{"userId":"u1","appId":4294967295}`, want: LoginData{AppID: 4294967295, UserID: "u1"}},
		{name: "appId wins over appID", in: `{"userId":"u1","appId":1,"appID":2}`, want: LoginData{AppID: 1, UserID: "u1"}},
		{name: "appId zero falls back to appID", in: `{"userId":"u1","appId":0,"appID":2}`, want: LoginData{AppID: 2, UserID: "u1"}},
		{name: "userId wins over userID", in: `{"userId":"a","userID":"b"}`, want: LoginData{UserID: "a"}},
		{name: "empty userId falls back to userID", in: `{"userId":"","userID":"b"}`, want: LoginData{UserID: "b"}},
		{name: "appId null", in: `{"userId":"u1","appId":null}`, want: LoginData{UserID: "u1"}},
		{name: "appId empty string", in: `{"userId":"u1","appId":""}`, want: LoginData{UserID: "u1"}},
		{name: "no appId", in: `{"userId":"u1"}`, want: LoginData{UserID: "u1"}},
		{name: "empty object", in: `{}`, want: LoginData{}},
		{name: "appId negative", in: `{"userId":"u1","appId":-1}`, wantErr: true},
		{name: "appId fraction", in: `{"userId":"u1","appId":1.5}`, wantErr: true},
		{name: "appId exponent", in: `{"userId":"u1","appId":1e3}`, wantErr: true},
		{name: "appId above uint32", in: `{"userId":"u1","appId":4294967296}`, wantErr: true},
		{name: "appId word", in: `{"userId":"u1","appId":"abc"}`, wantErr: true},
		{name: "appId padded string", in: `{"userId":"u1","appId":" 101"}`, wantErr: true},
		{name: "appId bool", in: `{"userId":"u1","appId":true}`, wantErr: true},
		{name: "appId object", in: `{"userId":"u1","appId":{}}`, wantErr: true},
		{name: "bad appID spelling too", in: `{"userId":"u1","appID":"x"}`, wantErr: true},
		{name: "userId number", in: `{"userId":5,"appId":1}`, wantErr: true},
		{name: "not an object", in: `[1]`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got LoginData
			err := DecodeData(json.RawMessage(tt.in), &got)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("want an error, got %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeData: %v", err)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			// What gows writes (the seed spelling) reads back the same.
			b, err := json.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			var again LoginData
			if err := json.Unmarshal(b, &again); err != nil || again != got {
				t.Fatalf("re-decoding %s: %+v, %v", b, again, err)
			}
		})
	}
}

func TestLoginData_BadAppIDErrorNamesField(t *testing.T) {
	var d LoginData
	err := DecodeData(json.RawMessage(`{"appId":"abc"}`), &d)
	if err == nil || !strings.Contains(err.Error(), "appId") {
		t.Fatalf("want an error naming appId, got %v", err)
	}
}

func TestHeartbeatData_AcceptsBothSpellings(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr bool
	}{
		{name: "userId", in: `{"userId":"u1"}`, want: "u1"},
		{name: "userID", in: `{"userID":"u2"}`, want: "u2"},
		{name: "both", in: `{"userId":"u1","userID":"u2"}`, want: "u1"},
		{name: "empty object", in: `{}`, want: ""},
		{name: "wrong type", in: `{"userId":1}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d HeartbeatData
			err := DecodeData(json.RawMessage(tt.in), &d)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && d.UserID != tt.want {
				t.Fatalf("UserID = %q, want %q", d.UserID, tt.want)
			}
		})
	}
}

func TestDecodeData_MissingData(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		wantErr bool
	}{
		{name: "absent", data: "", wantErr: true},
		{name: "blank", data: " \n\t", wantErr: true},
		{name: "null", data: "null", wantErr: true},
		{name: "padded null", data: " null ", wantErr: true},
		{name: "empty object", data: "{}"},
		{name: "room", data: `{"room":"r1"}`},
		{name: "wrong shape", data: `"r1"`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d RoomData
			err := DecodeData(json.RawMessage(tt.data), &d)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
		})
	}
}

func TestEncodeRequest_RoundTrips(t *testing.T) {
	tests := []struct {
		name string
		cmd  string
		data any
		into func() any // a fresh value of data's type
	}{
		{name: "login", cmd: CmdLogin, data: &LoginData{ServiceToken: "tok", AppID: 101, UserID: "u1"}, into: func() any { return new(LoginData) }},
		{name: "heartbeat", cmd: CmdHeartbeat, data: &HeartbeatData{UserID: "u1"}, into: func() any { return new(HeartbeatData) }},
		{name: "send direct", cmd: CmdSend, data: &SendData{To: "u2", Type: TypeText, Msg: "hi <b>&</b>"}, into: func() any { return new(SendData) }},
		{name: "send room", cmd: CmdSend, data: &SendData{Room: "r", Type: TypeText, Msg: "héllo\n\"q\""}, into: func() any { return new(SendData) }},
		{name: "send app", cmd: CmdSend, data: &SendData{Msg: ""}, into: func() any { return new(SendData) }},
		{name: "join", cmd: CmdJoin, data: &RoomData{Room: "lobby"}, into: func() any { return new(RoomData) }},
		{name: "leave", cmd: CmdLeave, data: &RoomData{Room: "lobby"}, into: func() any { return new(RoomData) }},
		{name: "users of app", cmd: CmdUsers, data: &UsersData{}, into: func() any { return new(UsersData) }},
		{name: "users of room", cmd: CmdUsers, data: &UsersData{Room: "lobby"}, into: func() any { return new(UsersData) }},
		{name: "refresh", cmd: CmdRefresh, data: &RefreshData{ServiceToken: "t2"}, into: func() any { return new(RefreshData) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := EncodeRequest("seq-1", tt.cmd, tt.data)
			if err != nil {
				t.Fatal(err)
			}
			r, err := Decode(b)
			if err != nil {
				t.Fatalf("Decode(%s): %v", b, err)
			}
			if r.Seq != "seq-1" || r.Cmd != tt.cmd {
				t.Fatalf("got seq %q cmd %q", r.Seq, r.Cmd)
			}
			got := tt.into()
			if err := DecodeData(r.Data, got); err != nil {
				t.Fatalf("DecodeData(%s): %v", r.Data, err)
			}
			if !jsonEqual(t, got, tt.data) {
				t.Fatalf("round trip of %s: got %+v, want %+v", b, got, tt.data)
			}
		})
	}
}

func TestEncodeRequest_WithoutDataOmitsIt(t *testing.T) {
	b, err := EncodeRequest("1", CmdPing, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"seq":"1","cmd":"ping"}`; string(b) != want {
		t.Fatalf("got %s, want %s", b, want)
	}
}

func TestEncodeResponse_SeedShape(t *testing.T) {
	tests := []struct {
		name    string
		seq     string
		cmd     string
		code    Code
		codeMsg string
		data    any
		want    string
	}{
		{
			name: "login ok", seq: "1565336219141-266129", cmd: CmdLogin, code: OK,
			want: `{"seq":"1565336219141-266129","cmd":"login","response":{"code":200,"codeMsg":"Success","data":null}}`,
		},
		{
			name: "ping pong", seq: "2", cmd: CmdPing, code: OK, data: "pong",
			want: `{"seq":"2","cmd":"ping","response":{"code":200,"codeMsg":"Success","data":"pong"}}`,
		},
		{
			name: "not logged in", seq: "3", cmd: CmdSend, code: NotLoggedIn,
			want: `{"seq":"3","cmd":"send","response":{"code":1000,"codeMsg":"not logged in","data":null}}`,
		},
		{
			name: "custom message", seq: "4", cmd: CmdLogin, code: ParameterIllegal, codeMsg: "userId: 1..64 characters",
			want: `{"seq":"4","cmd":"login","response":{"code":1001,"codeMsg":"userId: 1..64 characters","data":null}}`,
		},
		{
			name: "users", seq: "5", cmd: CmdUsers, code: OK, data: UsersResult{UserCount: 2, UserList: []string{"a", "b"}},
			want: `{"seq":"5","cmd":"users","response":{"code":200,"codeMsg":"Success","data":{"userCount":2,"userList":["a","b"]}}}`,
		},
		{
			name: "raw data", seq: "6", cmd: CmdJoin, code: OK, data: json.RawMessage(`{"room":"r","userCount":3}`),
			want: `{"seq":"6","cmd":"join","response":{"code":200,"codeMsg":"Success","data":{"room":"r","userCount":3}}}`,
		},
		{
			name: "unknown cmd", seq: "7", cmd: "nope", code: RoutingNotExist,
			want: `{"seq":"7","cmd":"nope","response":{"code":1010,"codeMsg":"route does not exist","data":null}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := EncodeResponse(tt.seq, tt.cmd, tt.code, tt.codeMsg, tt.data)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Fatalf("got  %s\nwant %s", b, tt.want)
			}
			r, err := DecodeResponse(b)
			if err != nil {
				t.Fatal(err)
			}
			if r.Seq != tt.seq || r.Cmd != tt.cmd || r.Response.Code != tt.code {
				t.Fatalf("DecodeResponse: %+v", r)
			}
		})
	}
}

func TestEncodeResponse_UnencodableData(t *testing.T) {
	if _, err := EncodeResponse("1", CmdPing, OK, "", make(chan int)); err == nil {
		t.Fatal("want an error for data that JSON cannot encode")
	}
	if _, err := EncodeRequest("1", CmdPing, func() {}); err == nil {
		t.Fatal("want an error for data that JSON cannot encode")
	}
}

func TestEncodePush_SeedShape(t *testing.T) {
	tests := []struct {
		name string
		cmd  string
		msg  Message
		want string
	}{
		{
			name: "msg", cmd: CmdMsg, msg: Message{Type: TypeText, Msg: "hello", From: "u2"},
			want: `{"seq":"m1","cmd":"msg","response":{"code":200,"codeMsg":"Ok","data":{"target":"","type":"text","msg":"hello","from":"u2"}}}`,
		},
		{
			name: "room msg", cmd: CmdMsg, msg: Message{Target: "lobby", Type: TypeText, Msg: "hi", From: "u2"},
			want: `{"seq":"m1","cmd":"msg","response":{"code":200,"codeMsg":"Ok","data":{"target":"lobby","type":"text","msg":"hi","from":"u2"}}}`,
		},
		{
			name: "enter", cmd: CmdEnter, msg: Message{Type: TypeEnter, From: "u3"},
			want: `{"seq":"m1","cmd":"enter","response":{"code":200,"codeMsg":"Ok","data":{"target":"","type":"enter","msg":"","from":"u3"}}}`,
		},
		{
			name: "kickout", cmd: CmdKickout, msg: Message{Type: TypeKickout, Msg: "logged in elsewhere"},
			want: `{"seq":"m1","cmd":"kickout","response":{"code":200,"codeMsg":"Ok","data":{"target":"","type":"kickout","msg":"logged in elsewhere","from":""}}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := EncodePush("m1", tt.cmd, tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Fatalf("got  %s\nwant %s", b, tt.want)
			}
			r, err := DecodeResponse(b)
			if err != nil {
				t.Fatal(err)
			}
			var m Message
			if err := json.Unmarshal(r.Response.Data, &m); err != nil || m != tt.msg {
				t.Fatalf("push data %s decodes to %+v, %v", r.Response.Data, m, err)
			}
		})
	}
}

func TestDecodeResponse(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		wantErr  bool
		wantSeq  string
		wantCode Code
	}{
		{name: "answer", in: `{"seq":"1","cmd":"ping","response":{"code":200,"codeMsg":"Success","data":"pong"}}`, wantSeq: "1", wantCode: OK},
		{
			// The answer to a request that could not be decoded has no cmd.
			name: "answer without cmd", in: `{"seq":"7","cmd":"","response":{"code":1001,"codeMsg":"invalid request","data":null}}`,
			wantSeq: "7", wantCode: ParameterIllegal,
		},
		{name: "not JSON", in: `{`, wantErr: true},
		{name: "code is a string", in: `{"seq":"1","cmd":"x","response":{"code":"200"}}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := DecodeResponse([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && (r.Seq != tt.wantSeq || r.Response.Code != tt.wantCode) {
				t.Fatalf("got %+v", r)
			}
		})
	}
}

func TestValidUserIDAndRoom(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{name: "empty", in: "", want: false},
		{name: "one byte", in: "a", want: true},
		{name: "typical", in: "user-42_x.y@z", want: true},
		{name: "space inside", in: "Jane Doe", want: true},
		{name: "64 ASCII characters", in: strings.Repeat("a", 64), want: true},
		{name: "65 ASCII characters", in: strings.Repeat("a", 65), want: false},
		{name: "64 3-byte characters", in: strings.Repeat("世", 64), want: true},
		{name: "65 3-byte characters", in: strings.Repeat("世", 65), want: false},
		{name: "64 emoji is 256 bytes", in: strings.Repeat("😀", 64), want: true},
		{name: "65 emoji", in: strings.Repeat("😀", 65), want: false},
		{name: "33 two-byte characters", in: strings.Repeat("é", 33), want: true},
		{name: "NUL", in: "a\x00b", want: false},
		{name: "newline", in: "a\nb", want: false},
		{name: "tab", in: "a\tb", want: false},
		{name: "escape", in: "\x1b[31mred", want: false},
		{name: "DEL", in: "a\x7f", want: false},
		{name: "C1 control NEL", in: "a\u0085b", want: false},
		{name: "C1 control CSI", in: "\u009b31m", want: false},
		{name: "Latin-1 letter after C1 range", in: "\u00e9t\u00e9", want: true},
		{name: "invalid UTF-8", in: "a\xffb", want: false},
		{name: "truncated UTF-8", in: "a\xe4\xb8", want: false},
		{name: "surrogate bytes", in: "\xed\xa0\x80", want: false},
		{name: "only spaces", in: "   ", want: false},
		{name: "leading space", in: " bob", want: false},
		{name: "trailing ideographic space", in: "bob\u3000", want: false},
		{name: "right-to-left override", in: "bob\u202etxt.exe", want: false},
		{name: "right-to-left isolate", in: "\u2067bob", want: false},
		{name: "left-to-right mark", in: "bob\u200e", want: false},
		{name: "Hebrew", in: "\u05e9\u05dc\u05d5\u05dd", want: true},
		{name: "emoji with zero-width joiners", in: "\U0001F468\u200d\U0001F469\u200d\U0001F467", want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidUserID(tt.in); got != tt.want {
				t.Errorf("ValidUserID(%q) = %v, want %v", tt.in, got, tt.want)
			}
			if got := ValidRoom(tt.in); got != tt.want {
				t.Errorf("ValidRoom(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

// jsonEqual compares two values by their JSON encoding.
func jsonEqual(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(ja) == string(jb)
}

func TestFastPaths_AgreeWithEncodingJSON(t *testing.T) {
	requests := []string{
		`{"seq":"1","cmd":"heartbeat","data":{"userId":"u1"}}`,
		`{"seq":"1","cmd":"ping"}`,
		`{"seq":"1","cmd":"ping","data":null}`,
		` {"seq":"1","cmd":"x","data": [1, 2] } `,
		`{"seq":"1","cmd":"x","data":{"a":1},"cmd":"y"}`, // a later cmd wins: not fast
		`{"seq":"1","cmd":"x","data":{"a":1}`,            // truncated
		`{"seq":"1","cmd":"x","data":}`,
		`{"seq":"a\"b","cmd":"x"}`,
		`{"seq":"<b>","cmd":"x"}`,
		`{"seq":"é","cmd":"x"}`,
		`{"seq":"1","cmd":""}`,
		`{"cmd":"x","seq":"1"}`,
		`{"seq":1,"cmd":"x"}`,
	}
	for _, in := range requests {
		checkDecodeFast(t, []byte(in))
		got, gerr := Decode([]byte(in))
		want, werr := decodeSlow([]byte(in))
		if (gerr == nil) != (werr == nil) || got.Seq != want.Seq || got.Cmd != want.Cmd || !bytes.Equal(got.Data, want.Data) {
			t.Errorf("Decode(%s) = %+v, %v; encoding/json: %+v, %v", in, got, gerr, want, werr)
		}
	}
	if _, ok := decodeFast([]byte(requests[0])); !ok {
		t.Error("a heartbeat as bench and the chat clients write it misses the fast path")
	}
	logins := []string{
		`{"userId":"u1","appId":101,"serviceToken":""}`,
		`{"appId":101,"userId":"u1"}`,
		`{"serviceToken":"a.b.c","appID":7,"userID":"u2"}`,
		`{"appId":0,"appID":9,"userId":"","userID":"alt"}`,
		`{"appId":4294967295,"userId":"u"}`,
		`{"appId":4294967296,"userId":"u"}`, // too big: encoding/json's error
		`{"appId":0101,"userId":"u"}`,
		`{"appId":1.5,"userId":"u"}`,
		`{"appId":"101","userId":"u"}`,
		`{"userId":"u","userId":"v"}`,
		`{"USERID":"u"}`,
		`{"userId":"a\"b"}`,
		`{"userId":"u",}`,
		`{"userId":"u"} `,
		`{}`,
	}
	for _, in := range logins {
		checkDataFast(t, []byte(in))
		var got, want LoginData
		gerr, werr := DecodeData([]byte(in), &got), json.Unmarshal([]byte(in), &want)
		if (gerr == nil) != (werr == nil) || (gerr == nil && got != want) {
			t.Errorf("DecodeData(%s) = %+v, %v; encoding/json: %+v, %v", in, got, gerr, want, werr)
		}
	}
	if !decodeLoginFast([]byte(logins[1]), new(LoginData)) {
		t.Error("a login as bench writes it misses the fast path")
	}
	for _, v := range []any{
		HeartbeatData{UserID: "u1"}, HeartbeatData{UserID: "a<b"}, HeartbeatData{},
		LoginData{AppID: 101, UserID: "u1"}, LoginData{ServiceToken: "t", AppID: 1, UserID: "é"}, LoginData{ServiceToken: "x.y", UserID: "u"},
	} {
		got, err := EncodeRequest("9", "login", v)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(v)
		want, _ := json.Marshal(Request{Seq: "9", Cmd: "login", Data: raw})
		if !bytes.Equal(got, want) {
			t.Errorf("EncodeRequest(%+v) = %s; encoding/json: %s", v, got, want)
		}
	}
	responses := []string{
		`{"seq":"7","cmd":"heartbeat","response":{"code":200,"codeMsg":"Success","data":null}}`,
		`{"seq":"7","cmd":"msg","response":{"code":200,"codeMsg":"Ok","data":{"msg":"}}"}}}`,
		`{"seq":"7","cmd":"x","response":{"code":020,"codeMsg":"Ok","data":null}}`,
		`{"seq":"7","cmd":"x","response":{"code":-1,"codeMsg":"Ok","data":null}}`,
		`{"seq":"7","cmd":"x","response":{"code":200,"codeMsg":"Ok","data":null},"seq":"8"}}`,
		`{"seq":"7","cmd":"x","response":{"code":200,"codeMsg":"Ok","data":nul}}`,
	}
	for _, in := range responses {
		checkResponseFast(t, []byte(in))
	}
	if _, ok := decodeResponseFast([]byte(responses[0])); !ok {
		t.Error("a heartbeat answer misses the fast path")
	}
	for _, c := range []struct {
		seq, codeMsg string
		data         any
	}{
		{"1", "Success", nil}, {"<1>", "Success", nil}, {"1", "not \"ok\"", "a<b"},
		{"1", "Ok", Message{Msg: "x & y"}}, {"日本", "Ok", nil}, {"1", "Ok", json.RawMessage(`{"a" : 1}`)},
	} {
		got, err := EncodeResponse(c.seq, "x", OK, c.codeMsg, c.data)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := marshalData(c.data)
		if raw == nil {
			raw = json.RawMessage("null")
		}
		want, _ := json.Marshal(Response{Seq: c.seq, Cmd: "x", Response: Result{Code: OK, CodeMsg: c.codeMsg, Data: raw}})
		if !bytes.Equal(got, want) {
			t.Errorf("EncodeResponse(%q, %q, %v) = %s; encoding/json: %s", c.seq, c.codeMsg, c.data, got, want)
		}
	}
}

// The envelopes of a heartbeat and its answer, the commonest messages on a busy node:
// go test -bench . ./internal/protocol compares the fast paths with encoding/json.
var (
	benchRequest  = []byte(`{"seq":"123456","cmd":"heartbeat","data":{"userId":"user-123456"}}`)
	benchResponse = []byte(`{"seq":"123456","cmd":"heartbeat","response":{"code":200,"codeMsg":"Success","data":null}}`)
)

func BenchmarkDecodeData_Login(b *testing.B) {
	data := []byte(`{"appId":101,"userId":"user-123456"}`)
	for b.Loop() {
		var d LoginData
		if err := DecodeData(data, &d); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeData_LoginEncodingJSON(b *testing.B) {
	data := []byte(`{"appId":101,"userId":"user-123456"}`)
	for b.Loop() {
		var d LoginData
		if err := json.Unmarshal(data, &d); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeRequest_Heartbeat(b *testing.B) {
	for b.Loop() {
		if _, err := EncodeRequest("123456", CmdHeartbeat, HeartbeatData{UserID: "user-123456"}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeRequest_HeartbeatEncodingJSON(b *testing.B) {
	for b.Loop() {
		raw, err := json.Marshal(HeartbeatData{UserID: "user-123456"})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := json.Marshal(Request{Seq: "123456", Cmd: CmdHeartbeat, Data: raw}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode_Heartbeat(b *testing.B) {
	for b.Loop() {
		if _, err := Decode(benchRequest); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode_HeartbeatEncodingJSON(b *testing.B) {
	for b.Loop() {
		if _, err := decodeSlow(benchRequest); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeResponse_Heartbeat(b *testing.B) {
	for b.Loop() {
		if _, err := EncodeResponse("123456", CmdHeartbeat, OK, "", nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeResponse_HeartbeatEncodingJSON(b *testing.B) {
	for b.Loop() {
		r := Response{Seq: "123456", Cmd: CmdHeartbeat, Response: Result{Code: OK, CodeMsg: OK.Text(), Data: json.RawMessage("null")}}
		if _, err := json.Marshal(r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeResponse_Heartbeat(b *testing.B) {
	for b.Loop() {
		if _, err := DecodeResponse(benchResponse); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeResponse_HeartbeatEncodingJSON(b *testing.B) {
	for b.Loop() {
		var r Response
		if err := json.Unmarshal(benchResponse, &r); err != nil {
			b.Fatal(err)
		}
	}
}
