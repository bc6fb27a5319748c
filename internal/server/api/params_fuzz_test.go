package api

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gows-dev/gows/internal/protocol"
)

// FuzzParams feeds arbitrary query strings and bodies (form and JSON) through the API's
// parameter parsing for every push route. Parsing must never panic; every failure must be
// a *ParamError naming a field; every accepted push must be valid.
func FuzzParams(f *testing.F) {
	f.Add("appId=101&userId=u1", "msgId=1&message=hi", false)
	f.Add("", `{"appId":101,"userId":"u1","message":"hi","msgId":"m"}`, true)
	f.Add("appID=7&userID=x", `{"appId":"101","room":"r","message":"x"}`, true)
	f.Add("appId=-1", `{"appId":1e99}`, true)
	f.Add("appId=101&limit=0&cursor=%ff", "message=%zz", false)
	f.Add("", `[1,2,3]`, true)
	f.Fuzz(func(t *testing.T, query, body string, isJSON bool) {
		for _, target := range []Target{ToUser, ToRoom, ToApp} {
			r := httptest.NewRequest(http.MethodPost, "/user/sendMessage", strings.NewReader(body))
			r.URL.RawQuery = query
			if isJSON {
				r.Header.Set("Content-Type", "application/json")
			} else {
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			p, err := parseParams(httptest.NewRecorder(), r, 1<<20)
			if err == nil {
				var push Push
				push, err = p.push(target)
				if err == nil {
					if push.AppID == 0 || push.Msg == "" || len(push.MsgID) > 128 {
						t.Fatalf("accepted an invalid push %+v", push)
					}
					if target == ToUser && !protocol.ValidUserID(push.UserID) {
						t.Fatalf("accepted user id %q", push.UserID)
					}
					if target == ToRoom && !protocol.ValidRoom(push.Room) {
						t.Fatalf("accepted room %q", push.Room)
					}
					continue
				}
			}
			var pe *ParamError
			if !errors.As(err, &pe) || pe.Field == "" || !utf8.ValidString(pe.Field) {
				t.Fatalf("error %v is not a ParamError naming a field", err)
			}
		}
	})
}
