package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/spf13/pflag"

	"github.com/gows-dev/gows/internal/testutil"
)

func TestServeNodes_ArgsForEachNode(t *testing.T) {
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	fs.Int("nodes", 1, "")
	fs.String("node-id", "", "")
	fs.String("ws-addr", "", "")
	fs.StringSlice("allowed-origins", nil, "")
	fs.Bool("reuseport", false, "")
	fs.String("config", "", "")
	if err := fs.Parse([]string{"--nodes", "3", "--node-id", "x", "--ws-addr", ":9", "--allowed-origins", "a.example,*.b.example", "--reuseport", "--config", "c.yaml"}); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(nodeArgs(fs, "c.yaml"), " ")
	want := "--config=c.yaml --allowed-origins=a.example --allowed-origins=*.b.example --ws-addr=:9"
	if got != want {
		t.Fatalf("node args\n got %s\nwant %s", got, want)
	}
}

// The nodes' gRPC listeners bind grpc_addr's host, or ws_addr's when grpc_addr names
// none: a cluster whose clients come only over loopback keeps its gRPC ports there too.
func TestServeNodes_GRPCHost(t *testing.T) {
	for _, c := range []struct{ grpc, ws, want string }{
		{":9001", "127.0.0.1:8089", "127.0.0.1"},
		{":9001", "[::1]:8089", "::1"},
		{":9001", ":8089", ""},
		{"10.0.0.5:9001", "127.0.0.1:8089", "10.0.0.5"},
		{"0.0.0.0:9001", "127.0.0.1:8089", "0.0.0.0"},
	} {
		if got, err := nodesGRPCHost(c.grpc, c.ws); err != nil || got != c.want {
			t.Errorf("grpc %q ws %q: host %q, %v; want %q", c.grpc, c.ws, got, err, c.want)
		}
	}
	if _, err := nodesGRPCHost("9001", ":8089"); err == nil || !strings.Contains(err.Error(), "grpc_addr") {
		t.Errorf("a grpc_addr without a port: %v", err)
	}
}

func TestServeNodes_NeedsACluster(t *testing.T) {
	isolateEnv(t)
	res := runCLI(t, []string{"serve", "--nodes", "2", "--http-addr", "127.0.0.1:0", "--ws-addr", "127.0.0.1:0"})
	if res.code != exitUsage || !strings.Contains(res.stderr, "--nodes 2 needs --redis") {
		t.Fatalf("exit %d, stderr %q; want exit %d and a word on --redis", res.code, res.stderr, exitUsage)
	}
}

func TestServeNodes_LocalClusterSharesThePorts(t *testing.T) {
	l := startLocalCluster(t, "t")
	if err := l.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := l.wait(t, time.Minute); err != nil {
		t.Fatalf("launcher exit: %v\n%s", err, l.out.String())
	}
	for _, want := range []string{"[t-node1] ", "[t-node2] ", "all nodes stopped"} {
		if !strings.Contains(l.out.String(), want) {
			t.Fatalf("output lacks %q:\n%s", want, l.out.String())
		}
	}
}

// TestServeNodes_CtrlCDrainsTheNodes: Ctrl-C on a terminal signals the whole foreground
// process group. The nodes must still drain (close with 1001), not take the launcher's
// SIGTERM after the terminal's SIGINT as a second signal and end at once (1006).
func TestServeNodes_CtrlCDrainsTheNodes(t *testing.T) {
	l := startLocalCluster(t, "c")
	c := l.login(t, "alice")
	// Whether a node that got both signals ends at once depends on their timing; that
	// it gets only the launcher's does not.
	if runtime.GOOS == "linux" {
		for _, pgrp := range childGroups(t, l.cmd.Process.Pid) {
			if pgrp == l.cmd.Process.Pid {
				t.Fatalf("a node is in the launcher's process group %d, so a Ctrl-C signals it too", pgrp)
			}
		}
	}
	if err := syscall.Kill(-l.cmd.Process.Pid, syscall.SIGINT); err != nil { // the launcher leads its group
		t.Fatal(err)
	}
	l.wantDrained(t, c)
}

// TestServeNodes_NodesMayDrainByTheirSettings: the launcher waits for a node as long as
// the node's own settings let its shutdown take (here a drain delay longer than the
// drain timeout and then some) before it kills it.
func TestServeNodes_NodesMayDrainByTheirSettings(t *testing.T) {
	l := startLocalCluster(t, "d", "--drain-delay", "7s", "--drain-timeout", "1s")
	c := l.login(t, "alice")
	if err := l.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	l.wantDrained(t, c)
}

// TestServeNodes_SecondSignalEndsAtOnce: a second SIGTERM ends the launcher and its
// nodes at once, in the middle of a drain, as it ends a single node.
func TestServeNodes_SecondSignalEndsAtOnce(t *testing.T) {
	l := startLocalCluster(t, "s", "--drain-delay", "1m")
	c := l.login(t, "alice")
	if err := l.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, func() error {
		if n := strings.Count(l.out.String(), "msg=draining"); n != 2 {
			return fmt.Errorf("%d nodes draining, want 2", n)
		}
		return nil
	})
	if err := l.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_ = l.wait(t, 10*time.Second) // killed by the signal: the drain delay is a minute
	// The node went with it: the connection drops without a close frame (1006).
	var ce *websocket.CloseError
	if err := c.ReadClose(); !errors.As(err, &ce) || ce.Code != websocket.CloseAbnormalClosure {
		t.Fatalf("client closed with %v, want the connection dropped (1006)", err)
	}
}

// login connects a client through the shared WebSocket port and logs it in as user.
func (l *localCluster) login(t *testing.T, user string) *testutil.Client {
	t.Helper()
	c := testutil.Dial(t, "ws://"+l.wsAddr+"/acc", nil)
	c.Login(101, user)
	return c
}

// wantDrained checks that the node holding c closed it with 1001 (going away), as a
// drain does, and that the launcher then exited 0.
func (l *localCluster) wantDrained(t *testing.T, c *testutil.Client) {
	t.Helper()
	var ce *websocket.CloseError
	if err := c.ReadClose(); !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
		t.Fatalf("client closed with %v, want 1001 (going away)\n%s", err, l.out.String())
	}
	if err := l.wait(t, time.Minute); err != nil {
		t.Fatalf("launcher exit: %v\n%s", err, l.out.String())
	}
}

// childGroups returns the process group of every child of process pid (Linux /proc).
func childGroups(t *testing.T, pid int) []int {
	t.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	if err != nil {
		t.Fatal(err)
	}
	var groups []int
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, child := range strings.Fields(string(b)) {
			stat, err := os.ReadFile("/proc/" + child + "/stat")
			if err != nil {
				t.Fatal(err)
			}
			// pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
			f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
			pgrp, err := strconv.Atoi(f[2])
			if err != nil {
				t.Fatalf("/proc/%s/stat: %v", child, err)
			}
			groups = append(groups, pgrp)
		}
	}
	if len(groups) != 2 {
		t.Fatalf("launcher %d has %d children, want 2", pid, len(groups))
	}
	return groups
}

// localCluster is a `gows serve --nodes 2` process, leading its own process group as a
// job in a terminal does.
type localCluster struct {
	cmd              *exec.Cmd
	out              *testutil.LogBuffer
	httpAddr, wsAddr string
	exited           chan struct{} // closed when the launcher has exited and err is set
	err              error         // what Wait said
}

// wait waits up to within for the launcher to exit and returns its exit error.
func (l *localCluster) wait(t *testing.T, within time.Duration) error {
	t.Helper()
	select {
	case <-l.exited:
		return l.err
	case <-time.After(within):
		t.Fatalf("launcher still running after %s\n%s", within, l.out.String())
		return nil
	}
}

// startLocalCluster runs the launcher with two nodes named prefix-node1 and -node2 on a
// Redis of their own and waits until both answer on the shared HTTP port.
func startLocalCluster(t *testing.T, prefix string, args ...string) *localCluster {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the gows binary")
	}
	bin := buildGows(t)
	redis := testutil.StartRedis(t)
	l := &localCluster{
		out:      &testutil.LogBuffer{},
		httpAddr: fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t)),
		wsAddr:   fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t)),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	l.cmd = exec.CommandContext(ctx, bin, append([]string{"serve", "--nodes", "2", "--http-addr", l.httpAddr,
		"--ws-addr", l.wsAddr, "--grpc-addr", "127.0.0.1:0", "--redis", redis.URL(), "--node-id", prefix}, args...)...)
	l.cmd.Stdout, l.cmd.Stderr = l.out, l.out
	l.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := l.cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	l.exited = make(chan struct{})
	go func() {
		l.err = l.cmd.Wait()
		close(l.exited)
	}()
	t.Cleanup(func() {
		cancel() // a launcher still running (the test failed) is killed, its nodes with it
		<-l.exited
	})
	// Each HTTP connection lands on one of the nodes (SO_REUSEPORT); both must answer.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	seen := map[string]bool{}
	testutil.Eventually(t, 60*time.Second, func() error {
		resp, err := client.Get("http://" + l.httpAddr + "/system/state")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var body struct {
			Data struct {
				NodeID string `json:"nodeId"`
			} `json:"data"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			return err
		}
		seen[body.Data.NodeID] = true
		if !seen[prefix+"-node1"] || !seen[prefix+"-node2"] {
			return fmt.Errorf("nodes answering so far: %v", seen)
		}
		return nil
	})
	return l
}

// The launcher builds its nodes' command lines from one shared args slice, in a goroutine
// per node: each must get its own node id, however much spare capacity args has.
func TestNodeServeArgs_ConcurrentNodesKeepTheirIDs(t *testing.T) {
	args := make([]string, 1, 16) // room to append in place
	args[0] = "--redis=redis://127.0.0.1:1/0"
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			id := fmt.Sprintf("n-node%d", i+1)
			for range 200 {
				got := nodeServeArgs(args, id, "127.0.0.1")
				want := []string{"serve", args[0], "--reuseport", "--node-id=" + id, "--grpc-addr=127.0.0.1:0"}
				if !slices.Equal(got, want) {
					t.Errorf("args %q, want %q", got, want)
					return
				}
			}
		})
	}
	wg.Wait()
}
