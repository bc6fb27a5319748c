package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/gows-dev/gows/internal/protocol"
	"github.com/gows-dev/gows/internal/server"
	"github.com/gows-dev/gows/internal/testcert"
	"github.com/gows-dev/gows/internal/testutil"
	"github.com/gows-dev/gows/internal/tui"
)

func TestChat_ParsesFlags(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(t *testing.T, c tui.Config)
	}{
		{"defaults", []string{"chat", "--user", "alice"}, nil, func(t *testing.T, c tui.Config) {
			want := tui.Default()
			want.URL, want.UserID, want.AppID = "ws://127.0.0.1:8089/acc", "alice", 101
			if c != want {
				t.Errorf("config %+v, want %+v", c, want)
			}
		}},
		{"all flags", []string{"chat", "--url", "wss://h:1/x", "--user", "bob", "--app-id", "7", "--room", "lobby",
			"--token", "tok", "--no-tui", "--heartbeat", "5s", "--max-backoff", "3s"}, nil, func(t *testing.T, c tui.Config) {
			if c.URL != "wss://h:1/x" || c.UserID != "bob" || c.AppID != 7 || c.Room != "lobby" || c.Token != "tok" ||
				!c.NoTUI || c.HeartbeatInterval != 5*time.Second || c.MaxBackoff != 3*time.Second {
				t.Errorf("config %+v", c)
			}
		}},
		{"token from the environment", []string{"chat", "--user", "alice"}, map[string]string{"GOWS_LOGIN_TOKEN": "secret"},
			func(t *testing.T, c tui.Config) {
				if c.Token != "secret" {
					t.Errorf("token %q, want it from GOWS_LOGIN_TOKEN", c.Token)
				}
			}},
		{"flag beats the environment", []string{"chat", "--user", "alice", "--token", "flag"}, map[string]string{"GOWS_LOGIN_TOKEN": "env"},
			func(t *testing.T, c tui.Config) {
				if c.Token != "flag" {
					t.Errorf("token %q, want the flag's", c.Token)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolateEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var got *chatOptions
			res := runCLI(t, tt.args, func(s *streams) *cobra.Command {
				return newChatCmd(s, func(_ context.Context, o *chatOptions) error { got = o; return nil })
			})
			if res.code != exitOK {
				t.Fatalf("exit %d, stderr %q", res.code, res.stderr)
			}
			tt.check(t, got.config)
		})
	}
}

func TestChat_BadCommandLinesAreUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no user", []string{"chat"}, "--user is required"},
		{"bad url", []string{"chat", "--user", "a", "--url", "http://x/acc"}, "url: want ws://"},
		{"app id 0", []string{"chat", "--user", "a", "--app-id", "0"}, "app id: must not be 0"},
		{"app id too big", []string{"chat", "--user", "a", "--app-id", "4294967296"}, "--app-id: want at most"},
		{"bad room", []string{"chat", "--user", "a", "--room", strings.Repeat("r", 65)}, "room: want 1 to 64 characters"},
		{"argument", []string{"chat", "--user", "a", "extra"}, "takes no arguments"},
		{"missing cacert", []string{"chat", "--user", "a", "--cacert", "/nonexistent/ca.pem"}, "cacert: open /nonexistent/ca.pem"},
		{"cacert without a certificate", []string{"chat", "--user", "a", "--cacert", os.DevNull}, "cacert: no PEM certificate in " + os.DevNull},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolateEnv(t)
			res := runCLI(t, tt.args)
			if res.code != exitUsage || !strings.Contains(res.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", res.code, res.stderr, exitUsage, tt.want)
			}
		})
	}
}

// TestChat_LineModeAgainstARealServer runs `gows chat --no-tui` with lines on stdin
// against a node on loopback: its message reaches another client, and it exits 0 at the
// end of its input.
func TestChat_LineModeAgainstARealServer(t *testing.T) {
	isolateEnv(t)
	srv := testutil.StartServer(t)
	peer := testutil.Dial(t, srv.WSURL, nil)
	peer.Login(101, "peer")

	var out, errOut bytes.Buffer
	s := &streams{in: strings.NewReader("hello from the cli\n/msg peer psst\n/users\n"), out: &out, err: &errOut}
	code := execute(t.Context(), newRootCmd(s), s, []string{"chat", "--no-tui", "--url", srv.WSURL, "--user", "cli"})
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q, stdout:\n%s", code, errOut.String(), out.String())
	}
	for _, want := range []string{"-- connected to ", "<cli> hello from the cli", "-> *peer* psst", "-- online in the app (2): cli, peer"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, out.String())
		}
	}
	var msgs []string
	for len(msgs) < 2 {
		p := peer.Push(protocol.CmdMsg)
		msgs = append(msgs, testutil.Data[protocol.Message](t, p).Msg)
	}
	if msgs[0] != "hello from the cli" || msgs[1] != "psst" {
		t.Errorf("peer got %q", msgs)
	}
}

// chatWait bounds each chat run in these tests: a run that retries forever fails.
const chatWait = 20 * time.Second

// runChatCLI runs `gows chat --no-tui --user user --url url` with stdin until it exits or
// chatWait passes (then its context is cancelled).
func runChatCLI(t *testing.T, url, user, stdin string, extra ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), chatWait)
	defer cancel()
	var out, errOut bytes.Buffer
	s := &streams{in: strings.NewReader(stdin), out: &out, err: &errOut}
	args := append([]string{"chat", "--no-tui", "--url", url, "--user", user}, extra...)
	code := execute(ctx, newRootCmd(s), s, args)
	if ctx.Err() != nil {
		t.Errorf("chat did not exit within %s; stdout:\n%s", chatWait, out.String())
	}
	return cliResult{stdout: out.String(), stderr: errOut.String(), code: code}
}

// TestChat_LineModeSendsTheLinesBeforeQuit is the audit's repro: several short scripts
// that end with /quit. Each one's lines reach the other user and are answered before it
// exits 0.
func TestChat_LineModeSendsTheLinesBeforeQuit(t *testing.T) {
	isolateEnv(t)
	srv := testutil.StartServer(t)
	peer := testutil.Dial(t, srv.WSURL, nil)
	peer.Login(101, "peer")
	for i := range 5 {
		user := fmt.Sprintf("qq%d", i)
		res := runChatCLI(t, srv.WSURL, user, fmt.Sprintf("to all %d\n/msg peer to peer %d\n/quit\nafter quit\n", i, i))
		if res.code != exitOK || !strings.Contains(res.stdout, fmt.Sprintf("-> *peer* to peer %d", i)) {
			t.Fatalf("run %d: exit %d, stderr %q, stdout:\n%s", i, res.code, res.stderr, res.stdout)
		}
		want := []string{fmt.Sprintf("to all %d", i), fmt.Sprintf("to peer %d", i)}
		for _, w := range want {
			if got := testutil.Data[protocol.Message](t, peer.Push(protocol.CmdMsg)); got.Msg != w || got.From != user {
				t.Fatalf("run %d: peer got %+v, want %q from %s", i, got, w, user)
			}
		}
	}
	// Nothing after /quit was sent: the peer's next message is the one sent now.
	peer.Call(protocol.CmdSend, protocol.SendData{To: "peer", Type: protocol.TypeText, Msg: "marker"})
	if got := testutil.Data[protocol.Message](t, peer.Push(protocol.CmdMsg)).Msg; got != "marker" {
		t.Errorf("peer got %q after the runs, want only the marker", got)
	}
}

// TestChat_LineModeGivesUpWithoutAConnection: a script whose server is down or whose URL
// is wrong fails at once with a clear error and a non-zero exit, instead of retrying
// forever.
func TestChat_LineModeGivesUpWithoutAConnection(t *testing.T) {
	isolateEnv(t)
	srv := testutil.StartServer(t)
	down := "ws://" + testutil.RefusedAddr(t) + "/acc"
	wrongPath := strings.TrimSuffix(srv.WSURL, "/acc") + "/nope"
	tests := []struct {
		name       string
		url, stdin string
		code       int
		stdout     []string
		stderr     string
	}{
		{"server down, empty input", down, "", exitNotSent,
			[]string{"-- cannot connect: connect: dial tcp", "!! gave up: not connected at the end of input"},
			"Error: chat: could not connect: connect: dial tcp"},
		{"server down, lines waiting", down, "hello\n/quit\n", exitNotSent,
			[]string{"!! gave up: not connected at the end of input", "!! not sent: hello"},
			"Error: chat: 1 line not sent: connect: dial tcp"},
		{"wrong path", wrongPath, "hello\n", exitFailure,
			[]string{"!! disconnected: connect: handshake refused: 404 Not Found: no websocket endpoint at /nope", "!! not sent: hello"},
			"Error: chat: connect: handshake refused: 404 Not Found: no websocket endpoint at /nope; use /acc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runChatCLI(t, tt.url, "script", tt.stdin)
			if res.code != tt.code || !strings.Contains(res.stderr, tt.stderr) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", res.code, res.stderr, tt.code, tt.stderr)
			}
			for _, want := range tt.stdout {
				if !strings.Contains(res.stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, res.stdout)
				}
			}
		})
	}
}

// TestChat_LineModeShowsPushesWithoutASenderAsFromTheServer pushes through the admin API
// with no --from, as an operator would: line mode shows them as from (server), not as
// "** hello" or "<> maint".
func TestChat_LineModeShowsPushesWithoutASenderAsFromTheServer(t *testing.T) {
	isolateEnv(t)
	srv := testutil.StartServer(t)
	stdin, stdinW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	var out testutil.LogBuffer
	s := &streams{in: stdin, out: &out, err: io.Discard}
	done := make(chan int, 1)
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		done <- execute(t.Context(), newRootCmd(s), s,
			[]string{"chat", "--no-tui", "--url", srv.WSURL, "--user", "cli", "--room", "lobby"})
	}()
	t.Cleanup(func() {
		_ = stdinW.Close() // ends the chat if the test did not; closing twice is harmless
		<-exited
	})
	waitOut := func(want string) {
		t.Helper()
		testutil.Eventually(t, chatWait, func() error {
			if !strings.Contains(out.String(), want) {
				return fmt.Errorf("stdout lacks %q: %w; it is:\n%s", want, testutil.ErrNotYet, out.String())
			}
			return nil
		})
	}
	waitOut("-- joined lobby")
	for _, args := range [][]string{
		{"push", "--user", "cli", "for you"},
		{"push", "--room", "lobby", "for the room"},
		{"broadcast", "for everyone"},
	} {
		res := runCLI(t, append([]string{"admin", "--server", srv.HTTPURL, "--app-id", "101"}, args...))
		if res.code != exitOK {
			t.Fatalf("admin %v: exit %d, stderr %q", args, res.code, res.stderr)
		}
	}
	waitOut("] (server) -> *cli* for you\n")
	waitOut("] [lobby] (server) for the room\n")
	waitOut("] (server) for everyone\n")
	if err := stdinW.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("chat exit %d, want 0; stdout:\n%s", code, out.String())
		}
	case <-time.After(chatWait):
		t.Fatal("chat did not exit at the end of its input")
	}
}

// TestChat_LineModeExitsOneWhenALineIsRefused: a script whose lines the server refused
// (a /msg to a user who is not online) or that the client could not run (an unknown or
// malformed command) exits 1, not 0; the lines after a refused one are still sent.
func TestChat_LineModeExitsOneWhenALineIsRefused(t *testing.T) {
	isolateEnv(t)
	srv := testutil.StartServer(t)
	peer := testutil.Dial(t, srv.WSURL, nil)
	peer.Login(101, "peer")
	tests := []struct {
		name   string
		stdin  string
		code   int
		stdout []string
		stderr string
	}{
		{"all accepted", "/msg peer one\n/users\n", exitOK,
			[]string{"-> *peer* one"}, ""},
		{"offline user", "/msg zed hi\n/msg peer two\n", exitFailure,
			[]string{"!! zed is not online; not sent: hi", "-> *peer* two"}, "Error: chat: 1 line refused\n"},
		{"unknown and malformed commands", "/foo\n/msg peer\n/msg peer three\n", exitFailure,
			[]string{"!! unknown command /foo (try /help)", "!! usage: /msg USER TEXT", "-> *peer* three"},
			"Error: chat: 2 lines refused\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runChatCLI(t, srv.WSURL, "script", tt.stdin)
			if res.code != tt.code || res.stderr != tt.stderr {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", res.code, res.stderr, tt.code, tt.stderr)
			}
			for _, want := range tt.stdout {
				if !strings.Contains(res.stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, res.stdout)
				}
			}
		})
	}
}

// TestChat_RefusedForWantOfATokenSaysHowToGiveOne: against a server that requires login
// tokens, a chat without one exits 1 naming the variable and flag that give one; with a
// token the server refuses, the hint is left out (a token was given).
func TestChat_RefusedForWantOfATokenSaysHowToGiveOne(t *testing.T) {
	isolateEnv(t)
	srv := testutil.StartServer(t, func(c *server.Config) { c.AuthSecret = "0123456789abcdef0123" })
	const hint = "no token was given: set $GOWS_LOGIN_TOKEN (or --token)"
	tests := []struct {
		name     string
		extra    []string
		wantHint bool
	}{
		{"no token", nil, true},
		{"a bad token", []string{"--token", "not-a-jwt"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runChatCLI(t, srv.WSURL, "alice", "hi\n", tt.extra...)
			if res.code != exitFailure || !strings.Contains(res.stderr, "login refused") {
				t.Fatalf("exit %d, stderr %q; want exit %d and the refusal", res.code, res.stderr, exitFailure)
			}
			if got := strings.Contains(res.stderr, hint); got != tt.wantHint {
				t.Errorf("stderr %q: hint shown %v, want %v", res.stderr, got, tt.wantHint)
			}
		})
	}
}

// A node serving wss:// with a self-signed certificate (--tls-cert) is reached with that
// certificate as --cacert or $GOWS_CACERT, as gows admin reaches its https port; without
// it the certificate is not trusted and no line is sent.
func TestChat_TrustsTheCACertFile(t *testing.T) {
	isolateEnv(t)
	certFile, keyFile := testcert.Files(t)
	srv := testutil.StartServer(t, func(c *server.Config) { c.TLSCert, c.TLSKey = certFile, keyFile })
	wss := strings.Replace(srv.WSURL, "ws://", "wss://", 1)

	res := runChatCLI(t, wss, "alice", "over tls\n", "--cacert", certFile)
	if res.code != exitOK || !strings.Contains(res.stdout, "<alice> over tls") {
		t.Fatalf("with --cacert: exit %d, stderr %q, stdout:\n%s", res.code, res.stderr, res.stdout)
	}
	t.Setenv(chatCACertEnv, certFile)
	res = runChatCLI(t, wss, "bob", "from the variable\n")
	if res.code != exitOK || !strings.Contains(res.stdout, "<bob> from the variable") {
		t.Fatalf("with $%s: exit %d, stderr %q, stdout:\n%s", chatCACertEnv, res.code, res.stderr, res.stdout)
	}
	t.Setenv(chatCACertEnv, "")
	res = runChatCLI(t, wss, "carol", "untrusted\n")
	if res.code != exitNotSent || !strings.Contains(res.stdout, "certificate") {
		t.Fatalf("without --cacert: exit %d, stderr %q, stdout:\n%s; want exit %d and a certificate error", res.code, res.stderr, res.stdout, exitNotSent)
	}
}
