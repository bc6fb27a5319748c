// Package protocol defines the gows WebSocket wire format, shared by the server, bench, the
// terminal chat client and the admin client.
//
// The format is the gowebsocket seed's JSON envelope, carried in text frames:
//
//	request:  {"seq":"1565336219141-266129","cmd":"login","data":{...}}
//	response: {"seq":"1565336219141-266129","cmd":"login","response":{"code":200,"codeMsg":"Success","data":null}}
//	push:     {"seq":"<msgId>","cmd":"msg","response":{"code":200,"codeMsg":"Ok","data":{...}}}
//
// The package does no I/O and has no dependencies outside the standard library.
package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// Commands a client sends. Each is answered by a Response with the same seq and cmd.
const (
	CmdLogin     = "login"     // authenticate: LoginData
	CmdHeartbeat = "heartbeat" // keep the session alive: HeartbeatData
	CmdPing      = "ping"      // answered with data "pong"; needs no login
	CmdSend      = "send"      // send a chat message: SendData
	CmdJoin      = "join"      // join a room: RoomData
	CmdLeave     = "leave"     // leave a room: RoomData
	CmdUsers     = "users"     // list online users of the app or of a room: UsersData
	CmdRefresh   = "refresh"   // replace the login token before it expires: RefreshData
	CmdLogout    = "logout"    // end the session without closing the socket
)

// Pushes the server sends without a request. Their Response.Data is a Message.
const (
	CmdMsg     = "msg"     // a chat or business message
	CmdEnter   = "enter"   // a user of the same app (or room) came online
	CmdExit    = "exit"    // a user of the same app (or room) went offline
	CmdKickout = "kickout" // this session is being closed; Message.Msg says why
)

// MaxUserIDLen is the longest accepted user id, in characters (Unicode code points; at
// most 4 bytes each in UTF-8).
const MaxUserIDLen = 64

// MaxRoomLen is the longest accepted room name, in characters.
const MaxRoomLen = 64

// Request is a message from client to server.
type Request struct {
	Seq  string          `json:"seq"`
	Cmd  string          `json:"cmd"`
	Data json.RawMessage `json:"data,omitempty"`
}

// Response is a message from server to client: the answer to a Request, or a push.
type Response struct {
	Seq      string `json:"seq"`
	Cmd      string `json:"cmd"`
	Response Result `json:"response"`
}

// Result is the body of a Response.
type Result struct {
	Code    Code            `json:"code"`
	CodeMsg string          `json:"codeMsg"`
	Data    json.RawMessage `json:"data"`
}

// LoginData is the data of a login request. Both appId/appID and userId/userID are accepted.
type LoginData struct {
	ServiceToken string `json:"serviceToken,omitempty"`
	AppID        uint32 `json:"appId"`
	UserID       string `json:"userId"`
}

// UnmarshalJSON accepts the seed's two spellings of appId and userId, and an appId given as a
// number or as a numeric string.
func (d *LoginData) UnmarshalJSON(b []byte) error {
	var raw struct {
		ServiceToken string    `json:"serviceToken"`
		AppID        flexAppID `json:"appId"`
		AppIDAlt     flexAppID `json:"appID"`
		UserID       string    `json:"userId"`
		UserIDAlt    string    `json:"userID"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	d.ServiceToken = raw.ServiceToken
	d.AppID = uint32(raw.AppID)
	if d.AppID == 0 {
		d.AppID = uint32(raw.AppIDAlt)
	}
	d.UserID = raw.UserID
	if d.UserID == "" {
		d.UserID = raw.UserIDAlt
	}
	return nil
}

// HeartbeatData is the data of a heartbeat request. UserID is informational: the server
// keeps the session of the connection that sent it alive.
type HeartbeatData struct {
	UserID string `json:"userId"`
}

// UnmarshalJSON accepts userId and userID.
func (d *HeartbeatData) UnmarshalJSON(b []byte) error {
	var raw struct {
		UserID    string `json:"userId"`
		UserIDAlt string `json:"userID"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	d.UserID = raw.UserID
	if d.UserID == "" {
		d.UserID = raw.UserIDAlt
	}
	return nil
}

// SendData is the data of a send request: to one user (To), to a room (Room), or, with
// neither, to every user of the sender's app.
type SendData struct {
	To   string `json:"to,omitempty"`
	Room string `json:"room,omitempty"`
	Type string `json:"type,omitempty"`
	Msg  string `json:"msg"`
}

// RoomData is the data of join and leave requests.
type RoomData struct {
	Room string `json:"room"`
}

// UsersData is the data of a users request; an empty Room lists the whole app.
type UsersData struct {
	Room string `json:"room,omitempty"`
}

// UsersResult is the data of the answer to a users request.
type UsersResult struct {
	UserCount int      `json:"userCount"`
	UserList  []string `json:"userList"`
}

// RefreshData is the data of a refresh request: a new login token.
type RefreshData struct {
	ServiceToken string `json:"serviceToken"`
}

// Message is the data of a push (msg, enter, exit, kickout). Target is the room for room
// messages and empty otherwise; To is the recipient of a direct message (sent to one user)
// and empty otherwise.
type Message struct {
	Target string `json:"target"`
	To     string `json:"to,omitempty"`
	Type   string `json:"type"`
	Msg    string `json:"msg"`
	From   string `json:"from"`
}

// Message types carried in Message.Type.
const (
	TypeText    = "text"
	TypeEnter   = "enter"
	TypeExit    = "exit"
	TypeKickout = "kickout"
)

// ErrEmptyCmd is returned by Decode for a request without a cmd.
var ErrEmptyCmd = errors.New("request has no cmd")

// DecodeError is returned by Decode for input that is not a request envelope. Seq holds the
// request's seq when it could be read, so the answer can still echo it.
type DecodeError struct {
	Seq string
	Err error
}

func (e *DecodeError) Error() string { return "decode request: " + e.Err.Error() }

func (e *DecodeError) Unwrap() error { return e.Err }

// Decode parses one request envelope. The returned Request's Data aliases b.
func Decode(b []byte) (Request, error) {
	if r, ok := decodeFast(b); ok && r.Cmd != "" {
		return r, nil
	}
	return decodeSlow(b)
}

// decodeSlow is Decode through encoding/json, for everything the fast path does not take.
func decodeSlow(b []byte) (Request, error) {
	var r Request
	if err := json.Unmarshal(b, &r); err != nil {
		return Request{}, &DecodeError{Seq: salvageSeq(b), Err: explain(err)}
	}
	if r.Cmd == "" {
		return r, &DecodeError{Seq: r.Seq, Err: ErrEmptyCmd}
	}
	return r, nil
}

// salvageSeq tries to read "seq" from input that failed to decode as a whole, so that the
// error answer can carry it.
func salvageSeq(b []byte) string {
	var probe struct {
		Seq string `json:"seq"`
	}
	if json.Unmarshal(b, &probe) == nil {
		return probe.Seq
	}
	return ""
}

// DecodeData unmarshals a request's data into v. Missing data is an error.
func DecodeData(data json.RawMessage, v any) error {
	if len(bytes.TrimSpace(data)) == 0 || bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		return errors.New("missing data")
	}
	if d, ok := v.(*LoginData); ok && decodeLoginFast(data, d) {
		return nil
	}
	return explain(json.Unmarshal(data, v))
}

// typeError is a JSON value of the wrong type, told in the protocol's terms (the field
// and what it must be) rather than in encoding/json's, which names Go types.
type typeError struct{ err *json.UnmarshalTypeError }

func (e *typeError) Error() string {
	want := "of another type"
	switch k := e.err.Type.Kind(); {
	case k == reflect.Struct || k == reflect.Map:
		want = "a JSON object"
	case k == reflect.Slice || k == reflect.Array:
		want = "a JSON array"
	case k == reflect.String:
		want = "a string"
	case k == reflect.Bool:
		want = "true or false"
	case k >= reflect.Int && k <= reflect.Float64:
		want = "a number"
	}
	msg := "must be " + want + ", got " + e.err.Value
	if e.err.Field == "" {
		return msg
	}
	return e.err.Field + ": " + msg
}

func (e *typeError) Unwrap() error { return e.err }

// explain returns err with a JSON type error rewritten as a typeError.
func explain(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Type != nil {
		return &typeError{te}
	}
	return err
}

// EncodeRequest builds a request envelope.
func EncodeRequest(seq, cmd string, data any) ([]byte, error) {
	raw, err := marshalData(data)
	if err != nil {
		return nil, err
	}
	if _, given := data.(json.RawMessage); !given {
		if b, ok := encodeRequestFast(seq, cmd, raw); ok {
			return b, nil
		}
	}
	return json.Marshal(Request{Seq: seq, Cmd: cmd, Data: raw})
}

// EncodeResponse builds a response or push envelope. codeMsg defaults to the code's text.
func EncodeResponse(seq, cmd string, code Code, codeMsg string, data any) ([]byte, error) {
	raw, err := marshalData(data)
	if err != nil {
		return nil, err
	}
	if codeMsg == "" {
		codeMsg = code.Text()
	}
	if _, given := data.(json.RawMessage); !given {
		if b, ok := encodeResponseFast(seq, cmd, code, codeMsg, raw); ok {
			return b, nil
		}
	}
	if raw == nil {
		raw = json.RawMessage("null")
	}
	return json.Marshal(Response{Seq: seq, Cmd: cmd, Response: Result{Code: code, CodeMsg: codeMsg, Data: raw}})
}

// EncodePush builds a push (msg, enter, exit, kickout) whose data is m. Pushes use the
// seed's codeMsg "Ok".
func EncodePush(seq, cmd string, m Message) ([]byte, error) {
	return EncodeResponse(seq, cmd, OK, "Ok", m)
}

// DecodeResponse parses a response or push envelope. The answer to a request that could
// not be decoded has an empty cmd (and seq, unless it could be salvaged).
func DecodeResponse(b []byte) (Response, error) {
	if r, ok := decodeResponseFast(b); ok {
		return r, nil
	}
	var r Response
	if err := json.Unmarshal(b, &r); err != nil {
		return Response{}, fmt.Errorf("decode response: %w", err)
	}
	return r, nil
}

func marshalData(data any) (json.RawMessage, error) {
	switch d := data.(type) {
	case nil:
		return nil, nil
	case json.RawMessage:
		return d, nil
	default:
		if b, ok := encodeDataFast(d); ok {
			return b, nil
		}
		b, err := json.Marshal(d)
		if err != nil {
			return nil, fmt.Errorf("encode data: %w", err)
		}
		return b, nil
	}
}

// ValidUserID reports whether id is an acceptable user id: 1..MaxUserIDLen characters of
// valid UTF-8, none of them a control character.
func ValidUserID(id string) bool { return validName(id, MaxUserIDLen) }

// ValidRoom reports whether name is an acceptable room name: 1..MaxRoomLen characters of
// valid UTF-8, none of them a control character.
func ValidRoom(name string) bool { return validName(name, MaxRoomLen) }

// MaxMsgIDLen is the longest message id a push may carry (the HTTP API's msgId), in
// characters.
const MaxMsgIDLen = 128

// MaxTypeLen is the longest accepted message type, in characters.
const MaxTypeLen = 32

// ValidType reports whether t is an acceptable message type (Message.Type): 1..MaxTypeLen
// characters of valid UTF-8, none of them a control character.
func ValidType(t string) bool { return validName(t, MaxTypeLen) }

// NameRule describes the rule of ValidUserID, ValidRoom and ValidType for error messages:
// "must be " + NameRule(MaxUserIDLen).
func NameRule(max int) string {
	return fmt.Sprintf("1..%d printable characters, without white space at either end", max)
}

func validName(s string, max int) bool {
	if len(s) == 0 || len(s) > utf8.UTFMax*max || !utf8.ValidString(s) {
		return false
	}
	first, _ := utf8.DecodeRuneInString(s)
	last, _ := utf8.DecodeLastRuneInString(s)
	if unicode.IsSpace(first) || unicode.IsSpace(last) { // " bob" would pass for "bob" in a list
		return false
	}
	n := 0
	for _, r := range s {
		// Control characters: C0, DEL and C1 (U+0080-U+009F, e.g. CSI). Direction
		// controls would reorder the text around a name wherever it is shown.
		if n++; n > max || unicode.IsControl(r) || isBidiControl(r) {
			return false
		}
	}
	return true
}

// isBidiControl reports whether r is one of Unicode's explicit direction controls (marks,
// embeddings, overrides and isolates).
func isBidiControl(r rune) bool {
	return r == 0x061C || r == 0x200E || r == 0x200F || (r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069)
}

// flexAppID decodes an appId given as a JSON number or a numeric string.
type flexAppID uint32

func (a *flexAppID) UnmarshalJSON(b []byte) error {
	s := string(bytes.TrimSpace(b))
	if s == "null" {
		return nil
	}
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
		if s == "" {
			return nil
		}
	}
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return fmt.Errorf("appId must be a positive integer, got %s", string(b))
	}
	*a = flexAppID(v)
	return nil
}
