package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/mattn/go-runewidth"
	"github.com/spf13/cobra"

	"github.com/gows-dev/gows/internal/admin"
	"github.com/gows-dev/gows/internal/protocol"
	"github.com/gows-dev/gows/internal/server"
	"github.com/gows-dev/gows/internal/server/api"
	"github.com/gows-dev/gows/internal/server/cluster"
	"github.com/gows-dev/gows/internal/testutil"
)

// captureAdmin returns a replacement admin command whose runF stores the parsed options.
func captureAdmin(got **adminOptions) func(*streams) *cobra.Command {
	return func(s *streams) *cobra.Command {
		return newAdminCmd(s, func(_ context.Context, o *adminOptions) error {
			c := *o
			*got = &c
			return nil
		})
	}
}

func TestAdmin_ParsesSubcommandsFlagsAndEnvironment(t *testing.T) {
	def := admin.Default()
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want adminOptions
	}{
		{
			name: "users defaults",
			args: []string{"admin", "users", "--app-id", "101"},
			want: adminOptions{action: "users", appID: 101, output: "table", client: def},
		},
		{
			name: "users paging flags, json",
			args: []string{"admin", "users", "--app-id", "7", "--room", "lobby", "--limit", "50", "--cursor", "u9", "-o", "json"},
			want: adminOptions{action: "users", appID: 7, room: "lobby", limit: 50, cursor: "u9", output: "json", client: def},
		},
		{
			name: "online takes the user as an argument",
			args: []string{"admin", "online", "u1", "--app-id", "101"},
			want: adminOptions{action: "online", appID: 101, user: "u1", output: "table", client: def},
		},
		{
			name: "push to a user with every message flag",
			args: []string{"admin", "push", "--user", "u1", "--app-id", "101", "--msg-id", "m1", "--from", "ops", "--type", "notice", "hello there"},
			want: adminOptions{action: "push", appID: 101, user: "u1", text: "hello there", msgID: "m1", from: "ops", msgType: "notice", output: "table", client: def},
		},
		{
			name: "push to a room",
			args: []string{"admin", "push", "--room", "lobby", "--app-id", "101", "hi"},
			want: adminOptions{action: "push", appID: 101, room: "lobby", text: "hi", output: "table", client: def},
		},
		{
			name: "broadcast",
			args: []string{"admin", "broadcast", "--app-id", "101", "maintenance in 5 minutes"},
			want: adminOptions{action: "broadcast", appID: 101, text: "maintenance in 5 minutes", output: "table", client: def},
		},
		{
			name: "kick with a reason",
			args: []string{"admin", "kick", "u1", "--app-id", "101", "--reason", "spam"},
			want: adminOptions{action: "kick", appID: 101, user: "u1", reason: "spam", output: "table", client: def},
		},
		{
			name: "environment sets server and token",
			env:  map[string]string{"GOWS_SERVER": "http://10.0.0.5:8080", "GOWS_TOKEN": "from-env"},
			args: []string{"admin", "state"},
			want: adminOptions{action: "state", output: "table", client: admin.Config{Server: "http://10.0.0.5:8080", Token: "from-env", Timeout: def.Timeout}},
		},
		{
			name: "flags beat the environment",
			env:  map[string]string{"GOWS_SERVER": "http://10.0.0.5:8080", "GOWS_TOKEN": "from-env"},
			args: []string{"admin", "nodes", "--server", "http://127.0.0.1:9999", "--token", "from-flag", "--timeout", "2s"},
			want: adminOptions{action: "nodes", output: "table", client: admin.Config{Server: "http://127.0.0.1:9999", Token: "from-flag", Timeout: 2 * time.Second}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolateEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var got *adminOptions
			res := runCLI(t, tt.args, captureAdmin(&got))
			if res.code != exitOK || got == nil {
				t.Fatalf("exit %d, stderr:\n%s", res.code, res.stderr)
			}
			if *got != tt.want {
				t.Errorf("options:\n got %+v\nwant %+v", *got, tt.want)
			}
		})
	}
}

func TestAdmin_UsageErrorsExit2(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"missing app id", []string{"admin", "users"}, "--app-id is required"},
		{"app id not a number", []string{"admin", "users", "--app-id", "x"}, `invalid argument "x" for "--app-id"`},
		{"online without user", []string{"admin", "online", "--app-id", "101"}, "accepts 1 arg(s), received 0"},
		{"push without target", []string{"admin", "push", "--app-id", "101", "hi"}, "give exactly one of --user and --room"},
		{"push with both targets", []string{"admin", "push", "--user", "u1", "--room", "r", "--app-id", "101", "hi"}, "give exactly one of --user and --room"},
		{"push without message", []string{"admin", "push", "--user", "u1", "--app-id", "101"}, "accepts 1 arg(s), received 0"},
		{"broadcast with two messages", []string{"admin", "broadcast", "--app-id", "101", "a", "b"}, "accepts 1 arg(s), received 2"},
		{"state with an argument", []string{"admin", "state", "now"}, `gows admin state takes no arguments, got "now"`},
		{"unknown output", []string{"admin", "state", "-o", "yaml"}, `--output: want table or json, got "yaml"`},
		{"unknown flag", []string{"admin", "nodes", "--bogus"}, "unknown flag: --bogus"},
		{"no subcommand", []string{"admin"}, "gows admin needs a command: broadcast, kick, nodes, online, push, state or users"},
		{"unknown subcommand", []string{"admin", "userz"}, `unknown command "userz" for "gows admin"; did you mean users?`},
		{"all with cursor", []string{"admin", "users", "--app-id", "1", "--all", "--cursor", "u1"}, "give --all or --cursor, not both"},
		{"limit too big", []string{"admin", "users", "--app-id", "1", "--limit", "20000"}, "limit: must be 1..10000"},
		{"bad server URL", []string{"admin", "state", "--server", "ftp://example.com"}, "server: want http://host:port"},
		{"negative timeout", []string{"admin", "state", "--timeout", "-1s"}, "timeout: must not be negative"},
		{"bad user id", []string{"admin", "online", strings.Repeat("u", 65), "--app-id", "1"}, "userId: must be 1..64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolateEnv(t)
			res := runCLI(t, tt.args)
			if res.code != exitUsage {
				t.Errorf("exit code = %d, want %d; stderr:\n%s", res.code, exitUsage, res.stderr)
			}
			if !strings.Contains(res.stderr, tt.want) {
				t.Errorf("stderr = %q, want it to contain %q", res.stderr, tt.want)
			}
			if res.stdout != "" {
				t.Errorf("stdout = %q, want nothing", res.stdout)
			}
		})
	}
}

// adminEnv is a running node with two logged-in users: u1, and u2 in room lobby.
type adminEnv struct {
	srv    *testutil.Server
	u1, u2 *testutil.Client
}

func startAdminEnv(t *testing.T) *adminEnv {
	t.Helper()
	isolateEnv(t)
	srv := testutil.StartServer(t)
	e := &adminEnv{srv: srv, u1: testutil.Dial(t, srv.WSURL, nil), u2: testutil.Dial(t, srv.WSURL, nil)}
	e.u1.Login(101, "u1")
	e.u2.Login(101, "u2")
	if r := e.u2.Call(protocol.CmdJoin, protocol.RoomData{Room: "lobby"}); r.Response.Code != protocol.OK {
		t.Fatalf("join: %+v", r)
	}
	t.Setenv("GOWS_SERVER", srv.HTTPURL)
	return e
}

// fields splits each line of out into its whitespace-separated fields.
func fields(out string) [][]string {
	var rows [][]string
	for line := range strings.Lines(out) {
		rows = append(rows, strings.Fields(line))
	}
	return rows
}

// valueColumns reports the columns at which the lines' values start (after the first run
// of two or more spaces), to check that a two-column table lines up.
func valueColumns(out string) map[int]bool {
	cols := map[int]bool{}
	for line := range strings.Lines(out) {
		i := strings.Index(line, "  ")
		if i < 0 {
			cols[-1] = true
			continue
		}
		cols[len(line)-len(strings.TrimLeft(line[i:], " "))] = true
	}
	return cols
}

func TestAdmin_EverySubcommandAgainstARealServer(t *testing.T) {
	started := time.Now()
	e := startAdminEnv(t)
	msg := func(c *testutil.Client, cmd string) protocol.Message {
		t.Helper()
		return testutil.Data[protocol.Message](t, c.Push(cmd))
	}
	tests := []struct {
		name   string
		args   []string
		stdout []string // each in stdout
		stderr string   // in stderr
		check  func(t *testing.T, res cliResult)
	}{
		{
			name:   "users",
			args:   []string{"admin", "users", "--app-id", "101"},
			stdout: []string{"USER\nu1\nu2\n"},
			stderr: "2 of 2 online users in app 101",
		},
		{
			name:   "users first page",
			args:   []string{"admin", "users", "--app-id", "101", "--limit", "1"},
			stdout: []string{"USER\nu1\n"},
			stderr: "1 of 2 online users in app 101; next page: --cursor u1",
		},
		{
			name:   "users next page",
			args:   []string{"admin", "users", "--app-id", "101", "--limit", "1", "--cursor", "u1"},
			stdout: []string{"USER\nu2\n"},
		},
		{
			name:   "users all pages streamed",
			args:   []string{"admin", "users", "--app-id", "101", "--limit", "1", "--all"},
			stdout: []string{"USER\nu1\nu2\n"},
			stderr: "2 online users in app 101",
		},
		{
			name:   "room users",
			args:   []string{"admin", "users", "--app-id", "101", "--room", "lobby"},
			stdout: []string{"USER\nu2\n"},
			stderr: "in room lobby of app 101",
		},
		{
			name:   "online",
			args:   []string{"admin", "online", "u1", "--app-id", "101"},
			stdout: []string{"USER     u1\n", "ONLINE   yes\n", "NODE     " + e.srv.NodeID() + "\n", "ADDRESS  127.0.0.1:", " ago)\n"},
		},
		{
			name:   "push to a user",
			args:   []string{"admin", "push", "--user", "u1", "--app-id", "101", "--msg-id", "m1", "--from", "ops", "hello"},
			stdout: []string{"MSG ID     m1\nDELIVERED  1\n"},
			check: func(t *testing.T, _ cliResult) {
				if m := msg(e.u1, protocol.CmdMsg); m.Msg != "hello" || m.From != "ops" {
					t.Errorf("u1 got %+v", m)
				}
			},
		},
		{
			name:   "push again with the same msg id",
			args:   []string{"admin", "push", "--user", "u1", "--app-id", "101", "--msg-id", "m1", "hello"},
			stdout: []string{"DELIVERED  0\nDUPLICATE  yes\n"},
			stderr: "message m1 was already pushed within the server's dedup window; not delivered again",
		},
		{
			name:   "push to a room",
			args:   []string{"admin", "push", "--room", "lobby", "--app-id", "101", "hi lobby"},
			stdout: []string{"MSG ID     " + e.srv.NodeID(), "DELIVERED  1\n"},
			check: func(t *testing.T, _ cliResult) {
				if m := msg(e.u2, protocol.CmdMsg); m.Msg != "hi lobby" || m.Target != "lobby" {
					t.Errorf("u2 got %+v", m)
				}
			},
		},
		{
			name:   "broadcast",
			args:   []string{"admin", "broadcast", "--app-id", "101", "maintenance in 5 minutes"},
			stdout: []string{"DELIVERED  2\n"},
			check: func(t *testing.T, _ cliResult) {
				for _, c := range []*testutil.Client{e.u1, e.u2} {
					if m := msg(c, protocol.CmdMsg); m.Msg != "maintenance in 5 minutes" {
						t.Errorf("got %+v", m)
					}
				}
			},
		},
		{
			name:   "state",
			args:   []string{"admin", "state"},
			stdout: []string{"NODE               " + e.srv.NodeID() + "\n", "VERSION            test\n", "USERS              2\n", "DRAINING           no\n", "CLUSTER            single node\n"},
			check: func(t *testing.T, res cliResult) {
				if cols := valueColumns(res.stdout); len(cols) != 1 {
					t.Errorf("values start at columns %v, want one column:\n%s", cols, res.stdout)
				}
				for _, row := range fields(res.stdout) {
					if row[0] == "UPTIME" {
						checkUptime(t, row[1], started)
					}
				}
			},
		},
		{
			name:   "nodes",
			args:   []string{"admin", "nodes"},
			stdout: []string{"NODE", "CONNECTIONS", "USERS"},
			check: func(t *testing.T, res cliResult) {
				rows := fields(res.stdout)
				if len(rows) != 2 || rows[1][0] != e.srv.NodeID() || rows[1][3] != "2" || rows[1][4] != "2" || rows[1][len(rows[1])-1] != "serving" {
					t.Fatalf("nodes table:\n%s", res.stdout)
				}
				if want := []string{"NODE", "VERSION", "UPTIME", "CONNECTIONS", "USERS", "RSS", "HTTP", "ADDR", "STATUS"}; !slices.Equal(rows[0], want) {
					t.Errorf("header %q, want %q", rows[0], want)
				}
				if addr := rows[1][len(rows[1])-2]; "http://"+addr != e.srv.HTTPURL {
					t.Errorf("http addr %q, want the node's %s", addr, e.srv.HTTPURL)
				}
				checkUptime(t, rows[1][2], started)
				header, row, _ := strings.Cut(res.stdout, "\n")
				if i := strings.Index(header, "CONNECTIONS"); len(row) <= i || row[i-1] != ' ' || row[i] != '2' {
					t.Errorf("columns do not line up:\n%s", res.stdout)
				}
			},
		},
		{
			name:   "kick",
			args:   []string{"admin", "kick", "u2", "--app-id", "101", "--reason", "account suspended"},
			stdout: []string{"USER    u2\nKICKED  1\n"},
			check: func(t *testing.T, _ cliResult) {
				if m := msg(e.u2, protocol.CmdKickout); m.Msg != "account suspended" {
					t.Errorf("kickout = %+v", m)
				}
				var ce *websocket.CloseError
				if err := e.u2.ReadClose(); !errors.As(err, &ce) || ce.Code != int(protocol.CloseAdminKick) {
					t.Errorf("close = %v, want 4007", err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runCLI(t, tt.args)
			if res.code != exitOK {
				t.Fatalf("exit %d; stderr:\n%s", res.code, res.stderr)
			}
			for _, want := range tt.stdout {
				if !strings.Contains(res.stdout, want) {
					t.Errorf("stdout does not contain %q:\n%s", want, res.stdout)
				}
			}
			if !strings.Contains(res.stderr, tt.stderr) {
				t.Errorf("stderr = %q, want %q", res.stderr, tt.stderr)
			}
			if tt.check != nil {
				tt.check(t, res)
			}
		})
	}
}

// checkUptime checks an UPTIME cell of a node started after started: a duration of at
// most the time since then, plus the second startedAt is rounded down by and the half
// second the table rounds by.
func checkUptime(t *testing.T, cell string, started time.Time) {
	t.Helper()
	limit := time.Since(started) + 1500*time.Millisecond
	if d, err := time.ParseDuration(cell); err != nil || d < 0 || d > limit {
		t.Errorf("UPTIME %q, want a duration of at most %s", cell, limit)
	}
}

// TestAdmin_NodesListsEveryClusterNode asks one node of a two-node cluster for the
// nodes table: a row for each node, with its uptime and HTTP address.
func TestAdmin_NodesListsEveryClusterNode(t *testing.T) {
	isolateEnv(t)
	r := testutil.StartRedis(t)
	started := time.Now()
	join := func(id string) func(*server.Config) {
		return func(c *server.Config) { c.NodeID = id; c.Cluster.Redis = r.URL() }
	}
	a, b := testutil.StartServer(t, join("node-a")), testutil.StartServer(t, join("node-b"))
	var res cliResult
	testutil.Eventually(t, 10*time.Second, func() error {
		res = runCLI(t, []string{"admin", "nodes", "--server", b.HTTPURL})
		if res.code != exitOK || strings.Count(res.stdout, "\n") != 3 {
			return fmt.Errorf("exit %d, want both nodes listed:\n%s%s", res.code, res.stdout, res.stderr)
		}
		return nil
	})
	rows := fields(res.stdout)
	if want := []string{"NODE", "VERSION", "UPTIME", "CONNECTIONS", "USERS", "RSS", "HTTP", "ADDR", "STATUS"}; !slices.Equal(rows[0], want) {
		t.Fatalf("header %q, want %q", rows[0], want)
	}
	for i, n := range []*testutil.Server{a, b} {
		row := rows[i+1] // RSS is two fields ("23.1 MiB"); the address and status end the row
		if len(row) < 8 || row[0] != n.NodeID() || row[len(row)-2] != n.HTTPAddr().String() || row[len(row)-1] != "serving" {
			t.Errorf("row %q, want node %s at %s, serving", row, n.NodeID(), n.HTTPAddr())
			continue
		}
		checkUptime(t, row[2], started)
	}
	// node-a may have read the registry before node-b joined; within a second its view
	// is old enough to be read again.
	testutil.Eventually(t, 10*time.Second, func() error {
		st := runCLI(t, []string{"admin", "state", "--server", a.HTTPURL})
		if !strings.Contains(st.stdout, "CLUSTER            redis, 2 nodes\n") {
			return fmt.Errorf("state does not show the cluster of two:\n%s%s", st.stdout, st.stderr)
		}
		return nil
	})
}

// TestAdmin_ClusterNodeThatDoesNotAnswer: a node that is registered but whose gRPC port
// never answers is listed as "no answer" with its registry figures, and a broadcast
// that could not reach it says so, in the table and on stderr.
func TestAdmin_ClusterNodeThatDoesNotAnswer(t *testing.T) {
	isolateEnv(t)
	r := testutil.StartRedis(t)
	const prefix = "admin-hung"
	a := testutil.StartServer(t, func(c *server.Config) {
		c.NodeID, c.Cluster.Redis, c.Cluster.RedisPrefix, c.Cluster.RPCTimeout = "node-a", r.URL(), prefix, time.Second
	})
	u := testutil.Dial(t, a.WSURL, nil)
	u.Login(101, "u1")

	// "node-hung" is a real broker registering a node whose gRPC address never answers.
	hole := testutil.Blackhole(t)
	hung, err := cluster.NewRedis(cluster.RedisConfig{NodeID: "node-hung", URL: r.URL(), Prefix: prefix,
		Timeout: time.Second, NodeTTL: 30 * time.Second, DedupWindow: time.Minute},
		cluster.Hooks{Self: func() cluster.Node {
			return cluster.Node{HTTPAddr: hole, GRPCAddr: hole, StartedMs: time.Now().Add(-time.Hour).UnixMilli(), Connections: 7, Users: 5}
		}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- hung.Run(t.Context()) }() // t.Context ends before the cleanups run
	t.Cleanup(func() {
		if err := <-done; err != nil {
			t.Errorf("hung broker: %v", err)
		}
	})

	var res cliResult
	testutil.Eventually(t, 10*time.Second, func() error {
		res = runCLI(t, []string{"admin", "nodes", "--server", a.HTTPURL})
		if res.code != exitOK || !strings.Contains(res.stdout, "\nnode-hung ") {
			return fmt.Errorf("exit %d, want node-hung listed:\n%s%s", res.code, res.stdout, res.stderr)
		}
		return nil
	})
	rows := fields(res.stdout)
	if len(rows) != 3 || !slices.Equal(rows[2][len(rows[2])-3:], []string{hole, "no", "answer"}) || rows[2][3] != "7" || rows[2][4] != "5" {
		t.Errorf("hung's row %q, want its registry figures (7 connections, 5 users) and no answer:\n%s", rows[len(rows)-1], res.stdout)
	}
	if !strings.HasPrefix(rows[2][2], "1h0m") {
		t.Errorf("hung's uptime %q, want about an hour", rows[2][2])
	}
	if rows[1][0] != "node-a" || rows[1][len(rows[1])-1] != "serving" {
		t.Errorf("node-a's row %q, want serving", rows[1])
	}
	if want := "node node-hung did not answer in time; its figures are from its last registry renewal at 20"; !strings.Contains(res.stderr, want) ||
		strings.Contains(res.stderr, "node node-a ") {
		t.Errorf("stderr = %q, want only %q", res.stderr, want)
	}

	res = runCLI(t, []string{"admin", "broadcast", "--app-id", "101", "--msg-id", "b1", "--server", a.HTTPURL, "hi all"})
	if res.code != exitOK || !strings.Contains(res.stdout, "DELIVERED     1\nNODES FAILED  1\n") {
		t.Errorf("broadcast: exit %d, stdout:\n%s", res.code, res.stdout)
	}
	if want := "1 node(s) did not take message b1 within the server's deadline"; !strings.Contains(res.stderr, want) {
		t.Errorf("stderr = %q, want %q", res.stderr, want)
	}
	if m := testutil.Data[protocol.Message](t, u.Push(protocol.CmdMsg)); m.Msg != "hi all" {
		t.Errorf("u1 got %+v", m)
	}
}

func TestAdmin_JSONOutputIsTheServersData(t *testing.T) {
	e := startAdminEnv(t)
	decode := func(t *testing.T, out string, v any) {
		t.Helper()
		dec := json.NewDecoder(strings.NewReader(out))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			t.Fatalf("stdout %q is not the expected JSON: %v", out, err)
		}
	}
	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, stdout string)
	}{
		{"state", []string{"admin", "state", "-o", "json"}, func(t *testing.T, out string) {
			var st api.State
			decode(t, out, &st)
			if st.NodeID != e.srv.NodeID() || st.Users != 2 {
				t.Errorf("state %+v", st)
			}
		}},
		{"nodes", []string{"admin", "nodes", "-o", "json"}, func(t *testing.T, out string) {
			var nl api.NodeList // /system/nodes answers the mode and NodeState rows
			decode(t, out, &nl)
			if len(nl.Nodes) != 1 || nl.Nodes[0].NodeID != e.srv.NodeID() {
				t.Errorf("nodes %+v", nl)
			}
		}},
		{"users", []string{"admin", "users", "--app-id", "101", "-o", "json"}, func(t *testing.T, out string) {
			var p api.UserPage
			decode(t, out, &p)
			if p.UserCount != 2 || fmt.Sprint(p.UserList) != "[u1 u2]" || p.NextCursor != "" {
				t.Errorf("page %+v", p)
			}
		}},
		{"users all pages, one line each", []string{"admin", "users", "--app-id", "101", "--limit", "1", "--all", "-o", "json"}, func(t *testing.T, out string) {
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			if len(lines) != 2 {
				t.Fatalf("want 2 lines:\n%s", out)
			}
			for i, want := range []string{"u1", "u2"} {
				var p api.UserPage
				decode(t, lines[i], &p)
				if fmt.Sprint(p.UserList) != "["+want+"]" {
					t.Errorf("page %d: %+v", i, p)
				}
			}
		}},
		{"online", []string{"admin", "online", "u1", "--app-id", "101", "-o", "json"}, func(t *testing.T, out string) {
			var p api.Presence
			decode(t, out, &p)
			if !p.Online || p.UserID != "u1" || p.NodeID != e.srv.NodeID() {
				t.Errorf("presence %+v", p)
			}
		}},
		{"push", []string{"admin", "push", "--user", "u1", "--app-id", "101", "--msg-id", "j1", "x", "-o", "json"}, func(t *testing.T, out string) {
			var r api.PushResult
			decode(t, out, &r)
			if r != (api.PushResult{MsgID: "j1", Delivered: 1}) {
				t.Errorf("push %+v", r)
			}
		}},
		{"broadcast", []string{"admin", "broadcast", "--app-id", "101", "x", "-o", "json"}, func(t *testing.T, out string) {
			var r api.PushResult
			decode(t, out, &r)
			if r.Delivered != 2 || r.MsgID == "" {
				t.Errorf("broadcast %+v", r)
			}
		}},
		{"kick", []string{"admin", "kick", "u2", "--app-id", "101", "-o", "json"}, func(t *testing.T, out string) {
			var r api.KickResult
			decode(t, out, &r)
			if r.Kicked != 1 {
				t.Errorf("kick %+v", r)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runCLI(t, tt.args)
			if res.code != exitOK {
				t.Fatalf("exit %d; stderr:\n%s", res.code, res.stderr)
			}
			tt.check(t, res.stdout)
		})
	}
}

// TestAdmin_OnlineCountsAUsersConnections: with max_conns_per_user above 1, a user online
// twice is shown with the newest connection's details and a CONNECTIONS row; once is
// shown without it.
func TestAdmin_OnlineCountsAUsersConnections(t *testing.T) {
	isolateEnv(t)
	srv := testutil.StartServer(t, func(c *server.Config) { c.MaxConnsPerUser = 2 })
	t.Setenv("GOWS_SERVER", srv.HTTPURL)
	testutil.Dial(t, srv.WSURL, nil).Login(101, "u1")
	res := runCLI(t, []string{"admin", "online", "u1", "--app-id", "101"})
	if res.code != 0 || strings.Contains(res.stdout, "CONNECTIONS") {
		t.Fatalf("one connection: exit %d, stdout %q, stderr %q; want exit 0 and no CONNECTIONS row", res.code, res.stdout, res.stderr)
	}
	testutil.Dial(t, srv.WSURL, nil).Login(101, "u1")
	res = runCLI(t, []string{"admin", "online", "u1", "--app-id", "101"})
	if want := "CONNECTIONS  2 on " + srv.NodeID() + "\n"; res.code != 0 || !strings.Contains(res.stdout, want) {
		t.Fatalf("two connections: exit %d, stdout %q; want exit 0 and %q", res.code, res.stdout, want)
	}
}

func TestAdmin_OfflineUserExits1WithTheServersMessage(t *testing.T) {
	startAdminEnv(t)
	tests := []struct {
		name   string
		args   []string
		stderr string
		stdout string
	}{
		{"online", []string{"admin", "online", "ghost", "--app-id", "101"}, "user ghost is not online in app 101", "ONLINE  no\n"},
		{"online json", []string{"admin", "online", "ghost", "--app-id", "101", "-o", "json"}, "user ghost is not online in app 101", `{"appId":101,"userId":"ghost","online":false}` + "\n"},
		{"push", []string{"admin", "push", "--user", "ghost", "--app-id", "101", "hi"}, "user ghost is not online (code 1005, HTTP 404)", ""},
		{"kick", []string{"admin", "kick", "ghost", "--app-id", "101"}, "user ghost is not online (code 1005, HTTP 404)", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runCLI(t, tt.args)
			if res.code != exitFailure {
				t.Errorf("exit %d, want %d", res.code, exitFailure)
			}
			if !strings.Contains(res.stderr, tt.stderr) || strings.Contains(res.stderr, "--help") {
				t.Errorf("stderr = %q, want %q and no usage hint", res.stderr, tt.stderr)
			}
			if !strings.Contains(res.stdout, tt.stdout) || (tt.stdout == "" && res.stdout != "") {
				t.Errorf("stdout = %q, want %q", res.stdout, tt.stdout)
			}
		})
	}
}

// TestAdmin_WrongServerExits3NamingTheAddress: a port with nothing listening, a host that
// does not resolve and a server that accepts the connection but never answers (ended by
// --timeout) are all exit 3, with the address on stderr and nothing on stdout.
func TestAdmin_WrongServerExits3NamingTheAddress(t *testing.T) {
	isolateEnv(t)
	refused, hole := testutil.RefusedAddr(t), testutil.Blackhole(t)
	tests := []struct {
		name   string
		server string
		args   []string
		want   string // in stderr, after the address
	}{
		{"state, nothing listens", refused, []string{"state"}, "connection refused"},
		{"nodes, nothing listens", refused, []string{"nodes"}, "connection refused"},
		{"users, nothing listens", refused, []string{"users", "--app-id", "101"}, "connection refused"},
		{"push, nothing listens", refused, []string{"push", "--user", "u1", "--app-id", "101", "x"}, "connection refused"},
		{"host that does not resolve", "no-such-host.invalid:8080", []string{"state", "--timeout", "5s"}, "no-such-host.invalid"},
		{"server that never answers", hole, []string{"online", "u1", "--app-id", "101", "--timeout", "300ms"}, "no answer within 300ms"},
		{"kick, server that never answers", hole, []string{"kick", "u1", "--app-id", "101", "--timeout", "300ms"}, "no answer within 300ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			res := runCLI(t, append(append([]string{"admin"}, tt.args...), "--server", tt.server))
			if res.code != exitUnreachable {
				t.Errorf("exit %d, want %d; stderr:\n%s", res.code, exitUnreachable, res.stderr)
			}
			if want := "cannot reach gows server at http://" + tt.server; !strings.Contains(res.stderr, want) || !strings.Contains(res.stderr, tt.want) {
				t.Errorf("stderr = %q, want %q and %q", res.stderr, want, tt.want)
			}
			if res.stdout != "" {
				t.Errorf("stdout = %q, want nothing", res.stdout)
			}
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("took %s; --timeout should have ended it", took)
			}
		})
	}
}

// TestAdmin_TokenFromEnvironmentAndRefusals: against a node with an admin token, no token
// or a wrong one is refused (exit 1, the server's message, no usage hint); GOWS_TOKEN is
// sent as the bearer token.
func TestAdmin_TokenFromEnvironmentAndRefusals(t *testing.T) {
	isolateEnv(t)
	const token = "admin-token-for-the-test"
	srv := testutil.StartServer(t, func(c *server.Config) { c.AdminToken = token })
	t.Setenv("GOWS_SERVER", srv.HTTPURL)
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no token", []string{"admin", "state"}, "admin token required"},
		{"wrong token", []string{"admin", "users", "--app-id", "101", "--token", "not-it"}, "admin token not accepted"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := runCLI(t, tt.args)
			if res.code != exitFailure || !strings.Contains(res.stderr, tt.want) || !strings.Contains(res.stderr, "HTTP 401") ||
				strings.Contains(res.stderr, "--help") || res.stdout != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 and %q", res.code, res.stdout, res.stderr, tt.want)
			}
		})
	}
	t.Setenv("GOWS_TOKEN", token)
	if res := runCLI(t, []string{"admin", "state"}); res.code != exitOK || !strings.Contains(res.stdout, srv.NodeID()) {
		t.Errorf("with GOWS_TOKEN: exit %d\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
}

// cellColumns returns the terminal columns at which the cells of a table line start
// (cells are separated by two or more spaces; a wide character takes two columns).
func cellColumns(line string) []int {
	var cols []int
	col, spaces, inCell := 0, 0, false
	for _, r := range strings.TrimRight(line, "\n") {
		if r == ' ' {
			spaces++
		} else {
			if !inCell || spaces >= 2 {
				cols = append(cols, col)
			}
			inCell, spaces = true, 0
		}
		col += runewidth.RuneWidth(r)
	}
	return cols
}

// TestAdmin_TablesLineUpWithWideCharacters: node and user ids in East Asian scripts take
// two terminal columns a character; the columns after them still line up.
func TestAdmin_TablesLineUpWithWideCharacters(t *testing.T) {
	isolateEnv(t)
	srv := testutil.StartServer(t, func(c *server.Config) { c.NodeID = "東京-ノード-1" })
	t.Setenv("GOWS_SERVER", srv.HTTPURL)
	const user = "用户-長い名前-ユーザー"
	testutil.Dial(t, srv.WSURL, nil).Login(101, user)

	res := runCLI(t, []string{"admin", "nodes"})
	lines := strings.Split(strings.TrimSuffix(res.stdout, "\n"), "\n")
	if res.code != exitOK || len(lines) != 2 || !strings.HasPrefix(lines[1], srv.NodeID()) {
		t.Fatalf("exit %d:\n%s%s", res.code, res.stdout, res.stderr)
	}
	if h, r := cellColumns(lines[0]), cellColumns(lines[1]); !slices.Equal(h, r) {
		t.Errorf("header cells start at columns %v, the row's at %v:\n%s", h, r, res.stdout)
	}

	res = runCLI(t, []string{"admin", "online", user, "--app-id", "101"})
	if res.code != exitOK || !strings.Contains(res.stdout, "USER     "+user+"\n") || !strings.Contains(res.stdout, "NODE     "+srv.NodeID()+"\n") {
		t.Fatalf("exit %d:\n%s%s", res.code, res.stdout, res.stderr)
	}
	want := cellColumns("USER     x")
	for line := range strings.Lines(res.stdout) {
		if got := cellColumns(line); !slices.Equal(got, want) {
			t.Errorf("line %q: cells at columns %v, want %v", line, got, want)
		}
	}
}

// TestAdmin_EndToEndWithServe runs `gows serve` and `gows admin` through the same command
// tree: a push sent with admin reaches a WebSocket client of the served node.
func TestAdmin_EndToEndWithServe(t *testing.T) {
	n := startServe(t)
	httpAddr, wsAddr := n.httpAddr, n.wsAddr
	c := testutil.Dial(t, "ws://"+wsAddr+"/acc", nil)
	c.Login(101, "u1")
	res := runCLI(t, []string{"admin", "--server", httpAddr, "push", "--user", "u1", "--app-id", "101", "hello from admin"})
	if res.code != exitOK || !strings.Contains(res.stdout, "DELIVERED  1") {
		t.Fatalf("admin push: exit %d\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	if m := testutil.Data[protocol.Message](t, c.Push(protocol.CmdMsg)); m.Msg != "hello from admin" {
		t.Errorf("client got %+v", m)
	}
}

// TestAdmin_UsersPagesThroughThousandsOfUsers: with 2,500 users online, `users` shows one
// page and names the next cursor; following the cursors, or --all, yields every user
// exactly once, in order, a page at a time.
func TestAdmin_UsersPagesThroughThousandsOfUsers(t *testing.T) {
	isolateEnv(t)
	srv := testutil.StartServer(t, func(c *server.Config) { c.PresenceLimit = 0 })
	t.Setenv("GOWS_SERVER", srv.HTTPURL)
	const n = 2500
	want := make([]string, n)
	for i := range want {
		want[i] = fmt.Sprintf("user-%d", i)
		testutil.Dial(t, srv.WSURL, nil).Login(101, want[i])
	}
	slices.Sort(want) // the server sorts ids as strings

	// A page at a time, following the cursor stderr names.
	var got []string
	args := []string{"admin", "users", "--app-id", "101"}
	for pages := 1; ; pages++ {
		res := runCLI(t, args)
		lines := strings.Split(strings.TrimSuffix(res.stdout, "\n"), "\n")
		if res.code != exitOK || lines[0] != "USER" {
			t.Fatalf("%v: exit %d\n%s", args, res.code, res.stderr)
		}
		if page := len(lines) - 1; page != min(1000, n-len(got)) {
			t.Fatalf("%v: %d users, want a page of the server's default 1000 or the rest", args, page)
		}
		got = append(got, lines[1:]...)
		if want := fmt.Sprintf("%d of %d online users in app 101", len(lines)-1, n); !strings.HasPrefix(res.stderr, want) {
			t.Errorf("stderr %q, want %q", res.stderr, want)
		}
		_, next, ok := strings.Cut(strings.TrimSpace(res.stderr), "next page: --cursor ")
		if !ok {
			if pages != 3 {
				t.Errorf("%d pages, want 3", pages)
			}
			break
		}
		if next != got[len(got)-1] {
			t.Errorf("next cursor %q, want the page's last id %q", next, got[len(got)-1])
		}
		args = []string{"admin", "users", "--app-id", "101", "--cursor", next}
	}
	if !slices.Equal(got, want) {
		t.Errorf("pages followed by cursor: %d ids, want the %d online users in order", len(got), n)
	}

	// --all: each page one JSON line, as the server sent it.
	res := runCLI(t, []string{"admin", "users", "--app-id", "101", "--all", "--limit", "700", "-o", "json"})
	lines := strings.Split(strings.TrimSuffix(res.stdout, "\n"), "\n")
	if res.code != exitOK || len(lines) != 4 {
		t.Fatalf("--all --limit 700 -o json: exit %d, %d lines, want 4 pages\n%s", res.code, len(lines), res.stderr)
	}
	got = got[:0]
	for i, line := range lines {
		var p api.UserPage
		if err := json.Unmarshal([]byte(line), &p); err != nil || p.UserCount != n || (p.NextCursor == "") != (i == 3) {
			t.Fatalf("page %d: %+v, %v", i, p, err)
		}
		got = append(got, p.UserList...)
	}
	if !slices.Equal(got, want) {
		t.Errorf("--all pages: %d ids, want the %d online users in order", len(got), n)
	}
	if !strings.Contains(res.stderr, "2500 online users in app 101") {
		t.Errorf("stderr %q", res.stderr)
	}
}
