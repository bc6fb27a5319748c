package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gows-dev/gows/internal/protocol"
)

// params holds a request's parameters from the query string, a form body or a JSON object
// body (later sources override earlier ones). JSON numbers and booleans are kept as text.
type params map[string]string

// DefaultPageLimit and MaxPageLimit bound user list pages.
const (
	DefaultPageLimit = 1000
	MaxPageLimit     = 10000
)

func parseParams(w http.ResponseWriter, r *http.Request, maxBody int64) (params, error) {
	p := params{}
	p.addFirst(r.URL.Query())
	if r.Body == nil || r.Method == http.MethodGet || r.Method == http.MethodHead {
		return p, nil
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")) // empty or bad: "", refused below if there is a body
	switch ct {
	case "application/json":
		var obj map[string]any
		dec := json.NewDecoder(r.Body)
		dec.UseNumber()
		if err := dec.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				return p, nil
			}
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) { // valid JSON, but not an object
				return nil, &ParamError{Field: "body", Msg: "must be a JSON object, got " + te.Value}
			}
			return nil, bodyError("invalid JSON object", err)
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) { // one object, then nothing
			if err == nil || errors.Is(err, io.ErrUnexpectedEOF) {
				err = errors.New("data after the JSON object")
			}
			return nil, bodyError("invalid JSON object", err)
		}
		for k, v := range obj {
			switch x := v.(type) {
			case string:
				p[k] = x
			case json.Number:
				p[k] = x.String()
			case bool:
				p[k] = strconv.FormatBool(x)
			case nil:
			default:
				if k == "" { // {"":[...]}: a field with no name to report
					return nil, &ParamError{Field: "body", Msg: `field "" must be a string or a number`}
				}
				return nil, &ParamError{Field: k, Msg: "must be a string or a number"}
			}
		}
	case "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			return nil, bodyError("invalid form body", err)
		}
		p.addFirst(r.PostForm)
	case "multipart/form-data": // curl -F, PHP's curl with an array of fields, gin's PostForm
		// The body is at most maxBody bytes, so its fields are read into memory; a file
		// part, which no route takes, is dropped.
		err := r.ParseMultipartForm(maxBody)
		if r.MultipartForm != nil {
			defer r.MultipartForm.RemoveAll()
		}
		if err != nil {
			return nil, bodyError("invalid multipart form body", err)
		}
		p.addFirst(r.MultipartForm.Value)
	default:
		// A body of another type (or of none) would otherwise be dropped unread, and its
		// parameters reported missing: say what the API reads instead.
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			return nil, bodyError("unreadable body", err)
		}
		if n > 0 {
			return nil, &ParamError{Field: "body", Msg: fmt.Sprintf("Content-Type %q is not read: send a form (application/x-www-form-urlencoded or multipart/form-data) or a JSON object (application/json)", r.Header.Get("Content-Type")), status: http.StatusUnsupportedMediaType}
		}
	}
	return p, nil
}

// addFirst adds the first value of each form field.
func (p params) addFirst(form map[string][]string) {
	for k, v := range form {
		if len(v) > 0 {
			p[k] = v[0]
		}
	}
}

// bodyError describes a body that could not be read as what: too large (HTTP 413) or
// malformed.
func bodyError(what string, err error) error {
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		return &ParamError{Field: "body", Msg: fmt.Sprintf("must be at most %d bytes", mb.Limit), status: http.StatusRequestEntityTooLarge}
	}
	return &ParamError{Field: "body", Msg: what + ": " + err.Error()}
}

// get returns the first non-empty value among names (alternative spellings).
func (p params) get(names ...string) string {
	for _, n := range names {
		if v := strings.TrimSpace(p[n]); v != "" {
			return v
		}
	}
	return ""
}

func (p params) appID() (uint32, error) {
	s := p.get("appId", "appID")
	if s == "" {
		return 0, &ParamError{Field: "appId", Msg: "is required"}
	}
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil || v == 0 {
		return 0, &ParamError{Field: "appId", Msg: fmt.Sprintf("must be a positive integer, got %q", s)}
	}
	return uint32(v), nil
}

// appUser reads the appId and userId of the routes that name one user.
func (p params) appUser() (uint32, string, error) {
	app, err := p.appID()
	if err != nil {
		return 0, "", err
	}
	user, err := p.userID("userId", "userID")
	return app, user, err
}

func (p params) userID(names ...string) (string, error) {
	s := p.get(names...)
	if s == "" {
		return "", &ParamError{Field: names[0], Msg: "is required"}
	}
	if !protocol.ValidUserID(s) {
		return "", &ParamError{Field: names[0], Msg: "must be " + protocol.NameRule(protocol.MaxUserIDLen)}
	}
	return s, nil
}

func (p params) room() (string, error) {
	s := p.get("room", "roomId", "roomID")
	if s == "" {
		return "", &ParamError{Field: "room", Msg: "is required"}
	}
	if !protocol.ValidRoom(s) {
		return "", &ParamError{Field: "room", Msg: "must be " + protocol.NameRule(protocol.MaxRoomLen)}
	}
	return s, nil
}

func (p params) limit() (int, error) {
	s := p.get("limit")
	if s == "" {
		return DefaultPageLimit, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 || v > MaxPageLimit {
		return 0, &ParamError{Field: "limit", Msg: fmt.Sprintf("must be 1..%d", MaxPageLimit)}
	}
	return v, nil
}

// push reads the parameters of the three push routes (seed names: appId, userId, msgId,
// message; room for rooms; from and type are gows additions).
func (p params) push(t Target) (Push, error) {
	app, err := p.appID()
	if err != nil {
		return Push{}, err
	}
	push := Push{Target: t, AppID: app, MsgID: p.get("msgId", "msgID"), Type: p.get("type"), Msg: p["message"]}
	var fromField string // the parameter the sender came from, for an error
	switch t {
	case ToUser:
		if push.UserID, err = p.userID("userId", "userID"); err != nil {
			return Push{}, err
		}
		push.From, fromField = p.get("from"), "from"
	case ToRoom:
		if push.Room, err = p.room(); err != nil {
			return Push{}, err
		}
		push.From, fromField = p.sender()
	case ToApp:
		push.From, fromField = p.sender()
	}
	if push.From != "" && !protocol.ValidUserID(push.From) {
		return Push{}, &ParamError{Field: fromField, Msg: "sender must be " + protocol.NameRule(protocol.MaxUserIDLen)}
	}
	// The message is checked after its target, so that a request missing both is told
	// about the first (appId, userId or room, message) in the order of the routes' docs.
	if push.Msg == "" {
		push.Msg = p["msg"]
	}
	if push.Msg == "" {
		return Push{}, &ParamError{Field: "message", Msg: "is required"}
	}
	if utf8.RuneCountInString(push.MsgID) > protocol.MaxMsgIDLen {
		return Push{}, &ParamError{Field: "msgId", Msg: fmt.Sprintf("must be at most %d characters", protocol.MaxMsgIDLen)}
	}
	return push, nil
}

// sender returns the sender of a room or app push (userId, as in the seed, or from) and
// the name of the parameter it came from.
func (p params) sender() (string, string) {
	for _, n := range []string{"userId", "userID", "from"} {
		if v := p.get(n); v != "" {
			return v, n
		}
	}
	return "", ""
}
