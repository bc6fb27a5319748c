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
		{"bad room", []string{"chat", "--user", "a", "--room", strings.Repeat("r", 65)}, "room: want 1 to 64 bytes"},
		{"argument", []string{"chat", "--user", "a", "extra"}, "takes no arguments"},
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

// chatWait bounds each wait for a chat run in these tests.
const chatWait = 20 * time.Second

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
	var out syncBuffer
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
