package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gows-dev/gows/internal/protocol"
	"github.com/gows-dev/gows/internal/server"
	"github.com/gows-dev/gows/internal/server/auth"
	"github.com/gows-dev/gows/internal/testutil"
)

const tokenTestSecret = "cli-test-secret-0123456789"

func TestToken_MintsWhatTheServerAccepts(t *testing.T) {
	isolateEnv(t)
	srv := testutil.StartServer(t, func(c *server.Config) { c.AuthSecret = tokenTestSecret })
	res := runCLI(t, []string{"token", "--user", "alice", "--app-id", "101", "--ttl", "10m", "--secret", tokenTestSecret})
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	tok := strings.TrimSpace(res.stdout)
	c := testutil.Dial(t, srv.WSURL, nil)
	if r := c.Call(protocol.CmdLogin, protocol.LoginData{AppID: 101, UserID: "alice", ServiceToken: tok}); r.Response.Code != 200 {
		t.Fatalf("login with the minted token: %+v", r)
	}
	if r := c.Call(protocol.CmdLogin, protocol.LoginData{AppID: 102, UserID: "alice", ServiceToken: tok}); r.Response.Code != protocol.Unauthorized {
		t.Fatalf("the token worked for another app: %+v", r)
	}
}

func TestToken_SecretFromEnvAndJSON(t *testing.T) {
	isolateEnv(t)
	t.Setenv("GOWS_AUTH_SECRET", tokenTestSecret)
	res := runCLI(t, []string{"token", "--user", "bob", "-o", "json", "--ttl", "2h"})
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	var out struct {
		Token, UserID, ExpiresAt string
	}
	if err := json.Unmarshal([]byte(res.stdout), &out); err != nil {
		t.Fatalf("%q: %v", res.stdout, err)
	}
	v, _ := auth.NewHMACVerifier([]byte(tokenTestSecret), auth.Expect{})
	claims, err := v.Verify(out.Token, 7, "bob")
	if err != nil || out.UserID != "bob" {
		t.Fatalf("verify: %v %+v", err, out)
	}
	if d := time.Until(claims.Expires.Add(-auth.Leeway)); d < time.Hour || d > 2*time.Hour {
		t.Fatalf("expires in %s, want about 2h", d)
	}
}

func TestToken_IssuerAndAudience(t *testing.T) {
	isolateEnv(t)
	srv := testutil.StartServer(t, func(c *server.Config) {
		c.AuthSecret, c.AuthIssuer, c.AuthAudience = tokenTestSecret, "https://id.example", "gows"
	})
	mint := func(extra ...string) string {
		t.Helper()
		res := runCLI(t, append([]string{"token", "--user", "carol", "--secret", tokenTestSecret}, extra...))
		if res.code != 0 {
			t.Fatalf("exit %d: %s", res.code, res.stderr)
		}
		return strings.TrimSpace(res.stdout)
	}
	c := testutil.Dial(t, srv.WSURL, nil)
	if r := c.Call(protocol.CmdLogin, protocol.LoginData{AppID: 101, UserID: "carol", ServiceToken: mint("--issuer", "https://id.example")}); r.Response.Code != protocol.Unauthorized {
		t.Fatalf("a token without the audience logged in: %+v", r)
	}
	if r := c.Call(protocol.CmdLogin, protocol.LoginData{AppID: 101, UserID: "carol", ServiceToken: mint("--issuer", "https://id.example", "--audience", "gows")}); r.Response.Code != 200 {
		t.Fatalf("login with --issuer and --audience: %+v", r)
	}
}

func TestToken_UsageErrors(t *testing.T) {
	isolateEnv(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no user", []string{"token", "--secret", tokenTestSecret}, "--user"},
		{"no key", []string{"token", "--user", "a"}, "--secret"},
		{"short secret", []string{"token", "--user", "a", "--secret", "short"}, "16 bytes"},
		{"both keys", []string{"token", "--user", "a", "--secret", tokenTestSecret, "--private-key", "k.pem"}, "not both"},
		{"bad ttl", []string{"token", "--user", "a", "--secret", tokenTestSecret, "--ttl", "-1h"}, "--ttl"},
		{"bad output", []string{"token", "--user", "a", "--secret", tokenTestSecret, "-o", "xml"}, "--output"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := runCLI(t, tc.args)
			if res.code != exitUsage || !strings.Contains(res.stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want 2 mentioning %s", res.code, res.stderr, tc.want)
			}
		})
	}
}
