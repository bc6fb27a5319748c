package server_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gows-dev/gows/internal/protocol"
	"github.com/gows-dev/gows/internal/server"
	"github.com/gows-dev/gows/internal/server/api"
	"github.com/gows-dev/gows/internal/testutil"
)

// TestKick_ClosesTheUsersConnectionWith4007 kicks a logged-in user through the HTTP API
// and checks what the client sees: a kickout push with the reason, then close 4007.
func TestKick_ClosesTheUsersConnectionWith4007(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		ctype      string
		wantReason string
	}{
		{"form with reason", "appId=101&userId=u1&reason=spamming", "application/x-www-form-urlencoded", "spamming"},
		{"json, other spelling, no reason", `{"appID":101,"userID":"u1"}`, "application/json", "closed by operator"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := testutil.StartServer(t)
			c := testutil.Dial(t, srv.WSURL, nil)
			c.Login(101, "u1")
			other := testutil.Dial(t, srv.WSURL, nil)
			other.Login(101, "u2")

			req, _ := http.NewRequest(http.MethodPost, srv.HTTPURL+"/user/kick", strings.NewReader(tt.body))
			req.Header.Set("Content-Type", tt.ctype)
			status, a := do(t, req)
			if status != http.StatusOK || a.Code != protocol.OK {
				t.Fatalf("kick: HTTP %d code %d %s", status, a.Code, a.Msg)
			}
			var res api.KickResult
			if err := json.Unmarshal(a.Data, &res); err != nil || res.Kicked != 1 {
				t.Fatalf("kick data %s (%v), want kicked 1", a.Data, err)
			}

			push := c.Push(protocol.CmdKickout)
			if m := testutil.Data[protocol.Message](t, push); m.Type != protocol.TypeKickout || m.Msg != tt.wantReason {
				t.Errorf("kickout push = %+v, want type kickout, msg %q", m, tt.wantReason)
			}
			var ce *websocket.CloseError
			if err := c.ReadClose(); !errors.As(err, &ce) || ce.Code != int(protocol.CloseAdminKick) || ce.Text != tt.wantReason {
				t.Errorf("close = %v, want %d %q", err, protocol.CloseAdminKick, tt.wantReason)
			}
			// The user leaves the hub when the close completes. Polled with /user/list:
			// /user/online reads Session.LoginMs after hub.Lookup let go of the shard lock,
			// which races with hub.Logout's write of it (a hub bug outside this test).
			testutil.Eventually(t, 5*time.Second, func() error {
				_, a := getJSON(t, srv.HTTPURL+"/user/list?appId=101")
				if string(a.Data) != `{"userCount":1,"userList":["u2"]}` {
					return fmt.Errorf("online users %s: %w", a.Data, testutil.ErrNotYet)
				}
				return nil
			})
			// The other user is untouched.
			if r := other.Call(protocol.CmdPing, nil); r.Response.Code != protocol.OK {
				t.Errorf("u2 ping after the kick: %+v", r)
			}
		})
	}
}

func TestKick_RefusesOfflineUsersAndBadInput(t *testing.T) {
	srv := testutil.StartServer(t, func(c *server.Config) { c.AllowedAppIDs = []uint32{101} })
	tests := []struct {
		name     string
		method   string
		body     string
		status   int
		code     protocol.Code
		contains string
	}{
		{"offline user", "POST", "appId=101&userId=ghost", 404, protocol.NotData, "user ghost is not online"},
		{"missing userId", "POST", "appId=101", 400, protocol.ParameterIllegal, "userId: is required"},
		{"missing appId", "POST", "userId=u1", 400, protocol.ParameterIllegal, "appId: is required"},
		{"app not allowed", "POST", "appId=7&userId=u1", 400, protocol.ParameterIllegal, "app 7 is not allowed"},
		{"reason too long", "POST", "appId=101&userId=u1&reason=" + strings.Repeat("x", api.MaxKickReasonBytes+1), 400, protocol.ParameterIllegal, "reason: must be at most"},
		{"reason not UTF-8", "POST", "appId=101&userId=u1&reason=%ff", 400, protocol.ParameterIllegal, "reason:"},
		{"GET", "GET", "", 405, protocol.RoutingNotExist, "use POST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.HTTPURL+"/user/kick", strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			status, a := do(t, req)
			if status != tt.status || a.Code != tt.code || !strings.Contains(a.Msg, tt.contains) {
				t.Fatalf("HTTP %d code %d %q, want %d/%d containing %q", status, a.Code, a.Msg, tt.status, tt.code, tt.contains)
			}
		})
	}
	// The offline answer still carries the result, like a push to an offline user.
	_, a := pushForm(t, srv, "/user/kick", url.Values{"appId": {"101"}, "userId": {"ghost"}}, http.StatusNotFound)
	if string(a.Data) != `{"kicked":0}` {
		t.Errorf("offline data = %s, want {\"kicked\":0}", a.Data)
	}
}
