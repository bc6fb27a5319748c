package protocol

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// Fast paths for the envelopes as gows and its clients write them: fields in order, no
// spaces, plain ASCII strings. A heartbeat, a login and their answers are almost all of a
// busy node's traffic, and encoding/json's reflection costs several times more than the
// rest of handling them. Anything else takes the encoding/json path, and the results are
// identical either way (FuzzDecode and the tests check that).

// plain reports whether s can be written as a JSON string without escaping, by
// encoding/json's rules too: printable ASCII other than the quote, the backslash and the
// characters it escapes for HTML (<, >, &).
func plain[T string | []byte](s T) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// cutPlainString reads a plain string that starts after its opening quote in b, and
// returns it with the rest after its closing quote.
func cutPlainString(b []byte) (s, rest []byte, ok bool) {
	end := bytes.IndexByte(b, '"')
	if end < 0 || !plain(b[:end]) {
		return nil, nil, false
	}
	return b[:end], b[end+1:], true
}

// cutHead reads the `{"seq":"S","cmd":"C"` that every envelope starts with and returns
// the rest.
func cutHead(b []byte) (seq, cmd, rest []byte, ok bool) {
	rest, ok = bytes.CutPrefix(b, []byte(`{"seq":"`))
	if !ok {
		return nil, nil, nil, false
	}
	if seq, rest, ok = cutPlainString(rest); !ok {
		return nil, nil, nil, false
	}
	if rest, ok = bytes.CutPrefix(rest, []byte(`,"cmd":"`)); !ok {
		return nil, nil, nil, false
	}
	if cmd, rest, ok = cutPlainString(rest); !ok {
		return nil, nil, nil, false
	}
	return seq, cmd, rest, true
}

// cutEnvelope trims b, checks that it ends with closing (the braces that end the
// envelope) and reads its head.
func cutEnvelope(b []byte, closing string) (seq, cmd, rest []byte, ok bool) {
	b = bytes.TrimSpace(b)
	if !bytes.HasSuffix(b, []byte(closing)) {
		return nil, nil, nil, false
	}
	return cutHead(b)
}

// appendHead writes the `{"seq":"S","cmd":"C"` that every envelope starts with; seq and
// cmd must be plain.
func appendHead(b []byte, seq, cmd string) []byte {
	b = append(b, `{"seq":"`...)
	b = append(b, seq...)
	b = append(b, `","cmd":"`...)
	b = append(b, cmd...)
	return append(b, '"')
}

// validData returns the data value that ends an envelope (rest without its last n
// closing braces), if it is one valid JSON value: Valid also rejects an envelope with
// more fields after data, as `{...},"x":1` is not one value.
func validData(rest []byte, n int) ([]byte, bool) {
	data := bytes.TrimSpace(rest[:len(rest)-n])
	return data, len(data) > 0 && json.Valid(data)
}

// decodeFast decodes {"seq":"S","cmd":"C"} or {"seq":"S","cmd":"C","data":D}.
func decodeFast(b []byte) (Request, bool) {
	seq, cmd, rest, ok := cutEnvelope(b, "}")
	if !ok {
		return Request{}, false
	}
	r := Request{Seq: string(seq), Cmd: string(cmd)}
	if len(rest) == 1 { // the closing brace
		return r, true
	}
	if rest, ok = bytes.CutPrefix(rest, []byte(`,"data":`)); !ok {
		return Request{}, false
	}
	if r.Data, ok = validData(rest, 1); !ok {
		return Request{}, false
	}
	return r, true
}

// decodeResponseFast decodes {"seq":"S","cmd":"C","response":{"code":N,"codeMsg":"M","data":D}}.
func decodeResponseFast(b []byte) (Response, bool) {
	seq, cmd, rest, ok := cutEnvelope(b, "}}")
	if !ok {
		return Response{}, false
	}
	if rest, ok = bytes.CutPrefix(rest, []byte(`,"response":{"code":`)); !ok {
		return Response{}, false
	}
	comma := bytes.IndexByte(rest, ',')
	if comma < 1 || comma > 6 {
		return Response{}, false
	}
	code, err := strconv.Atoi(string(rest[:comma]))
	if err != nil || code < 0 || rest[0] == '0' || rest[0] == '+' {
		return Response{}, false
	}
	if rest, ok = bytes.CutPrefix(rest[comma:], []byte(`,"codeMsg":"`)); !ok {
		return Response{}, false
	}
	msg, rest, ok := cutPlainString(rest)
	if !ok {
		return Response{}, false
	}
	if rest, ok = bytes.CutPrefix(rest, []byte(`,"data":`)); !ok {
		return Response{}, false
	}
	data, ok := validData(rest, 2)
	if !ok {
		return Response{}, false
	}
	return Response{Seq: string(seq), Cmd: string(cmd), Response: Result{
		Code: Code(code), CodeMsg: string(msg), Data: bytes.Clone(data),
	}}, true
}

// encodeResponseFast writes the response envelope when seq, cmd and codeMsg are plain;
// raw must be compact, HTML-escaped JSON (what json.Marshal writes) or nil.
func encodeResponseFast(seq, cmd string, code Code, codeMsg string, raw []byte) ([]byte, bool) {
	if !plain(seq) || !plain(cmd) || !plain(codeMsg) {
		return nil, false
	}
	if raw == nil {
		raw = []byte("null")
	}
	b := appendHead(make([]byte, 0, 64+len(seq)+len(cmd)+len(codeMsg)+len(raw)), seq, cmd)
	b = append(b, `,"response":{"code":`...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, `,"codeMsg":"`...)
	b = append(b, codeMsg...)
	b = append(b, `","data":`...)
	b = append(b, raw...)
	b = append(b, "}}"...)
	return b, true
}

// encodeRequestFast writes the request envelope when seq and cmd are plain; raw must be
// compact, HTML-escaped JSON (what json.Marshal writes) or nil (no data).
func encodeRequestFast(seq, cmd string, raw []byte) ([]byte, bool) {
	if !plain(seq) || !plain(cmd) {
		return nil, false
	}
	b := appendHead(make([]byte, 0, 32+len(seq)+len(cmd)+len(raw)), seq, cmd)
	if len(raw) > 0 {
		b = append(b, `,"data":`...)
		b = append(b, raw...)
	}
	return append(b, '}'), true
}

// encodeDataFast writes the data of a heartbeat or a login, the requests a client sends
// most, as json.Marshal would, when its strings are plain.
func encodeDataFast(data any) ([]byte, bool) {
	switch d := data.(type) {
	case HeartbeatData:
		if !plain(d.UserID) {
			return nil, false
		}
		return append(append([]byte(`{"userId":"`), d.UserID...), `"}`...), true
	case LoginData:
		if !plain(d.UserID) || !plain(d.ServiceToken) {
			return nil, false
		}
		b := make([]byte, 0, 48+len(d.ServiceToken)+len(d.UserID))
		b = append(b, '{')
		if d.ServiceToken != "" {
			b = append(b, `"serviceToken":"`...)
			b = append(b, d.ServiceToken...)
			b = append(b, `",`...)
		}
		b = append(b, `"appId":`...)
		b = strconv.AppendUint(b, uint64(d.AppID), 10)
		b = append(b, `,"userId":"`...)
		b = append(b, d.UserID...)
		return append(b, `"}`...), true
	}
	return nil, false
}

// decodeLoginFast reads login data as clients write it into d: an object with at most
// one each of serviceToken, appId or appID (a number), userId or userID, in any order,
// with plain strings and no spaces. It reports false, leaving d alone, for anything else.
func decodeLoginFast(b []byte, d *LoginData) bool {
	rest, ok := bytes.CutPrefix(b, []byte("{"))
	if !ok {
		return false
	}
	var token, user, userAlt []byte
	var app, appAlt uint64
	var seen [5]bool // serviceToken, appId, appID, userId, userID
	for {
		var key []byte
		if rest, ok = bytes.CutPrefix(rest, []byte(`"`)); !ok {
			return false
		}
		if key, rest, ok = cutPlainString(rest); !ok {
			return false
		}
		if rest, ok = bytes.CutPrefix(rest, []byte(":")); !ok {
			return false
		}
		var field int
		var str *[]byte
		var num *uint64
		switch string(key) {
		case "serviceToken":
			field, str = 0, &token
		case "appId":
			field, num = 1, &app
		case "appID":
			field, num = 2, &appAlt
		case "userId":
			field, str = 3, &user
		case "userID":
			field, str = 4, &userAlt
		default:
			return false
		}
		if seen[field] {
			return false // a repeated key: encoding/json's rules decide
		}
		seen[field] = true
		if str != nil {
			if rest, ok = bytes.CutPrefix(rest, []byte(`"`)); !ok {
				return false
			}
			if *str, rest, ok = cutPlainString(rest); !ok {
				return false
			}
		} else {
			n := 0
			for n < len(rest) && n <= 10 && rest[n] >= '0' && rest[n] <= '9' {
				n++
			}
			if n == 0 || n > 10 || (rest[0] == '0' && n > 1) {
				return false
			}
			v, err := strconv.ParseUint(string(rest[:n]), 10, 32)
			if err != nil {
				return false
			}
			*num, rest = v, rest[n:]
		}
		if rest, ok = bytes.CutPrefix(rest, []byte(",")); ok {
			continue
		}
		if string(rest) != "}" {
			return false
		}
		break
	}
	// The same rules as LoginData.UnmarshalJSON: the first spelling unless it is empty.
	if app == 0 {
		app = appAlt
	}
	if len(user) == 0 {
		user = userAlt
	}
	*d = LoginData{ServiceToken: string(token), AppID: uint32(app), UserID: string(user)}
	return true
}
